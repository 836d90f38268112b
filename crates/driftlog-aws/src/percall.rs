//! Per-resource reads of the data services (Lambda, RDS, KMS, CloudTrail, DynamoDB): one
//! request through the service's gate, its error shaped by [`crate::error::from_sdk`], and
//! the few documented "not set" answers turned into values rather than failures.

use crate::shape::tag_pairs;
use serde_json::Value;
use std::collections::BTreeMap;

/// One read through the gate; any error is the listing's error.
macro_rules! call {
    ($gate:expr, $name:literal, $req:expr) => {{
        $gate.pass().await;
        $req.send()
            .await
            .map_err(|e| $crate::error::from_sdk($name, &e))
    }};
}
pub(crate) use call;

/// One read whose documented "not set / not found" answers (error codes `$absent`) are a
/// value, `Ok(None)`, not a failure.
macro_rules! call_or_absent {
    ($gate:expr, $name:literal, $req:expr, $($absent:literal),+) => {{
        $gate.pass().await;
        match $req.send().await {
            Ok(o) => Ok(Some(o)),
            Err(e) if matches!($crate::error::code_of(&e).as_deref(), $(Some($absent))|+) => Ok(None),
            Err(e) => Err($crate::error::from_sdk($name, &e)),
        }
    }};
}
pub(crate) use call_or_absent;

/// Per-resource reads made at once within one listing (the gate still bounds the rate).
pub(crate) const AT_ONCE: usize = 8;

/// An SDK enum (or string) as AWS Config writes it: its API name, or null.
pub(crate) fn name<T: AsRef<str>>(v: Option<&T>) -> Value {
    match v {
        Some(v) => Value::String(v.as_ref().to_string()),
        None => Value::Null,
    }
}

/// A list of SDK enums as their API names.
pub(crate) fn names<T: AsRef<str>>(v: &[T]) -> Value {
    v.iter()
        .map(|x| Value::String(x.as_ref().to_string()))
        .collect()
}

/// A time as epoch milliseconds (the JSON number newer AWS Config types use), or null.
pub(crate) fn epoch_ms(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Value {
    match t {
        Some(t) => Value::from(t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000)),
        None => Value::Null,
    }
}

/// Tags given as (key, value) pairs, as AWS Config's `[{key, value}]` list and map.
pub(crate) fn tags_of<'a>(
    pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> (Value, BTreeMap<String, String>) {
    tag_pairs(pairs.map(|(k, v)| (k.unwrap_or_default(), v.unwrap_or_default())))
}

/// The failure of a listing cut short by a resource that could not be read.
pub(crate) fn unsupported(resource_type: &str, module: &str) -> driftlog_poll::PollError {
    driftlog_poll::PollError::Source {
        code: "UnsupportedResourceType".into(),
        message: format!("{resource_type} is not a {module} type this source records"),
    }
}
