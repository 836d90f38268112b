//! The control plane: the configuration recorder and the delivery channel, as the API
//! defines them. Kept in the store (`api/control`), applied to the running recorder and
//! channel, so what a call sets takes effect at once and survives a restart.

use crate::error::{ApiError, ApiResult};
use crate::input::Input;
use crate::{Caller, ConfigApi, RESOURCE_TYPES};
use driftlog_log::Log;
use driftlog_model::epoch_seconds;
use driftlog_model::time::now_ms;
use driftlog_model::TypePattern;
use driftlog_poll::RecordingGroup;
use driftlog_recorder::{Recorder, RecordingMode};
use driftlog_sinks::{DeliveryChannel, DeliveryInfo};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// The control plane's settings (recorder, recording, channel, what the API set), one record.
const CONTROL: driftlog_log::Namespace<Control> = driftlog_log::Namespace::new("api/control", 1);

/// The configuration recorder as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecorderDef {
    /// `name`.
    pub name: String,
    /// `roleARN`: the role delivery assumes.
    pub role_arn: String,
    /// `recordingGroup`, every member present as AWS returns it.
    pub recording_group: Value,
    /// `recordingMode`.
    pub recording_mode: Value,
    /// `arn`.
    pub arn: String,
}

/// The delivery channel as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelDef {
    /// `name`.
    pub name: String,
    /// `s3BucketName`.
    pub s3_bucket_name: String,
    /// `s3KeyPrefix`.
    pub s3_key_prefix: Option<String>,
    /// `s3KmsKeyArn`.
    pub s3_kms_key_arn: Option<String>,
    /// `snsTopicARN`.
    pub sns_topic_arn: Option<String>,
    /// `configSnapshotDeliveryProperties.deliveryFrequency`.
    pub delivery_frequency: Option<String>,
}

impl ChannelDef {
    fn to_api(&self) -> Value {
        let mut v = json!({"name": self.name, "s3BucketName": self.s3_bucket_name});
        if let Some(p) = &self.s3_key_prefix {
            v["s3KeyPrefix"] = json!(p);
        }
        if let Some(k) = &self.s3_kms_key_arn {
            v["s3KmsKeyArn"] = json!(k);
        }
        if let Some(t) = &self.sns_topic_arn {
            v["snsTopicARN"] = json!(t);
        }
        if let Some(f) = &self.delivery_frequency {
            v["configSnapshotDeliveryProperties"] = json!({"deliveryFrequency": f});
        }
        v
    }
}

/// What a store where the API was never used starts with: the config file's recorder and
/// channel.
#[derive(Debug, Clone, Default)]
pub struct Initial {
    /// The recorder (`None`: none defined).
    pub recorder: Option<RecorderDef>,
    /// Whether it records.
    pub recording: bool,
    /// The delivery channel.
    pub channel: Option<ChannelDef>,
}

/// The running process's delivery channel, which `PutDeliveryChannel` replaces.
#[async_trait::async_trait]
pub trait DeliveryControl: Send + Sync {
    /// The channel now running.
    fn channel(&self) -> Option<Arc<DeliveryChannel>>;
    /// The status of every sink (for `/metrics`).
    fn sinks(&self) -> Vec<driftlog_sinks::SinkStatus>;
    /// Replaces the running channel (`None`: stops it). A channel that cannot write to its
    /// bucket is refused with AWS's error and the old one keeps running.
    async fn apply(&self, def: Option<ChannelDef>) -> ApiResult<()>;
    /// Runs a background job of the control plane (an asynchronous snapshot delivery)
    /// where the server tracks its tasks, so its shutdown waits for the job. By default, a
    /// task of the runtime.
    fn run_in_background(
        &self,
        job: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    ) {
        tokio::spawn(job);
    }
}

/// An API with no delivery channel and no sinks (benchmarks, tests, an embedded API):
/// `PutDeliveryChannel` is accepted and does nothing.
pub struct NoDelivery;

