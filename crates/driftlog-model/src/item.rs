use crate::attribution::Attribution;
use crate::key::ResourceKey;
use crate::time::iso_ms;
use crate::{Error, Result, Seq};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// AWS Config's `configurationItemStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// The resource changed.
    #[serde(rename = "OK")]
    Ok,
    /// First time the resource is recorded.
    ResourceDiscovered,
    /// Seen but not recorded (excluded type).
    ResourceNotRecorded,
    /// The resource is gone, as a complete snapshot of its scope showed.
    ResourceDeleted,
    /// Gone, and its type was not recorded.
    ResourceDeletedNotRecorded,
}

impl Status {
    /// AWS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::ResourceDiscovered => "ResourceDiscovered",
            Status::ResourceNotRecorded => "ResourceNotRecorded",
            Status::ResourceDeleted => "ResourceDeleted",
            Status::ResourceDeletedNotRecorded => "ResourceDeletedNotRecorded",
        }
    }

    /// Parses AWS's spelling (case-insensitive; `deleted`, `discovered` accepted too).
    ///
    /// # Errors
    /// [`Error::Filter`] naming the text.
    pub fn parse(text: &str) -> Result<Self> {
        let all = [
            Status::Ok,
            Status::ResourceDiscovered,
            Status::ResourceNotRecorded,
            Status::ResourceDeleted,
            Status::ResourceDeletedNotRecorded,
        ];
        let t = text.trim();
        if let Some(s) = all.iter().find(|s| s.as_str().eq_ignore_ascii_case(t)) {
            return Ok(*s);
        }
        match t.to_ascii_lowercase().as_str() {
            "deleted" => Ok(Status::ResourceDeleted),
            "discovered" | "new" => Ok(Status::ResourceDiscovered),
            "changed" | "updated" => Ok(Status::Ok),
            _ => Err(Error::Filter {
                field: "status",
                value: text.to_string(),
                reason: "use OK, ResourceDiscovered, ResourceDeleted, ResourceNotRecorded or ResourceDeletedNotRecorded".into(),
            }),
        }
    }

    /// True for the statuses that end a resource's life.
    pub fn is_deletion(self) -> bool {
        matches!(
            self,
            Status::ResourceDeleted | Status::ResourceDeletedNotRecorded
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `changeType` of a diff entry and of a whole item diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeType {
    /// Added.
    Create,
    /// Modified.
    Update,
    /// Removed.
    Delete,
}

/// One step of a path into a stored document: a member name or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathStep {
    /// Array index.
    Index(usize),
    /// Object member, exactly as stored (AWS's capitalized form is rendered from it).
    Key(String),
}

/// One field-level change between two versions of a resource.
///
/// We keep the exact path (so a diff can be re-applied, e.g. to check it) and render AWS's
/// `changedProperties` key from it: each segment's first letter uppercased, array indexes
/// as segments (`Configuration.IpPermissions.0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Exact path from the top of the stored document.
    pub path: Vec<PathStep>,
    /// The value before, `null` on CREATE.
    pub previous_value: Value,
    /// The value after, `null` on DELETE.
    pub updated_value: Value,
    /// What happened to the field.
    pub change_type: ChangeType,
}

impl FieldChange {
    /// AWS's `changedProperties` key for this change.
    pub fn aws_path(&self) -> String {
        let mut out = String::new();
        for (i, step) in self.path.iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            match step {
                PathStep::Index(n) => out.push_str(&n.to_string()),
                PathStep::Key(k) => {
                    let mut chars = k.chars();
                    if let Some(c) = chars.next() {
                        out.extend(c.to_uppercase());
                        out.push_str(chars.as_str());
                    }
                }
            }
        }
        out
    }
}

/// A direct edge from a resource to another, under AWS Config's relationship names
/// (`Is associated with SecurityGroup`). Serialized in the notification naming (`name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Relationship {
    /// Target id. Empty when AWS Config names the target by `resourceName` only and records
    /// a null id (Lambda's `Is associated with ` its role, an Aurora cluster's `Contains `
    /// its instances): reading such an edge must not lose the resource's other edges.
    #[serde(deserialize_with = "null_as_empty", serialize_with = "empty_as_null")]
    pub resource_id: String,
    /// Target name, where AWS gives one.
    pub resource_name: Option<String>,
    /// Target type.
    pub resource_type: String,
    /// AWS Config relationship name.
    pub name: String,
}

