//! Where each service type keeps its tags besides the top-level map, so that tag churn can
//! mirror one into the other as AWS Config shows them.

use super::svc::cfn_tags;
use super::{object_mut, tag_list, tag_map, Tags};
use crate::types;
use serde_json::Value;

/// Writes the top-level `tags` map back into the service type's own tag fields. False for
/// types whose tags are not recorded (listeners) and documents without the field.
pub(crate) fn sync(resource_type: &str, v: &mut Value) -> bool {
    let map: Tags = v
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, x)| Some((k.clone(), x.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let set = |v: &mut Value, root: &str, key: &str, value: Value| match object_mut(v, &[root]) {
        Some(m) if m.contains_key(key) => {
            m.insert(key.into(), value);
            true
        }
        _ => false,
    };
    match resource_type {
        types::LAMBDA_FUNCTION => set(v, "supplementaryConfiguration", "Tags", tag_map(&map)),
        types::DB_INSTANCE | types::DB_CLUSTER | types::DB_SNAPSHOT => {
            set(v, "configuration", "tagList", tag_list(&map))
                && set(v, "supplementaryConfiguration", "Tags", tag_list(&map))
        }
        types::DB_SUBNET_GROUP
        | types::TRAIL
        | types::LOAD_BALANCER
        | types::DYNAMODB_TABLE
        | types::SNS_TOPIC => set(v, "supplementaryConfiguration", "Tags", tag_list(&map)),
        types::ECR_REPOSITORY | types::EKS_CLUSTER | types::SECRET => {
            set(v, "configuration", "Tags", cfn_tags(&map))
        }
        types::NAT_GATEWAY | types::EIP | types::VPC_ENDPOINT | types::FLOW_LOG => {
            set(v, "configuration", "tags", tag_list(&map))
        }
        // Only the top-level map records them.
        types::KMS_KEY | types::SQS_QUEUE | types::ALARM => true,
        _ => false,
    }
}

/// True when churn may tag resources of this service type.
pub(crate) fn taggable(resource_type: &str) -> bool {
    !matches!(resource_type, types::LISTENER) && !types::is_original(resource_type)
}
