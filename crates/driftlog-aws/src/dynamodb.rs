//! DynamoDB tables, shaped as AWS Config records them (ci-shapes `AWS_DynamoDB_Table`):
//! DescribeTable's output in bean camelCase (`ssedescription.ssetype`,
//! `replicas[].kmsmasterKeyId`), dates as epoch milliseconds, point-in-time recovery and
//! the tags (`[{key, value}]`) in `supplementaryConfiguration`.

use crate::reads::{epoch_ms, name, optional, tags_of, AT_ONCE};
use crate::shape::{for_each_page, iso, observe, repeated_token, Listing};
use crate::{RegionClients, Service};
use aws_sdk_dynamodb::types::{
    KeySchemaElement, Projection, ProvisionedThroughputDescription, TableClassSummary,
    TableDescription,
};
use driftlog_model::{Document, Observed};
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

/// AWS Config's type name.
pub(crate) const TABLE: &str = "AWS::DynamoDB::Table";

/// Every DynamoDB type.
pub(crate) const TYPES: &[&str] = &[TABLE];

/// Lists the tables of the region; `ids` (table names) are described directly, an absent
/// one is simply absent.
pub(crate) async fn list(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let names: Vec<String> = match ids {
        Some(ids) => ids.to_vec(),
        None => {
            let mut all = Vec::new();
            let req = c.dynamodb.list_tables().limit(100);
            let err = for_each_page!(
                c.gate(Service::DynamoDb),
                "dynamodb:ListTables",
                req,
                |page| {
                    all.extend(page.table_names().iter().cloned());
                }
            );
            if let Some(e) = err {
                out.fail(e);
            }
            all
        }
    };
    let results: Vec<Result<Option<Observed>, PollError>> =
        stream::iter(names.iter().map(|n| read(c, n)).collect::<Vec<_>>())
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

/// One table, or `None` when it no longer exists.
async fn read(c: &RegionClients, table: &str) -> Result<Option<Observed>, PollError> {
    let gate = c.gate(Service::DynamoDb);
    let Some(described) = optional(
        gate,
        "dynamodb:DescribeTable",
        c.dynamodb.describe_table().table_name(table).send(),
        &["ResourceNotFoundException"],
    )
    .await?
    else {
        return Ok(None);
    };
    let Some(t) = described.table() else {
        return Ok(None);
    };
    let Some(backups) = optional(
        gate,
        "dynamodb:DescribeContinuousBackups",
        c.dynamodb
            .describe_continuous_backups()
            .table_name(table)
            .send(),
        &["TableNotFoundException"],
    )
    .await?
    else {
        return Ok(None);
    };
    let arn = t.table_arn().map(str::to_string).unwrap_or_else(|| {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{table}",
            crate::shape::partition(&c.region),
            c.region,
            c.account
        )
    });
    let Some(tags) = table_tags(c, &arn).await? else {
        return Ok(None);
    };
    let (tag_list, tag_map) = tags_of(tags.iter().map(|t| (Some(t.key()), Some(t.value()))));
    let mut sup = Map::new();
    // The restorable times are left out: the latest one ticks every second.
    let cb = backups.continuous_backups_description().map(|d| {
        json!({
            "continuousBackupsStatus": name(Some(d.continuous_backups_status())),
            "pointInTimeRecoveryDescription": d.point_in_time_recovery_description().map(|p| json!({
                "pointInTimeRecoveryStatus": name(p.point_in_time_recovery_status()),
            })),
        })
    });
    sup.insert(
        "ContinuousBackupsDescription".into(),
        cb.unwrap_or(Value::Null),
    );
    sup.insert("Tags".into(), tag_list);
    let doc = Document {
        arn: Some(arn),
        resource_name: Some(table.to_string()),
        availability_zone: Some("Not Applicable".into()),
        resource_creation_time: iso(t.creation_date_time()).as_str().map(str::to_string),
        tags: tag_map,
        relationships: Vec::new(),
        configuration: configuration(t),
        supplementary_configuration: sup,
    };
    Ok(Some(observe(&c.account, &c.region, TABLE, table, &doc)))
}

