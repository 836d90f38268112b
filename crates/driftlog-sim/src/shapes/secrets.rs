//! Secrets Manager secrets in AWS Config's shape (reference item
//! `AWS_SecretsManager_Secret.json`): PascalCase with Config's own spellings (`KMSKeyId`,
//! `RotationLambdaARN`), times as epoch milliseconds, no relationships.

use super::svc::{cfn_tags, whole_secs, Svc};
use super::{object_mut, Tags, Top};
use crate::ids::{self, iso};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

const SUFFIX: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What a secret depends on.
pub(crate) struct SecretSpec<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub kms: &'a str,
    /// The rotation function's ARN, when the secret rotates.
    pub rotation_lambda: Option<&'a str>,
    pub created_ms: i64,
}

pub(crate) fn secret(
    rng: &mut Rng,
    at: Svc<'_>,
    s: &SecretSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let suffix: String = (0..6)
        .map(|_| char::from(SUFFIX[rng.usize(..SUFFIX.len())]))
        .collect();
    let arn = at.arn("secretsmanager", &format!("secret:{}-{suffix}", s.name));
    let created = whole_secs(s.created_ms);
    let rotating = s.rotation_lambda.is_some();
    let rotated = rotating.then(|| created + rng.i64(1..30) * 86_400_000);
    let configuration = json!({
        "ARN": arn,
        "Name": s.name,
        "Description": s.description,
        "KMSKeyId": s.kms,
        "RotationEnabled": rotating,
        "RotationLambdaARN": s.rotation_lambda,
        "RotationRules": rules(rotating),
        "RotationOccurringAsScheduled": rotating,
        "Deleted": false,
        "CreatedDate": created,
        "LastRotatedDate": rotated,
        "LastChangedDate": rotated.unwrap_or(created),
        "ReplicationStatus": [],
        "Tags": cfn_tags(tags),
    });
    let doc = Top {
        arn: arn.clone(),
        name: Some(s.name),
        az: "Regional",
        created: Some(iso(created)),
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, Map::new());
    (at.key(types::SECRET, &arn), doc)
}

fn rules(rotating: bool) -> Value {
    json!({
        "AutomaticallyAfterDays": rotating.then_some(30),
        "AutomaticallyAfterHours": null,
        "RotationDuration": rotating.then_some("2h"),
        "RotationScheduleExpression": null,
    })
}

/// Turns rotation on (with `lambda`) or off.
pub(crate) fn set_rotation(v: &mut Value, lambda: Option<&str>, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let on = lambda.is_some();
    if c.get("RotationEnabled").and_then(Value::as_bool) == Some(on) {
        return false;
    }
    c.insert("RotationEnabled".into(), on.into());
    c.insert("RotationLambdaARN".into(), json!(lambda));
    c.insert("RotationRules".into(), rules(on));
    c.insert("RotationOccurringAsScheduled".into(), on.into());
    c.insert("LastChangedDate".into(), whole_secs(now_ms).into());
    true
}

/// A rotation ran: only the volatile dates move.
pub(crate) fn rotated(v: &mut Value, now_ms: i64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    if c.get("RotationEnabled").and_then(Value::as_bool) != Some(true) {
        return false;
    }
    c.insert("LastRotatedDate".into(), whole_secs(now_ms).into());
    c.insert("LastChangedDate".into(), whole_secs(now_ms).into());
    true
}

/// Rotation functions AWS offers, by engine.
pub(crate) fn rotation_function(at: Svc<'_>, rng: &mut Rng) -> String {
    let f = ids::word(
        rng,
        &[
            "SecretsManagerRDSPostgreSQLRotationSingleUser",
            "SecretsManagerRDSMySQLRotationSingleUser",
            "SecretsManagerRDSPostgreSQLRotationMultiUser",
        ],
    );
    at.arn("lambda", &format!("function:{f}"))
}
