//! The audit trail of the control plane, as CloudTrail records calls to AWS Config: every
//! API call — who (access key, source address), when, which operation with which
//! parameters, and the result — appended to the store's audit record, queryable with
//! `driftlog audit`. Calls that change something are flushed before they are answered.

use crate::error::ApiError;
use crate::ConfigApi;
use driftlog_model::time::{iso_ms, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Parameters longer than this are cut (with a note) in the trail.
const MAX_PARAMETERS: usize = 4096;

/// One call, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// When it was answered (ISO 8601).
    pub event_time: String,
    /// The operation (`GetResourceConfigHistory`), or the target as sent.
    pub operation: String,
    /// The `x-amzn-RequestId` the caller got.
    pub request_id: String,
    /// The access key it was signed with.
    pub access_key: Option<String>,
    /// The client's address.
    pub source_ip: Option<String>,
    /// The signature's region.
    pub region: Option<String>,
    /// The request body (JSON), cut at 4 KB.
    pub parameters: Value,
    /// True for calls that only read.
    pub read_only: bool,
    /// The AWS error code, when it failed.
    pub error_code: Option<String>,
    /// Its message.
    pub error_message: Option<String>,
}

/// The request body as recorded: the JSON when it is JSON and small, else a note.
pub(crate) fn parameters(body: &[u8]) -> Value {
    if body.len() > MAX_PARAMETERS {
        return serde_json::json!({"truncated": true, "bytes": body.len(),
            "start": String::from_utf8_lossy(&body[..MAX_PARAMETERS.min(256)])});
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::json!({});
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Operations that only read.
pub fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List", "BatchGet", "Select"]
        .iter()
        .any(|p| operation.starts_with(p))
}

impl ConfigApi {
    /// Appends a call to the trail (flushed when the call may have changed something).
    pub(crate) fn record(&self, mut call: Call, error: Option<&ApiError>) {
        call.event_time = iso_ms(now_ms());
        call.read_only = is_read_only(&call.operation);
        if let Some(e) = error {
            call.error_code = Some(e.code.to_string());
            call.error_message = Some(e.message.clone());
        }
        self.count_call(&call.operation, error.map_or("OK", |e| e.code));
        let Ok(bytes) = serde_json::to_vec(&call) else {
            return;
        };
        let r = self.log.append_audit(&bytes).and_then(|_| {
            if call.read_only {
                Ok(())
            } else {
                self.log.flush()
            }
        });
        if let Err(e) = r {
            tracing::error!(error = %e, operation = %call.operation, "The audit trail could not be written.");
        }
    }
}
