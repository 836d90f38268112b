//! ECR repositories, in the CloudFormation (Cloud Control) shape AWS Config records for
//! them: PascalCase, the repository policy as a JSON object, the lifecycle policy as
//! `{LifecyclePolicyText, RegistryId}`, both `{}` when unset, tags as `[{Key, Value}]`.

use crate::reads::{fan_out, optional, wanted};
use crate::shape::{for_each_page, tag_pairs, Listing};
use crate::{RegionClients, Service};
use aws_sdk_ecr::types::Repository;
use driftlog_model::Document;
use driftlog_poll::PollError;
use serde_json::{json, Map, Value};

/// AWS Config's type name.
pub(crate) const REPOSITORY: &str = "AWS::ECR::Repository";
pub(crate) const TYPES: &[&str] = &[REPOSITORY];

/// Lists the region's repositories; `ids` (repository names) narrows it after listing:
/// DescribeRepositories refuses a whole request naming one repository that is gone.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut repos = Vec::new();
    let req = c.ecr.describe_repositories().max_results(1000);
    let err = for_each_page!(
        c.gate(Service::Ecr),
        "ecr:DescribeRepositories",
        req,
        |page| {
            repos.extend(
                page.repositories()
                    .iter()
                    .filter(|r| wanted(ids, r.repository_name().unwrap_or_default()))
                    .cloned(),
            );
        }
    );
    let read = fan_out(repos.iter().map(|r| repository(c, r)).collect()).await;
    for r in read {
        match r {
            Ok(Some((name, doc))) => out.add(&c.account, &c.region, REPOSITORY, &name, &doc),
            Ok(None) => {}
            Err(e) => out.fail(e),
        }
    }
    out.ended_by(err)
}

/// A repository deleted between the listing and its reads.
const GONE: &str = "RepositoryNotFoundException";

async fn repository(
    c: &RegionClients,
    r: &Repository,
) -> Result<Option<(String, Document)>, PollError> {
    let gate = c.gate(Service::Ecr);
    let name = r.repository_name().unwrap_or_default();
    let arn = r.repository_arn().unwrap_or_default();
    // A repository without a lifecycle policy or a repository policy answers "not found":
    // the unset value.
    let lifecycle = optional(
        gate,
        "ecr:GetLifecyclePolicy",
        c.ecr.get_lifecycle_policy().repository_name(name).send(),
        &["LifecyclePolicyNotFoundException", GONE],
    )
    .await?;
    let policy = optional(
        gate,
        "ecr:GetRepositoryPolicy",
        c.ecr.get_repository_policy().repository_name(name).send(),
        &["RepositoryPolicyNotFoundException", GONE],
    )
    .await?;
    let Some(tags) = optional(
        gate,
        "ecr:ListTagsForResource",
        c.ecr.list_tags_for_resource().resource_arn(arn).send(),
        &[GONE],
    )
    .await?
    else {
        return Ok(None);
    };
    let (_, tag_map) = tag_pairs(tags.tags().iter().map(|t| (t.key(), t.value())));
    let tag_list: Value = tags
        .tags()
        .iter()
        .map(|t| json!({"Key": t.key(), "Value": t.value()}))
        .collect();
    let mut enc = Map::new();
    if let Some(e) = r.encryption_configuration() {
        enc.insert("EncryptionType".into(), json!(e.encryption_type().as_str()));
        if let Some(k) = e.kms_key() {
            enc.insert("KmsKey".into(), json!(k));
        }
    }
    let lifecycle = match lifecycle.as_ref().and_then(|l| l.lifecycle_policy_text()) {
        Some(text) => json!({
            "LifecyclePolicyText": text,
            "RegistryId": lifecycle.as_ref().and_then(|l| l.registry_id()),
        }),
        None => json!({}),
    };
    let policy = match policy.as_ref().and_then(|p| p.policy_text()) {
        // An object, as CloudFormation has it; text that is not JSON is kept as text.
        Some(text) => serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!(text)),
        None => json!({}),
    };
    let configuration = json!({
        "Arn": arn,
        "RepositoryName": name,
        "RepositoryUri": r.repository_uri(),
        "ImageScanningConfiguration": r.image_scanning_configuration().map(|s| json!({"ScanOnPush": s.scan_on_push()})),
        "ImageTagMutability": r.image_tag_mutability().map(|m| m.as_str()),
        "EncryptionConfiguration": Value::Object(enc),
        "LifecyclePolicy": lifecycle,
        "RepositoryPolicyText": policy,
        "Tags": tag_list,
    });
    let doc = Document {
        arn: Some(arn.to_string()),
        resource_name: Some(name.to_string()),
        availability_zone: Some("Regional".into()),
        resource_creation_time: None,
        tags: tag_map,
        relationships: Vec::new(),
        configuration,
        supplementary_configuration: Map::new(),
    };
    Ok(Some((name.to_string(), doc)))
}
