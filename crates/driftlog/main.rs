//! `driftlog`: records how a cloud estate changes over time.
//!
//! The binary is thin: clap parsing, tracing setup, and dispatch to `serve`, the query
//! protocol ([`api`]) run locally or against a running server ([`client`]), human
//! rendering ([`render`]) and `bench`. It is the only user of `anyhow`.

mod api;
mod bench;
mod client;
mod config;
mod delivery;
mod grpc_client;
mod http;
mod render;
mod rules_cli;
mod server;

use anyhow::{Context, Result};
use api::{Backend, FilterSpec, Request, TailFrom};
use clap::{Parser, Subcommand};
use config::Config;
use driftlog_model::time::{now_ms, parse_user_time};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: the recorder allocates many small, short-lived buffers from several threads,
/// where glibc's allocator spent a third of the time (measured with perf on `bench`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// driftlog records how a cloud estate changes: it polls, diffs each complete snapshot
/// against the last recorded state, and appends versioned configuration items (AWS Config's
/// format, with field-level diffs) to an append-only log you can tail, query and replay.
///
/// Start with `driftlog serve` (a simulated AWS estate, data in ./driftlog-data), then in
/// another terminal `driftlog tail --type 'AWS::EC2::SecurityGroup'`.
///
/// Times accept RFC 3339 (2024-05-01T10:00:00Z), epoch seconds, `now`, or relative forms
/// (-90s, -30m, -2h, -7d). Resources are TYPE/ID (AWS::EC2::SecurityGroup/sg-0a1b...) or
/// ACCOUNT/REGION/TYPE/ID when an id is not unique.
#[derive(Parser)]
#[command(name = "driftlog", version, max_term_width = 100)]
struct Cli {
    /// Configuration file (TOML). `driftlog config` prints every option with its default.
    #[arg(long, short, global = true, env = "DRIFTLOG_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` of the config).
    #[arg(long, global = true, env = "DRIFTLOG_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// More detail on stderr: -v adds driftlog's progress and the AWS SDK's own warnings
    /// (credential lookups, retries), -vv debug detail. DRIFTLOG_LOG (or RUST_LOG), e.g.
    /// `aws_config=debug`, picks modules exactly.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the recorder (default source: the simulated estate) and the query socket.
    ///
    /// Examples: `driftlog serve` (a simulated estate), `driftlog serve --source aws
    /// --region eu-west-1 --profile audit` (a real AWS account, read-only; see README
    /// "Record your AWS account" for the IAM policy), `driftlog serve --source aws --region
    /// us-east-1 --endpoint-url http://127.0.0.1:5000` (moto or LocalStack).
    Serve {
        /// Simulated estate size (overrides source.sim.resources).
        #[arg(long)]
        resources: Option<usize>,
        /// Simulated churn per tick, 0.0..1.0 (overrides source.sim.churn).
        #[arg(long)]
        churn: Option<f64>,
        /// Seed of the simulated estate.
        #[arg(long)]
        seed: Option<u64>,
        /// Poll interval, e.g. 10s (overrides recorder.interval).
        #[arg(long, value_parser = config::parse_duration)]
        interval: Option<std::time::Duration>,
        /// Simulated estate tick, e.g. 5s (overrides source.sim.tick_interval).
        #[arg(long, value_parser = config::parse_duration)]
        tick: Option<std::time::Duration>,
        /// Where resources come from: `sim` or `aws` (overrides source.kind).
        #[arg(long, value_parser = ["sim", "aws"])]
        source: Option<String>,
        /// AWS region to record, repeatable, or `all` (overrides source.aws.regions).
        #[arg(long = "region")]
        regions: Vec<String>,
        /// AWS named profile (overrides source.aws.profile).
        #[arg(long)]
        profile: Option<String>,
        /// Endpoint URL for every AWS service, e.g. moto or LocalStack (overrides
        /// source.aws.endpoints.all).
        #[arg(long)]
        endpoint_url: Option<String>,
        /// Address of the AWS Config API, e.g. 127.0.0.1:7440, or "off" (overrides
        /// api.listen).
        #[arg(long)]
        listen: Option<String>,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Follow new configuration items as they are recorded.
    ///
    /// Examples: `driftlog tail --type 'AWS::EC2::SecurityGroup'`,
    /// `driftlog tail --type 'AWS::IAM::*' --json --from -1h`,
    /// `driftlog tail --durable audit` (resumes after the last item it printed).
    Tail {
        #[command(flatten)]
        filter: FilterSpec,
        /// Start: `now` (default), a sequence number, or a time (-1h, RFC 3339).
        #[arg(long, default_value = "now", allow_hyphen_values = true)]
        from: String,
        /// Keep a cursor under this name in the store: a restart resumes right after the
        /// last item printed. `--from` applies only the first time.
        #[arg(long)]
        durable: Option<String>,
        /// Exit after this many items.
        #[arg(long)]
        limit: Option<u64>,
        /// One JSON object per line (NDJSON) instead of text.
        #[arg(long)]
        json: bool,
        /// Follow a running driftlog through its gRPC API instead of the local data dir,
        /// e.g. http://127.0.0.1:7440 (a durable name's cursor is kept by that server).
        #[arg(long)]
        server: Option<String>,
        /// Only items with a changed property under this path (repeatable), e.g.
        /// Configuration.IpPermissions (with --server).
        #[arg(long = "property")]
        properties: Vec<String>,
    },
    /// A resource's recorded versions, newest first.
    History {
        /// TYPE/ID or ACCOUNT/REGION/TYPE/ID.
        resource: String,
        /// Oldest capture time to show.
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// Newest capture time to show.
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
        /// Oldest first.
        #[arg(long)]
        forward: bool,
        /// Versions at most.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        /// NDJSON.
        #[arg(long)]
        json: bool,
    },
    /// A resource's configuration item, now or as it was at a time.
    Show {
        /// TYPE/ID or ACCOUNT/REGION/TYPE/ID.
        resource: String,
        /// Time (default now).
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
    },
    /// The whole inventory as it was at a time: counts by type, or every item.
    At {
        /// Time, e.g. -1h or 2024-05-01T10:00:00Z.
        #[arg(allow_hyphen_values = true)]
        time: String,
        #[command(flatten)]
        filter: FilterSpec,
        /// Print every item as NDJSON instead of counts.
        #[arg(long)]
        items: bool,
        /// Counts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Unified diff between two versions of a resource (default: the latest change).
    Diff {
        /// TYPE/ID or ACCOUNT/REGION/TYPE/ID.
        resource: String,
        /// Older version.
        v1: Option<u64>,
        /// Newer version.
        v2: Option<u64>,
    },
    /// Resources that point at this one (e.g. instances using a security group), now or at
    /// a time, from the reverse relationship index.
    Related {
        /// TYPE/ID or ACCOUNT/REGION/TYPE/ID.
        resource: String,
        /// Time (default now).
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        /// NDJSON.
        #[arg(long)]
        json: bool,
    },
    /// Recorder status per scope: last attempt, last success, last error, resources seen.
    Status {
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-describe one resource now and record it if it changed (needs `serve` running).
    Refresh {
        /// TYPE/ID or ACCOUNT/REGION/TYPE/ID.
        resource: String,
    },
    /// Start scheduled recording in the running `serve` (when it was started with
    /// recorder.start = false, or stopped).
    Start,
    /// Stop scheduled recording in the running `serve`; recorded history stays readable.
    Stop,
    /// Delivery channel and sinks: where each sink is (cursor, lag, last error) and the
    /// status of history and snapshot delivery.
    ///
    /// Sinks and the channel are set in the config file (`[delivery]`, `[[sinks]]`; see
    /// `driftlog config`).
    Sinks {
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deliver through the delivery channel now.
    #[command(subcommand)]
    Deliver(DeliverCmd),
    /// Which resource types and resources generate the most configuration items per hour —
    /// what drives the cost of recording (AWS Config bills per item).
    ///
    /// Examples: `driftlog stats`, `driftlog stats --since -7d --top 20`, `driftlog stats --json`.
    Stats {
        /// Start of the window, e.g. -24h or 2024-05-01T00:00:00Z.
        #[arg(long, default_value = "-24h", allow_hyphen_values = true)]
        since: String,
        /// Resources to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// The audit trail of the AWS Config API: every call (time, access key, source address,
    /// operation, parameters, result), newest first.
    ///
    /// Examples: `driftlog audit`, `driftlog audit --limit 500 --json`,
    /// `driftlog audit --errors` (refused and failed calls only).
    Audit {
        /// Calls to show at most.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only calls of this operation, e.g. StopConfigurationRecorder.
        #[arg(long)]
        operation: Option<String>,
        /// Only calls that failed or were refused.
        #[arg(long)]
        errors: bool,
        /// NDJSON (every field, parameters included).
        #[arg(long)]
        json: bool,
    },
    /// Config rules: AWS's managed security rules, CEL expressions and external evaluators,
    /// judged on every recorded change (and periodically), with compliance recorded in the
    /// log. Also served as AWS's rules API (PutConfigRule, …) for boto3 and the aws CLI.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// Compliance by rule (a summary table), one rule's non-compliant resources, one
    /// resource's verdicts, or all of it as it was at a time (replayed from the log).
    ///
    /// Examples: `driftlog compliance`, `driftlog compliance --rule no-ssh`,
    /// `driftlog compliance --resource AWS::EC2::SecurityGroup/sg-0a1b`,
    /// `driftlog compliance --at -7d`.
    Compliance {
        /// One rule.
        #[arg(long)]
        rule: Option<String>,
        /// One resource: TYPE/ID.
        #[arg(long)]
        resource: Option<String>,
        /// As it was at this time (RFC 3339, epoch seconds, -1h, …).
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure the hot paths on a simulated estate and print a table.
    Bench(bench::BenchArgs),
    /// Print the configuration file with every option and its default.
    Config,
}

/// How a rule judges: the flags of `rules add` and `rules backtest`.
#[derive(clap::Args, Clone, Default)]
struct RuleSpecArgs {
    /// An AWS managed rule by its identifier, e.g. INCOMING_SSH_DISABLED, REQUIRED_TAGS,
    /// S3_BUCKET_VERSIONING_ENABLED (14 are built in).
    #[arg(long, group = "judge")]
    managed: Option<String>,
    /// A CEL expression over the item: `configuration`, `tags`, `resourceType`,
    /// `resourceId`, `configurationItem`, `ruleParameters`; true = COMPLIANT, false =
    /// NON_COMPLIANT, or a compliance type string.
    #[arg(long, group = "judge")]
    cel: Option<String>,
    /// An external evaluator declared in the config file ([[evaluators]]).
    #[arg(long, group = "judge")]
    external: Option<String>,
    /// The whole rule as AWS's ConfigRule JSON (what PutConfigRule takes) from a file, or
    /// `-` for stdin.
    #[arg(long, group = "judge", value_name = "FILE")]
    from_json: Option<PathBuf>,
    /// A rule parameter, KEY=VALUE (repeat), e.g. --param tag1Key=owner.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Only resources of this type (repeat).
    #[arg(long = "type", value_name = "TYPE")]
    types: Vec<String>,
    /// Only resources with this tag key…
    #[arg(long)]
    tag_key: Option<String>,
    /// …and this value.
    #[arg(long, requires = "tag_key")]
    tag_value: Option<String>,
    /// Only this resource id (with exactly one --type).
    #[arg(long)]
    resource_id: Option<String>,
    /// Also run periodically: One_Hour, Three_Hours, Six_Hours, Twelve_Hours,
    /// TwentyFour_Hours.
    #[arg(long)]
    every: Option<String>,
    /// Description.
    #[arg(long)]
    description: Option<String>,
}

impl RuleSpecArgs {
    fn any(&self) -> bool {
        self.managed.is_some()
            || self.cel.is_some()
            || self.external.is_some()
            || self.from_json.is_some()
    }

    /// AWS's ConfigRule JSON for these flags.
    fn config_rule(&self, name: Option<&str>) -> Result<serde_json::Value> {
        use serde_json::json;
        if let Some(path) = &self.from_json {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading the rule from stdin")?
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
            };
            let mut v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            // Accept PutConfigRule's whole input too.
            if let Some(inner) = v.get("ConfigRule").cloned() {
                v = inner;
            }
            if let (Some(n), Some(o)) = (name, v.as_object_mut()) {
                o.insert("ConfigRuleName".into(), json!(n));
            }
            return Ok(v);
        }
        let name = name.context("give the rule a name")?;
        let mut params = serde_json::Map::new();
        for p in &self.params {
            let (k, v) = p
                .split_once('=')
                .with_context(|| format!("--param {p:?} rejected: write KEY=VALUE"))?;
            params.insert(k.to_string(), json!(v));
        }
        let source = if let Some(id) = &self.managed {
            json!({"Owner": "AWS", "SourceIdentifier": id})
        } else if let Some(expr) = &self.cel {
            json!({"Owner": "CUSTOM_POLICY", "SourceDetails": [{"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"}],
                   "CustomPolicyDetails": {"PolicyRuntime": "cel", "PolicyText": expr}})
        } else if let Some(ev) = &self.external {
            let mut details = vec![
                json!({"EventSource": "aws.config", "MessageType": "ConfigurationItemChangeNotification"}),
            ];
            if let Some(f) = &self.every {
                details.push(json!({"EventSource": "aws.config", "MessageType": "ScheduledNotification", "MaximumExecutionFrequency": f}));
            }
            json!({"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": format!("arn:aws:lambda:us-east-1:000000000000:function:{ev}"), "SourceDetails": details})
        } else {
            anyhow::bail!("say how the rule judges: --managed ID, --cel EXPR, --external NAME or --from-json FILE");
        };
        let mut rule = json!({"ConfigRuleName": name, "Source": source});
        if !params.is_empty() {
            rule["InputParameters"] = json!(serde_json::Value::Object(params).to_string());
        }
        let mut scope = serde_json::Map::new();
        if !self.types.is_empty() {
            scope.insert("ComplianceResourceTypes".into(), json!(self.types));
        }
        if let Some(k) = &self.tag_key {
            scope.insert("TagKey".into(), json!(k));
        }
        if let Some(v) = &self.tag_value {
            scope.insert("TagValue".into(), json!(v));
        }
        if let Some(id) = &self.resource_id {
            scope.insert("ComplianceResourceId".into(), json!(id));
        }
        if !scope.is_empty() {
            rule["Scope"] = serde_json::Value::Object(scope);
        }
        if let (Some(f), true) = (&self.every, self.external.is_none()) {
            if self.cel.is_some() {
                rule["Source"]["SourceDetails"]
                    .as_array_mut()
                    .context("source details")?
                    .push(json!({"EventSource": "aws.config", "MessageType": "ScheduledNotification", "MaximumExecutionFrequency": f}));
            } else {
                rule["MaximumExecutionFrequency"] = json!(f);
            }
        }
        if let Some(d) = &self.description {
            rule["Description"] = json!(d);
        }
        Ok(rule)
    }
}

#[derive(Subcommand)]
#[command(after_help = "Examples:
  driftlog rules add no-ssh --managed INCOMING_SSH_DISABLED --type AWS::EC2::SecurityGroup
  driftlog rules add tagged --managed REQUIRED_TAGS --param tag1Key=owner
  driftlog rules add no-public-ip --cel '!has(configuration.publicIpAddress) || configuration.publicIpAddress == null' --type AWS::EC2::Instance
  driftlog rules list
  driftlog rules eval no-ssh
  driftlog rules backtest no-ssh --from -24h --to now
  driftlog compliance --rule no-ssh")]
enum RulesCmd {
    /// Every rule: how it judges, when it runs, its compliance and results, its last error.
    List {
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a rule (or replace the one of that name); it is evaluated over the current
    /// inventory at once, then on every change.
    Add {
        /// The rule's name (ConfigRuleName).
        name: Option<String>,
        #[command(flatten)]
        spec: RuleSpecArgs,
    },
    /// Delete a rule; its results end (recorded as deleted compliance items).
    Remove {
        /// The rule's name.
        name: String,
    },
    /// Evaluate rules over the whole inventory now and print their compliance (all rules
    /// when none is named). Without `serve`, judges the stored inventory and records nothing.
    Eval {
        /// Rule names.
        names: Vec<String>,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a rule — existing by name, or new with --managed/--cel/--from-json — over recorded
    /// history: when each resource became non-compliant and compliant again between --from
    /// and --to; with --at, the whole inventory as it was then.
    ///
    /// Examples: `driftlog rules backtest no-ssh --from -24h`,
    /// `driftlog rules backtest --managed S3_BUCKET_VERSIONING_ENABLED --from -7d --to -1d`,
    /// `driftlog rules backtest no-ssh --at 2024-05-01T10:00:00Z`.
    Backtest {
        /// An existing rule's name (or the name of the new one).
        name: Option<String>,
        #[command(flatten)]
        spec: RuleSpecArgs,
        /// Window start.
        #[arg(long, default_value = "-24h", allow_hyphen_values = true)]
        from: String,
        /// Window end.
        #[arg(long, default_value = "now", allow_hyphen_values = true)]
        to: String,
        /// Judge the inventory as it was at this instant instead of a window.
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DeliverCmd {
    /// A configuration snapshot of the inventory as it is now: one gzip JSON object per
    /// account and region under AWS Config's ConfigSnapshot keys, in the channel's bucket
    /// (or local directory), announced on its SNS topic. Prints the configSnapshotId.
    Snapshot,
}

fn time_arg(t: &Option<String>) -> Result<Option<i64>> {
    t.as_deref()
        .map(|s| parse_user_time(s, now_ms()))
        .transpose()
        .map_err(Into::into)
}

fn load_config(cli: &Cli) -> Result<Config> {
    let mut cfg = match &cli.config {
        Some(p) => Config::load(p)?,
        None if std::path::Path::new("driftlog.toml").exists() => {
            Config::load(std::path::Path::new("driftlog.toml"))?
        }
        None => Config::default(),
    };
    if let Some(d) = &cli.data_dir {
        cfg.data_dir = d.clone();
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(cli.verbose))
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", report(&e));
            ExitCode::FAILURE
        }
    }
}

/// What goes to stderr. By default driftlog's own warnings and errors only: the AWS SDK
/// logs every failed step of its credential chain as a multi-line WARN, while driftlog's
/// error already says what was missing and where it looked. `-v` and `-vv` open it up;
/// DRIFTLOG_LOG or RUST_LOG choose exactly.
fn log_filter(verbose: u8) -> tracing_subscriber::EnvFilter {
    let from_env = ["DRIFTLOG_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| tracing_subscriber::EnvFilter::try_from_env(var).ok());
    from_env.unwrap_or_else(|| {
        tracing_subscriber::EnvFilter::new(match verbose {
            0 => "warn,aws_config=off,aws_runtime=off,aws_types=off,aws_smithy_runtime=off,aws_smithy_runtime_api=off,aws_smithy_http_client=off,aws_sdk_sts=off,aws_sdk_sso=off,aws_sdk_ssooidc=off",
            1 => "info,aws_config=warn,aws_runtime=warn,aws_smithy_runtime=warn",
            _ => "debug,hyper=info,h2=info,sled=info",
        })
    })
}

/// An error and its causes, each said once: a library error that shows its cause in its
/// own message and also chains it would otherwise print the cause twice.
fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(text.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

async fn run(cli: Cli) -> Result<()> {
    let cfg = load_config(&cli)?;
    let now = now_ms();
    let (req, mode) = match cli.cmd {
        Cmd::Config => {
            print!("{}", config::DEFAULT_TOML);
            return Ok(());
        }
        Cmd::Bench(args) => return bench::run(args, cfg.source.aws.settings()).await,
        Cmd::Serve {
            resources,
            churn,
            seed,
            interval,
            tick,
            source,
            regions,
            profile,
            endpoint_url,
            listen,
            quiet,
        } => {
            let mut cfg = cfg;
            let listen_required = listen.as_ref().is_some_and(|l| !config::is_off(l));
            if let Some(l) = listen {
                cfg.api.listen = if config::is_off(&l) { String::new() } else { l };
            }
            if let Some(s) = source {
                cfg.source.kind = if s == "aws" {
                    config::SourceKind::Aws
                } else {
                    config::SourceKind::Sim
                };
            }
            if !regions.is_empty() {
                cfg.source.aws.regions = regions;
            }
            if let Some(p) = profile {
                cfg.source.aws.profile = p;
            }
            if let Some(u) = endpoint_url {
                cfg.source.aws.endpoints.all = u;
            }
            if let Some(r) = resources {
                cfg.source.sim.resources = r;
            }
            if let Some(c) = churn {
                anyhow::ensure!(
                    (0.0..=1.0).contains(&c),
                    "--churn {c} rejected: use 0.0..1.0"
                );
                cfg.source.sim.churn = c;
            }
            if let Some(s) = seed {
                cfg.source.sim.seed = s;
            }
            if let Some(i) = interval {
                cfg.recorder.interval = i;
            }
            if let Some(t) = tick {
                cfg.source.sim.tick_interval = t;
            }
            cfg.check()
                .context("command-line options rejected; nothing started")?;
            return server::serve(cfg, quiet, listen_required).await;
        }
        Cmd::Tail {
            filter,
            from,
            durable,
            limit,
            json,
            server,
            properties,
        } => {
            let from = match from.parse::<u64>() {
                Ok(seq) if !from.contains('.') && from.len() < 10 => TailFrom::Seq(seq),
                _ if from == "now" => TailFrom::Now,
                _ => TailFrom::Time(parse_user_time(&from, now)?),
            };
            if let Some(url) = server {
                let mut printer = render::Printer::new(render::Mode::Items { json });
                return grpc_client::tail(
                    &url,
                    grpc_client::TailArgs {
                        filter,
                        properties,
                        from,
                        durable,
                        limit,
                    },
                    &mut printer,
                )
                .await;
            }
            anyhow::ensure!(
                properties.is_empty(),
                "--property needs --server (the gRPC API filters on changed properties)"
            );
            (
                Request::Tail {
                    filter,
                    from,
                    durable,
                    limit,
                },
                render::Mode::Items { json },
            )
        }
        Cmd::History {
            resource,
            since,
            until,
            forward,
            limit,
            json,
        } => (
            Request::History {
                resource,
                earlier_ms: time_arg(&since)?,
                later_ms: time_arg(&until)?,
                forward,
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            render::Mode::Items { json },
        ),
        Cmd::Show { resource, at } => (
            Request::Show {
                resource,
                at_ms: time_arg(&at)?,
            },
            render::Mode::Show,
        ),
        Cmd::At {
            time,
            filter,
            items,
            json,
        } => (
            Request::At {
                at_ms: parse_user_time(&time, now)?,
                filter,
                items,
            },
            if items {
                render::Mode::Items { json: true }
            } else {
                render::Mode::Counts { json }
            },
        ),
        Cmd::Diff { resource, v1, v2 } => (Request::Diff { resource, v1, v2 }, render::Mode::Diff),
        Cmd::Related { resource, at, json } => (
            Request::Related {
                resource,
                at_ms: time_arg(&at)?,
            },
            render::Mode::Related { json },
        ),
        Cmd::Status { json } => (Request::Status, render::Mode::Status { json }),
        Cmd::Refresh { resource } => (Request::Refresh { resource }, render::Mode::Raw),
        Cmd::Start => (Request::SetRecording { on: true }, render::Mode::Raw),
        Cmd::Stop => (Request::SetRecording { on: false }, render::Mode::Raw),
        Cmd::Sinks { json } => (Request::Sinks, render::Mode::Sinks { json }),
        Cmd::Deliver(DeliverCmd::Snapshot) => (Request::DeliverSnapshot, render::Mode::Raw),
        Cmd::Stats { since, top, json } => (
            Request::Stats {
                since_ms: parse_user_time(&since, now)?,
                top,
            },
            render::Mode::Stats { json },
        ),
        Cmd::Rules(rc) => {
            use rules_cli::RulesRequest as R;
            let (r, json) = match rc {
                RulesCmd::List { json } => (R::List, json),
                RulesCmd::Add { name, spec } => (
                    R::Add {
                        rule: spec.config_rule(name.as_deref())?,
                    },
                    false,
                ),
                RulesCmd::Remove { name } => (R::Remove { name }, false),
                RulesCmd::Eval { names, json } => (R::Eval { names }, json),
                RulesCmd::Backtest {
                    name,
                    spec,
                    from,
                    to,
                    at,
                    json,
                } => {
                    let definition = if spec.any() {
                        Some(spec.config_rule(Some(name.as_deref().unwrap_or("backtest")))?)
                    } else {
                        None
                    };
                    (
                        R::Backtest {
                            name,
                            definition,
                            from_ms: parse_user_time(&from, now)?,
                            to_ms: parse_user_time(&to, now)?,
                            at_ms: time_arg(&at)?,
                        },
                        json,
                    )
                }
            };
            (Request::Rules(r), render::Mode::Report { json })
        }
        Cmd::Compliance {
            rule,
            resource,
            at,
            json,
        } => (
            Request::Rules(rules_cli::RulesRequest::Compliance {
                rule,
                resource,
                at_ms: time_arg(&at)?,
            }),
            render::Mode::Report { json },
        ),
        Cmd::Audit {
            limit,
            operation,
            errors,
            json,
        } => (
            Request::Audit {
                limit,
                operation,
                errors,
            },
            render::Mode::Audit { json },
        ),
    };
    let sock = server::socket_path(&cfg.data_dir);
    let mut printer = render::Printer::new(mode);
    // A running `serve` holds the store: talk to it. Otherwise open the store ourselves.
    if sock.exists() {
        if let Ok(stream) = std::os::unix::net::UnixStream::connect(&sock) {
            return tokio::task::spawn_blocking(move || client::remote(stream, &req, &mut printer))
                .await?;
        }
    }
    anyhow::ensure!(
        cfg.data_dir.join("store").exists(),
        "no driftlog data in {}: run `driftlog serve` first (or pass --data-dir)",
        cfg.data_dir.display()
    );
    let log = server::open_log(&cfg)?;
    // Offline, only a snapshot needs the channel (the store is ours while we hold it).
    let delivery = match req {
        Request::DeliverSnapshot => {
            let ch = delivery::open_channel(&cfg, &log).await?;
            Some(std::sync::Arc::new(delivery::Delivery::offline(
                &cfg, &log, ch,
            )))
        }
        _ => None,
    };
    // Rules can be read, put and back-tested on the store itself; evaluation waits for serve.
    let rules = match &req {
        Request::Rules(_) => {
            let account = log
                .state()
                .keys()
                .next()
                .map_or_else(|| "000000000000".to_string(), |k| k.account);
            let region = cfg
                .source
                .sim
                .regions
                .first()
                .cloned()
                .unwrap_or_else(|| "us-east-1".into());
            Some(
                driftlog_compliance::Engine::open(
                    log.clone(),
                    None,
                    http::rules_settings(&cfg, account, region),
                )
                .context("opening the rules in the store")?,
            )
        }
        _ => None,
    };
    let backend = Backend {
        log,
        recorder: None,
        delivery,
        api: None,
        rules,
    };
    if let Request::Tail {
        filter,
        from,
        durable,
        limit,
    } = req
    {
        eprintln!(
            "driftlog: no `driftlog serve` is running on {}: printing what the log holds, then exiting",
            cfg.data_dir.display()
        );
        return client::local_tail(
            backend.log,
            filter,
            server::tail_start(from, durable),
            limit,
            &mut printer,
        )
        .await;
    }
    let mut err = None;
    api::execute(&backend, req, &mut |a| match printer.print_answer(a) {
        Ok(()) => true,
        Err(e) => {
            err = Some(e);
            false
        }
    })
    .await
    .context("query failed")?;
    match err {
        Some(e) => Err(e),
        None => printer.finish(),
    }
}
