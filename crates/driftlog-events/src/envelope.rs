//! The three carriers of CloudTrail events: EventBridge envelopes on SQS, CloudTrail log files
//! in S3, and the S3 (optionally SNS-wrapped) notifications that announce those files.

use crate::error::{shown, Error, Result};
use crate::event::{CloudTrailEvent, Fields, CARRIER_EVENT};
use serde_json::Value;
use std::io::Read;

const CARRIER_ENVELOPE: &str = "EventBridge envelope";
const CARRIER_LOG: &str = "CloudTrail log file";
const CARRIER_S3: &str = "S3 notification";
const CARRIER_SNS: &str = "SNS notification";
const CARRIER_MESSAGE: &str = "queue message";

/// The only EventBridge `detail-type` that carries a CloudTrail API call.
pub const API_CALL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// A CloudTrail log file inflates to at most this many bytes. CloudTrail delivers files
/// every ~5 minutes per region and they are typically well under 10 MB inflated; the limit
/// stops a hostile or mistaken object from taking the process's memory.
pub const MAX_LOG_FILE_BYTES: usize = 256 * 1024 * 1024;

/// What an EventBridge envelope held.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// An "AWS API Call via CloudTrail" event.
    ApiCall(Box<CloudTrailEvent>),
    /// Any other EventBridge event (state-change notifications, console sign-ins, ...): not
    /// an error, since a rule may match more than driftlog reads, but worth counting.
    NotApiCall {
        /// `detail-type` as received.
        detail_type: String,
        /// `source` as received, e.g. `aws.ec2`.
        source: String,
    },
}

/// One object a notification announced, to be fetched and read with [`parse_log_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// Bucket name.
    pub bucket: String,
    /// Object key, already decoded (S3 notifications URL-encode keys, `+` for a space).
    pub key: String,
    /// Size in bytes, when the notification said.
    pub size: Option<u64>,
    /// Region of the bucket (`awsRegion` of the notification record).
    pub region: Option<String>,
}

/// What an S3 event notification held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogObjects {
    /// New CloudTrail log files, in notification order.
    pub objects: Vec<S3Object>,
    /// Records skipped: other event names (removals), digest files, keys that are not
    /// CloudTrail log files.
    pub skipped: usize,
}

/// Any message found on a queue driftlog reads, whatever carried it.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueMessage {
    /// An EventBridge envelope (API call or not).
    EventBridge(Envelope),
    /// A bare CloudTrail record (some pipelines forward `detail` alone).
    Record(Box<CloudTrailEvent>),
    /// An S3 notification (bare, or unwrapped from SNS) listing log files to fetch.
    LogObjects(LogObjects),
    /// The `s3:TestEvent` S3 sends once when a notification is configured: nothing to do.
    S3TestEvent,
}

/// Reads an EventBridge envelope, the body of an SQS message behind an EventBridge rule.
///
/// # Errors
/// [`Error::Json`] for non-JSON, [`Error::MissingField`] / [`Error::InvalidField`] naming
/// the field (`detail-type`, `detail.eventTime`, ...). A `detail-type` other than
/// [`API_CALL_DETAIL_TYPE`] is not an error but [`Envelope::NotApiCall`].
pub fn parse_eventbridge(body: &str) -> Result<Envelope> {
    let value = json(body, CARRIER_ENVELOPE)?;
    eventbridge_from_value(&value)
}

fn eventbridge_from_value(value: &Value) -> Result<Envelope> {
    let f = Fields::of(value, CARRIER_ENVELOPE, "")?;
    let detail_type = f.req_str("detail-type")?;
    let source = f.opt_str("source")?.unwrap_or_default();
    if detail_type != API_CALL_DETAIL_TYPE {
        return Ok(Envelope::NotApiCall {
            detail_type: detail_type.to_string(),
            source,
        });
    }
    let detail = f.get("detail").ok_or_else(|| Error::MissingField {
        carrier: CARRIER_ENVELOPE,
        field: "detail".into(),
    })?;
    let event = CloudTrailEvent::read(detail, CARRIER_ENVELOPE, "detail")?;
    Ok(Envelope::ApiCall(Box::new(event)))
}

