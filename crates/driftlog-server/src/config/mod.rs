//! The one TOML configuration file. Every option has a documented default (see
//! [`DEFAULT_TOML`], printed by `driftlog config`); an unknown key or a bad value is refused
//! with the key, the line and the reason, and nothing starts.

use crate::error::{bail, Context, Error, Result};
use driftlog_model::TypePattern;
use driftlog_poll::SchedulerConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod aggregator;
mod api;
mod delivery;
mod recorder;
mod source;

pub use aggregator::*;
pub use api::*;
pub use delivery::*;
pub use recorder::*;
pub use source::*;

/// The documented default configuration, exactly as `driftlog config` prints it.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// The whole configuration, after defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Source settings.
    pub source: SourceConfig,
    /// Recorder pacing.
    pub recorder: RecorderSection,
    /// Which types are recorded.
    pub recording_group: GroupSection,
    /// Store tunables.
    pub store: StoreSection,
    /// The delivery channel.
    pub delivery: DeliverySection,
    /// Config-stream sinks.
    pub sinks: Vec<SinkSection>,
    /// The AWS Config API server.
    pub api: ApiSection,
    /// The rules engine.
    pub rules: RulesSection,
    /// External rule evaluators.
    pub evaluators: Vec<EvaluatorSection>,
    /// The aggregator role.
    pub aggregator: AggregatorSection,
}

impl Default for Config {
    fn default() -> Self {
        // Kept equal to DEFAULT_TOML by a test.
        Self {
            data_dir: PathBuf::from("./driftlog-data"),
            source: SourceConfig::default(),
            recorder: RecorderSection::default(),
            recording_group: GroupSection::default(),
            store: StoreSection::default(),
            delivery: DeliverySection::default(),
            sinks: Vec::new(),
            api: ApiSection::default(),
            rules: RulesSection::default(),
            evaluators: Vec::new(),
            aggregator: AggregatorSection::default(),
        }
    }
}

/// The spellings of "turned off" for a value that can disable something.
pub const OFF_FORMS: &str = "\"off\", \"none\" or \"\"";

/// True for `off`, `none` or nothing: a value that disables what it configures.
pub fn is_off(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "" | "off" | "none")
}

fn opt(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_string())
}

/// The sink that carries the config stream to `delivery.sns_topic_arn`.
pub const CONFIG_STREAM_SINK: &str = driftlog_sinks::CONFIG_STREAM_SINK;

/// How long a sink or an evaluator may take to answer, unless set.
fn default_sink_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Parses `90s`, `5m`, `2h`, `1d`, `250ms`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("{text:?} has no unit; write e.g. \"90s\", \"5m\", \"2h\""))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "{text:?} has unknown unit {unit:?}; use ms, s, m, h or d"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a valid duration"))
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