#[async_trait::async_trait]
impl DeliveryControl for NoDelivery {
    fn channel(&self) -> Option<Arc<DeliveryChannel>> {
        None
    }
    fn sinks(&self) -> Vec<driftlog_sinks::SinkStatus> {
        Vec::new()
    }
    async fn apply(&self, _def: Option<ChannelDef>) -> ApiResult<()> {
        Ok(())
    }
}

/// Which parts of the control plane the API (or `driftlog start|stop`) has set: the
/// others follow the config file at every start, so editing the file still works until
/// the API takes a part over.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct SetByApi {
    recorder: bool,
    recording: bool,
    channel: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Control {
    #[serde(default)]
    set: SetByApi,
    pub(crate) recorder: Option<RecorderDef>,
    recording: bool,
    last_start_ms: Option<i64>,
    last_stop_ms: Option<i64>,
    last_status_change_ms: Option<i64>,
    channel: Option<ChannelDef>,
}

/// The channel the API defined, if the API was ever used on this store (`Some(None)`:
/// the channel was deleted). The binary opens this one instead of the config file's.
pub fn stored_channel(log: &Log) -> Option<Option<ChannelDef>> {
    let c = CONTROL.get(log, "").ok()??;
    c.set.channel.then_some(c.channel)
}

impl Control {
    pub(crate) fn load_or(log: &Log, initial: Initial) -> Result<Self, String> {
        let now = now_ms();
        let mut c = CONTROL
            .get(log, "")
            .map_err(|e| format!("stored AWS Config API settings: {e}"))?
            .unwrap_or_default();
        // What the API never set follows the config file.
        if !c.set.recorder {
            let arn = c.recorder.as_ref().map(|r| r.arn.clone());
            c.recorder = initial.recorder.map(|mut r| {
                if let Some(a) = arn {
                    r.arn = a;
                }
                r
            });
        }
        if !c.set.recording {
            let on = initial.recording && c.recorder.is_some();
            if on && !c.recording {
                c.last_start_ms = Some(now);
            }
            c.recording = on;
        }
        if !c.set.channel {
            c.channel = initial.channel;
        }
        c.store(log).map_err(|e| e.message)?;
        Ok(c)
    }

    fn store(&self, log: &Log) -> ApiResult<()> {
        CONTROL
            .put(log, "", self)
            .map_err(|e| ApiError::storage(&e))?;
        log.flush().map_err(|e| ApiError::storage(&e))?;
        Ok(())
    }

    /// Makes the running recorder do what this says.
    pub(crate) fn apply_to(&self, rec: &Recorder) {
        if let Some(r) = &self.recorder {
            rec.set_group(group_of(&r.recording_group));
            rec.set_mode(mode_of(&r.recording_mode));
        }
        if self.recording && self.recorder.is_some() {
            rec.start();
        } else {
            rec.stop();
        }
    }
}

/// The recorder's `recordingGroup` as driftlog's recording group.
pub(crate) fn group_of(g: &Value) -> RecordingGroup {
    let types = |v: &Value| -> Vec<TypePattern> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().and_then(|t| TypePattern::parse(t).ok()))
                    .collect()
            })
            .unwrap_or_default()
    };
    match g["recordingStrategy"]["useOnly"].as_str() {
        Some("INCLUSION_BY_RESOURCE_TYPES") => RecordingGroup {
            include: types(&g["resourceTypes"]),
            exclude: Vec::new(),
            include_global: true,
        },
        Some("EXCLUSION_BY_RESOURCE_TYPES") => RecordingGroup {
            include: Vec::new(),
            exclude: types(&g["exclusionByResourceTypes"]["resourceTypes"]),
            include_global: true,
        },
        _ => RecordingGroup {
            include: Vec::new(),
            exclude: Vec::new(),
            include_global: g["includeGlobalResourceTypes"].as_bool().unwrap_or(false),
        },
    }
}

fn invalid_group(msg: impl Into<String>) -> ApiError {
    ApiError::new("InvalidRecordingGroupException", msg)
}

fn resource_types(i: &Input, name: &str) -> ApiResult<Vec<String>> {
    let list = i.strings(name, usize::MAX, 1, 256)?.unwrap_or_default();
    for t in &list {
        if RESOURCE_TYPES.binary_search(&t.as_str()).is_err() {
            return Err(invalid_group(format!(
                "The recording group provided is not valid: '{t}' is not a resource type AWS Config supports."
            )));
        }
    }
    Ok(list)
}