/// Reads a CloudTrail log file (`{"Records": [...]}`), plain or gzip (`.json.gz`, detected
/// by its magic bytes, not by the key).
///
/// A bad record does not cost the others: it is returned as an error naming
/// `Records[i].field`, beside every record that could be read.
///
/// # Errors
/// The whole file is refused when it does not inflate ([`Error::Gzip`], [`Error::TooLarge`]),
/// is not JSON, or has no `Records` array.
pub fn parse_log_file(bytes: &[u8]) -> Result<(Vec<CloudTrailEvent>, Vec<Error>)> {
    let inflated;
    let text: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        inflated = gunzip(bytes)?;
        &inflated
    } else {
        bytes
    };
    let value: Value = serde_json::from_slice(text).map_err(|source| Error::Json {
        carrier: CARRIER_LOG,
        source,
    })?;
    let f = Fields::of(&value, CARRIER_LOG, "")?;
    let records = match f.get("Records") {
        Some(Value::Array(records)) => records,
        Some(other) => return Err(f.invalid("Records", other, "not an array")),
        None => {
            return Err(Error::MissingField {
                carrier: CARRIER_LOG,
                field: "Records".into(),
            })
        }
    };
    let mut events = Vec::with_capacity(records.len());
    let mut errors = Vec::new();
    for (i, record) in records.iter().enumerate() {
        match CloudTrailEvent::read(record, CARRIER_LOG, &format!("Records[{i}]")) {
            Ok(e) => events.push(e),
            Err(e) => errors.push(e),
        }
    }
    Ok((events, errors))
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // MultiGzDecoder: a concatenation of gzip members is one valid file.
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes).take(MAX_LOG_FILE_BYTES as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|source| Error::Gzip {
            carrier: CARRIER_LOG,
            n_read: out.len(),
            source,
        })?;
    if out.len() > MAX_LOG_FILE_BYTES {
        return Err(Error::TooLarge {
            carrier: CARRIER_LOG,
            limit: MAX_LOG_FILE_BYTES,
        });
    }
    Ok(out)
}

/// Reads an S3 event notification, bare or inside an SNS notification (`"Type":
/// "Notification"`, the S3 notification as the `Message` string), and lists the CloudTrail
/// log files it announces.
///
/// # Errors
/// Non-JSON, a `Records` that is not an array, a record without `s3.bucket.name` or
/// `s3.object.key`, or a key that is not valid percent-encoded UTF-8, each naming the field.
pub fn parse_s3_notification(body: &str) -> Result<QueueMessage> {
    let value = json(body, CARRIER_S3)?;
    let value = unwrap_sns(value)?;
    s3_from_value(&value)
}

/// Reads any message driftlog may find on its queues: an EventBridge envelope, an S3
/// notification (bare or SNS-wrapped, or S3's test event), or a bare CloudTrail record.
///
/// # Errors
/// [`Error::UnknownMessage`] naming the top-level keys when the body has none of these
/// shapes, and the errors of the matching reader.
pub fn parse_queue_message(body: &str) -> Result<QueueMessage> {
    let value = json(body, CARRIER_MESSAGE)?;
    let value = unwrap_sns(value)?;
    let Value::Object(obj) = &value else {
        return Err(Error::InvalidField {
            carrier: CARRIER_MESSAGE,
            field: "(top)".into(),
            value: shown(&value),
            reason: "not a JSON object",
        });
    };
    if obj.contains_key("detail-type") {
        return eventbridge_from_value(&value).map(QueueMessage::EventBridge);
    }
    if obj.contains_key("Records")
        || obj.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
    {
        return s3_from_value(&value);
    }
    if obj.contains_key("eventID") && obj.contains_key("eventSource") {
        let event = CloudTrailEvent::read(&value, CARRIER_EVENT, "")?;
        return Ok(QueueMessage::Record(Box::new(event)));
    }
    Err(Error::UnknownMessage {
        keys: obj.keys().take(10).cloned().collect::<Vec<_>>().join(", "),
    })
}

fn json(body: &str, carrier: &'static str) -> Result<Value> {
    serde_json::from_str(body).map_err(|source| Error::Json { carrier, source })
}

