//! `[recorder]`, `[recording_group]` and `[store]`: how and what is recorded, and where.

use super::*;

/// `[recorder]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderSection {
    /// This recorder's stable id ("" = its store's id).
    pub id: String,
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
    /// AWS Config's recordingFrequency: `CONTINUOUS` or `DAILY`.
    pub recording_frequency: String,
    /// AWS Config's recordingModeOverrides.
    pub recording_mode_overrides: Vec<ModeOverride>,
    /// Events for one resource are coalesced until none came for this long…
    #[serde(deserialize_with = "duration")]
    pub events_quiet: Duration,
    /// …or this long after the first.
    #[serde(deserialize_with = "duration")]
    pub events_max_delay: Duration,
}

/// `[[recorder.recording_mode_overrides]]`: types recorded at another frequency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeOverride {
    /// Types (or globs).
    pub resource_types: Vec<String>,
    /// `CONTINUOUS` or `DAILY`.
    pub recording_frequency: String,
    /// Free text, echoed by DescribeConfigurationRecorders.
    #[serde(default)]
    pub description: String,
}

impl Default for RecorderSection {
    fn default() -> Self {
        let s = SchedulerConfig::default();
        Self {
            id: String::new(),
            start: true,
            interval: s.interval,
            jitter: s.jitter,
            timeout: s.timeout,
            concurrency: s.concurrency,
            backoff_base: s.backoff_base,
            backoff_max: s.backoff_max,
            recheck_related: true,
            recording_frequency: "CONTINUOUS".into(),
            recording_mode_overrides: Vec::new(),
            events_quiet: driftlog_recorder::EventConfig::default().quiet,
            events_max_delay: driftlog_recorder::EventConfig::default().max_delay,
        }
    }
}

impl RecorderSection {
    /// Pacing of event-driven recording.
    pub fn events(&self) -> driftlog_recorder::EventConfig {
        driftlog_recorder::EventConfig {
            quiet: self.events_quiet,
            max_delay: self.events_max_delay.max(self.events_quiet),
            ..driftlog_recorder::EventConfig::default()
        }
    }

    /// The recording mode of this section (checked by [`Config::check`]).
    pub fn mode(&self) -> driftlog_recorder::RecordingMode {
        driftlog_recorder::RecordingMode {
            daily: self.recording_frequency == "DAILY",
            overrides: self
                .recording_mode_overrides
                .iter()
                .map(|o| {
                    (
                        o.resource_types
                            .iter()
                            .filter_map(|t| TypePattern::parse(t).ok())
                            .collect(),
                        o.recording_frequency == "DAILY",
                    )
                })
                .collect(),
        }
    }

    /// The recording mode as AWS Config's API shows it (`recordingMode`).
    pub fn mode_json(&self) -> serde_json::Value {
        let overrides: Vec<serde_json::Value> = self
            .recording_mode_overrides
            .iter()
            .map(|o| {
                let mut v = serde_json::json!({
                    "resourceTypes": o.resource_types,
                    "recordingFrequency": o.recording_frequency,
                });
                if !o.description.is_empty() {
                    v["description"] = serde_json::json!(o.description);
                }
                v
            })
            .collect();
        serde_json::json!({
            "recordingFrequency": self.recording_frequency,
            "recordingModeOverrides": overrides,
        })
    }

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
    /// Disk reserve in MiB.
    pub reserve_mb: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            cache_mb: 64,
            reserve_mb: 64,
        }
    }
}
