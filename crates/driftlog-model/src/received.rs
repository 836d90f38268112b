//! An item another recorder published, read back: what an aggregator records.
//!
//! The wire form is the `driftlog tail --json` line ([`ConfigurationItem::write_event_json`]):
//! AWS's configuration item in notification form, its diff, who made the change, and the
//! publisher's sequence. Reading it back gives the resource as the publisher saw it, in
//! canonical form, so the aggregator's diff stage finds exactly the publisher's changes.

use crate::canonical::{empty_object, is_canonical};
use crate::time::parse_rfc3339_ms;
use crate::{spec_for, Attribution, Error, Observed, ResourceKey, Result, Seq, Status};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

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
        // What a driftlog published is canonical already: taken as it is when it is, read
        // member by member (with errors that name the member) when it is not.
        if let Some(item) = Self::from_canonical_event_json(body) {
            return Ok(item);
        }
        Self::from_event_json_tree(body)
    }

    /// The fast reading: the document's members are spliced together from the line's bytes
    /// when they are canonical (see [`crate::canonical::is_canonical`]), with no tree built.
    /// `None` when anything is missing, wrong or not canonical: the tree reading decides
    /// then, and its result is the same bytes (a test holds the two to that).
    fn from_canonical_event_json(body: &[u8]) -> Option<Self> {
        let line: Line<'_> = serde_json::from_slice(body).ok()?;
        let ci = &line.ci;
        let nonempty = |s: &Cow<'_, str>| !s.is_empty();
        if ![
            &ci.account,
            &ci.region,
            &ci.resource_type,
            &ci.resource_id,
            &ci.status,
            &ci.capture_time,
        ]
        .into_iter()
        .all(nonempty)
        {
            return None;
        }
        let status = Status::parse(&ci.status).ok()?;
        let capture_time_ms = parse_rfc3339_ms(&ci.capture_time).ok()?;
        let key = ResourceKey::new(
            ci.account.as_ref(),
            ci.region.as_ref(),
            ci.resource_type.as_ref(),
            ci.resource_id.as_ref(),
        );
        let observed = if status.is_deletion() {
            None
        } else {
            fn raw(r: Option<&RawValue>) -> &str {
                r.map_or("null", RawValue::get)
            }
            // The members of [`document_of`], in byte order.
            let members = [
                ("arn", raw(ci.arn)),
                ("availabilityZone", raw(ci.availability_zone)),
                ("configuration", raw(ci.configuration)),
                ("relationships", raw(ci.relationships)),
                ("resourceCreationTime", raw(ci.resource_creation_time)),
                ("resourceName", raw(ci.resource_name)),
                (
                    "supplementaryConfiguration",
                    raw(ci.supplementary_configuration),
                ),
                ("tags", raw(ci.tags)),
            ];
            let mut doc = String::with_capacity(body.len());
            doc.push('{');
            for (i, (k, v)) in members.iter().enumerate() {
                if i > 0 {
                    doc.push(',');
                }
                doc.push('"');
                doc.push_str(k);
                doc.push_str("\":");
                doc.push_str(v);
            }
            doc.push('}');
            if !is_canonical(spec_for(&key.resource_type), &doc) {
                return None;
            }
            Some(Observed::from_canonical(
                key.clone(),
                Bytes::from(doc.into_bytes()),
                empty_object(),
            ))
        };
        Some(Self {
            seq: line.seq,
            version: line.version,
            key,
            status,
            capture_time_ms,
            observed,
            attribution: line.changed_by.unwrap_or_default(),
        })
    }

    /// The reference reading: a tree, every member checked (errors name the one that is
    /// wrong), the document canonicalized. [`ReceivedItem::from_event_json`] gives the same
    /// item, faster where it can.
    ///
    /// # Errors
    /// As [`ReceivedItem::from_event_json`].
    pub fn from_event_json_tree(body: &[u8]) -> Result<Self> {
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

/// A `tail --json` line, borrowed: the document's members stay raw bytes.
#[derive(Deserialize)]
struct Line<'a> {
    seq: Seq,
    version: u64,
    #[serde(rename = "configurationItem", borrow)]
    ci: LineItem<'a>,
    #[serde(rename = "changedBy", default)]
    changed_by: Option<Vec<Attribution>>,
}

