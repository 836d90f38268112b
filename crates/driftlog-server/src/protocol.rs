//! The query protocol: one JSON request line, NDJSON answer lines. A request *is* the
//! command line of a query subcommand (`driftlog history …`, `driftlog rules add …`): the
//! CLI parses these types with clap and sends them as they are, so the options and the
//! wire cannot drift apart. Times stay as typed (`-1h`, RFC 3339) and are resolved where
//! the request is answered; options that only change how the answer is printed (`--json`)
//! never travel.

use crate::error::{bail, Context, Result};
use driftlog_model::time::parse_user_time;
use driftlog_model::{Filter, Status, TypePattern};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Filter terms as typed on the command line (`tail`, `at`, a sink's filter).
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
pub struct FilterSpec {
    /// Resource type or glob (repeatable): AWS::EC2::SecurityGroup, 'AWS::IAM::*'.
    #[serde(default)]
    #[arg(long = "type", short = 't')]
    pub types: Vec<String>,
    /// Account id (repeatable).
    #[serde(default)]
    #[arg(long = "account")]
    pub accounts: Vec<String>,
    /// Region (repeatable; `global` for IAM).
    #[serde(default)]
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Status (repeatable): OK, ResourceDiscovered, ResourceDeleted.
    #[serde(default)]
    #[arg(long = "status")]
    pub statuses: Vec<String>,
    /// Resource id (repeatable).
    #[serde(default)]
    #[arg(long = "id")]
    pub ids: Vec<String>,
}

impl FilterSpec {
    /// The model filter.
    ///
    /// # Errors
    /// A bad type pattern or status, named.
    pub fn to_filter(&self) -> Result<Filter> {
        Ok(Filter {
            types: self
                .types
                .iter()
                .map(|t| TypePattern::parse(t))
                .collect::<Result<_, _>>()?,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
            statuses: self
                .statuses
                .iter()
                .map(|s| Status::parse(s))
                .collect::<Result<_, _>>()?,
            resource_ids: self.ids.clone(),
        })
    }
}

/// How an answer is printed: text for people, or JSON. Never sent.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Output {
    /// JSON (NDJSON for lists) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Where `tail` starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TailFrom {
    /// New items only.
    Now,
    /// After this sequence number.
    Seq(u64),
    /// From this time (epoch ms).
    Time(i64),
}

impl TailFrom {
    /// `now`, a sequence number, or a time (-1h, RFC 3339, epoch seconds).
    ///
    /// # Errors
    /// None of those, named.
    pub fn parse(from: &str, now: i64) -> Result<Self> {
        Ok(match from.parse::<u64>() {
            // Epoch seconds have ten digits; a sequence number that long is a time.
            Ok(seq) if !from.contains('.') && from.len() < 10 => TailFrom::Seq(seq),
            _ if from == "now" => TailFrom::Now,
            _ => TailFrom::Time(parse_user_time(from, now)?),
        })
    }
}

/// A time as typed (`-1h`, RFC 3339, epoch seconds, `now`), resolved against `now`.
///
/// # Errors
/// Not a time, named.
pub fn time_arg(t: Option<&str>, now: i64) -> Result<Option<i64>> {
    t.map(|s| parse_user_time(s, now))
        .transpose()
        .map_err(Into::into)
}

