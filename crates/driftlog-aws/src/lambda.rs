//! Lambda functions, shaped as AWS Config records them (ci-shapes `AWS_Lambda_Function`):
//! the function configuration in bean camelCase (`kmskeyArn`), the resource policy as JSON
//! text and the tags as a map in `supplementaryConfiguration`, reserved concurrency only
//! when set, and the unqualified relationship names with their trailing space.

use crate::reads::{name, names, optional, AT_ONCE};
use crate::shape::{dedup, for_each_page, observe, rel, Listing};
use crate::{RegionClients, Service};
use aws_sdk_lambda::types::FunctionConfiguration;
use driftlog_model::{Document, Observed, Relationship};
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// AWS Config's type name.
pub(crate) const FUNCTION: &str = "AWS::Lambda::Function";

/// Every Lambda type.
pub(crate) const TYPES: &[&str] = &[FUNCTION];

/// Lists the functions of the region (`$LATEST` only: versions are not resources in AWS
/// Config); `ids` (function names) narrows it after listing, ListFunctions has no filter.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut found: Vec<FunctionConfiguration> = Vec::new();
    let req = c.lambda.list_functions().max_items(50);
    let err = for_each_page!(
        c.gate(Service::Lambda),
        "lambda:ListFunctions",
        req,
        |page| {
            found.extend(page.functions().iter().cloned());
        }
    );
    if let Some(e) = err {
        // Without the whole list nothing is shaped: the functions read so far would still
        // need their extra reads, and the listing is partial either way.
        out.fail(e);
    }
    let wanted: Vec<&FunctionConfiguration> = found
        .iter()
        .filter(|f| {
            let n = f.function_name().unwrap_or_default();
            ids.is_none_or(|ids| ids.iter().any(|i| i == n))
        })
        .collect();
    let results: Vec<Result<Option<Observed>, PollError>> =
        stream::iter(wanted.into_iter().map(|f| read(c, f)).collect::<Vec<_>>())
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
    for r in results {
        match r {
            Ok(Some(o)) => out.resources.push(o),
            Ok(None) => {}
            // A function read in part is left out (the listing is then partial, so nothing
            // is deleted) rather than recorded in a wrong state.
            Err(e) => out.fail(e),
        }
    }
    out
}

/// One function with its policy, tags and reserved concurrency; `None` when it was deleted
/// since the listing (ListTags or GetFunctionConcurrency then answer
/// ResourceNotFoundException).
async fn read(c: &RegionClients, f: &FunctionConfiguration) -> Result<Option<Observed>, PollError> {
    let gate = c.gate(Service::Lambda);
    let fname = f.function_name().unwrap_or_default();
    let arn = f.function_arn().unwrap_or_default();
    // No resource policy: ResourceNotFoundException, the unset value.
    let policy = optional(
        gate,
        "lambda:GetPolicy",
        c.lambda.get_policy().function_name(fname).send(),
        &["ResourceNotFoundException"],
    )
    .await?;
    let Some(tags) = optional(
        gate,
        "lambda:ListTags",
        c.lambda.list_tags().resource(arn).send(),
        &["ResourceNotFoundException"],
    )
    .await?
    else {
        return Ok(None);
    };
    let Some(concurrency) = optional(
        gate,
        "lambda:GetFunctionConcurrency",
        c.lambda
            .get_function_concurrency()
            .function_name(fname)
            .send(),
        &["ResourceNotFoundException"],
    )
    .await?
    else {
        return Ok(None);
    };
    let tag_map: BTreeMap<String, String> = tags
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut sup = Map::new();
    if let Some(n) = concurrency.reserved_concurrent_executions() {
        sup.insert(
            "Concurrency".into(),
            json!({"reservedConcurrentExecutions": n}),
        );
    }
    if let Some(p) = policy.as_ref().and_then(|p| p.policy()) {
        sup.insert("Policy".into(), Value::String(p.to_string()));
    }
    sup.insert("Tags".into(), json!(tag_map));
    let doc = Document {
        arn: Some(arn.to_string()),
        resource_name: Some(fname.to_string()),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: None,
        tags: tag_map,
        relationships: relationships(f),
        configuration: configuration(f),
        supplementary_configuration: sup,
    };
    Ok(Some(observe(&c.account, &c.region, FUNCTION, fname, &doc)))
}

