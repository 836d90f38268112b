//! S3 buckets, recorded in their own region as AWS Config does, with the bucket's
//! sub-configurations in `supplementaryConfiguration` under AWS Config's keys and quirks
//! (the ACL as a JSON string, unset values as `{"status": null}` and the like).

use crate::error::{code_of, from_sdk};
use crate::shape::{iso, iso_str, observe, Listing};
use crate::RegionClients;
use crate::Service;
use aws_sdk_s3::types::{Bucket, Owner};
use driftlog_model::{Document, Observed};
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Bucket (name, creation time in ms) → region.
pub(crate) type RegionCache =
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<(String, i64), String>>>;

/// AWS Config's type name.
pub(crate) const BUCKET: &str = "AWS::S3::Bucket";

/// One S3 read through the gate; any error is the listing's error.
macro_rules! required {
    ($gate:expr, $call:literal, $req:expr) => {{
        $gate.pass().await;
        $req.send().await.map_err(|e| from_sdk($call, &e))
    }};
}

/// One S3 read whose "not configured" answers (error codes `$absent`) are values, not
/// failures: `Ok(None)`.
macro_rules! optional {
    ($gate:expr, $call:literal, $req:expr, $($absent:literal),+) => {{
        $gate.pass().await;
        match $req.send().await {
            Ok(o) => Ok(Some(o)),
            Err(e) if matches!(code_of(&e).as_deref(), $(Some($absent))|+) => Ok(None),
            Err(e) => Err(from_sdk($call, &e)),
        }
    }};
}

/// Lists the buckets whose region is `c.region`; `ids` narrows it to some bucket names.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let (buckets, owner) = match list_buckets(c).await {
        Ok(b) => b,
        Err(e) => {
            out.fail(e);
            return out;
        }
    };
    let wanted: Vec<&Bucket> = buckets
        .iter()
        .filter(|b| {
            let name = b.name().unwrap_or_default();
            ids.is_none_or(|ids| ids.iter().any(|i| i == name))
        })
        .collect();
    // Each bucket costs a dozen small requests: read several buckets at once (the gate
    // still bounds the request rate).
    let owner = owner.as_ref();
    let reads: Vec<_> = wanted
        .into_iter()
        .map(|b| read_if_here(c, b, owner))
        .collect();
    let results: Vec<Result<Option<Observed>, PollError>> = stream::iter(reads)
        .buffer_unordered(BUCKETS_AT_ONCE)
        .collect()
        .await;
    for r in results {
        match r {
            Ok(Some(o)) => out.resources.push(o),
            Ok(None) => {}
            // A bucket read only in part is left out of this listing (which is then
            // partial, so nothing is deleted) rather than recorded in a wrong state.
            Err(e) => out.fail(e),
        }
    }
    out
}

/// The bucket, shaped, when it lives in `c.region`.
async fn read_if_here(
    c: &RegionClients,
    b: &Bucket,
    owner: Option<&Owner>,
) -> Result<Option<Observed>, PollError> {
    if bucket_region(c, b).await? != c.region {
        return Ok(None);
    }
    let doc = bucket(c, b, owner).await?;
    let name = b.name().unwrap_or_default();
    Ok(Some(observe(&c.account, &c.region, BUCKET, name, &doc)))
}

/// Buckets read concurrently within one region's listing.
const BUCKETS_AT_ONCE: usize = 8;