/// `driftlog tail`'s options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, clap::Args)]
pub struct TailArgs {
    /// Which items.
    #[command(flatten)]
    #[serde(default)]
    pub filter: FilterSpec,
    /// Start: `now` (default), a sequence number, or a time (-1h, RFC 3339).
    #[arg(long, default_value = "now", allow_hyphen_values = true)]
    pub from: String,
    /// Keep a cursor under this name in the store: a restart resumes right after the last
    /// item printed. `--from` applies only the first time.
    #[arg(long)]
    pub durable: Option<String>,
    /// Exit after this many items.
    #[arg(long)]
    pub limit: Option<u64>,
    /// Follow a running driftlog through its gRPC API instead of the local data dir, e.g.
    /// http://127.0.0.1:7440 (a durable name's cursor is kept by that server).
    #[arg(long)]
    #[serde(skip)]
    pub server: Option<String>,
    /// Only items with a changed property under this path (repeatable), e.g.
    /// Configuration.IpPermissions (with --server).
    #[arg(long = "property")]
    #[serde(skip)]
    pub properties: Vec<String>,
    /// Only changes made by a principal matching this glob (repeatable), from CloudTrail
    /// events: e.g. `--by 'arn:aws:iam::*:user/*'` (IAM users), `--by '*:role/deploy'`.
    /// Changes found by periodic examination (no event) never match.
    #[arg(long = "by")]
    #[serde(default)]
    pub by: Vec<String>,
    /// How the answer is printed (never sent).
    #[command(flatten)]
    #[serde(skip)]
    pub out: Output,
}

/// `driftlog history`'s options.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct HistoryArgs {
    /// TYPE/ID or ACCOUNT/REGION/TYPE/ID.
    pub resource: String,
    /// Oldest capture time to show.
    #[arg(long, allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Newest capture time to show.
    #[arg(long, allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Oldest first.
    #[arg(long)]
    pub forward: bool,
    /// Versions at most.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// How the answer is printed (never sent).
    #[command(flatten)]
    #[serde(skip)]
    pub out: Output,
}

/// `driftlog at`'s options.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct AtArgs {
    /// Time, e.g. -1h or 2024-05-01T10:00:00Z.
    #[arg(allow_hyphen_values = true)]
    pub time: String,
    /// Which items.
    #[command(flatten)]
    #[serde(default)]
    pub filter: FilterSpec,
    /// Print every item as NDJSON instead of counts.
    #[arg(long)]
    pub items: bool,
    /// How the answer is printed (never sent).
    #[command(flatten)]
    #[serde(skip)]
    pub out: Output,
}

/// `driftlog stats`'s options.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct StatsArgs {
    /// Start of the window, e.g. -24h or 2024-05-01T00:00:00Z.
    #[arg(long, default_value = "-24h", allow_hyphen_values = true)]
    pub since: String,
    /// Resources to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// How the answer is printed (never sent).
    #[command(flatten)]
    #[serde(skip)]
    pub out: Output,
}

/// `driftlog audit`'s options.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct AuditArgs {
    /// Calls to show at most.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only calls of this operation, e.g. StopConfigurationRecorder.
    #[arg(long)]
    pub operation: Option<String>,
    /// Only calls that failed or were refused.
    #[arg(long)]
    pub errors: bool,
    /// NDJSON (every field, parameters included).
    /// How the answer is printed (never sent).
    #[command(flatten)]
    #[serde(skip)]
    pub out: Output,
}

/// One query: the command line of a query subcommand, answered by the running `serve` over
/// its query socket, or by the CLI over the store itself when no server runs.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Follow new configuration items as they are recorded.
    ///
    /// Examples: `driftlog tail --type 'AWS::EC2::SecurityGroup'`,
    /// `driftlog tail --type 'AWS::IAM::*' --json --from -1h`,
    /// `driftlog tail --durable audit` (resumes after the last item it printed).
    Tail(TailArgs),
    /// A resource's recorded versions, newest first.
    History(HistoryArgs),
    /// A resource's configuration item, now or as it was at a time.
    Show {
        /// TYPE/ID or ACCOUNT/REGION/TYPE/ID.
        resource: String,
        /// Time (default now).
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
    },
    /// The whole inventory as it was at a time: counts by type, or every item.
    At(AtArgs),
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
        /// How the answer is printed (never sent).
        #[command(flatten)]
        #[serde(skip)]
        out: Output,
    },
    /// Recorder status per scope: last attempt, last success, last error, resources seen.
    Status {
        /// How the answer is printed (never sent).
        #[command(flatten)]
        #[serde(skip)]
        out: Output,
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
        /// How the answer is printed (never sent).
        #[command(flatten)]
        #[serde(skip)]
        out: Output,
    },
    /// Deliver through the delivery channel now.
    #[command(subcommand)]
    Deliver(DeliverRequest),
    /// Which resource types and resources generate the most configuration items per hour —
    /// what drives the cost of recording (AWS Config bills per item).
    ///
    /// Examples: `driftlog stats`, `driftlog stats --since -7d --top 20`, `driftlog stats --json`.
    Stats(StatsArgs),
    /// The audit trail of the AWS Config API: every call (time, access key, source address,
    /// operation, parameters, result), newest first.
    ///
    /// Examples: `driftlog audit`, `driftlog audit --limit 500 --json`,
    /// `driftlog audit --errors` (refused and failed calls only).
    Audit(AuditArgs),
    /// Config rules: AWS's managed security rules, CEL expressions and external evaluators,
    /// judged on every recorded change (and periodically), with compliance recorded in the
    /// log. Also served as AWS's rules API (PutConfigRule, …) for boto3 and the aws CLI.
    #[command(subcommand)]
    Rules(RulesRequest),
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
        /// How the answer is printed (never sent).
        #[command(flatten)]
        #[serde(skip)]
        out: Output,
    },
}

