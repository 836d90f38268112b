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
    /// Measure the hot paths on a simulated estate and print a table.
    Bench(bench::BenchArgs),
    /// Print the configuration file with every option and its default.
    Config,
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
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DRIFTLOG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
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
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
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
            let listen_required = listen.as_ref().is_some_and(|l| l != "off");
            if let Some(l) = listen {
                cfg.api.listen = if l == "off" { String::new() } else { l };
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
    let backend = Backend {
        log,
        recorder: None,
        delivery,
        api: None,
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