async fn list_buckets(c: &RegionClients) -> Result<(Vec<Bucket>, Option<Owner>), PollError> {
    let mut buckets = Vec::new();
    let mut owner = None;
    let mut token: Option<String> = None;
    loop {
        c.gate(Service::S3).pass().await;
        // MaxBuckets makes S3 paginate and name each bucket's region (no GetBucketLocation).
        let sent = token.take();
        let page =
            c.s3.list_buckets()
                .max_buckets(1000)
                .set_continuation_token(sent.clone())
                .send()
                .await
                .map_err(|e| from_sdk("s3:ListBuckets", &e))?;
        buckets.extend(page.buckets().iter().cloned());
        if owner.is_none() {
            owner = page.owner().cloned();
        }
        match page.continuation_token() {
            Some(t) if sent.as_deref() == Some(t) => {
                return Err(crate::shape::repeated_token("s3:ListBuckets"))
            }
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok((buckets, owner))
}

async fn bucket_region(c: &RegionClients, b: &Bucket) -> Result<String, PollError> {
    if let Some(r) = b.bucket_region().filter(|r| !r.is_empty()) {
        return Ok(r.to_string());
    }
    // A bucket deleted and created again elsewhere has a new creation time.
    let id = (
        b.name().unwrap_or_default().to_string(),
        b.creation_date().map_or(0, |d| d.secs()),
    );
    if let Some(r) = c
        .bucket_regions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
    {
        return Ok(r.clone());
    }
    let loc = required!(
        c.gate(Service::S3),
        "s3:GetBucketLocation",
        c.s3.get_bucket_location()
            .bucket(b.name().unwrap_or_default())
    )?;
    let region = match loc.location_constraint().map(|l| l.as_str()) {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(r) => r.to_string(),
    };
    c.bucket_regions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, region.clone());
    Ok(region)
}

/// Reads one bucket's configuration and sub-configurations; any failure leaves the bucket
/// out of the listing (which is then partial).
async fn bucket(
    c: &RegionClients,
    b: &Bucket,
    owner: Option<&Owner>,
) -> Result<Document, PollError> {
    let name = b.name().unwrap_or_default();
    let gate = &c.gate(Service::S3);
    let mut sup = Map::new();

    let acl = required!(gate, "s3:GetBucketAcl", c.s3.get_bucket_acl().bucket(name))?;
    sup.insert(
        "AccessControlList".into(),
        Value::String(acl_text(acl.owner().or(owner), acl.grants())),
    );

    let policy = optional!(
        gate,
        "s3:GetBucketPolicy",
        c.s3.get_bucket_policy().bucket(name),
        "NoSuchBucketPolicy"
    )?;
    sup.insert(
        "BucketPolicy".into(),
        json!({"policyText": policy.as_ref().and_then(|p| p.policy())}),
    );

    let pab = optional!(
        gate,
        "s3:GetPublicAccessBlock",
        c.s3.get_public_access_block().bucket(name),
        "NoSuchPublicAccessBlockConfiguration"
    )?;
    if let Some(p) = pab
        .as_ref()
        .and_then(|p| p.public_access_block_configuration())
    {
        sup.insert(
            "PublicAccessBlockConfiguration".into(),
            json!({
                "blockPublicAcls": p.block_public_acls().unwrap_or(false),
                "ignorePublicAcls": p.ignore_public_acls().unwrap_or(false),
                "blockPublicPolicy": p.block_public_policy().unwrap_or(false),
                "restrictPublicBuckets": p.restrict_public_buckets().unwrap_or(false),
            }),
        );
    }

    let sse = optional!(
        gate,
        "s3:GetEncryptionConfiguration",
        c.s3.get_bucket_encryption().bucket(name),
        "ServerSideEncryptionConfigurationNotFoundError"
    )?;
    if let Some(cfg) = sse
        .as_ref()
        .and_then(|s| s.server_side_encryption_configuration())
    {
        let rules: Value = cfg
            .rules()
            .iter()
            .map(|r| {
                json!({
                    "applyServerSideEncryptionByDefault": r.apply_server_side_encryption_by_default().map(|d| json!({
                        "sseAlgorithm": d.sse_algorithm().as_str(),
                        "kmsMasterKeyID": d.kms_master_key_id(),
                    })),
                    "bucketKeyEnabled": r.bucket_key_enabled(),
                })
            })
            .collect();
        sup.insert(
            "ServerSideEncryptionConfiguration".into(),
            json!({"rules": rules}),
        );
    }

    c.gate(Service::S3).pass().await;
    let (status, mfa) = match c.s3.get_bucket_versioning().bucket(name).send().await {
        Ok(v) => (
            v.status().map(|s| s.as_str().to_string()),
            v.mfa_delete().map(|m| m.as_str().to_string()),
        ),
        Err(e) => {
            match fields_of_misnamed_root(
                &e,
                "GetBucketVersioningResponse",
                &["Status", "MfaDelete"],
            ) {
                Some((mut v, _)) => (v[0].take(), v[1].take()),
                None => return Err(from_sdk("s3:GetBucketVersioning", &e)),
            }
        }
    };
    sup.insert(
        "BucketVersioningConfiguration".into(),
        json!({
            "status": status.as_deref().unwrap_or("Off"),
            "isMfaDeleteEnabled": mfa.map(|m| m == "Enabled"),
        }),
    );

    let log = required!(
        gate,
        "s3:GetBucketLogging",
        c.s3.get_bucket_logging().bucket(name)
    )?;
    let le = log.logging_enabled();
    sup.insert(
        "BucketLoggingConfiguration".into(),
        json!({
            "destinationBucketName": le.map(|l| l.target_bucket()),
            "logFilePrefix": le.map(|l| l.target_prefix()),
        }),
    );

    c.gate(Service::S3).pass().await;
    let accel = match c
        .s3
        .get_bucket_accelerate_configuration()
        .bucket(name)
        .send()
        .await
    {
        Ok(a) => a.status().map(|s| s.as_str().to_string()),
        Err(e) => match fields_of_misnamed_root(
            &e,
            "GetBucketAccelerateConfigurationResponse",
            &["Status"],
        ) {
            Some((mut v, _)) => v[0].take(),
            None => return Err(from_sdk("s3:GetBucketAccelerateConfiguration", &e)),
        },
    };
    sup.insert(
        "BucketAccelerateConfiguration".into(),
        json!({"status": accel}),
    );

    c.gate(Service::S3).pass().await;
    match c.s3.get_bucket_request_payment().bucket(name).send().await {
        Ok(p) => {
            sup.insert(
                "IsRequesterPaysEnabled".into(),
                Value::Bool(p.payer().map(|p| p.as_str()) == Some("Requester")),
            );
        }
        // Left out, not guessed, when the server does not implement the call.
        Err(e) if unimplemented_by_server(&e) => {
            tracing::debug!(
                bucket = name,
                "GetBucketRequestPayment not implemented by the server"
            );
        }
        Err(e) => return Err(from_sdk("s3:GetBucketRequestPayment", &e)),
    }

    let lifecycle = optional!(
        gate,
        "s3:GetBucketLifecycleConfiguration",
        c.s3.get_bucket_lifecycle_configuration().bucket(name),
        "NoSuchLifecycleConfiguration"
    )?;
    if let Some(l) = lifecycle.as_ref() {
        sup.insert(
            "BucketLifecycleConfiguration".into(),
            json!({"rules": l.rules().iter().map(lifecycle_rule).collect::<Value>()}),
        );
    }

    c.gate(Service::S3).pass().await;
    let configurations = match c
        .s3
        .get_bucket_notification_configuration()
        .bucket(name)
        .send()
        .await
    {
        Ok(n) => notifications(&n),
        Err(e) => match fields_of_misnamed_root(&e, "GetBucketNotificationResponse", &[]) {
            // An empty answer under the wrong root is an empty configuration; one with
            // content is not guessed at.
            Some((_, false)) => json!({}),
            _ => return Err(from_sdk("s3:GetBucketNotificationConfiguration", &e)),
        },
    };
    sup.insert(
        "BucketNotificationConfiguration".into(),
        json!({"configurations": configurations}),
    );

    let tagging = optional!(
        gate,
        "s3:GetBucketTagging",
        c.s3.get_bucket_tagging().bucket(name),
        "NoSuchTagSet",
        "NoSuchTagSetError"
    )?;
    let mut tags = BTreeMap::new();
    if let Some(t) = tagging.as_ref() {
        for tag in t.tag_set() {
            tags.insert(tag.key().to_string(), tag.value().to_string());
        }
    }
    if !tags.is_empty() {
        sup.insert(
            "BucketTaggingConfiguration".into(),
            json!({"tagSets": [{"tags": tags}]}),
        );
    }

    let configuration = json!({
        "name": name,
        "owner": owner_json(acl.owner().or(owner)),
        "creationDate": iso(b.creation_date()),
    });
    Ok(Document {
        arn: Some(format!(
            "arn:{}:s3:::{name}",
            crate::shape::partition(&c.region)
        )),
        resource_name: Some(name.to_string()),
        availability_zone: Some("Regional".into()),
        resource_creation_time: b.creation_date().map(iso_str),
        tags,
        relationships: Vec::new(),
        configuration,
        supplementary_configuration: sup,
    })
}

/// moto 5.2 answers some S3 reads (GetBucketVersioning, GetBucketAccelerateConfiguration,
/// GetBucketNotificationConfiguration) with a `<Operation>Response` root element, which the
/// SDK's parser refuses although the fields inside are right. When that is the only
/// problem, the named child elements are read from the same body with the SDK's own XML
/// decoder: one entry per field, and whether the root had any other child. Any other
/// failure stays a failure.
fn fields_of_misnamed_root<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    root_name: &str,
    fields: &[&str],
) -> Option<(Vec<Option<String>>, bool)> {
    let raw = e.raw_response()?;
    if !raw.status().is_success() {
        return None;
    }
    let text = std::str::from_utf8(raw.body().bytes()?).ok()?;
    let mut doc = aws_smithy_xml::decode::Document::new(text);
    let mut root = doc.root_element().ok()?;
    if !root.start_el().matches(root_name) {
        return None;
    }
    let mut values = vec![None; fields.len()];
    let mut other = false;
    while let Some(mut tag) = root.next_tag() {
        match fields.iter().position(|f| tag.start_el().matches(f)) {
            Some(i) => {
                values[i] = Some(aws_smithy_xml::decode::try_data(&mut tag).ok()?.to_string())
            }
            None => other = true,
        }
    }
    Some((values, other))
}