/// Every tag of one table, page by page; `None` when the table was deleted meanwhile.
async fn table_tags(
    c: &RegionClients,
    arn: &str,
) -> Result<Option<Vec<aws_sdk_dynamodb::types::Tag>>, PollError> {
    let mut tags = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let sent = token.take();
        let Some(page) = optional(
            c.gate(Service::DynamoDb),
            "dynamodb:ListTagsOfResource",
            c.dynamodb
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(sent.clone())
                .send(),
            &["ResourceNotFoundException"],
        )
        .await?
        else {
            return Ok(None);
        };
        tags.extend(page.tags().iter().cloned());
        match page.next_token() {
            Some(t) if sent.as_deref() == Some(t) => {
                return Err(repeated_token("dynamodb:ListTagsOfResource"))
            }
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(Some(tags))
}

fn key_schema(k: &[KeySchemaElement]) -> Value {
    k.iter()
        .map(|e| json!({"attributeName": e.attribute_name(), "keyType": name(Some(e.key_type()))}))
        .collect()
}

fn projection(p: Option<&Projection>) -> Value {
    p.map_or(Value::Null, |p| {
        json!({
            "projectionType": name(p.projection_type()),
            "nonKeyAttributes": if p.non_key_attributes().is_empty() { Value::Null } else { json!(p.non_key_attributes()) },
        })
    })
}

fn throughput(p: Option<&ProvisionedThroughputDescription>) -> Value {
    p.map_or(Value::Null, |p| {
        json!({
            "lastIncreaseDateTime": epoch_ms(p.last_increase_date_time()),
            "lastDecreaseDateTime": epoch_ms(p.last_decrease_date_time()),
            "numberOfDecreasesToday": p.number_of_decreases_today(),
            "readCapacityUnits": p.read_capacity_units(),
            "writeCapacityUnits": p.write_capacity_units(),
        })
    })
}

fn class_summary(c: Option<&TableClassSummary>) -> Value {
    c.map_or(Value::Null, |c| {
        json!({
            "tableClass": name(c.table_class()),
            "lastUpdateDateTime": epoch_ms(c.last_update_date_time()),
        })
    })
}

fn override_rcu(o: Option<&aws_sdk_dynamodb::types::ProvisionedThroughputOverride>) -> Value {
    o.map_or(
        Value::Null,
        |o| json!({"readCapacityUnits": o.read_capacity_units()}),
    )
}

fn configuration(t: &TableDescription) -> Value {
    let lsis: Value = t
        .local_secondary_indexes()
        .iter()
        .map(|i| {
            json!({
                "indexName": i.index_name(),
                "keySchema": key_schema(i.key_schema()),
                "projection": projection(i.projection()),
                "indexSizeBytes": i.index_size_bytes(),
                "itemCount": i.item_count(),
                "indexArn": i.index_arn(),
            })
        })
        .collect();
    let gsis: Value = t
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            json!({
                "indexName": i.index_name(),
                "keySchema": key_schema(i.key_schema()),
                "projection": projection(i.projection()),
                "indexStatus": name(i.index_status()),
                "backfilling": i.backfilling(),
                "provisionedThroughput": throughput(i.provisioned_throughput()),
                "indexSizeBytes": i.index_size_bytes(),
                "itemCount": i.item_count(),
                "indexArn": i.index_arn(),
            })
        })
        .collect();
    let replicas: Value = t
        .replicas()
        .iter()
        .map(|r| {
            json!({
                "regionName": r.region_name(),
                "replicaStatus": name(r.replica_status()),
                "replicaStatusDescription": r.replica_status_description(),
                "replicaStatusPercentProgress": r.replica_status_percent_progress(),
                "kmsmasterKeyId": r.kms_master_key_id(),
                "provisionedThroughputOverride": override_rcu(r.provisioned_throughput_override()),
                "globalSecondaryIndexes": r.global_secondary_indexes().iter().map(|g| json!({
                    "indexName": g.index_name(),
                    "provisionedThroughputOverride": override_rcu(g.provisioned_throughput_override()),
                })).collect::<Vec<_>>(),
                "replicaInaccessibleDateTime": epoch_ms(r.replica_inaccessible_date_time()),
                "replicaTableClassSummary": class_summary(r.replica_table_class_summary()),
            })
        })
        .collect();
    json!({
        "attributeDefinitions": t.attribute_definitions().iter().map(|a| json!({
            "attributeName": a.attribute_name(),
            "attributeType": name(Some(a.attribute_type())),
        })).collect::<Vec<_>>(),
        "tableName": t.table_name(),
        "keySchema": key_schema(t.key_schema()),
        "tableStatus": name(t.table_status()),
        "creationDateTime": epoch_ms(t.creation_date_time()),
        "provisionedThroughput": throughput(t.provisioned_throughput()),
        "tableSizeBytes": t.table_size_bytes(),
        "itemCount": t.item_count(),
        "tableArn": t.table_arn(),
        "tableId": t.table_id(),
        "billingModeSummary": t.billing_mode_summary().map(|b| json!({
            "billingMode": name(b.billing_mode()),
            "lastUpdateToPayPerRequestDateTime": epoch_ms(b.last_update_to_pay_per_request_date_time()),
        })),
        "localSecondaryIndexes": lsis,
        "globalSecondaryIndexes": gsis,
        "streamSpecification": t.stream_specification().map(|s| json!({
            "streamEnabled": s.stream_enabled(),
            "streamViewType": name(s.stream_view_type()),
        })),
        "latestStreamLabel": t.latest_stream_label(),
        "latestStreamArn": t.latest_stream_arn(),
        "globalTableVersion": t.global_table_version(),
        "replicas": replicas,
        "restoreSummary": t.restore_summary().map(|r| json!({
            "sourceBackupArn": r.source_backup_arn(),
            "sourceTableArn": r.source_table_arn(),
            "restoreDateTime": epoch_ms(Some(r.restore_date_time())),
            "restoreInProgress": r.restore_in_progress(),
        })),
        "ssedescription": t.sse_description().map(|s| json!({
            "status": name(s.status()),
            "ssetype": name(s.sse_type()),
            "kmsmasterKeyArn": s.kms_master_key_arn(),
            "inaccessibleEncryptionDateTime": epoch_ms(s.inaccessible_encryption_date_time()),
        })),
        "archivalSummary": t.archival_summary().map(|a| json!({
            "archivalDateTime": epoch_ms(a.archival_date_time()),
            "archivalReason": a.archival_reason(),
            "archivalBackupArn": a.archival_backup_arn(),
        })),
        "tableClassSummary": class_summary(t.table_class_summary()),
        "deletionProtectionEnabled": t.deletion_protection_enabled(),
    })
}