/// Checks a `recordingGroup` as AWS does and returns it with every member present.
pub(crate) fn recording_group(g: Option<Input>) -> ApiResult<Value> {
    let Some(g) = g else {
        // AWS's default: all supported types, global ones (IAM) left out.
        return Ok(json!({
            "allSupported": true,
            "includeGlobalResourceTypes": false,
            "resourceTypes": [],
            "exclusionByResourceTypes": {"resourceTypes": []},
            "recordingStrategy": {"useOnly": "ALL_SUPPORTED_RESOURCE_TYPES"},
        }));
    };
    let all = g.boolean("allSupported")?;
    let global = g.boolean("includeGlobalResourceTypes")?.unwrap_or(false);
    let types = resource_types(&g, "resourceTypes")?;
    let excluded = match g.object("exclusionByResourceTypes")? {
        Some(e) => resource_types(&e, "resourceTypes")?,
        None => Vec::new(),
    };
    let strategy = match g.object("recordingStrategy")? {
        Some(s) => s.enumerated(
            "useOnly",
            &[
                "ALL_SUPPORTED_RESOURCE_TYPES",
                "INCLUSION_BY_RESOURCE_TYPES",
                "EXCLUSION_BY_RESOURCE_TYPES",
            ],
        )?,
        None => None,
    };
    let strategy = match strategy {
        Some(s) => s,
        None if all == Some(true) => "ALL_SUPPORTED_RESOURCE_TYPES".into(),
        None if !excluded.is_empty() => "EXCLUSION_BY_RESOURCE_TYPES".into(),
        None => "INCLUSION_BY_RESOURCE_TYPES".into(),
    };
    let all = all.unwrap_or(strategy == "ALL_SUPPORTED_RESOURCE_TYPES");
    match strategy.as_str() {
        "ALL_SUPPORTED_RESOURCE_TYPES" => {
            if !all || !types.is_empty() || !excluded.is_empty() {
                return Err(invalid_group(
                    "The recording group provided is not valid: with allSupported (ALL_SUPPORTED_RESOURCE_TYPES) set, resourceTypes and exclusionByResourceTypes must be empty.",
                ));
            }
        }
        "INCLUSION_BY_RESOURCE_TYPES" => {
            if all || global || types.is_empty() || !excluded.is_empty() {
                return Err(invalid_group(
                    "The recording group provided is not valid: INCLUSION_BY_RESOURCE_TYPES needs allSupported and includeGlobalResourceTypes false, a non-empty resourceTypes and no exclusions.",
                ));
            }
        }
        _ => {
            if all || global || !types.is_empty() || excluded.is_empty() {
                return Err(invalid_group(
                    "The recording group provided is not valid: EXCLUSION_BY_RESOURCE_TYPES needs allSupported and includeGlobalResourceTypes false, empty resourceTypes and a non-empty exclusionByResourceTypes.",
                ));
            }
        }
    }
    Ok(json!({
        "allSupported": all,
        "includeGlobalResourceTypes": global,
        "resourceTypes": types,
        "exclusionByResourceTypes": {"resourceTypes": excluded},
        "recordingStrategy": {"useOnly": strategy},
    }))
}

/// The recorder's `recordingMode` as driftlog's recording mode.
pub(crate) fn mode_of(m: &Value) -> RecordingMode {
    let daily = |v: &Value| v["recordingFrequency"].as_str() == Some("DAILY");
    RecordingMode {
        daily: daily(m),
        overrides: m["recordingModeOverrides"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                let types = o["resourceTypes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().and_then(|t| TypePattern::parse(t).ok()))
                    .collect();
                (types, daily(o))
            })
            .collect(),
    }
}