/// True when a successful (2xx) answer could not be parsed at all: a server that does not
/// implement the call (moto answers GetBucketRequestPayment with a bucket listing).
fn unimplemented_by_server<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    matches!(e, aws_sdk_s3::error::SdkError::ServiceError(_))
        && e.raw_response().is_some_and(|r| r.status().is_success())
}

/// One lifecycle rule in AWS Config's form (the Java SDK's `Rule`: `-1` for unset day
/// counts, `null` for unset lists, the filter as a typed `predicate`).
fn lifecycle_rule(r: &aws_sdk_s3::types::LifecycleRule) -> Value {
    fn tag(t: &aws_sdk_s3::types::Tag) -> Value {
        json!({"key": t.key(), "value": t.value()})
    }
    let predicate = r.filter().and_then(|f| {
        if let Some(and) = f.and() {
            let mut operands: Vec<Value> = Vec::new();
            if let Some(p) = and.prefix() {
                operands.push(json!({"type": "LifecyclePrefixPredicate", "prefix": p}));
            }
            for t in and.tags() {
                operands.push(json!({"type": "LifecycleTagPredicate", "tag": tag(t)}));
            }
            if let Some(n) = and.object_size_greater_than() {
                operands.push(json!({"type": "LifecycleObjectSizeGreaterThanPredicate", "objectSizeGreaterThan": n}));
            }
            if let Some(n) = and.object_size_less_than() {
                operands.push(json!({"type": "LifecycleObjectSizeLessThanPredicate", "objectSizeLessThan": n}));
            }
            Some(json!({"type": "LifecycleAndOperator", "operands": operands}))
        } else if let Some(t) = f.tag() {
            Some(json!({"type": "LifecycleTagPredicate", "tag": tag(t)}))
        } else if let Some(n) = f.object_size_greater_than() {
            Some(json!({"type": "LifecycleObjectSizeGreaterThanPredicate", "objectSizeGreaterThan": n}))
        } else if let Some(n) = f.object_size_less_than() {
            Some(json!({"type": "LifecycleObjectSizeLessThanPredicate", "objectSizeLessThan": n}))
        } else {
            f.prefix()
                .map(|p| json!({"type": "LifecyclePrefixPredicate", "prefix": p}))
        }
    });
    let exp = r.expiration();
    let transitions: Vec<Value> = r
        .transitions()
        .iter()
        .map(|t| {
            json!({
                "days": t.days().unwrap_or(-1),
                "date": iso(t.date()),
                "storageClass": t.storage_class().map(|c| c.as_str()),
            })
        })
        .collect();
    let noncurrent: Vec<Value> = r
        .noncurrent_version_transitions()
        .iter()
        .map(|t| {
            json!({
                "days": t.noncurrent_days().unwrap_or(-1),
                "storageClass": t.storage_class().map(|c| c.as_str()),
            })
        })
        .collect();
    json!({
        "id": r.id(),
        "prefix": rule_prefix(r),
        "status": r.status().as_str(),
        "filter": predicate.map(|p| json!({"predicate": p})),
        "expirationInDays": exp.and_then(|e| e.days()).unwrap_or(-1),
        "expiredObjectDeleteMarker": exp.and_then(|e| e.expired_object_delete_marker()).unwrap_or(false),
        "noncurrentVersionExpirationInDays": r.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()).unwrap_or(-1),
        "expirationDate": iso(exp.and_then(|e| e.date())),
        "transitions": (!transitions.is_empty()).then_some(transitions),
        "noncurrentVersionTransitions": (!noncurrent.is_empty()).then_some(noncurrent),
        "abortIncompleteMultipartUpload": r.abort_incomplete_multipart_upload().map(|a| json!({"daysAfterInitiation": a.days_after_initiation()})),
    })
}

