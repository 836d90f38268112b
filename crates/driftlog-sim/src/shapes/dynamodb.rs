//! DynamoDB tables in AWS Config's shape (reference item `AWS_DynamoDB_Table.json`): bean
//! camelCase with Config's `ssedescription`/`kmsmasterKeyArn`, times as epoch
//! milliseconds, point-in-time recovery in `supplementaryConfiguration`, no relationships.
//!
//! One departure from the reference item: local secondary indexes carry no `indexSizeBytes`
//! and `itemCount`, which the reference item guessed from the API model but AWS Config's
//! property schema places only under global indexes.

use super::svc::Svc;
use super::tmpl::{put, template};
use super::{object_mut, tag_list, Tags, Top};
use crate::ids::{self, iso};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Value};

/// What a table depends on.
pub(crate) struct TableSpec<'a> {
    pub name: &'a str,
    pub kms: Option<&'a str>,
    /// The region of its global-table replica, if it has one.
    pub replica: Option<(&'a str, &'a str)>,
    pub created_ms: i64,
}

pub(crate) fn table(
    rng: &mut Rng,
    at: Svc<'_>,
    t: &TableSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = at.arn("dynamodb", &format!("table/{}", t.name));
    let (mut c, mut supp) = template("DynamoDB_Table");
    let items = rng.u64(0..5_000_000);
    let on_demand = rng.bool();
    let capacity = if on_demand {
        0
    } else {
        *ids::pick(rng, &[5, 10, 25, 100]).unwrap_or(&5)
    };
    put(&mut c, "/tableName", t.name);
    put(&mut c, "/creationDateTime", t.created_ms);
    put(&mut c, "/provisionedThroughput/readCapacityUnits", capacity);
    put(
        &mut c,
        "/provisionedThroughput/writeCapacityUnits",
        capacity,
    );
    put(&mut c, "/tableSizeBytes", items * 270);
    put(&mut c, "/itemCount", items);
    put(&mut c, "/tableArn", arn.clone());
    put(&mut c, "/tableId", ids::uuid(rng));
    put(
        &mut c,
        "/billingModeSummary",
        if on_demand {
            json!({"billingMode": "PAY_PER_REQUEST", "lastUpdateToPayPerRequestDateTime": t.created_ms})
        } else {
            json!({"billingMode": "PROVISIONED", "lastUpdateToPayPerRequestDateTime": null})
        },
    );
    for (list, index) in [
        ("localSecondaryIndexes", "by-created"),
        ("globalSecondaryIndexes", "by-customer"),
    ] {
        if rng.bool() {
            put(
                &mut c,
                &format!("/{list}/0/indexArn"),
                format!("{arn}/index/{index}"),
            );
            // Only global indexes: AWS Config's schema puts no size or count under local
            // ones, and the template (unlike the reference item) has none.
            put(&mut c, &format!("/{list}/0/itemCount"), items);
            put(&mut c, &format!("/{list}/0/indexSizeBytes"), items * 30);
        } else {
            put(&mut c, &format!("/{list}"), json!([]));
        }
    }
    if let Some(p) = c.pointer_mut("/globalSecondaryIndexes/0/provisionedThroughput") {
        put(p, "/readCapacityUnits", capacity);
        put(p, "/writeCapacityUnits", capacity);
    }
    let stream = rng.bool();
    let label = iso(t.created_ms).trim_end_matches('Z').to_string();
    put(
        &mut c,
        "/streamSpecification",
        if stream {
            json!({"streamEnabled": true, "streamViewType": "NEW_AND_OLD_IMAGES"})
        } else {
            Value::Null
        },
    );
    put(
        &mut c,
        "/latestStreamLabel",
        json!(stream.then(|| label.clone())),
    );
    put(
        &mut c,
        "/latestStreamArn",
        json!(stream.then(|| format!("{arn}/stream/{label}"))),
    );
    match t.replica {
        Some((region, key)) => {
            put(&mut c, "/replicas/0/regionName", region);
            put(&mut c, "/replicas/0/kmsmasterKeyId", key);
        }
        None => {
            put(&mut c, "/globalTableVersion", Value::Null);
            put(&mut c, "/replicas", json!([]));
        }
    }
    put(
        &mut c,
        "/ssedescription",
        match t.kms {
            Some(k) => {
                json!({"status": "ENABLED", "ssetype": "KMS", "kmsmasterKeyArn": k, "inaccessibleEncryptionDateTime": null})
            }
            None => Value::Null,
        },
    );
    put(&mut c, "/deletionProtectionEnabled", rng.bool());
    supp.insert(
        "ContinuousBackupsDescription".into(),
        backups(rng.u8(..3) != 0),
    );
    supp.insert("Tags".into(), tag_list(tags));
    let doc = Top {
        arn,
        name: Some(t.name),
        az: "Not Applicable",
        created: Some(iso(t.created_ms)),
        tags,
        relationships: Vec::new(),
    }
    .build(c, supp);
    (at.key(types::DYNAMODB_TABLE, t.name), doc)
}

fn backups(pitr: bool) -> Value {
    let status = if pitr { "ENABLED" } else { "DISABLED" };
    json!({"continuousBackupsStatus": "ENABLED", "pointInTimeRecoveryDescription": {"pointInTimeRecoveryStatus": status}})
}

/// Turns point-in-time recovery on or off.
pub(crate) fn toggle_pitr(v: &mut Value) -> bool {
    let Some(supp) = object_mut(v, &["supplementaryConfiguration"]) else {
        return false;
    };
    let Some(on) = supp
        .get("ContinuousBackupsDescription")
        .and_then(|b| b.pointer("/pointInTimeRecoveryDescription/pointInTimeRecoveryStatus"))
        .and_then(Value::as_str)
        .map(|s| s == "ENABLED")
    else {
        return false;
    };
    supp.insert("ContinuousBackupsDescription".into(), backups(!on));
    true
}

/// Items were written: size and count move (volatile only).
pub(crate) fn grow(v: &mut Value, delta: u64) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let Some(items) = c.get("itemCount").and_then(Value::as_u64) else {
        return false;
    };
    c.insert("itemCount".into(), (items + delta).into());
    c.insert("tableSizeBytes".into(), ((items + delta) * 270).into());
    true
}