/// The members of a line's `configurationItem` that [`ReceivedItem`] reads.
#[derive(Deserialize)]
struct LineItem<'a> {
    #[serde(rename = "awsAccountId", borrow)]
    account: Cow<'a, str>,
    #[serde(rename = "awsRegion", borrow)]
    region: Cow<'a, str>,
    #[serde(rename = "resourceType", borrow)]
    resource_type: Cow<'a, str>,
    #[serde(rename = "resourceId", borrow)]
    resource_id: Cow<'a, str>,
    #[serde(rename = "configurationItemStatus", borrow)]
    status: Cow<'a, str>,
    #[serde(rename = "configurationItemCaptureTime", borrow)]
    capture_time: Cow<'a, str>,
    #[serde(rename = "ARN", borrow, default)]
    arn: Option<&'a RawValue>,
    #[serde(rename = "availabilityZone", borrow, default)]
    availability_zone: Option<&'a RawValue>,
    #[serde(borrow, default)]
    configuration: Option<&'a RawValue>,
    #[serde(borrow, default)]
    relationships: Option<&'a RawValue>,
    #[serde(rename = "resourceCreationTime", borrow, default)]
    resource_creation_time: Option<&'a RawValue>,
    #[serde(rename = "resourceName", borrow, default)]
    resource_name: Option<&'a RawValue>,
    #[serde(rename = "supplementaryConfiguration", borrow, default)]
    supplementary_configuration: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tags: Option<&'a RawValue>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(config: &str, rels: &str, tags: &str, kind: &str) -> String {
        format!(
            r#"{{"configurationItem":{{"ARN":"arn:aws:x","availabilityZone":null,"awsAccountId":"111122223333","awsRegion":"eu-west-1","configuration":{config},"configurationItemCaptureTime":"2026-01-02T03:04:05.678Z","configurationItemStatus":"OK","relationships":{rels},"resourceCreationTime":null,"resourceId":"r-1","resourceName":"n","resourceType":"{kind}","supplementaryConfiguration":{{}},"tags":{tags}}},"seq":7,"version":2}}"#
        )
    }

    /// Whatever the line, the fast reading is either declined or byte-identical to the
    /// reference reading; canonical lines are read fast, the others are not.
    #[test]
    fn the_fast_reading_agrees_with_the_tree_or_declines() {
        let sg = "AWS::EC2::SecurityGroup";
        let rel = r#"[{"name":"a","resourceId":"x"},{"name":"b","resourceId":"y"}]"#;
        let cases: Vec<(String, bool)> = vec![
            (line(r#"{"a":1,"b":[2,3],"c":"d"}"#, rel, "{}", sg), true),
            (
                line(r#"{"a":-12,"b":0,"c":1.5,"d":1e+20}"#, "[]", "{}", sg),
                true,
            ),
            (line(r#"{"a":1e20}"#, "[]", "{}", sg), false),
            (
                line(r#"{"a":"tab\there","b":"\u001f\"\\"}"#, "[]", "{}", sg),
                true,
            ),
            (line(r#"{"é":"ü"}"#, "[]", r#"{"k":"v"}"#, sg), true),
            // Not canonical: whitespace, key order, set order, escapes, numbers, keys twice.
            (line(r#"{"a": 1}"#, "[]", "{}", sg), false),
            (line(r#"{"b":1,"a":2}"#, "[]", "{}", sg), false),
            (
                line(
                    "{}",
                    r#"[{"name":"b","resourceId":"y"},{"name":"a","resourceId":"x"}]"#,
                    "{}",
                    sg,
                ),
                false,
            ),
            (line(r#"{"a":"x\/y"}"#, "[]", "{}", sg), false),
            (line(r#"{"a":"\u00e9"}"#, "[]", "{}", sg), false),
            (line(r#"{"a":"\u000a"}"#, "[]", "{}", sg), false),
            (line(r#"{"a\n":1}"#, "[]", "{}", sg), false),
            (line(r#"{"a":1.50}"#, "[]", "{}", sg), false),
            (line(r#"{"a":1E3}"#, "[]", "{}", sg), false),
            (line(r#"{"a":-0}"#, "[]", "{}", sg), false),
            (
                line(r#"{"a":123456789012345678901234}"#, "[]", "{}", sg),
                false,
            ),
            (line(r#"{"a":1,"a":2}"#, "[]", "{}", sg), false),
            // A volatile value is moved out of the document: only the tree does that.
            (
                line(
                    r#"{"availableIpAddressCount":5,"b":1}"#,
                    "[]",
                    "{}",
                    "AWS::EC2::Subnet",
                ),
                false,
            ),
        ];
        for (body, canonical) in cases {
            let tree = ReceivedItem::from_event_json_tree(body.as_bytes()).unwrap();
            let fast = ReceivedItem::from_canonical_event_json(body.as_bytes());
            assert_eq!(fast.is_some(), canonical, "{body}");
            let read = ReceivedItem::from_event_json(body.as_bytes()).unwrap();
            let (a, b) = (read.observed.unwrap(), tree.observed.unwrap());
            assert_eq!((&a.doc, &a.volatile), (&b.doc, &b.volatile), "{body}");
            assert_eq!((read.seq, read.version, &read.key), (7, 2, &tree.key));
        }
    }

    /// A line the fast reading declines still gets the member-naming error.
    #[test]
    fn errors_still_name_the_member() {
        let body =
            line("{}", "[]", "{}", "AWS::EC2::SecurityGroup").replace("\"OK\"", "\"Sideways\"");
        let e = ReceivedItem::from_event_json(body.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("configurationItemStatus"), "{e}");
    }
}