impl Config {
    /// Reads and checks a config file.
    ///
    /// # Errors
    /// The file cannot be read, is not TOML, has an unknown key or a bad value: the message
    /// names the key, the line and the reason.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::parse(&text)
            .with_context(|| format!("config file {} rejected; nothing started", path.display()))
    }

    /// Parses config text.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(text: &str) -> Result<Self> {
        let mut cfg: Config = toml::from_str(text).map_err(Error::invalid)?;
        cfg.normalize();
        cfg.check()?;
        Ok(cfg)
    }

    /// One spelling per meaning: a value that turns something off may be written `"off"`,
    /// `"none"` or `""` in the file as on the command line (`serve --listen off`).
    pub fn normalize(&mut self) {
        for v in [&mut self.api.listen, &mut self.delivery.sns_topic_arn] {
            if is_off(v) {
                v.clear();
            }
        }
        if is_off(&self.delivery.snapshot_frequency) {
            self.delivery.snapshot_frequency = "off".into();
        }
    }

    /// Checks values serde cannot (ranges, patterns); also run after command-line overrides.
    ///
    /// # Errors
    /// The first bad value, named.
    pub fn check(&self) -> Result<()> {
        let s = &self.source.sim;
        if !(0.0..=1.0).contains(&s.churn) {
            bail!(
                "source.sim.churn = {} rejected: must be between 0.0 and 1.0",
                s.churn
            );
        }
        if s.accounts == 0 || s.regions.is_empty() {
            bail!("source.sim: accounts and regions must not be empty");
        }
        if s.first_account == 0 || s.first_account + s.accounts as u64 > 10_000 {
            bail!(
                "source.sim.first_account = {} rejected: accounts are numbered 1 .. 9999 (111122220001 ..)",
                s.first_account
            );
        }
        if !self.recorder.id.is_empty() && !driftlog_deliver::valid_recorder_id(&self.recorder.id) {
            bail!(
                "recorder.id = {:?} rejected: use 1 to 64 letters, digits, '-' and '_'",
                self.recorder.id
            );
        }
        self.aggregator.check()?;
        if !(0.0..=1.0).contains(&self.recorder.jitter) {
            bail!(
                "recorder.jitter = {} rejected: must be between 0.0 and 1.0",
                self.recorder.jitter
            );
        }
        if self.recorder.concurrency == 0 {
            bail!("recorder.concurrency = 0 rejected: at least 1 poll must run");
        }
        if self.recorder.interval.is_zero() || self.recorder.timeout.is_zero() {
            bail!("recorder.interval and recorder.timeout must be greater than 0");
        }
        let a = &self.source.aws;
        if !(1..=20).contains(&a.events.wait_seconds) {
            bail!(
                "source.aws.events.wait_seconds = {} rejected: SQS long polls last 1 .. 20 seconds",
                a.events.wait_seconds
            );
        }
        for (what, url) in a.events.queue_urls.iter().map(|u| ("queue_urls", u)).chain(
            Some(&a.events.cloudtrail_bucket_queue)
                .filter(|u| !u.trim().is_empty())
                .map(|u| ("cloudtrail_bucket_queue", u)),
        ) {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!(
                    "source.aws.events.{what} = {url:?} rejected: give the queue's URL, e.g. https://sqs.eu-west-1.amazonaws.com/111122223333/driftlog-events (aws sqs get-queue-url --queue-name NAME)"
                );
            }
        }
        if self.recorder.events_quiet.is_zero() {
            bail!("recorder.events_quiet must be greater than 0 (e.g. \"200ms\")");
        }
        if a.max_attempts == 0 || a.max_attempts > 20 {
            bail!(
                "source.aws.max_attempts = {} rejected: use 1 .. 20",
                a.max_attempts
            );
        }
        if a.call_timeout.is_zero() {
            bail!("source.aws.call_timeout must be greater than 0");
        }
        for (k, v) in &a.rate_limits.0 {
            if driftlog_aws::Service::from_name(k).is_none() {
                bail!(
                    "source.aws.rate_limits.{k} rejected: not a service the AWS source calls; use one of {}",
                    source::service_names()
                );
            }
            if !(v.is_finite() && *v >= 0.0) {
                bail!("source.aws.rate_limits.{k} = {v} rejected: use 0 (no limit) or a positive rate");
            }
        }
        for (k, v) in &a.endpoints.0 {
            if k != "all" && driftlog_aws::Service::from_name(k).is_none() {
                bail!(
                    "source.aws.endpoints.{k} rejected: use `all` or one of {}",
                    source::service_names()
                );
            }
            let v = v.trim();
            if !(v.is_empty() || v.starts_with("http://") || v.starts_with("https://")) {
                bail!("source.aws.endpoints.{k} = {v:?} rejected: an endpoint is a URL, e.g. \"http://127.0.0.1:5000\"");
            }
        }
        for r in &a.regions {
            if r != "all"
                && (r.is_empty()
                    || !r
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
            {
                bail!("source.aws.regions: {r:?} rejected: a region looks like \"eu-west-1\", or use [\"all\"]");
            }
        }
        if s.tick_interval.is_zero() {
            bail!("source.sim.tick_interval must be greater than 0");
        }
        if self.store.cache_mb == 0 || self.store.cache_mb > 1 << 20 {
            bail!(
                "store.cache_mb = {} rejected: use 1 .. 1048576 (MiB)",
                self.store.cache_mb
            );
        }
        let freq = |k: &str, v: &str| -> Result<()> {
            if matches!(v, "CONTINUOUS" | "DAILY") {
                Ok(())
            } else {
                bail!("{k} = {v:?} rejected: use \"CONTINUOUS\" or \"DAILY\"")
            }
        };
        freq(
            "recorder.recording_frequency",
            &self.recorder.recording_frequency,
        )?;
        for (i, o) in self.recorder.recording_mode_overrides.iter().enumerate() {
            let at = format!("recorder.recording_mode_overrides[{i}]");
            freq(&format!("{at}.recording_frequency"), &o.recording_frequency)?;
            if o.resource_types.is_empty() {
                bail!("{at}.resource_types is empty: name the types it applies to");
            }
            for t in &o.resource_types {
                TypePattern::parse(t)
                    .with_context(|| format!("{at}.resource_types: {t:?} rejected"))?;
                if o.recording_frequency == "DAILY"
                    && driftlog_recorder::ALWAYS_CONTINUOUS.contains(&t.as_str())
                {
                    bail!(
                        "{at}: {t} cannot be recorded DAILY (AWS Config records it continuously)"
                    );
                }
            }
        }
        let d = &self.delivery;
        if d.snapshot_frequency != "off" {
            driftlog_sinks::SnapshotFrequency::parse(&d.snapshot_frequency).map_err(|e| {
                Error::invalid(format!(
                    "delivery.snapshot_frequency: {e}, or {OFF_FORMS} for on demand only"
                ))
            })?;
        }
        if d.history_period < Duration::from_secs(1) {
            bail!("delivery.history_period must be at least 1s (AWS Config: 6h)");
        }
        if d.max_items_per_file == 0 {
            bail!("delivery.max_items_per_file must be at least 1");
        }
        let e = d.endpoint_url.trim();
        if !(e.is_empty() || e.starts_with("http://") || e.starts_with("https://")) {
            bail!("delivery.endpoint_url = {e:?} rejected: an endpoint is a URL, e.g. \"http://127.0.0.1:5000\"");
        }
        let t = d.sns_topic_arn.trim();
        if !(t.is_empty() || (t.starts_with("arn:") && t.contains(":sns:"))) {
            bail!("delivery.sns_topic_arn = {t:?} rejected: use arn:aws:sns:<region>:<account>:<topic>, or {OFF_FORMS} for no config stream");
        }
        let mut names = std::collections::BTreeSet::new();
        for s in &self.sinks {
            s.check()?;
            if !names.insert(s.name.as_str()) || s.name == CONFIG_STREAM_SINK {
                bail!(
                    "sinks: name {:?} used twice (or reserved for delivery.sns_topic_arn)",
                    s.name
                );
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for e in &self.evaluators {
            e.check()?;
            if !names.insert(e.name.as_str()) {
                bail!("evaluators: name {:?} used twice", e.name);
            }
        }
        if self.rules.periodic_check.is_zero() {
            bail!("rules.periodic_check must be greater than 0");
        }
        if self.rules.concurrency == 0 || self.rules.concurrency > 256 {
            bail!(
                "rules.concurrency = {} rejected: use 1 .. 256",
                self.rules.concurrency
            );
        }
        for (k, list) in [
            ("recording_group.include", &self.recording_group.include),
            ("recording_group.exclude", &self.recording_group.exclude),
        ] {
            for p in list {
                TypePattern::parse(p).with_context(|| format!("{k} = {p:?} rejected"))?;
            }
        }
        self.api.address()?;
        if !matches!(self.api.auth.as_str(), "off" | "sigv4") {
            bail!(
                "api.auth = {:?} rejected: use \"off\" or \"sigv4\"",
                self.api.auth
            );
        }
        Ok(())
    }

    /// The recording group as the recorder takes it.
    pub fn group(&self) -> driftlog_poll::RecordingGroup {
        let pats = |v: &[String]| {
            v.iter()
                .filter_map(|p| TypePattern::parse(p).ok())
                .collect()
        };
        driftlog_poll::RecordingGroup {
            include: pats(&self.recording_group.include),
            exclude: pats(&self.recording_group.exclude),
            include_global: self.recording_group.include_global,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_text_parses_to_default() {
        let c = Config::parse(DEFAULT_TOML).unwrap();
        assert_eq!(format!("{c:?}"), format!("{:?}", Config::default()));
        assert_eq!(
            format!("{:?}", Config::parse("").unwrap()),
            format!("{:?}", Config::default())
        );
        assert_eq!(c.recorder.interval, Duration::from_secs(60));
        assert_eq!(c.source.sim.resources, 2000);
        assert_eq!(c.store.cache_mb, 64);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = Config::parse("data_dir = \"x\"\n[recorder]\nintervall = \"5s\"\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("intervall"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn bad_value_names_key_and_reason() {
        let e = Config::parse("[recorder]\ninterval = \"5 parsecs\"\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("line 2") && msg.contains("unit"), "{msg}");
        let e = Config::parse("[source.sim]\nchurn = 7.0\n").unwrap_err();
        assert!(format!("{e:#}").contains("churn"));
    }

    #[test]
    fn sinks_are_checked_with_their_name() {
        let ok = "[[sinks]]\nname = \"sec\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\ntypes = [\"AWS::EC2::*\"]\n";
        let c = Config::parse(ok).unwrap();
        assert_eq!(c.sinks.len(), 1);
        assert_eq!(c.sinks[0].stream, "DRIFTLOG");
        let e = Config::parse(&ok.replace("webhook", "smtp")).unwrap_err();
        assert!(format!("{e:#}").contains("line 3"), "{e:#}");
        let e = Config::parse(&ok.replace("http://127.0.0.1:9/h", "ftp://x")).unwrap_err();
        assert!(format!("{e:#}").contains("sinks \"sec\": url"), "{e:#}");
        let e = Config::parse(&format!("{ok}{ok}")).unwrap_err();
        assert!(format!("{e:#}").contains("used twice"), "{e:#}");
        let e = Config::parse("[delivery]\nsnapshot_frequency = \"Daily\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("TwentyFour_Hours"), "{e:#}");
    }

    /// Issue 13.6: `off` turns things off in the file as on the command line.
    #[test]
    fn off_is_spelled_the_same_in_the_file_and_on_the_command_line() {
        for off in ["off", "none", "", "OFF"] {
            let c = Config::parse(&format!("[api]\nlisten = \"{off}\"\n")).unwrap();
            assert_eq!(c.api.address().unwrap(), None, "listen = {off:?}");
            let c = Config::parse(&format!(
                "[delivery]\nsns_topic_arn = \"{off}\"\nsnapshot_frequency = \"{off}\"\n"
            ))
            .unwrap();
            let ch = c.delivery.channel(Path::new("d"));
            assert_eq!(ch.sns_topic_arn, None);
            assert_eq!(ch.snapshot_frequency, None);
        }
        let e = Config::parse("[api]\nlisten = \"of\"\n")
            .and_then(|c| c.api.address().map(|_| c))
            .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("IP:PORT") && msg.contains("\"off\""), "{msg}");
        let e = Config::parse("[delivery]\nsns_topic_arn = \"nope\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("\"off\""), "{e:#}");
    }

    /// Issue 13.7: `[recorder]` takes AWS Config's recordingMode.
    #[test]
    fn recording_mode_in_the_file() {
        let c = Config::parse(
            "[recorder]\nrecording_frequency = \"DAILY\"\n[[recorder.recording_mode_overrides]]\nresource_types = [\"AWS::EC2::SecurityGroup\"]\nrecording_frequency = \"CONTINUOUS\"\n",
        )
        .unwrap();
        let m = c.recorder.mode();
        assert!(m.is_daily("AWS::EC2::Instance"));
        assert!(!m.is_daily("AWS::EC2::SecurityGroup"));
        assert!(!m.is_daily("AWS::Config::ResourceCompliance"));
        assert_eq!(c.recorder.mode_json()["recordingFrequency"], "DAILY");
        let e = Config::parse("[recorder]\nrecording_frequency = \"HOURLY\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("CONTINUOUS"), "{e:#}");
        let e = Config::parse("[[recorder.recording_mode_overrides]]\nresource_types = [\"AWS::Config::ResourceCompliance\"]\nrecording_frequency = \"DAILY\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("continuously"), "{e:#}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("100000000000000000000000s").is_err());
    }
}
