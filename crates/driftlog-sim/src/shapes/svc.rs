//! What the service-type builders share: where a resource lives, the keys and ARNs of
//! regional services, and the two inner tag styles besides EC2's `[{key, value}]`.

use super::Tags;
use driftlog_model::ResourceKey;
use serde_json::{json, Value};

/// Where a regional service resource lives.
#[derive(Clone, Copy)]
pub(crate) struct Svc<'a> {
    pub account: &'a str,
    pub region: &'a str,
}

impl Svc<'_> {
    pub(crate) fn key(&self, resource_type: &str, id: &str) -> ResourceKey {
        ResourceKey::new(self.account, self.region, resource_type, id)
    }

    /// `arn:aws:<service>:<region>:<account>:<rest>`.
    pub(crate) fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{rest}", self.region, self.account)
    }
}

/// Tags as CloudFormation-shaped types keep them: `[{Key, Value}]`.
pub(crate) fn cfn_tags(tags: &Tags) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

/// Epoch seconds as the decimal text SQS attributes use.
pub(crate) fn secs_text(ms: i64) -> String {
    ms.div_euclid(1000).to_string()
}

/// `ms` truncated to whole seconds, as services that keep seconds report it.
pub(crate) fn whole_secs(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}