/// What a source says about one resource: everything AWS Config records that is not
/// derived by the recorder (status, times, versions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// ARN.
    pub arn: Option<String>,
    /// Custom name (SG group name, IAM name, bucket); `None` for most EC2 types.
    pub resource_name: Option<String>,
    /// AZ, or `Not Applicable`, `Multiple Availability Zones`, `Regional`.
    pub availability_zone: Option<String>,
    /// Creation time in ISO 8601, where the type has one.
    pub resource_creation_time: Option<String>,
    /// Tags as a map.
    pub tags: BTreeMap<String, String>,
    /// Direct relationships.
    pub relationships: Vec<Relationship>,
    /// The Describe output in AWS Config's shape.
    pub configuration: Value,
    /// Per-type extras.
    pub supplementary_configuration: Map<String, Value>,
}

impl Document {
    /// The document as a JSON value, the input of canonicalization.
    pub fn to_value(&self) -> Value {
        json!({
            "arn": self.arn,
            "resourceName": self.resource_name,
            "availabilityZone": self.availability_zone,
            "resourceCreationTime": self.resource_creation_time,
            "tags": self.tags,
            "relationships": self.relationships,
            "configuration": self.configuration,
            "supplementaryConfiguration": self.supplementary_configuration,
        })
    }
}

/// One recorded version of one resource: the unit of the log.
///
/// The document and the diff stay canonical JSON bytes, so a subscriber that filters by key
/// and status never parses them, and they travel inside bincode records unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationItem {
    /// Position in the log.
    pub seq: Seq,
    /// Per-resource version, 1 for the discovery.
    pub version: u64,
    /// Which resource.
    pub key: ResourceKey,
    /// AWS status.
    pub status: Status,
    /// When the poll that produced it finished, epoch ms; also `configurationStateId`.
    pub capture_time_ms: i64,
    /// Canonical document without volatile values (see [`crate::canonical`]).
    pub doc: Bytes,
    /// Canonical volatile values as of this capture.
    pub volatile: Bytes,
    /// Canonical JSON array of [`FieldChange`]; `[]` for a discovery.
    pub diff: Bytes,
    /// Who made the change, one per CloudTrail event that explained it (in event-time
    /// order); empty when a poll found it ("found by periodic examination"). Kept beside
    /// the document, never inside it, so AWS's shape of `configuration` is untouched.
    pub attribution: Vec<Attribution>,
}

impl ConfigurationItem {
    /// The whole-item change type: CREATE for a discovery, DELETE for a deletion, else UPDATE.
    pub fn change_type(&self) -> ChangeType {
        match self.status {
            Status::ResourceDiscovered => ChangeType::Create,
            s if s.is_deletion() => ChangeType::Delete,
            _ => ChangeType::Update,
        }
    }

    /// `configurationStateId`: capture time in epoch ms, as AWS uses it in practice.
    pub fn state_id(&self) -> i64 {
        self.capture_time_ms
    }