fn recording_mode(m: Option<Input>) -> ApiResult<Value> {
    let Some(m) = m else {
        return Ok(json!({"recordingFrequency": "CONTINUOUS", "recordingModeOverrides": []}));
    };
    let freq = m
        .enumerated("recordingFrequency", &["CONTINUOUS", "DAILY"])?
        .ok_or_else(|| m.missing("recordingFrequency"))?;
    let mut overrides = Vec::new();
    for o in m.objects("recordingModeOverrides", 1)?.unwrap_or_default() {
        let types = o
            .strings("resourceTypes", 100, 1, 256)?
            .ok_or_else(|| o.missing("resourceTypes"))?;
        let f = o
            .enumerated("recordingFrequency", &["CONTINUOUS", "DAILY"])?
            .ok_or_else(|| o.missing("recordingFrequency"))?;
        let mut v = json!({"resourceTypes": types, "recordingFrequency": f});
        if let Some(d) = o.string("description", 0, 256)? {
            v["description"] = json!(d);
        }
        overrides.push(v);
    }
    Ok(json!({"recordingFrequency": freq, "recordingModeOverrides": overrides}))
}

fn no_recorder(name: &str) -> ApiError {
    ApiError::new(
        "NoSuchConfigurationRecorderException",
        format!("Cannot find configuration recorder with the specified name '{name}'."),
    )
}

fn no_channel(name: &str) -> ApiError {
    ApiError::new(
        "NoSuchDeliveryChannelException",
        format!("Cannot find delivery channel with specified name '{name}'."),
    )
}

fn is_arn(text: &str, service: &str) -> bool {
    let p: Vec<&str> = text.splitn(6, ':').collect();
    p.len() == 6 && p[0] == "arn" && p[1].starts_with("aws") && p[2] == service && !p[5].is_empty()
}

fn is_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
        && !b.contains("..")
}

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, epoch_seconds)
}

fn export_info(i: &DeliveryInfo) -> Value {
    let mut v = json!({"lastStatus": i.last_status});
    let mut put = |k: &str, x: Value| {
        if !x.is_null() {
            v[k] = x;
        }
    };
    put("lastErrorCode", json!(i.last_error_code));
    put("lastErrorMessage", json!(i.last_error_message));
    put("lastAttemptTime", time(i.last_attempt_time));
    put("lastSuccessfulTime", time(i.last_successful_time));
    put("nextDeliveryTime", time(i.next_delivery_time));
    v
}

fn stream_info(i: &DeliveryInfo) -> Value {
    let mut v = json!({"lastStatus": i.last_status});
    if let Some(c) = &i.last_error_code {
        v["lastErrorCode"] = json!(c);
    }
    if let Some(m) = &i.last_error_message {
        v["lastErrorMessage"] = json!(m);
    }
    if let Some(t) = i.last_status_change_time {
        v["lastStatusChangeTime"] = epoch_seconds(t);
    }
    v
}

impl ConfigApi {
    /// The config stream's status: the channel's own notifications (delivery events) and
    /// the configuration item changes the config-stream sink publishes, whichever was
    /// attempted last.
    fn stream_status(
        &self,
        mut info: driftlog_sinks::DeliveryInfo,
    ) -> driftlog_sinks::DeliveryInfo {
        let Some(sink) = self
            .delivery
            .sinks()
            .into_iter()
            .find(|s| s.name == driftlog_sinks::CONFIG_STREAM_SINK)
        else {
            return info;
        };
        let Some(at) = sink.last_attempt_ms else {
            return info;
        };
        if info.last_attempt_time.is_some_and(|t| t > at) {
            return info;
        }
        let (status, error) = match &sink.last_error {
            Some(e) => {
                let (code, message) = e.split_once(": ").unwrap_or(("Error", e.as_str()));
                (
                    driftlog_sinks::status::FAILURE,
                    Some((code.to_string(), message.to_string())),
                )
            }
            None if sink.last_success_ms.is_some() => (driftlog_sinks::status::SUCCESS, None),
            None => return info,
        };
        if info.last_status != status {
            info.last_status = status.to_string();
            info.last_status_change_time = Some(at);
        }
        info.last_attempt_time = Some(at);
        info.last_error_code = error.as_ref().map(|e| e.0.clone());
        info.last_error_message = error.map(|e| e.1);
        if status == driftlog_sinks::status::SUCCESS {
            info.last_successful_time = sink.last_success_ms;
        }
        info
    }

