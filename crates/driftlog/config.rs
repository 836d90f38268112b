//! The one TOML configuration file. Every option has a documented default (see
//! [`DEFAULT_TOML`], printed by `driftlog config`); an unknown key or a bad value is refused
//! with the key, the line and the reason, and nothing starts.

use anyhow::{bail, Context, Result};
use driftlog_model::TypePattern;
use driftlog_poll::SchedulerConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documented default configuration, exactly as `driftlog config` prints it.
pub const DEFAULT_TOML: &str = r#"# driftlog configuration. Every key is optional; the values shown are the defaults.

# Where the log lives. One `driftlog serve` per data dir.
data_dir = "./driftlog-data"

[source]
# Where resources come from: "sim" (the built-in simulated AWS estate).
kind = "sim"

[source.sim]
# Same seed, same estate: demos and tests are reproducible.
seed = 42
# Number of AWS accounts and the regions of each.
accounts = 2
regions = ["eu-west-1", "us-east-1"]
# Approximate number of resources in the whole estate (100 .. 1000000+).
resources = 2000
# Fraction of resources changed per tick (rules opened, instances launched, ...).
churn = 0.01
# How often the simulated estate changes.
tick_interval = "30s"

[recorder]
# Start recording when `serve` starts (false: start it later through the API).
start = true
# Time between two polls of the same scope (account, region, resource type).
interval = "60s"
# Random spread of each interval (0.1 = ±10%).
jitter = 0.1
# A poll running longer than this is abandoned and changes nothing.
timeout = "120s"
# Polls running at once.
concurrency = 4
# Retry delay after a failure, doubled per consecutive failure, capped at backoff_max.
backoff_base = "5s"
backoff_max = "10m"
# Re-describe resources related to a changed one in the same cycle.
recheck_related = true

[recording_group]
# Types to record (globs allowed, e.g. "AWS::EC2::*"); empty = all supported types.
include = []
# Types never to record.
exclude = []
# Record IAM and other global types.
include_global = true

[store]
# sled page cache, MiB. Bounds memory; larger speeds up history reads of cold resources.
cache_mb = 64
"#;

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
        }
    }
}

/// `[source]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// Source kind.
    pub kind: SourceKind,
    /// `[source.sim]`.
    pub sim: SimSection,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Sim,
            sim: SimSection::default(),
        }
    }
}

/// The kinds of source.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The simulated estate.
    Sim,
}

/// `[source.sim]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSection {
    /// Seed.
    pub seed: u64,
    /// Accounts.
    pub accounts: usize,
    /// Regions.
    pub regions: Vec<String>,
    /// Approximate resource count.
    pub resources: usize,
    /// Churn per tick.
    pub churn: f64,
    /// Tick interval.
    #[serde(deserialize_with = "duration")]
    pub tick_interval: Duration,
}

impl Default for SimSection {
    fn default() -> Self {
        Self {
            seed: 42,
            accounts: 2,
            regions: vec!["eu-west-1".into(), "us-east-1".into()],
            resources: 2000,
            churn: 0.01,
            tick_interval: Duration::from_secs(30),
        }
    }
}

/// `[recorder]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderSection {
    /// Start recording at once.
    pub start: bool,
    /// Poll interval.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Jitter fraction.
    pub jitter: f64,
    /// Poll timeout.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Concurrent polls.
    pub concurrency: usize,
    /// First backoff.
    #[serde(deserialize_with = "duration")]
    pub backoff_base: Duration,
    /// Longest backoff.
    #[serde(deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// Related re-checks.
    pub recheck_related: bool,
}

impl Default for RecorderSection {
    fn default() -> Self {
        let s = SchedulerConfig::default();
        Self {
            start: true,
            interval: s.interval,
            jitter: s.jitter,
            timeout: s.timeout,
            concurrency: s.concurrency,
            backoff_base: s.backoff_base,
            backoff_max: s.backoff_max,
            recheck_related: true,
        }
    }
}

impl RecorderSection {
    /// The scheduler settings of this section.
    pub fn scheduler(&self) -> SchedulerConfig {
        SchedulerConfig {
            interval: self.interval,
            jitter: self.jitter,
            timeout: self.timeout,
            concurrency: self.concurrency,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
        }
    }
}

/// `[recording_group]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupSection {
    /// Include globs.
    pub include: Vec<String>,
    /// Exclude globs.
    pub exclude: Vec<String>,
    /// Global types.
    pub include_global: bool,
}

impl Default for GroupSection {
    fn default() -> Self {
        Self {
            include: Vec::new(),
            exclude: Vec::new(),
            include_global: true,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// sled cache in MiB.
    pub cache_mb: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self { cache_mb: 64 }
    }
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
        let cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.check()?;
        Ok(cfg)
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
        if s.tick_interval.is_zero() {
            bail!("source.sim.tick_interval must be greater than 0");
        }
        if self.store.cache_mb == 0 || self.store.cache_mb > 1 << 20 {
            bail!(
                "store.cache_mb = {} rejected: use 1 .. 1048576 (MiB)",
                self.store.cache_mb
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
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("100000000000000000000000s").is_err());
    }
}