    /// The document with its volatile values merged back.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored bytes are not JSON (a corrupt record).
    pub fn document(&self) -> Result<Value> {
        let mut doc: Value = parse(&self.doc, "document")?;
        if self.volatile.len() > 2 {
            let vol: Map<String, Value> = match parse(&self.volatile, "volatile values")? {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            crate::canonical::merge_volatile(&mut doc, &vol);
        }
        Ok(doc)
    }

    /// The field-level changes with their exact paths.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored bytes are not a diff.
    pub fn field_changes(&self) -> Result<Vec<FieldChange>> {
        serde_json::from_slice(&self.diff).map_err(|source| Error::Json {
            what: format!("diff of seq {}", self.seq),
            source,
        })
    }

    /// AWS's `changedProperties`: `{ "<Path>": {previousValue, updatedValue, changeType} }`.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored bytes are not a diff.
    pub fn changed_properties(&self) -> Result<Map<String, Value>> {
        let mut out = Map::new();
        for c in self.field_changes()? {
            out.insert(
                c.aws_path(),
                json!({
                    "previousValue": c.previous_value,
                    "updatedValue": c.updated_value,
                    "changeType": c.change_type,
                }),
            );
        }
        Ok(out)
    }

    /// The relationships recorded in this item.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored document is not JSON.
    pub fn relationships(&self) -> Result<Vec<Relationship>> {
        let doc: Value = parse(&self.doc, "document")?;
        Ok(doc
            .get("relationships")
            .cloned()
            .and_then(|r| serde_json::from_value(r).ok())
            .unwrap_or_default())
    }

    /// AWS's `relatedEvents`: the CloudTrail event ids that explain this item.
    pub fn related_events(&self) -> Vec<&str> {
        self.attribution
            .iter()
            .map(|a| a.event_id.as_str())
            .collect()
    }

    /// The item in AWS Config's notification / S3-file naming (spec §3), version 1.3.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored document is not JSON.
    pub fn to_notification_json(&self) -> Result<Value> {
        let doc = self.document()?;
        let get = |k: &str| doc.get(k).cloned().unwrap_or(Value::Null);
        let or = |k: &str, d: Value| match doc.get(k) {
            Some(Value::Null) | None => d,
            Some(v) => v.clone(),
        };
        Ok(json!({
            "relatedEvents": self.related_events(),
            "relationships": or("relationships", json!([])),
            "configuration": get("configuration"),
            "supplementaryConfiguration": or("supplementaryConfiguration", json!({})),
            "tags": or("tags", json!({})),
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": iso_ms(self.capture_time_ms),
            "configurationStateId": self.state_id(),
            "awsAccountId": self.key.account,
            "configurationItemStatus": self.status.as_str(),
            "resourceType": self.key.resource_type,
            "resourceId": self.key.resource_id,
            "resourceName": get("resourceName"),
            "ARN": get("arn"),
            "awsRegion": self.key.region,
            "availabilityZone": get("availabilityZone"),
            "configurationStateMd5Hash": "",
            "resourceCreationTime": get("resourceCreationTime"),
        }))
    }

    /// The item in the API's form (GetResourceConfigHistory, BatchGetResourceConfig; spec
    /// §3 and `ci-shapes/README.md`), converted from the notification form so both come
    /// from the same record: model names, `configurationStateId` as a string, times as
    /// epoch seconds, `configuration` and each supplementary value as JSON text, null
    /// members left out.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored document is not JSON.
    pub fn to_api_json(&self) -> Result<Value> {
        let n = self.to_notification_json()?;
        Ok(notification_to_api(n, self.capture_time_ms))
    }

    /// `configurationItemDiff` as AWS sends it: `{changedProperties, changeType}`.
    ///
    /// # Errors
    /// [`Error::Json`] if the stored diff is not JSON.
    pub fn diff_json(&self) -> Result<Value> {
        Ok(json!({
            "changedProperties": self.changed_properties()?,
            "changeType": self.change_type(),
        }))
    }

    /// [`ConfigurationItem::to_event_json`], written straight to bytes: the document's
    /// members are copied as they are stored (canonical JSON) instead of being parsed into a
    /// tree and serialized again, which made streaming a large inventory several times
    /// slower. Byte-identical to serializing `to_event_json()` (a test holds it to that).
    ///
    /// # Errors
    /// [`Error::Json`] if stored bytes are not JSON.
    pub fn write_event_json(&self, out: &mut Vec<u8>) -> Result<()> {
        use serde_json::value::RawValue;
        if self.volatile.len() > 2 {
            // Volatile values must be merged into the configuration: take the tree path.
            let v = self.to_event_json()?;
            serde_json::to_writer(&mut *out, &v).map_err(|source| Error::Json {
                what: format!("item {}", self.seq),
                source,
            })?;
            return Ok(());
        }
        let members: BTreeMap<&str, &RawValue> =
            serde_json::from_slice(&self.doc).map_err(|source| Error::Json {
                what: format!("document of seq {}", self.seq),
                source,
            })?;
        let raw = |k: &str, default: &'static str| -> &str {
            match members.get(k).map(|r| r.get()) {
                None | Some("null") => default,
                Some(v) => v,
            }
        };
        let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
        let diff = serde_json::to_string(&self.diff_json()?).map_err(|source| Error::Json {
            what: format!("diff of seq {}", self.seq),
            source,
        })?;
        // Keys in byte order, as serde_json writes a `Value` map.
        let ci = [
            ("ARN", raw("arn", "null").to_string()),
            (
                "availabilityZone",
                raw("availabilityZone", "null").to_string(),
            ),
            ("awsAccountId", s(&self.key.account)),
            ("awsRegion", s(&self.key.region)),
            ("configuration", raw("configuration", "null").to_string()),
            (
                "configurationItemCaptureTime",
                s(&iso_ms(self.capture_time_ms)),
            ),
            ("configurationItemStatus", s(self.status.as_str())),
            ("configurationItemVersion", s("1.3")),
            ("configurationStateId", self.state_id().to_string()),
            ("configurationStateMd5Hash", s("")),
            (
                "relatedEvents",
                serde_json::to_string(&self.related_events()).unwrap_or_else(|_| "[]".into()),
            ),
            ("relationships", raw("relationships", "[]").to_string()),
            (
                "resourceCreationTime",
                raw("resourceCreationTime", "null").to_string(),
            ),
            ("resourceId", s(&self.key.resource_id)),
            ("resourceName", raw("resourceName", "null").to_string()),
            ("resourceType", s(&self.key.resource_type)),
            (
                "supplementaryConfiguration",
                raw("supplementaryConfiguration", "{}").to_string(),
            ),
            ("tags", raw("tags", "{}").to_string()),
        ];
        out.push(b'{');
        if !self.attribution.is_empty() {
            // Attribution's members are declared in byte order: serde writes them as a
            // `Value` map would.
            out.extend_from_slice(b"\"changedBy\":");
            serde_json::to_writer(&mut *out, &self.attribution).map_err(|source| Error::Json {
                what: format!("attribution of seq {}", self.seq),
                source,
            })?;
            out.push(b',');
        }
        out.extend_from_slice(b"\"configurationItem\":{");
        for (i, (k, v)) in ci.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(b"},\"configurationItemDiff\":");
        out.extend_from_slice(diff.as_bytes());
        out.extend_from_slice(
            format!(",\"seq\":{},\"version\":{}}}", self.seq, self.version).as_bytes(),
        );
        Ok(())
    }

