//! KMS keys, shaped as AWS Config records them (ci-shapes `AWS_KMS_Key`): DescribeKey's
//! metadata in bean camelCase (`awsaccountId`), dates as epoch milliseconds, the rotation
//! status (a boolean) and the key policy (verbatim text) in `supplementaryConfiguration`.
//! AWS-managed keys are recorded too, as AWS Config does.

use crate::reads::{epoch_ms, name, names, optional, tags_of, AT_ONCE};
use crate::shape::{for_each_page, iso, observe, repeated_token, Listing};
use crate::{RegionClients, Service};
use driftlog_model::{Document, Observed};
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

/// AWS Config's type name.
pub(crate) const KEY: &str = "AWS::KMS::Key";

/// Every KMS type.
pub(crate) const TYPES: &[&str] = &[KEY];

/// Lists the keys of the region; `ids` (key ids) are described directly, an absent one is
/// simply absent.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let key_ids: Vec<String> = match ids {
        Some(ids) => ids.to_vec(),
        None => {
            let mut all = Vec::new();
            let req = c.kms.list_keys().limit(1000);
            let err = for_each_page!(c.gate(Service::Kms), "kms:ListKeys", req, |page| {
                all.extend(
                    page.keys()
                        .iter()
                        .filter_map(|k| k.key_id().map(str::to_string)),
                );
            });
            if let Some(e) = err {
                out.fail(e);
            }
            all
        }
    };
    let results: Vec<Result<Option<Observed>, PollError>> =
        stream::iter(key_ids.iter().map(|id| read(c, id)).collect::<Vec<_>>())
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
    for r in results {
        match r {
            Ok(Some(o)) => out.resources.push(o),
            Ok(None) => {}
            Err(e) => out.fail(e),
        }
    }
    out
}

/// One key, or `None` when it no longer exists (deleted since the listing, or a describe
/// of a gone key).
// `customerMasterKeySpec` is deprecated in the API but still part of AWS Config's item.
#[allow(deprecated)]
async fn read(c: &RegionClients, id: &str) -> Result<Option<Observed>, PollError> {
    let gate = c.gate(Service::Kms);
    let Some(described) = optional(
        gate,
        "kms:DescribeKey",
        c.kms.describe_key().key_id(id).send(),
        &["NotFoundException"],
    )
    .await?
    else {
        return Ok(None);
    };
    let Some(m) = described.key_metadata() else {
        return Ok(None);
    };
    let key_id = m.key_id();
    // Keys that cannot rotate (asymmetric, HMAC, imported, custom key store) answer
    // UnsupportedOperationException, and keys pending deletion or import
    // KMSInvalidStateException: both mean "not rotating", AWS Config's `false`.
    let rotation = optional(
        gate,
        "kms:GetKeyRotationStatus",
        c.kms.get_key_rotation_status().key_id(key_id).send(),
        &["UnsupportedOperationException", "KMSInvalidStateException"],
    )
    .await?;
    // NotFoundException from here on: the key was deleted since DescribeKey.
    let Some(policy) = optional(
        gate,
        "kms:GetKeyPolicy",
        c.kms
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .send(),
        &["NotFoundException"],
    )
    .await?
    else {
        return Ok(None);
    };
    let Some(tags) = resource_tags(c, key_id).await? else {
        return Ok(None);
    };
    let (_, tag_map) = tags_of(
        tags.iter()
            .map(|t| (Some(t.tag_key()), Some(t.tag_value()))),
    );
    let mut sup = Map::new();
    sup.insert(
        "KeyRotationStatus".into(),
        Value::Bool(rotation.is_some_and(|r| r.key_rotation_enabled())),
    );
    // Verbatim: GetKeyPolicy's pretty-printed text is what AWS Config keeps.
    sup.insert("Policy".into(), json!(policy.policy()));
    let multi = m.multi_region_configuration().map(|x| {
        let key =
            |k: &aws_sdk_kms::types::MultiRegionKey| json!({"arn": k.arn(), "region": k.region()});
        json!({
            "multiRegionKeyType": name(x.multi_region_key_type()),
            "primaryKey": x.primary_key().map(key),
            "replicaKeys": x.replica_keys().iter().map(key).collect::<Vec<_>>(),
        })
    });
    let macs = m.mac_algorithms();
    let configuration = json!({
        "keyId": key_id,
        "arn": m.arn(),
        "creationDate": epoch_ms(m.creation_date()),
        "enabled": m.enabled(),
        "description": m.description(),
        "keyUsage": name(m.key_usage()),
        "keyState": name(m.key_state()),
        "deletionDate": epoch_ms(m.deletion_date()),
        "validTo": epoch_ms(m.valid_to()),
        "origin": name(m.origin()),
        "customKeyStoreId": m.custom_key_store_id(),
        "cloudHsmClusterId": m.cloud_hsm_cluster_id(),
        "expirationModel": name(m.expiration_model()),
        "keyManager": name(m.key_manager()),
        "customerMasterKeySpec": name(m.customer_master_key_spec()),
        "keySpec": name(m.key_spec()),
        "encryptionAlgorithms": names(m.encryption_algorithms()),
        "signingAlgorithms": names(m.signing_algorithms()),
        // Null for keys without MAC algorithms (the reference's symmetric key).
        "macAlgorithms": if macs.is_empty() { Value::Null } else { names(macs) },
        "multiRegion": m.multi_region(),
        "multiRegionConfiguration": multi,
        "pendingDeletionWindowInDays": m.pending_deletion_window_in_days(),
        "awsaccountId": m.aws_account_id(),
    });
    let arn = m.arn().map(str::to_string).unwrap_or_else(|| {
        format!(
            "arn:{}:kms:{}:{}:key/{key_id}",
            crate::shape::partition(&c.region),
            c.region,
            c.account
        )
    });
    let doc = Document {
        arn: Some(arn),
        resource_name: None,
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: iso(m.creation_date()).as_str().map(str::to_string),
        tags: tag_map,
        relationships: Vec::new(),
        configuration,
        supplementary_configuration: sup,
    };
    Ok(Some(observe(&c.account, &c.region, KEY, key_id, &doc)))
}

/// Every tag of a key, page by page; `None` when the key is gone.
async fn resource_tags(
    c: &RegionClients,
    key_id: &str,
) -> Result<Option<Vec<aws_sdk_kms::types::Tag>>, PollError> {
    let mut tags = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let sent = marker.take();
        let Some(page) = optional(
            c.gate(Service::Kms),
            "kms:ListResourceTags",
            c.kms
                .list_resource_tags()
                .key_id(key_id)
                .set_marker(sent.clone())
                .send(),
            &["NotFoundException"],
        )
        .await?
        else {
            return Ok(None);
        };
        tags.extend(page.tags().iter().cloned());
        match page.next_marker() {
            Some(m) if page.truncated() && sent.as_deref() == Some(m) => {
                return Err(repeated_token("kms:ListResourceTags"))
            }
            Some(m) if page.truncated() && !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Ok(Some(tags))
}
