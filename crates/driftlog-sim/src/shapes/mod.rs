//! Document builders, one module per service, each reproducing AWS Config's shape for its
//! types (the reference items in `tests/fixtures/ci-shapes/`), and the editing helpers churn
//! uses on parsed documents.

pub(crate) mod alarms;
pub(crate) mod containers;
pub(crate) mod dynamodb;
pub(crate) mod ec2;
pub(crate) mod elb;
pub(crate) mod iam;
pub(crate) mod kms;
pub(crate) mod lambda;
pub(crate) mod messaging;
pub(crate) mod netx;
pub(crate) mod rds;
pub(crate) mod s3;
pub(crate) mod secrets;
pub(crate) mod svc;
pub(crate) mod tags_svc;
pub(crate) mod tmpl;

use crate::types;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Tags as AWS Config's top-level `tags` map.
pub(crate) type Tags = BTreeMap<String, String>;

/// Builds tags from pairs.
pub(crate) fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// The stored document: exactly the members of `driftlog_model::Document::to_value`,
/// built without the intermediate struct so that nothing is cloned.
pub(crate) struct Top<'a> {
    pub arn: String,
    pub name: Option<&'a str>,
    pub az: &'a str,
    pub created: Option<String>,
    pub tags: &'a Tags,
    pub relationships: Vec<Value>,
}

impl Top<'_> {
    pub(crate) fn build(self, configuration: Value, supplementary: Map<String, Value>) -> Value {
        let mut m = Map::new();
        m.insert("arn".into(), Value::String(self.arn));
        m.insert(
            "resourceName".into(),
            self.name.map_or(Value::Null, |n| Value::String(n.into())),
        );
        m.insert("availabilityZone".into(), Value::String(self.az.into()));
        m.insert(
            "resourceCreationTime".into(),
            self.created.map_or(Value::Null, Value::String),
        );
        m.insert("tags".into(), tag_map(self.tags));
        m.insert("relationships".into(), Value::Array(self.relationships));
        m.insert("configuration".into(), configuration);
        m.insert(
            "supplementaryConfiguration".into(),
            Value::Object(supplementary),
        );
        Value::Object(m)
    }
}

/// One relationship in the notification naming.
pub(crate) fn rel(name: &str, resource_type: &str, id: &str, resource_name: Option<&str>) -> Value {
    json!({
        "resourceId": id,
        "resourceName": resource_name,
        "resourceType": resource_type,
        "name": name,
    })
}

/// The top-level `tags` map.
pub(crate) fn tag_map(tags: &Tags) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Tags inside `configuration`: `[{key, value}]`.
pub(crate) fn tag_list(tags: &Tags) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// Follows `path` through objects.
pub(crate) fn at_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |cur, k| cur.get_mut(*k))
}

/// The array at `path`, if there is one.
pub(crate) fn array_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Vec<Value>> {
    at_mut(v, path)?.as_array_mut()
}

/// The object at `path`, if there is one.
pub(crate) fn object_mut<'a>(
    v: &'a mut Value,
    path: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    at_mut(v, path)?.as_object_mut()
}

/// A string member of the configuration.
pub(crate) fn config_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("configuration")?.get(key)?.as_str()
}

/// The ids of the relationships named `name`.
pub(crate) fn related(v: &Value, name: &str) -> Vec<String> {
    v.get("relationships")
        .and_then(Value::as_array)
        .map(|rels| {
            rels.iter()
                .filter(|r| r.get("name").and_then(Value::as_str) == Some(name))
                .filter_map(|r| r.get("resourceId").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces the relationships named `name` by `new`.
pub(crate) fn replace_rels(v: &mut Value, name: &str, new: Vec<Value>) -> bool {
    let Some(rels) = array_mut(v, &["relationships"]) else {
        return false;
    };
    rels.retain(|r| r.get("name").and_then(Value::as_str) != Some(name));
    rels.extend(new);
    true
}

/// True when `resource_type` keeps tags inside its configuration, so that churn can
/// change them (IAM groups have no tags; IAM policies' configuration shows none).
pub(crate) fn taggable(resource_type: &str) -> bool {
    !matches!(resource_type, types::GROUP | types::POLICY)
}

/// Writes the top-level `tags` map back into the type's own tag field: `configuration.tags`,
/// ENI `configuration.tagSet`, S3 `BucketTaggingConfiguration` (present only when tagged).
pub(crate) fn sync_inner_tags(resource_type: &str, v: &mut Value) -> bool {
    let map: Tags = v
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, x)| Some((k.clone(), x.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    match resource_type {
        types::BUCKET => {
            let Some(supp) = object_mut(v, &["supplementaryConfiguration"]) else {
                return false;
            };
            if map.is_empty() {
                supp.remove("BucketTaggingConfiguration");
            } else {
                supp.insert(
                    "BucketTaggingConfiguration".into(),
                    json!({"tagSets": [{"tags": tag_map(&map)}]}),
                );
            }
            true
        }
        types::NETWORK_INTERFACE => set_config(v, "tagSet", tag_list(&map)),
        ty if taggable(ty) => set_config(v, "tags", tag_list(&map)),
        _ => false,
    }
}

/// Tag churn on the top-level map, mirrored into the type's own tag field: `what` 0 sets
/// `owner`, 1 sets `cost-center`, 2 removes `owner` (or sets it when absent).
pub(crate) fn retag(v: &mut Value, resource_type: &str, what: u8, value: &str) -> bool {
    let Some(map) = object_mut(v, &["tags"]) else {
        return false;
    };
    match what {
        1 => {
            map.insert("cost-center".into(), value.into());
        }
        2 if map.contains_key("owner") => {
            map.remove("owner");
        }
        _ => {
            map.insert("owner".into(), value.into());
        }
    }
    sync_inner_tags(resource_type, v)
}

fn set_config(v: &mut Value, key: &str, value: Value) -> bool {
    match object_mut(v, &["configuration"]) {
        Some(c) => {
            c.insert(key.into(), value);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftlog_model::{Document, Relationship};

    #[test]
    fn top_matches_model_document() {
        let t = tags(&[("Name", "x")]);
        let built = Top {
            arn: "arn:aws:ec2:eu-west-1:1:vpc/vpc-1".into(),
            name: None,
            az: "Multiple Availability Zones",
            created: None,
            tags: &t,
            relationships: vec![rel("Is contained in Vpc", types::VPC, "vpc-1", None)],
        }
        .build(json!({"a": 1}), Map::new());
        let doc = Document {
            arn: Some("arn:aws:ec2:eu-west-1:1:vpc/vpc-1".into()),
            resource_name: None,
            availability_zone: Some("Multiple Availability Zones".into()),
            resource_creation_time: None,
            tags: t,
            relationships: vec![Relationship {
                resource_id: "vpc-1".into(),
                resource_name: None,
                resource_type: types::VPC.into(),
                name: "Is contained in Vpc".into(),
            }],
            configuration: json!({"a": 1}),
            supplementary_configuration: Map::new(),
        };
        assert_eq!(built, doc.to_value());
    }
}