    /// The item as one NDJSON line of `driftlog tail --json`: ours (`seq`, `version`, and
    /// `changedBy` — who made the change, absent when a poll found it) next to AWS's
    /// `configurationItem` and `configurationItemDiff`.
    ///
    /// # Errors
    /// [`Error::Json`] if stored bytes are not JSON.
    pub fn to_event_json(&self) -> Result<Value> {
        let mut v = json!({
            "seq": self.seq,
            "version": self.version,
            "configurationItem": self.to_notification_json()?,
            "configurationItemDiff": self.diff_json()?,
        });
        if !self.attribution.is_empty() {
            v["changedBy"] =
                serde_json::to_value(&self.attribution).map_err(|source| Error::Json {
                    what: format!("attribution of seq {}", self.seq),
                    source,
                })?;
        }
        Ok(v)
    }
}

/// An empty id is written as AWS Config writes it: null (and left out of the API form).
fn empty_as_null<S: serde::Serializer>(id: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    if id.is_empty() {
        s.serialize_none()
    } else {
        s.serialize_str(id)
    }
}

/// A string that AWS Config may record as null.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn parse(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_named_only_by_name_keep_the_others() {
        let rels: Vec<Relationship> = serde_json::from_value(json!([
            {"resourceId": null, "resourceName": "worker-role", "resourceType": "AWS::IAM::Role", "name": "Is associated with "},
            {"resourceId": "sg-1", "resourceName": null, "resourceType": "AWS::EC2::SecurityGroup", "name": "Is associated with "},
        ]))
        .unwrap();
        assert_eq!(rels.len(), 2);
        assert_eq!(rels[0].resource_id, "");
        assert_eq!(rels[0].resource_name.as_deref(), Some("worker-role"));
        assert_eq!(rels[1].resource_id, "sg-1");
        let back = serde_json::to_value(&rels).unwrap();
        assert_eq!(
            back[0]["resourceId"],
            Value::Null,
            "written back as AWS Config wrote it"
        );
        assert_eq!(back[1]["resourceId"], "sg-1");
    }

    fn reference(name: &str) -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../driftlog-sim/tests/fixtures/ci-shapes")
            .join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json")
    }

    /// The API form of the reference CIs, as `ci-shapes/README.md` converts them.
    #[test]
    fn api_form_of_reference_items_follows_the_conversion_rules() {
        let n = reference("AWS_S3_Bucket");
        let ms = crate::time::parse_rfc3339_ms("2024-05-01T10:13:00.012Z").expect("time");
        let a = notification_to_api(n.clone(), ms);
        assert_eq!(a["version"], "1.3");
        assert_eq!(a["accountId"], "111122223333");
        assert_eq!(a["arn"], "arn:aws:s3:::example-app-data");
        assert_eq!(a["configurationItemMD5Hash"], "");
        assert_eq!(a["configurationStateId"], "1714558380012");
        assert_eq!(a["configurationItemCaptureTime"], json!(1_714_558_380.012));
        assert_eq!(a["resourceCreationTime"], json!(1_685_620_800));
        for gone in [
            "configurationItemVersion",
            "awsAccountId",
            "ARN",
            "configurationStateMd5Hash",
        ] {
            assert!(a.get(gone).is_none(), "{gone}");
        }
        // configuration as its compact JSON text.
        let conf: Value =
            serde_json::from_str(a["configuration"].as_str().expect("text")).expect("json");
        assert_eq!(conf, n["configuration"]);
        // Supplementary values as JSON text: objects encoded, the ACL string double-encoded,
        // false as "false".
        let s = &a["supplementaryConfiguration"];
        let acl = n["supplementaryConfiguration"]["AccessControlList"]
            .as_str()
            .expect("acl");
        assert_eq!(
            s["AccessControlList"],
            Value::String(Value::String(acl.to_string()).to_string())
        );
        assert_eq!(s["IsRequesterPaysEnabled"], "false");
        let ver: Value =
            serde_json::from_str(s["BucketVersioningConfiguration"].as_str().expect("text"))
                .expect("json");
        assert_eq!(ver["status"], "Enabled");
        assert_eq!(a["tags"], n["tags"]);

        // Relationships renamed, null names left out.
        let sg = reference("AWS_EC2_SecurityGroup");
        let a = notification_to_api(sg.clone(), 0);
        let r = &a["relationships"][0];
        assert_eq!(r["relationshipName"], sg["relationships"][0]["name"]);
        assert!(r.get("name").is_none());
        assert!(r.get("resourceName").is_none() || !r["resourceName"].is_null());
        // A deleted item's configuration is the text "null".
        let mut del = sg;
        del["configuration"] = Value::Null;
        del["configurationItemStatus"] = json!("ResourceDeleted");
        assert_eq!(notification_to_api(del, 0)["configuration"], "null");
    }
    use crate::Observed;

    #[test]
    fn notification_json_has_aws_names() {
        let key = ResourceKey::new(
            "111122223333",
            "eu-west-1",
            "AWS::EC2::SecurityGroup",
            "sg-1",
        );
        let doc = Document {
            arn: Some("arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1".into()),
            resource_name: Some("web".into()),
            availability_zone: Some("Not Applicable".into()),
            relationships: vec![Relationship {
                resource_id: "vpc-1".into(),
                resource_name: None,
                resource_type: "AWS::EC2::VPC".into(),
                name: "Is contained in Vpc".into(),
            }],
            configuration: json!({"groupId": "sg-1"}),
            ..Document::default()
        };
        let o = Observed::new(key.clone(), &doc);
        let ci = ConfigurationItem {
            seq: 7,
            version: 1,
            key,
            status: Status::ResourceDiscovered,
            capture_time_ms: 1_714_557_600_123,
            doc: o.doc,
            volatile: o.volatile,
            diff: Bytes::from_static(b"[]"),
            attribution: Vec::new(),
        };
        let v = ci.to_notification_json().unwrap();
        assert_eq!(v["relatedEvents"], json!([]));
        assert_eq!(
            v["ARN"],
            "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1"
        );
        assert_eq!(
            v["configurationItemCaptureTime"],
            "2024-05-01T10:00:00.123Z"
        );
        assert_eq!(v["configurationStateId"], 1_714_557_600_123_i64);
        assert_eq!(v["relationships"][0]["name"], "Is contained in Vpc");
        assert_eq!(v["resourceCreationTime"], Value::Null);
        assert_eq!(ci.diff_json().unwrap()["changeType"], "CREATE");
        let mut ci = ci;
        ci.attribution = vec![crate::Attribution {
            event_id: "6f1c9a8e-0d5e-4c2b-9a51-1e2f3a4b5c6d".into(),
            event_name: "AuthorizeSecurityGroupIngress".into(),
            event_source: "ec2.amazonaws.com".into(),
            event_time_ms: 1_714_557_599_000,
            principal: "arn:aws:iam::111122223333:user/alice".into(),
            session_name: None,
            source_ip: Some("203.0.113.7".into()),
            user_agent: None,
        }];
        assert_eq!(
            ci.to_notification_json().unwrap()["relatedEvents"],
            json!(["6f1c9a8e-0d5e-4c2b-9a51-1e2f3a4b5c6d"])
        );
        assert_eq!(
            ci.to_api_json().unwrap()["relatedEvents"],
            json!(["6f1c9a8e-0d5e-4c2b-9a51-1e2f3a4b5c6d"])
        );
    }

    #[test]
    fn event_bytes_equal_the_value_path() {
        let mk = |ty: &str, doc: Value, status: Status, diff: &'static [u8]| {
            let key = ResourceKey::new("111122223333", "eu-west-1", ty, "id-1");
            let o = Observed::from_value(key.clone(), doc);
            ConfigurationItem {
                seq: 42,
                version: 3,
                key,
                status,
                capture_time_ms: 1_714_557_600_123,
                doc: o.doc,
                volatile: o.volatile,
                diff: Bytes::from_static(diff),
                attribution: Vec::new(),
            }
        };
        let full = json!({"arn": "arn:x", "resourceName": "n\"q", "availabilityZone": "Regional",
            "resourceCreationTime": "2024-01-01T00:00:00.000Z", "tags": {"b": "2", "a": "1"},
            "relationships": [{"name": "Is contained in Vpc", "resourceId": "vpc-1", "resourceName": null, "resourceType": "AWS::EC2::VPC"}],
            "configuration": {"x": [1, 2.5, -3], "y": {"z": null, "é": "ü\n"}},
            "supplementaryConfiguration": {"AccessControlList": "{\"a\":1}"}});
        let cases = [
            mk("AWS::S3::Bucket", full, Status::Ok, br#"[{"changeType":"UPDATE","path":["configuration","x",1],"previousValue":2,"updatedValue":2.5}]"#),
            mk("AWS::EC2::VPC", json!({"arn": null, "tags": {}, "relationships": []}), Status::ResourceDeleted, b"[]"),
            mk("AWS::EC2::VPC", json!({}), Status::ResourceDiscovered, b"[]"),
            mk("AWS::IAM::Role", json!({"configuration": {"roleName": "r", "roleLastUsed": {"lastUsedDate": "d"}}}), Status::Ok, b"[]"),
        ];
        let mut attributed = cases[0].clone();
        attributed.attribution = vec![crate::Attribution {
            event_id: "e-1".into(),
            event_name: "PutBucketPolicy".into(),
            event_source: "s3.amazonaws.com".into(),
            event_time_ms: 1,
            principal: "p".into(),
            session_name: None,
            source_ip: None,
            user_agent: None,
        }];
        for ci in cases.into_iter().chain([attributed]) {
            let mut fast = Vec::new();
            ci.write_event_json(&mut fast).unwrap();
            let slow = serde_json::to_vec(&ci.to_event_json().unwrap()).unwrap();
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(slow).unwrap()
            );
        }
    }

    #[test]
    fn status_parse() {
        assert_eq!(Status::parse("ok").unwrap(), Status::Ok);
        assert_eq!(Status::parse("deleted").unwrap(), Status::ResourceDeleted);
        assert!(Status::parse("gone").is_err());
    }
}