/// The S3 notification inside an SNS envelope, or `value` itself when it is not one.
fn unwrap_sns(value: Value) -> Result<Value> {
    let is_sns = value.get("Type").and_then(Value::as_str) == Some("Notification")
        && value.get("Message").is_some();
    if !is_sns {
        return Ok(value);
    }
    let f = Fields::of(&value, CARRIER_SNS, "")?;
    let message = f.req_str("Message")?;
    serde_json::from_str(message).map_err(|_| {
        f.invalid(
            "Message",
            &Value::String(message.to_string()),
            "not JSON text",
        )
    })
}

fn s3_from_value(value: &Value) -> Result<QueueMessage> {
    let f = Fields::of(value, CARRIER_S3, "")?;
    if f.opt_str("Event")?.as_deref() == Some("s3:TestEvent") {
        return Ok(QueueMessage::S3TestEvent);
    }
    let records = match f.get("Records") {
        Some(Value::Array(r)) => r,
        Some(other) => return Err(f.invalid("Records", other, "not an array")),
        None => {
            return Err(Error::MissingField {
                carrier: CARRIER_S3,
                field: "Records".into(),
            })
        }
    };
    let mut out = LogObjects::default();
    for (i, record) in records.iter().enumerate() {
        let r = Fields::of(record, CARRIER_S3, &format!("Records[{i}]"))?;
        let name = r.opt_str("eventName")?.unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            out.skipped += 1;
            continue;
        }
        let s3 = r.opt_obj("s3")?.ok_or_else(|| Error::MissingField {
            carrier: CARRIER_S3,
            field: r.path("s3"),
        })?;
        let bucket = s3.opt_obj("bucket")?.ok_or_else(|| Error::MissingField {
            carrier: CARRIER_S3,
            field: s3.path("bucket"),
        })?;
        let object = s3.opt_obj("object")?.ok_or_else(|| Error::MissingField {
            carrier: CARRIER_S3,
            field: s3.path("object"),
        })?;
        let raw_key = object.req_str("key")?;
        let key = decode_key(raw_key).ok_or_else(|| {
            object.invalid(
                "key",
                &Value::String(raw_key.to_string()),
                "not percent-encoded UTF-8",
            )
        })?;
        if !is_cloudtrail_log_key(&key) {
            out.skipped += 1;
            continue;
        }
        out.objects.push(S3Object {
            bucket: bucket.req_str("name")?.to_string(),
            key,
            size: object.get("size").and_then(Value::as_u64),
            region: r.opt_str("awsRegion")?,
        });
    }
    Ok(QueueMessage::LogObjects(out))
}

/// S3 notification keys are form-encoded: `+` is a space, `%XX` a byte.
fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|k| k.into_owned())
}

/// True for `[prefix/]AWSLogs/[o-org/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/NAME.json.gz`.
/// Digest files (`CloudTrail-Digest/`) and Insights files (`CloudTrail-Insight/`) are not
/// event logs.
pub fn is_cloudtrail_log_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    let Some(start) = parts.iter().position(|p| *p == "AWSLogs") else {
        return false;
    };
    let mut rest = &parts[start + 1..];
    // Organization trails add the organization id: AWSLogs/o-exampleorgid/ACCOUNT/...
    if rest.first().is_some_and(|p| p.starts_with("o-")) {
        rest = &rest[1..];
    }
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match rest {
        [account, "CloudTrail", region, yyyy, mm, dd, file] => {
            digits(account, 12)
                && !region.is_empty()
                && digits(yyyy, 4)
                && digits(mm, 2)
                && digits(dd, 2)
                && file.ends_with(".json.gz")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys() {
        let cases = [
            ("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/111122223333_CloudTrail_eu-west-1_20240501T1000Z_a1B2c3D4.json.gz", true),
            ("trails/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2024/05/01/x.json.gz", true),
            ("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/05/01/x.json.gz", false),
            ("AWSLogs/111122223333/CloudTrail-Insight/eu-west-1/2024/05/01/x.json.gz", false),
            ("AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/x.json", false),
            ("AWSLogs/1111/CloudTrail/eu-west-1/2024/05/01/x.json.gz", false),
            ("uploads/photo.jpg", false),
        ];
        for (key, expected) in cases {
            assert_eq!(is_cloudtrail_log_key(key), expected, "{key}");
        }
    }

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(decode_key("a+b%2Bc%20d").as_deref(), Some("a b+c d"));
        assert_eq!(decode_key("%FF"), None);
    }
}
