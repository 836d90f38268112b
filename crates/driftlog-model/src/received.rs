//! An item another recorder published, read back: what an aggregator records.
//!
//! The wire form is the `driftlog tail --json` line ([`ConfigurationItem::write_event_json`]):
//! AWS's configuration item in notification form, its diff, who made the change, and the
//! publisher's sequence. Reading it back gives the resource as the publisher saw it, in
//! canonical form, so the aggregator's diff stage finds exactly the publisher's changes.

use crate::time::parse_rfc3339_ms;
use crate::{Attribution, Error, Observed, ResourceKey, Result, Seq, Status};
use serde_json::{json, Map, Value};

/// One item of another recorder's log.
#[derive(Debug, Clone)]
pub struct ReceivedItem {
    /// The publisher's sequence of the item.
    pub seq: Seq,
    /// The publisher's version of the resource.
    pub version: u64,
    /// Which resource.
    pub key: ResourceKey,
    /// As the publisher recorded it.
    pub status: Status,
    /// The publisher's capture time, epoch ms.
    pub capture_time_ms: i64,
    /// The resource as the publisher recorded it; `None` for a deletion.
    pub observed: Option<Observed>,
    /// Who made the change, when an event explained it.
    pub attribution: Vec<Attribution>,
}

impl ReceivedItem {
    /// Reads one `tail --json` line.
    ///
    /// # Errors
    /// [`Error::Received`] naming the member that is missing or wrong, with its value.
    pub fn from_event_json(body: &[u8]) -> Result<Self> {
        let mut v: Value = serde_json::from_slice(body).map_err(|e| Error::Received {
            field: "(body)".into(),
            reason: format!("is not JSON: {e}"),
        })?;
        let bad = |field: &str, reason: String| Error::Received {
            field: field.into(),
            reason,
        };
        let num = |field: &str| -> Result<u64> {
            v.get(field).and_then(Value::as_u64).ok_or_else(|| {
                bad(
                    field,
                    format!("must be a number, found {}", show(v.get(field))),
                )
            })
        };
        let seq = num("seq")?;
        let version = num("version")?;
        let ci = v
            .get("configurationItem")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                bad(
                    "configurationItem",
                    format!(
                        "must be an object, found {}",
                        show(v.get("configurationItem"))
                    ),
                )
            })?;
        let text = |field: &str| -> Result<&str> {
            ci.get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    bad(
                        &format!("configurationItem.{field}"),
                        format!("must be a non-empty string, found {}", show(ci.get(field))),
                    )
                })
        };
        let key = ResourceKey::new(
            text("awsAccountId")?,
            text("awsRegion")?,
            text("resourceType")?,
            text("resourceId")?,
        );
        let status_text = text("configurationItemStatus")?;
        let status = Status::parse(status_text).map_err(|_| {
            bad(
                "configurationItem.configurationItemStatus",
                format!("{status_text:?} is not a status"),
            )
        })?;
        let time_text = text("configurationItemCaptureTime")?;
        let capture_time_ms = parse_rfc3339_ms(time_text).map_err(|_| {
            bad(
                "configurationItem.configurationItemCaptureTime",
                format!("{time_text:?} is not an RFC 3339 time"),
            )
        })?;
        let attribution: Vec<Attribution> = match v.get("changedBy") {
            None | Some(Value::Null) => Vec::new(),
            Some(a) => serde_json::from_value(a.clone()).map_err(|e| {
                bad(
                    "changedBy",
                    format!("is not a list of changes' authors: {e}"),
                )
            })?,
        };
        let deleted = status.is_deletion();
        let observed = match v
            .get_mut("configurationItem")
            .and_then(Value::as_object_mut)
        {
            Some(ci) if !deleted => Some(Observed::from_value(key.clone(), document_of(ci))),
            _ => None,
        };
        Ok(Self {
            seq,
            version,
            key,
            status,
            capture_time_ms,
            observed,
            attribution,
        })
    }
}

/// The document a notification-form item was made from (the inverse of
/// [`crate::ConfigurationItem::to_notification_json`]'s naming).
/// The recorded document, its parts taken out of the item (a configuration can be large:
/// moved, not copied).
fn document_of(ci: &mut Map<String, Value>) -> Value {
    let mut get = |k: &str| ci.remove(k).unwrap_or(Value::Null);
    json!({
        "arn": get("ARN"),
        "resourceName": get("resourceName"),
        "availabilityZone": get("availabilityZone"),
        "resourceCreationTime": get("resourceCreationTime"),
        "tags": get("tags"),
        "relationships": get("relationships"),
        "configuration": get("configuration"),
        "supplementaryConfiguration": get("supplementaryConfiguration"),
    })
}

/// A value for an error message, cut short.
fn show(v: Option<&Value>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 80 {
                format!("{}…", s.chars().take(80).collect::<String>())
            } else {
                s
            }
        }
    }
}