/// One new configuration item produced by the diff stage, before the log gives it a
/// sequence number: the unit the diff stage hands to the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Which resource.
    pub key: ResourceKey,
    /// [`ResourceKey::id_hash`] of `key`, computed once.
    pub id: u128,
    /// `ResourceDiscovered`, `OK` or `ResourceDeleted`.
    pub status: Status,
    /// The next per-resource version.
    pub version: u64,
    /// Sequence of the previous item of this resource, if any.
    pub prev_seq: Option<Seq>,
    /// Canonical document (volatile values excluded).
    pub doc: Bytes,
    /// Canonical volatile values.
    pub volatile: Bytes,
    /// Canonical JSON array of field changes (`[]` for a discovery).
    pub diff: Bytes,
    /// Hash of `doc`.
    pub doc_hash: u128,
    /// Hash of `volatile`.
    pub volatile_hash: u64,
    /// Who made the change, when CloudTrail events explained it (see
    /// [`ConfigurationItem::attribution`]).
    pub attribution: Vec<Attribution>,
}

/// Epoch seconds as AWS's JSON protocol writes times: a number, milliseconds as fraction.
pub fn epoch_seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        // Two decimal digits of precision are exact enough for milliseconds here.
        #[allow(clippy::cast_precision_loss, reason = "epoch ms fit f64's 52 bits")]
        let secs = ms as f64 / 1000.0;
        json!(secs)
    }
}

