//! Helpers of the per-service pollers of the second wave (Lambda, RDS, KMS, CloudTrail,
//! DynamoDB, ELBv2, SNS, SQS, ECR, EKS, Secrets Manager, CloudWatch, the EC2 network types):
//! one request through the gate with its error shaped by [`crate::error::from_sdk`], the
//! documented "not set" answers turned into values rather than failures, epoch times, tags
//! and bounded fan-out per resource.

use crate::error::{code_of, from_sdk};
use crate::gate::Gate;
use crate::shape::tag_pairs;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::primitives::DateTime;
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;

/// Resources read at once within one listing (the gate still bounds the request rate).
pub(crate) const AT_ONCE: usize = 8;

/// One request through the gate; any error is the caller's (and so the listing's) error.
pub(crate) async fn call<T, E>(
    gate: &Gate,
    name: &str,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, PollError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    gate.pass().await;
    request.await.map_err(|e| from_sdk(name, &e))
}

/// One request whose documented "not found / not set" answers (error codes `absent`) are
/// the unset value, `Ok(None)`, not a failure.
pub(crate) async fn optional<T, E>(
    gate: &Gate,
    name: &str,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    absent: &[&str],
) -> Result<Option<T>, PollError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    gate.pass().await;
    match request.await {
        Ok(o) => Ok(Some(o)),
        Err(e) if code_of(&e).is_some_and(|c| absent.contains(&c.as_str())) => Ok(None),
        Err(e) => Err(from_sdk(name, &e)),
    }
}

/// Runs the reads, [`AT_ONCE`] at a time; results in no particular order. The reads are
/// built before (a `Vec`), which keeps the future `Send` for the poller.
pub(crate) async fn fan_out<Fut: Future>(reads: Vec<Fut>) -> Vec<Fut::Output> {
    stream::iter(reads)
        .buffer_unordered(AT_ONCE)
        .collect()
        .await
}

/// A time as epoch milliseconds, the form newer AWS Config types use inside
/// `configuration` (NAT `createTime`, flow log `creationTime`).
pub(crate) fn epoch_ms(t: Option<&DateTime>) -> Value {
    match t {
        Some(t) => Value::from(t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000)),
        None => Value::Null,
    }
}

/// Whether a resource is wanted by a targeted describe (`None`: all are).
pub(crate) fn wanted(ids: Option<&[String]>, id: &str) -> bool {
    ids.is_none_or(|ids| ids.iter().any(|i| i == id))
}

/// A JSON string, or null.
pub(crate) fn opt_str<T: AsRef<str>>(v: Option<T>) -> Value {
    match v {
        Some(v) => Value::String(v.as_ref().to_string()),
        None => Value::Null,
    }
}

/// An SDK enum (or string) as AWS Config writes it: its API name, or null.
pub(crate) fn name<T: AsRef<str>>(v: Option<&T>) -> Value {
    opt_str(v)
}

/// A list of SDK enums as their API names.
pub(crate) fn names<T: AsRef<str>>(v: &[T]) -> Value {
    v.iter()
        .map(|x| Value::String(x.as_ref().to_string()))
        .collect()
}

/// Tags given as (key, value) pairs, as AWS Config's `[{key, value}]` list and map.
pub(crate) fn tags_of<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> (Value, BTreeMap<String, String>) {
    tag_pairs(pairs.map(|(k, v)| (k.unwrap_or_default(), v.unwrap_or_default())))
}

/// The failure of a listing cut short by a resource type the module does not record.
pub(crate) fn unsupported(resource_type: &str, module: &str) -> PollError {
    PollError::Source {
        code: "UnsupportedResourceType".into(),
        message: format!("{resource_type} is not a {module} type this source records"),
    }
}