/// The rule-level prefix, deprecated by S3 in favour of the filter, still recorded by AWS
/// Config.
#[allow(deprecated)]
fn rule_prefix(r: &aws_sdk_s3::types::LifecycleRule) -> Option<&str> {
    r.prefix()
}

/// Event notifications by id, as AWS Config lists them (`{}` when there are none).
fn notifications(
    n: &aws_sdk_s3::operation::get_bucket_notification_configuration::GetBucketNotificationConfigurationOutput,
) -> Value {
    let mut m = Map::new();
    let events = |e: &[aws_sdk_s3::types::Event]| -> Value {
        e.iter()
            .map(|x| Value::String(x.as_str().to_string()))
            .collect()
    };
    for (i, t) in n.topic_configurations().iter().enumerate() {
        let id = t
            .id()
            .map_or_else(|| format!("TopicConfiguration{i}"), str::to_string);
        m.insert(id, json!({"type": "TopicConfiguration", "events": events(t.events()), "topicARN": t.topic_arn(), "objectPrefixes": []}));
    }
    for (i, q) in n.queue_configurations().iter().enumerate() {
        let id = q
            .id()
            .map_or_else(|| format!("QueueConfiguration{i}"), str::to_string);
        m.insert(id, json!({"type": "QueueConfiguration", "events": events(q.events()), "queueARN": q.queue_arn(), "objectPrefixes": []}));
    }
    for (i, l) in n.lambda_function_configurations().iter().enumerate() {
        let id = l
            .id()
            .map_or_else(|| format!("LambdaConfiguration{i}"), str::to_string);
        m.insert(id, json!({"type": "LambdaConfiguration", "events": events(l.events()), "functionARN": l.lambda_function_arn(), "objectPrefixes": []}));
    }
    Value::Object(m)
}