/// `driftlog deliver …`.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "deliver", rename_all = "snake_case")]
pub enum DeliverRequest {
    /// A configuration snapshot of the inventory as it is now: one gzip JSON object per
    /// account and region under AWS Config's ConfigSnapshot keys, in the channel's bucket
    /// (or local directory), announced on its SNS topic. Prints the configSnapshotId.
    Snapshot,
}

/// `driftlog rules …`.
#[derive(Debug, Clone, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "rules", rename_all = "snake_case")]
#[command(after_help = "Examples:
  driftlog rules add no-ssh --managed INCOMING_SSH_DISABLED --type AWS::EC2::SecurityGroup
  driftlog rules add tagged --managed REQUIRED_TAGS --param tag1Key=owner
  driftlog rules add no-public-ip --cel '!has(configuration.publicIpAddress) || configuration.publicIpAddress == null' --type AWS::EC2::Instance
  driftlog rules list
  driftlog rules eval no-ssh
  driftlog rules backtest no-ssh --from -24h --to now
  driftlog compliance --rule no-ssh")]
pub enum RulesRequest {
    /// Every rule: how it judges, when it runs, its compliance and results, its last error.
    List {
        /// How the answer is printed (never sent).
        #[command(flatten)]
        #[serde(skip)]
        out: Output,
    },
    /// Add a rule (or replace the one of that name); it is evaluated over the current
    /// inventory at once, then on every change.
    Add {
        /// The rule's name (ConfigRuleName).
        name: Option<String>,
        /// How the rule judges.
        #[command(flatten)]
        spec: RuleSpec,
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
        /// How the answer is printed (never sent).
        #[command(flatten)]
        #[serde(skip)]
        out: Output,
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
        /// How the rule judges.
        #[command(flatten)]
        spec: RuleSpec,
        /// Window start.
        #[arg(long, default_value = "-24h", allow_hyphen_values = true)]
        from: String,
        /// Window end.
        #[arg(long, default_value = "now", allow_hyphen_values = true)]
        to: String,
        /// Judge the inventory as it was at this instant instead of a window.
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        /// How the answer is printed (never sent).
        #[command(flatten)]
        #[serde(skip)]
        out: Output,
    },
}