    pub(crate) fn control(&self) -> Control {
        self.control
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn save(&self, c: Control) -> ApiResult<()> {
        c.store(&self.log)?;
        if let Some(rec) = &self.recorder {
            c.apply_to(rec);
        }
        match self.control.lock() {
            Ok(mut g) => *g = c,
            Err(p) => *p.into_inner() = c,
        }
        Ok(())
    }

    pub(crate) async fn put_recorder(&self, caller: &Caller, input: &Input) -> ApiResult<Value> {
        let r = input
            .object("ConfigurationRecorder")?
            .ok_or_else(|| input.missing("ConfigurationRecorder"))?;
        let name = r
            .string("name", 0, 256)?
            .unwrap_or_else(|| "default".into());
        if name.trim().is_empty() {
            return Err(ApiError::new(
                "InvalidConfigurationRecorderNameException",
                "The configuration recorder name can't be empty.",
            ));
        }
        if name.starts_with("AWSConfigurationRecorderFor") {
            return Err(ApiError::new(
                "InvalidConfigurationRecorderNameException",
                format!("The configuration recorder name '{name}' is reserved for service-linked recorders."),
            ));
        }
        let role = r.string("roleARN", 0, 2048)?.unwrap_or_default();
        if !is_arn(&role, "iam") || !role.contains(":role/") {
            return Err(ApiError::new(
                "InvalidRoleException",
                format!("The role ARN '{role}' is not valid: give the IAM role (arn:aws:iam::<account>:role/<name>) that delivery uses."),
            ));
        }
        let group = recording_group(r.object("recordingGroup")?)?;
        let mode = recording_mode(r.object("recordingMode")?)?;
        let _w = self.writes.lock().await;
        let mut c = self.control();
        let arn = match &c.recorder {
            Some(old) if old.name != name => {
                return Err(ApiError::new(
                    "MaxNumberOfConfigurationRecordersExceededException",
                    format!("Failed to put configuration recorder '{name}' because the maximum number of configuration recorders: 1 is reached."),
                ))
            }
            Some(old) => old.arn.clone(),
            None => format!(
                "arn:aws:config:{}:{}:configuration-recorder/{name}/{}",
                self.region(caller),
                self.account(caller),
                &crate::uuid_v4()[..16].replace('-', "")
            ),
        };
        c.set.recorder = true;
        c.recorder = Some(RecorderDef {
            name,
            role_arn: role,
            recording_group: group,
            recording_mode: mode,
            arn,
        });
        self.save(c)?;
        Ok(json!({}))
    }

    fn recorder_names(input: &Input) -> ApiResult<Option<String>> {
        let names = input.strings("ConfigurationRecorderNames", usize::MAX, 1, 256)?;
        match names.as_deref() {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.clone())),
            Some(_) => Err(ApiError::validation(
                "1 validation error detected: Value at 'configurationRecorderNames' failed to satisfy constraint: Member must have length less than or equal to 1",
            )),
        }
    }

    pub(crate) fn describe_recorders(&self, _caller: &Caller, input: &Input) -> ApiResult<Value> {
        let wanted = Self::recorder_names(input)?;
        let c = self.control();
        let list: Vec<Value> = match (&c.recorder, &wanted) {
            (Some(r), Some(w)) if &r.name != w => return Err(no_recorder(w)),
            (None, Some(w)) => return Err(no_recorder(w)),
            (Some(r), _) => vec![json!({
                "arn": r.arn,
                "name": r.name,
                "roleARN": r.role_arn,
                "recordingGroup": r.recording_group,
                "recordingMode": r.recording_mode,
                "recordingScope": "PAID",
            })],
            (None, None) => Vec::new(),
        };
        Ok(json!({"ConfigurationRecorders": list}))
    }

    pub(crate) fn describe_recorder_status(
        &self,
        _caller: &Caller,
        input: &Input,
    ) -> ApiResult<Value> {
        let wanted = Self::recorder_names(input)?;
        let c = self.control();
        let Some(r) = &c.recorder else {
            return match wanted {
                Some(w) => Err(no_recorder(&w)),
                None => Ok(json!({"ConfigurationRecordersStatus": []})),
            };
        };
        if let Some(w) = wanted.filter(|w| w != &r.name) {
            return Err(no_recorder(&w));
        }
        // AWS's lastStatus: the outcome of the last poll of any scope; a failing scope
        // shows its error.
        let scopes = self
            .recorder
            .as_ref()
            .map(|rec| rec.status().snapshot())
            .unwrap_or_default();
        let failing = scopes.iter().find(|s| s.last_error_code.is_some());
        let last_success = scopes.iter().filter_map(|s| s.last_success_ms).max();
        let last_attempt = scopes.iter().filter_map(|s| s.last_attempt_ms).max();
        let mut v = json!({
            "arn": r.arn,
            "name": r.name,
            "recording": c.recording,
            "lastStatus": if failing.is_some() { "Failure" } else if last_success.is_some() { "Success" } else if c.recording { "Pending" } else { "NotApplicable" },
        });
        if let Some(t) = c.last_start_ms {
            v["lastStartTime"] = epoch_seconds(t);
        }
        if let Some(t) = c.last_stop_ms {
            v["lastStopTime"] = epoch_seconds(t);
        }
        if let Some(f) = failing {
            v["lastErrorCode"] = json!(f.last_error_code);
            v["lastErrorMessage"] = json!(f.last_error_message);
        }
        if let Some(t) = last_attempt.or(c.last_status_change_ms) {
            v["lastStatusChangeTime"] = epoch_seconds(t);
        }
        // Recording that stopped on its own (the store refused a commit: a full disk) is
        // not recording, whatever was asked, and says why — as AWS reports a recorder that
        // cannot deliver.
        if let Some(f) = self.recorder.as_ref().and_then(|rec| rec.failure()) {
            v["recording"] = json!(false);
            v["lastStatus"] = json!("Failure");
            v["lastErrorCode"] = json!(f.code);
            v["lastErrorMessage"] = json!(format!("{}; {}", f.message, f.remedy()));
            v["lastStatusChangeTime"] = epoch_seconds(f.since_ms);
            if c.recording && c.last_stop_ms.is_none_or(|t| t < f.since_ms) {
                v["lastStopTime"] = epoch_seconds(f.since_ms);
            }
        }
        Ok(json!({"ConfigurationRecordersStatus": [v]}))
    }

    /// Starts or stops the recorder for driftlog's own CLI (`driftlog start|stop`): the
    /// same state as Start/StopConfigurationRecorder, without AWS's rule that a delivery
    /// channel must exist first.
    ///
    /// # Errors
    /// No recorder is defined (it was deleted through the API).
    pub async fn set_recording(&self, on: bool) -> ApiResult<()> {
        let name = self.control().recorder.map(|r| r.name).ok_or_else(|| {
            ApiError::new(
                "NoAvailableConfigurationRecorderException",
                "No configuration recorder is defined: create one with PutConfigurationRecorder.",
            )
        })?;
        self.switch(&name, on, false).await
    }

    pub(crate) async fn start_recorder(&self, input: &Input, on: bool) -> ApiResult<Value> {
        let name = input.required_string("ConfigurationRecorderName", 1, 256)?;
        self.switch(&name, on, true).await?;
        Ok(json!({}))
    }

    async fn switch(&self, name: &str, on: bool, need_channel: bool) -> ApiResult<()> {
        let _w = self.writes.lock().await;
        let mut c = self.control();
        match &c.recorder {
            Some(r) if r.name == name => {}
            _ => return Err(no_recorder(name)),
        }
        if on && need_channel && c.channel.is_none() {
            return Err(ApiError::new(
                "NoAvailableDeliveryChannelException",
                "Delivery channel is not available to start configuration recorder.",
            ));
        }
        if c.recording != on {
            let now = now_ms();
            if on {
                c.last_start_ms = Some(now);
            } else {
                c.last_stop_ms = Some(now);
            }
            c.last_status_change_ms = Some(now);
            c.recording = on;
        }
        c.set.recording = true;
        self.save(c)
    }

    pub(crate) async fn delete_recorder(&self, input: &Input) -> ApiResult<Value> {
        let name = input.required_string("ConfigurationRecorderName", 1, 256)?;
        let _w = self.writes.lock().await;
        let mut c = self.control();
        match &c.recorder {
            Some(r) if r.name == name => {}
            _ => return Err(no_recorder(&name)),
        }
        // The history stays: only recording stops.
        if c.recording {
            c.last_stop_ms = Some(now_ms());
        }
        c.recorder = None;
        c.recording = false;
        c.set.recorder = true;
        c.set.recording = true;
        self.save(c)?;
        Ok(json!({}))
    }

    pub(crate) async fn put_channel(&self, input: &Input) -> ApiResult<Value> {
        let d = input
            .object("DeliveryChannel")?
            .ok_or_else(|| input.missing("DeliveryChannel"))?;
        let name = d
            .string("name", 0, 256)?
            .unwrap_or_else(|| "default".into());
        if name.trim().is_empty() {
            return Err(ApiError::new(
                "InvalidDeliveryChannelNameException",
                "The delivery channel name can't be empty.",
            ));
        }
        let bucket = d.string("s3BucketName", 0, usize::MAX)?.unwrap_or_default();
        if bucket.trim().is_empty() {
            return Err(ApiError::new(
                "NoSuchBucketException",
                "Cannot find a S3 bucket with an empty bucket name.",
            ));
        }
        let prefix = d.string("s3KeyPrefix", 0, usize::MAX)?;
        if let Some(p) = &prefix {
            if p.is_empty() || p.starts_with('/') || p.ends_with('/') || p.contains("AWSLogs") {
                return Err(ApiError::new(
                    "InvalidS3KeyPrefixException",
                    format!("The s3 key prefix '{p}' is not valid: it must be non-empty, not start or end with '/', and not contain 'AWSLogs'."),
                ));
            }
        }
        let kms = d.string("s3KmsKeyArn", 0, usize::MAX)?;
        if let Some(k) = &kms {
            if !is_arn(k, "kms") {
                return Err(ApiError::new(
                    "InvalidS3KmsKeyArnException",
                    format!("The KMS key ARN '{k}' is not valid."),
                ));
            }
        }
        let topic = d.string("snsTopicARN", 0, usize::MAX)?;
        if let Some(t) = &topic {
            if !is_arn(t, "sns") {
                return Err(ApiError::new(
                    "InvalidSNSTopicARNException",
                    format!("The sns topic arn '{t}' is not valid."),
                ));
            }
        }
        let frequency = match d.object("configSnapshotDeliveryProperties")? {
            Some(p) => p.enumerated(
                "deliveryFrequency",
                &[
                    "One_Hour",
                    "Three_Hours",
                    "Six_Hours",
                    "Twelve_Hours",
                    "TwentyFour_Hours",
                ],
            )?,
            None => None,
        };
        let _w = self.writes.lock().await;
        let mut c = self.control();
        if c.recorder.is_none() {
            return Err(ApiError::new(
                "NoAvailableConfigurationRecorderException",
                "Configuration recorder is not available to put delivery channel.",
            ));
        }
        if let Some(old) = &c.channel {
            if old.name != name {
                return Err(ApiError::new(
                    "MaxNumberOfDeliveryChannelsExceededException",
                    format!("Failed to put delivery channel '{name}' because the maximum number of delivery channels: 1 is reached."),
                ));
            }
        }
        // S3's naming rules (which also keep a local-directory bucket inside its root); the
        // channel's current bucket is accepted as it is (the config file's may be a path).
        let current = c.channel.as_ref().map(|ch| ch.s3_bucket_name.as_str());
        if current != Some(bucket.as_str()) && !is_bucket_name(&bucket) {
            return Err(ApiError::new(
                "NoSuchBucketException",
                format!("Cannot find a S3 bucket with name {bucket}: a bucket name has 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit."),
            ));
        }
        let def = ChannelDef {
            name,
            s3_bucket_name: bucket,
            s3_key_prefix: prefix,
            s3_kms_key_arn: kms,
            sns_topic_arn: topic,
            delivery_frequency: frequency,
        };
        if c.channel.as_ref() != Some(&def) {
            self.delivery.apply(Some(def.clone())).await?;
        }
        c.channel = Some(def);
        c.set.channel = true;
        self.save(c)?;
        Ok(json!({}))
    }

    fn channel_names(input: &Input) -> ApiResult<Option<String>> {
        let names = input.strings("DeliveryChannelNames", usize::MAX, 1, 256)?;
        match names.as_deref() {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(one.clone())),
            Some(_) => Err(ApiError::validation(
                "1 validation error detected: Value at 'deliveryChannelNames' failed to satisfy constraint: Member must have length less than or equal to 1",
            )),
        }
    }

    fn wanted_channel(&self, input: &Input) -> ApiResult<Option<ChannelDef>> {
        let wanted = Self::channel_names(input)?;
        let c = self.control();
        match (c.channel, wanted) {
            (Some(ch), Some(w)) if ch.name != w => Err(no_channel(&w)),
            (None, Some(w)) => Err(no_channel(&w)),
            (ch, _) => Ok(ch),
        }
    }

    pub(crate) fn describe_channels(&self, input: &Input) -> ApiResult<Value> {
        let list: Vec<Value> = self
            .wanted_channel(input)?
            .iter()
            .map(ChannelDef::to_api)
            .collect();
        Ok(json!({"DeliveryChannels": list}))
    }

    pub(crate) fn describe_channel_status(&self, input: &Input) -> ApiResult<Value> {
        let Some(def) = self.wanted_channel(input)? else {
            return Ok(json!({"DeliveryChannelsStatus": []}));
        };
        let st = self
            .delivery
            .channel()
            .map(|ch| ch.status())
            .unwrap_or_default();
        Ok(json!({"DeliveryChannelsStatus": [{
            "name": def.name,
            "configSnapshotDeliveryInfo": export_info(&st.config_snapshot_delivery_info),
            "configHistoryDeliveryInfo": export_info(&st.config_history_delivery_info),
            "configStreamDeliveryInfo": stream_info(&self.stream_status(st.config_stream_delivery_info)),
        }]}))
    }

    pub(crate) async fn delete_channel(&self, input: &Input) -> ApiResult<Value> {
        let name = input.required_string("DeliveryChannelName", 1, 256)?;
        let _w = self.writes.lock().await;
        let mut c = self.control();
        match &c.channel {
            Some(ch) if ch.name == name => {}
            _ => return Err(no_channel(&name)),
        }
        if c.recording {
            return Err(ApiError::new(
                "LastDeliveryChannelDeleteFailedException",
                format!("Failed to delete last specified delivery channel with name '{name}', because there is a running configuration recorder."),
            ));
        }
        self.delivery.apply(None).await?;
        c.channel = None;
        c.set.channel = true;
        self.save(c)?;
        Ok(json!({}))
    }

    pub(crate) fn deliver_snapshot(&self, input: &Input) -> ApiResult<Value> {
        let name = input.required_string("deliveryChannelName", 1, 256)?;
        let c = self.control();
        match &c.channel {
            Some(ch) if ch.name == name => {}
            _ => return Err(no_channel(&name)),
        }
        if c.recorder.is_none() {
            return Err(ApiError::new(
                "NoAvailableConfigurationRecorderException",
                "There are no configuration recorders available to provide the snapshot.",
            ));
        }
        if !c.recording {
            return Err(ApiError::new(
                "NoRunningConfigurationRecorderException",
                "There is no configuration recorder running.",
            ));
        }
        let ch = self
            .delivery
            .channel()
            .ok_or_else(|| ApiError::internal("the delivery channel is defined but not running"))?;
        let id = driftlog_sinks::new_snapshot_id();
        // Asynchronous, as AWS: the topic tells when it is done (Started, then Completed
        // or Failed), and so does DescribeDeliveryChannelStatus.
        let snapshot_id = id.clone();
        self.delivery.run_in_background(Box::pin(async move {
            if let Err(e) = ch.deliver_snapshot(Some(snapshot_id)).await {
                tracing::warn!(error = %e, "Configuration snapshot delivery failed.");
            }
        }));
        Ok(json!({"configSnapshotId": id}))
    }
}