fn owner_json(o: Option<&Owner>) -> Value {
    json!({
        "displayName": o.and_then(|o| o.display_name()),
        "id": o.and_then(|o| o.id()),
    })
}

/// AWS Config's `AccessControlList`: a JSON *string*, with its own key order, group
/// grantees as bare names (`"AllUsers"`, `"LogDelivery"`), permissions in CamelCase. Built
/// by hand because the order of keys inside a string is part of the value.
fn acl_text(owner: Option<&Owner>, grants: &[aws_sdk_s3::types::Grant]) -> String {
    let q = |v: Option<&str>| serde_json::to_string(&v).unwrap_or_else(|_| "null".into());
    let mut list = Vec::new();
    for g in grants {
        let grantee = match g.grantee() {
            Some(ge) if ge.uri().is_some() => {
                let uri = ge.uri().unwrap_or_default();
                q(Some(uri.rsplit('/').next().unwrap_or(uri)))
            }
            Some(ge) if ge.email_address().is_some() => format!(
                "{{\"id\":{},\"displayName\":{}}}",
                q(ge.email_address()),
                q(ge.display_name())
            ),
            Some(ge) => format!(
                "{{\"id\":{},\"displayName\":{}}}",
                q(ge.id()),
                q(ge.display_name())
            ),
            None => "null".to_string(),
        };
        let permission = match g.permission().map(|p| p.as_str()) {
            Some("FULL_CONTROL") => "FullControl",
            Some("READ") => "Read",
            Some("WRITE") => "Write",
            Some("READ_ACP") => "ReadAcp",
            Some("WRITE_ACP") => "WriteAcp",
            Some(other) => other,
            None => "",
        };
        list.push(format!(
            "{{\"grantee\":{grantee},\"permission\":{}}}",
            q(Some(permission))
        ));
    }
    format!(
        "{{\"grantSet\":null,\"grantList\":[{}],\"owner\":{{\"displayName\":{},\"id\":{}}},\"isRequesterCharged\":false}}",
        list.join(","),
        q(owner.and_then(|o| o.display_name())),
        q(owner.and_then(|o| o.id()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{Grant, Grantee, Permission, Type};

    #[test]
    fn acl_string_matches_aws_config() {
        let owner = Owner::builder().id("0f1e").build();
        let grants = vec![
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::CanonicalUser)
                        .id("0f1e")
                        .build()
                        .expect("grantee"),
                )
                .permission(Permission::FullControl)
                .build(),
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::Group)
                        .uri("http://acs.amazonaws.com/groups/s3/LogDelivery")
                        .build()
                        .expect("grantee"),
                )
                .permission(Permission::Write)
                .build(),
        ];
        assert_eq!(
            acl_text(Some(&owner), &grants),
            r#"{"grantSet":null,"grantList":[{"grantee":{"id":"0f1e","displayName":null},"permission":"FullControl"},{"grantee":"LogDelivery","permission":"Write"}],"owner":{"displayName":null,"id":"0f1e"},"isRequesterCharged":false}"#
        );
    }
}