/// How a rule judges: the flags of `rules add` and `rules backtest`.
#[derive(Debug, clap::Args, Clone, Default, Serialize, Deserialize)]
pub struct RuleSpec {
    /// An AWS managed rule by its identifier, e.g. INCOMING_SSH_DISABLED, REQUIRED_TAGS,
    /// S3_BUCKET_VERSIONING_ENABLED (14 are built in).
    #[arg(long, group = "judge")]
    pub managed: Option<String>,
    /// A CEL expression over the item: `configuration`, `tags`, `resourceType`,
    /// `resourceId`, `configurationItem`, `ruleParameters`; true = COMPLIANT, false =
    /// NON_COMPLIANT, or a compliance type string.
    #[arg(long, group = "judge")]
    pub cel: Option<String>,
    /// An external evaluator declared in the config file (`[[evaluators]]`).
    #[arg(long, group = "judge")]
    pub external: Option<String>,
    /// The whole rule as AWS's ConfigRule JSON (what PutConfigRule takes) from a file, or
    /// `-` for stdin.
    #[arg(long, group = "judge", value_name = "FILE")]
    #[serde(skip)]
    pub from_json: Option<PathBuf>,
    /// The rule `--from-json` read, sent in its place (the server may not see the file).
    #[arg(skip)]
    #[serde(default)]
    pub definition: Option<Value>,
    /// A rule parameter, KEY=VALUE (repeat), e.g. --param tag1Key=owner.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    #[serde(default)]
    pub params: Vec<String>,
    /// Only resources of this type (repeat).
    #[arg(long = "type", value_name = "TYPE")]
    #[serde(default)]
    pub types: Vec<String>,
    /// Only resources with this tag key…
    #[arg(long)]
    pub tag_key: Option<String>,
    /// …and this value.
    #[arg(long, requires = "tag_key")]
    pub tag_value: Option<String>,
    /// Only this resource id (with exactly one --type).
    #[arg(long)]
    pub resource_id: Option<String>,
    /// Also run periodically: One_Hour, Three_Hours, Six_Hours, Twelve_Hours,
    /// TwentyFour_Hours.
    #[arg(long)]
    pub every: Option<String>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
}

impl Request {
    /// Reads what the request names on the caller's side (a rule's `--from-json` file or
    /// stdin) into the request itself, so whoever answers it needs no access to them.
    ///
    /// # Errors
    /// The file cannot be read or is not JSON.
    pub fn prepare(&mut self) -> Result<()> {
        if let Request::Rules(
            RulesRequest::Add { spec, .. } | RulesRequest::Backtest { spec, .. },
        ) = self
        {
            if let Some(path) = spec.from_json.take() {
                let text = if path.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin())
                        .context("reading the rule from stdin")?
                } else {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?
                };
                let mut v: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                // Accept PutConfigRule's whole input too.
                if let Some(inner) = v.get("ConfigRule").cloned() {
                    v = inner;
                }
                spec.definition = Some(v);
            }
        }
        Ok(())
    }

    /// True when only a running `serve` can answer (it needs the source or the recorder).
    pub fn needs_server(&self) -> bool {
        matches!(
            self,
            Request::Refresh { .. } | Request::Start | Request::Stop
        )
    }
}

impl RuleSpec {
    /// True when these flags describe a rule (not only name one).
    pub fn any(&self) -> bool {
        self.managed.is_some()
            || self.cel.is_some()
            || self.external.is_some()
            || self.from_json.is_some()
            || self.definition.is_some()
    }

