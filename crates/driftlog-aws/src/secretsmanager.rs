//! Secrets Manager secrets, shaped as AWS Config records them: PascalCase with AWS Config's
//! own quirks (`KMSKeyId`, `RotationLambdaARN`, `RotationRules.RotationDuration`,
//! `Deleted`), dates as epoch milliseconds, keyed by secret ARN. Never the secret value.

use crate::reads::{epoch_ms, fan_out, optional, wanted};
use crate::shape::{for_each_page, iso_str, tag_pairs, Listing};
use crate::{RegionClients, Service};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use driftlog_model::Document;
use serde_json::{json, Map, Value};

/// AWS Config's type name.
pub(crate) const SECRET: &str = "AWS::SecretsManager::Secret";
pub(crate) const TYPES: &[&str] = &[SECRET];

/// Lists the region's secrets (those scheduled for deletion too: still there, `Deleted`
/// true); `ids` (secret ARNs) narrows it. ListSecrets names them; DescribeSecret reads
/// each whole (the replication status is only there).
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut arns = Vec::new();
    let req = c
        .secretsmanager
        .list_secrets()
        .include_planned_deletion(true)
        .max_results(100);
    let err = for_each_page!(
        c.gate(Service::SecretsManager),
        "secretsmanager:ListSecrets",
        req,
        |page| {
            arns.extend(
                page.secret_list()
                    .iter()
                    .filter_map(|s| s.arn())
                    .filter(|a| wanted(ids, a))
                    .map(str::to_string),
            );
        }
    );
    let read = fan_out(arns.iter().map(|a| describe(c, a)).collect()).await;
    for r in read {
        match r {
            Ok(Some(s)) => {
                let doc = shape(&s);
                out.add(
                    &c.account,
                    &c.region,
                    SECRET,
                    s.arn().unwrap_or_default(),
                    &doc,
                );
            }
            Ok(None) => {}
            Err(e) => out.fail(e),
        }
    }
    out.ended_by(err)
}

async fn describe(
    c: &RegionClients,
    arn: &str,
) -> Result<Option<DescribeSecretOutput>, driftlog_poll::PollError> {
    optional(
        c.gate(Service::SecretsManager),
        "secretsmanager:DescribeSecret",
        c.secretsmanager.describe_secret().secret_id(arn).send(),
        // Deleted since the listing: gone.
        &["ResourceNotFoundException"],
    )
    .await
}

fn shape(s: &DescribeSecretOutput) -> Document {
    let (_, tag_map) = tag_pairs(
        s.tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
    );
    let tag_list: Value = s
        .tags()
        .iter()
        .map(|t| json!({"Key": t.key(), "Value": t.value()}))
        .collect();
    let configuration = json!({
        "ARN": s.arn(),
        "Name": s.name(),
        "Description": s.description(),
        "KMSKeyId": s.kms_key_id(),
        "RotationEnabled": s.rotation_enabled().unwrap_or(false),
        "RotationLambdaARN": s.rotation_lambda_arn(),
        "RotationRules": s.rotation_rules().map(|r| json!({
            "AutomaticallyAfterDays": r.automatically_after_days(),
            // Not an API member: AWS Config's own (null unless it derives one).
            "AutomaticallyAfterHours": Value::Null,
            "RotationDuration": r.duration(),
            "RotationScheduleExpression": r.schedule_expression(),
        })),
        // AWS Config derives this one; the API has no such member (left unset).
        "RotationOccurringAsScheduled": Value::Null,
        "Deleted": s.deleted_date().is_some(),
        "CreatedDate": epoch_ms(s.created_date()),
        "LastRotatedDate": epoch_ms(s.last_rotated_date()),
        "LastChangedDate": epoch_ms(s.last_changed_date()),
        "ReplicationStatus": s.replication_status().iter().map(|r| json!({
            "Region": r.region(),
            "KmsKeyId": r.kms_key_id(),
            "Status": r.status().map(|x| x.as_str()),
            "StatusMessage": r.status_message(),
        })).collect::<Value>(),
        "Tags": tag_list,
    });
    Document {
        arn: s.arn().map(str::to_string),
        resource_name: s.name().map(str::to_string),
        availability_zone: Some("Regional".into()),
        resource_creation_time: s.created_date().map(iso_str),
        tags: tag_map,
        relationships: Vec::new(),
        configuration,
        supplementary_configuration: Map::new(),
    }
}