/// AWS Config's edges of a function: its role (by name only, as Config records it), its
/// security groups and subnets, under the unqualified names with a trailing space.
fn relationships(f: &FunctionConfiguration) -> Vec<Relationship> {
    let mut rels = Vec::new();
    if let Some(role) = f.role() {
        // arn:aws:iam::<account>:role/<path/>name → name.
        let role_name = role.rsplit('/').next().unwrap_or(role);
        rels.push(Relationship {
            resource_id: String::new(),
            resource_name: Some(role_name.to_string()),
            resource_type: "AWS::IAM::Role".into(),
            name: "Is associated with ".into(),
        });
    }
    if let Some(v) = f.vpc_config() {
        for sg in v.security_group_ids() {
            rels.push(rel("Is associated with ", "AWS::EC2::SecurityGroup", sg));
        }
        for sn in v.subnet_ids() {
            rels.push(rel("Is contained in ", "AWS::EC2::Subnet", sn));
        }
    }
    dedup(rels)
}

fn configuration(f: &FunctionConfiguration) -> Value {
    let layers: Value = f
        .layers()
        .iter()
        .map(|l| {
            json!({
                "arn": l.arn(),
                "codeSize": l.code_size(),
                "signingProfileVersionArn": l.signing_profile_version_arn(),
                "signingJobArn": l.signing_job_arn(),
            })
        })
        .collect();
    let file_systems: Value = f
        .file_system_configs()
        .iter()
        .map(|x| json!({"arn": x.arn(), "localMountPath": x.local_mount_path()}))
        .collect();
    let image = f.image_config_response().map(|i| {
        json!({
            "imageConfig": i.image_config().map(|c| json!({
                "entryPoint": c.entry_point(),
                "command": c.command(),
                "workingDirectory": c.working_directory(),
            })),
            "error": i.error().map(|e| json!({"errorCode": e.error_code(), "message": e.message()})),
        })
    });
    json!({
        "functionName": f.function_name(),
        "functionArn": f.function_arn(),
        "runtime": name(f.runtime()),
        "role": f.role(),
        "handler": f.handler(),
        "codeSize": f.code_size(),
        "description": f.description(),
        "timeout": f.timeout(),
        "memorySize": f.memory_size(),
        // The API's own text ("…+0000"), as AWS Config keeps it.
        "lastModified": f.last_modified(),
        "codeSha256": f.code_sha256(),
        "version": f.version(),
        "vpcConfig": f.vpc_config().map(|v| json!({
            "subnetIds": v.subnet_ids(),
            "securityGroupIds": v.security_group_ids(),
        })),
        "deadLetterConfig": f.dead_letter_config().map(|d| json!({"targetArn": d.target_arn()})),
        "kmskeyArn": f.kms_key_arn(),
        "tracingConfig": f.tracing_config().map(|t| json!({"mode": name(t.mode())})),
        "masterArn": f.master_arn(),
        "revisionId": f.revision_id(),
        "layers": layers,
        "state": name(f.state()),
        "stateReason": f.state_reason(),
        "stateReasonCode": name(f.state_reason_code()),
        "lastUpdateStatus": name(f.last_update_status()),
        "lastUpdateStatusReason": f.last_update_status_reason(),
        "lastUpdateStatusReasonCode": name(f.last_update_status_reason_code()),
        "fileSystemConfigs": file_systems,
        "signingProfileVersionArn": f.signing_profile_version_arn(),
        "signingJobArn": f.signing_job_arn(),
        "packageType": name(f.package_type()),
        "imageConfigResponse": image,
        "architectures": names(f.architectures()),
        "ephemeralStorage": f.ephemeral_storage().map(|e| json!({"size": e.size()})),
    })
}