    /// AWS's ConfigRule JSON for these flags.
    ///
    /// # Errors
    /// No way of judging given, or a bad `--param`, named.
    pub fn config_rule(&self, name: Option<&str>) -> Result<Value> {
        if let Some(def) = &self.definition {
            let mut v = def.clone();
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
        let scheduled = |f: &str| json!({"EventSource": "aws.config", "MessageType": "ScheduledNotification", "MaximumExecutionFrequency": f});
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
                details.push(scheduled(f));
            }
            json!({"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": format!("arn:aws:lambda:us-east-1:000000000000:function:{ev}"), "SourceDetails": details})
        } else {
            bail!("say how the rule judges: --managed ID, --cel EXPR, --external NAME or --from-json FILE");
        };
        let mut rule = json!({"ConfigRuleName": name, "Source": source});
        if !params.is_empty() {
            rule["InputParameters"] = json!(Value::Object(params).to_string());
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
            rule["Scope"] = Value::Object(scope);
        }
        if let (Some(f), true) = (&self.every, self.external.is_none()) {
            if self.cel.is_some() {
                if let Some(details) = rule["Source"]["SourceDetails"].as_array_mut() {
                    details.push(scheduled(f));
                }
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

/// One answer of a query: a JSON value, or an item already written as its NDJSON line.
pub enum Answer {
    /// A value to print or send.
    Value(Value),
    /// An item's event JSON, written straight from the stored bytes (no tree).
    Line(Vec<u8>),
}

impl Answer {
    /// The answer as a value (parsing a line).
    ///
    /// # Errors
    /// A line that is not JSON (cannot happen for lines this module made).
    pub fn into_value(self) -> Result<Value> {
        match self {
            Answer::Value(v) => Ok(v),
            Answer::Line(b) => Ok(serde_json::from_slice(&b)?),
        }
    }

    /// The answer as one NDJSON line, without the newline.
    ///
    /// # Errors
    /// A value that cannot be serialized (cannot happen for JSON values).
    pub fn into_line(self) -> Result<Vec<u8>> {
        match self {
            Answer::Value(v) => Ok(serde_json::to_vec(&v)?),
            Answer::Line(b) => Ok(b),
        }
    }
}

/// True when `by` is empty or a principal who made the change matches one of its globs.
pub fn changed_by(by: &[String], ci: &driftlog_model::ConfigurationItem) -> bool {
    by.is_empty()
        || ci.attribution.iter().any(|a| {
            by.iter()
                .any(|g| driftlog_model::glob_matches(g.trim(), &a.principal))
        })
}

/// The NDJSON line of one item.
///
/// # Errors
/// The item's stored document is not JSON.
pub fn item_answer(ci: &driftlog_model::ConfigurationItem) -> Result<Answer> {
    let mut b = Vec::with_capacity(ci.doc.len() + 1024);
    ci.write_event_json(&mut b)?;
    Ok(Answer::Line(b))
}

/// The subscription start of a tail request.
pub fn tail_start(from: TailFrom, durable: Option<String>) -> driftlog_subscribe::Start {
    let initial = match from {
        TailFrom::Now => driftlog_subscribe::Start::Now,
        TailFrom::Seq(s) => driftlog_subscribe::Start::After(s),
        TailFrom::Time(t) => driftlog_subscribe::Start::Time(t),
    };
    match durable {
        Some(name) => driftlog_subscribe::Start::Durable {
            name,
            initial: Box::new(initial),
        },
        None => initial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_travels_without_its_printing_options() {
        let r = Request::History(HistoryArgs {
            resource: "AWS::EC2::SecurityGroup/sg-1".into(),
            since: Some("-1h".into()),
            until: None,
            forward: true,
            limit: 5,
            out: Output { json: true },
        });
        let wire = serde_json::to_value(&r).expect("serialize");
        assert_eq!(wire["op"], "history");
        assert_eq!(wire["since"], "-1h");
        assert!(wire.get("json").is_none(), "{wire}");
        let back: Request = serde_json::from_value(wire).expect("parse");
        assert!(matches!(back, Request::History(h) if h.limit == 5 && h.forward));
    }

    #[test]
    fn nested_subcommands_round_trip() {
        for r in [
            Request::Deliver(DeliverRequest::Snapshot),
            Request::Rules(RulesRequest::Remove { name: "x".into() }),
            Request::Start,
        ] {
            let wire = serde_json::to_string(&r).expect("serialize");
            let back: Request = serde_json::from_str(&wire).expect("parse");
            assert_eq!(serde_json::to_string(&back).expect("again"), wire);
        }
    }

    #[test]
    fn tail_from() {
        assert_eq!(TailFrom::parse("now", 0).ok(), Some(TailFrom::Now));
        assert_eq!(TailFrom::parse("42", 0).ok(), Some(TailFrom::Seq(42)));
        assert_eq!(
            TailFrom::parse("-1s", 10_000).ok(),
            Some(TailFrom::Time(9_000))
        );
        assert!(TailFrom::parse("soon", 0).is_err());
    }
}