fn notification_to_api(n: Value, capture_ms: i64) -> Value {
    let Value::Object(mut n) = n else {
        return n;
    };
    let mut take = |k: &str| n.remove(k).unwrap_or(Value::Null);
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            out.insert(k.to_string(), v);
        }
    };
    put("version", take("configurationItemVersion"));
    put("accountId", take("awsAccountId"));
    put("configurationItemCaptureTime", epoch_seconds(capture_ms));
    put("configurationItemStatus", take("configurationItemStatus"));
    put(
        "configurationStateId",
        match take("configurationStateId") {
            Value::Number(x) => Value::String(x.to_string()),
            v => v,
        },
    );
    put(
        "configurationItemMD5Hash",
        take("configurationStateMd5Hash"),
    );
    put("arn", take("ARN"));
    put("resourceType", take("resourceType"));
    put("resourceId", take("resourceId"));
    put("resourceName", take("resourceName"));
    put("awsRegion", take("awsRegion"));
    put("availabilityZone", take("availabilityZone"));
    put(
        "resourceCreationTime",
        match take("resourceCreationTime") {
            Value::String(t) => crate::time::parse_rfc3339_ms(&t)
                .map(epoch_seconds)
                .unwrap_or(Value::Null),
            Value::Number(x) => Value::Number(x),
            _ => Value::Null,
        },
    );
    put("tags", take("tags"));
    put("relatedEvents", take("relatedEvents"));
    let rels = match take("relationships") {
        Value::Array(list) => Value::Array(
            list.into_iter()
                .map(|r| match r {
                    Value::Object(mut r) => {
                        let mut o = Map::new();
                        for k in ["resourceType", "resourceId", "resourceName"] {
                            if let Some(v) = r.remove(k).filter(|v| !v.is_null()) {
                                o.insert(k.to_string(), v);
                            }
                        }
                        if let Some(v) = r.remove("name").or_else(|| r.remove("relationshipName")) {
                            o.insert("relationshipName".into(), v);
                        }
                        Value::Object(o)
                    }
                    v => v,
                })
                .collect(),
        ),
        _ => json!([]),
    };
    put("relationships", rels);
    put(
        "configuration",
        Value::String(take("configuration").to_string()),
    );
    let supp = match take("supplementaryConfiguration") {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, Value::String(v.to_string())))
                .collect(),
        ),
        _ => json!({}),
    };
    put("supplementaryConfiguration", supp);
    Value::Object(out)
}
