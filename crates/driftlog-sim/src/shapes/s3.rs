//! S3 bucket documents in AWS Config's shape (reference item `AWS_S3_Bucket.json`): id =
//! name = bucket, the bucket's settings in `supplementaryConfiguration`, where
//! `AccessControlList` is JSON *text* and every other value an object (or a bool).

use super::{tag_map, Tags, Top};
use crate::ids::{self, iso};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Map, Value};

const APPS: &[&str] = &[
    "orders",
    "billing",
    "search",
    "catalog",
    "analytics",
    "reports",
    "ingest",
    "media",
    "backups",
    "exports",
    "assets",
    "artifacts",
];
const KINDS: &[&str] = &["data", "raw", "archive", "uploads", "static", "tmp"];

/// The canonical user id of an account's bucket owner (64 hex digits), fixed per account.
pub(crate) fn owner_id(account: &str) -> String {
    let mut rng = Rng::with_seed(ids::splitmix64(account.parse::<u64>().unwrap_or(0)));
    ids::hex(&mut rng, 64)
}

/// A fresh bucket name; the first bucket of each account and region collects the others'
/// access logs.
pub(crate) fn bucket_name(rng: &mut Rng, account: &str, region: &str, first: bool) -> String {
    if first {
        format!("access-logs-{account}-{region}")
    } else {
        format!(
            "{}-{}-{}",
            ids::word(rng, APPS),
            ids::word(rng, KINDS),
            ids::hex(rng, 8)
        )
    }
}

/// What a bucket's settings depend on.
pub(crate) struct BucketSpec<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    pub owner: &'a str,
    pub log_bucket: &'a str,
    pub kms_key: &'a str,
    pub created_ms: i64,
    pub is_log_bucket: bool,
}

fn acl(owner: &str, log_delivery: bool) -> String {
    let mut grants = format!(
        r#"{{"grantee":{{"id":"{owner}","displayName":null}},"permission":"FullControl"}}"#
    );
    if log_delivery {
        grants.push_str(r#",{"grantee":"LogDelivery","permission":"Write"}"#);
        grants.push_str(r#",{"grantee":"LogDelivery","permission":"ReadAcp"}"#);
    }
    format!(
        r#"{{"grantSet":null,"grantList":[{grants}],"owner":{{"displayName":null,"id":"{owner}"}},"isRequesterCharged":false}}"#
    )
}

fn deny_insecure(name: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{name}","arn:aws:s3:::{name}/*"],"Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
    )
}

fn lifecycle_rule(rng: &mut Rng) -> Value {
    let (id, prefix, days) = *ids::pick(
        rng,
        &[
            ("expire-tmp", "tmp/", 30),
            ("expire-exports", "exports/", 90),
            ("expire-logs", "logs/", 365),
        ],
    )
    .unwrap_or(&("expire-tmp", "tmp/", 30));
    json!({
        "id": id,
        "prefix": null,
        "status": if rng.u8(..5) == 0 { "Disabled" } else { "Enabled" },
        "filter": {"predicate": {"type": "LifecyclePrefixPredicate", "prefix": prefix}},
        "expirationInDays": days,
        "expiredObjectDeleteMarker": false,
        "noncurrentVersionExpirationInDays": -1,
        "expirationDate": null,
        "transitions": null,
        "noncurrentVersionTransitions": null,
        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
    })
}

pub(crate) fn bucket(rng: &mut Rng, b: &BucketSpec<'_>, tags: &Tags) -> (ResourceKey, Value) {
    let created = iso(b.created_ms.div_euclid(1000) * 1000);
    let configuration = json!({
        "name": b.name,
        "owner": {"displayName": null, "id": b.owner},
        "creationDate": created,
    });
    let logging = !b.is_log_bucket && rng.u8(..3) != 0;
    let kms = rng.bool();
    let versioning = *ids::pick(rng, &["Enabled", "Enabled", "Off", "Suspended"]).unwrap_or(&"Off");
    let mut supp = Map::new();
    supp.insert(
        "AccessControlList".into(),
        acl(b.owner, b.is_log_bucket).into(),
    );
    supp.insert(
        "BucketAccelerateConfiguration".into(),
        json!({"status": null}),
    );
    let rules: Vec<Value> = (0..rng.usize(1..=2)).map(|_| lifecycle_rule(rng)).collect();
    supp.insert(
        "BucketLifecycleConfiguration".into(),
        json!({"rules": rules}),
    );
    supp.insert(
        "BucketLoggingConfiguration".into(),
        if logging {
            json!({"destinationBucketName": b.log_bucket, "logFilePrefix": format!("{}/", b.name)})
        } else {
            json!({"destinationBucketName": null, "logFilePrefix": null})
        },
    );
    supp.insert(
        "BucketNotificationConfiguration".into(),
        json!({"configurations": {}}),
    );
    supp.insert(
        "BucketPolicy".into(),
        json!({"policyText": (rng.u8(..3) != 0).then(|| deny_insecure(b.name))}),
    );
    if !tags.is_empty() {
        supp.insert(
            "BucketTaggingConfiguration".into(),
            json!({"tagSets": [{"tags": tag_map(tags)}]}),
        );
    }
    supp.insert(
        "BucketVersioningConfiguration".into(),
        json!({"status": versioning, "isMfaDeleteEnabled": null}),
    );
    supp.insert("IsRequesterPaysEnabled".into(), false.into());
    let block = rng.u8(..8) != 0;
    supp.insert(
        "PublicAccessBlockConfiguration".into(),
        json!({
            "blockPublicAcls": block,
            "ignorePublicAcls": block,
            "blockPublicPolicy": block,
            "restrictPublicBuckets": block,
        }),
    );
    supp.insert(
        "ServerSideEncryptionConfiguration".into(),
        json!({"rules": [{
            "applyServerSideEncryptionByDefault": {
                "sseAlgorithm": if kms { "aws:kms" } else { "AES256" },
                "kmsMasterKeyID": kms.then_some(b.kms_key),
            },
            "bucketKeyEnabled": kms,
        }]}),
    );
    let doc = Top {
        arn: format!("arn:aws:s3:::{}", b.name),
        name: Some(b.name),
        az: "Regional",
        created: Some(created.clone()),
        tags,
        relationships: Vec::new(),
    }
    .build(configuration, supp);
    (
        ResourceKey::new(b.account, b.region, types::BUCKET, b.name),
        doc,
    )
}
