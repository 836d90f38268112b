//! RDS DB instances, clusters, subnet groups and snapshots, shaped as AWS Config records
//! them (ci-shapes `AWS_RDS_*`): the Describe output in the Java bean casing AWS Config
//! keeps (`dBInstanceIdentifier`, `iAMDatabaseAuthenticationEnabled`,
//! `dbclusterIdentifier`), the tags both in `configuration.tagList` and, as `[{key,
//! value}]`, in `supplementaryConfiguration.Tags`, a snapshot's restore attribute (public
//! or shared) in `supplementaryConfiguration.DBSnapshotAttributes`.

use crate::reads::{epoch_ms, optional, tags_of, AT_ONCE};
use crate::shape::{dedup, for_each_page, iso, observe, rel, Listing};
use crate::{RegionClients, Service};
use aws_sdk_rds::types::{DbCluster, DbInstance, DbSnapshot, DbSubnetGroup, Filter, Subnet, Tag};
use driftlog_model::{Document, Observed, Relationship};
use driftlog_poll::PollError;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// AWS Config type names of the RDS types this source records.
pub(crate) const DB_INSTANCE: &str = "AWS::RDS::DBInstance";
pub(crate) const DB_CLUSTER: &str = "AWS::RDS::DBCluster";
pub(crate) const DB_SUBNET_GROUP: &str = "AWS::RDS::DBSubnetGroup";
pub(crate) const DB_SNAPSHOT: &str = "AWS::RDS::DBSnapshot";

/// Every RDS type.
pub(crate) const TYPES: &[&str] = &[DB_INSTANCE, DB_CLUSTER, DB_SUBNET_GROUP, DB_SNAPSHOT];

/// RDS's limit on the values of one filter.
const MAX_FILTER_VALUES: usize = 100;

/// Lists one RDS type in one region; `ids` narrows it (by filter where RDS and moto both
/// filter on the id, else after listing).
pub(crate) async fn list(
    c: &RegionClients,
    resource_type: &str,
    ids: Option<&[String]>,
) -> Listing {
    match (resource_type, ids) {
        (DB_INSTANCE | DB_SNAPSHOT, Some(ids)) => {
            let mut out = Listing::default();
            for chunk in ids.chunks(MAX_FILTER_VALUES) {
                let l = list_one(c, resource_type, Some(chunk)).await;
                out.resources.extend(l.resources);
                if let Some(e) = l.error {
                    out.fail(e);
                }
            }
            out
        }
        _ => list_one(c, resource_type, ids).await,
    }
}

async fn list_one(c: &RegionClients, resource_type: &str, ids: Option<&[String]>) -> Listing {
    match resource_type {
        DB_INSTANCE => instances(c, ids).await,
        DB_CLUSTER => clusters(c, ids).await,
        DB_SUBNET_GROUP => subnet_groups(c, ids).await,
        DB_SNAPSHOT => snapshots(c, ids).await,
        other => {
            let mut l = Listing::default();
            l.fail(crate::reads::unsupported(other, "RDS"));
            l
        }
    }
}

fn id_filter(name: &str, ids: Option<&[String]>) -> Option<Vec<Filter>> {
    ids.map(|ids| {
        vec![Filter::builder()
            .name(name)
            .set_values(Some(ids.to_vec()))
            .build()]
    })
}

fn tags(t: &[Tag]) -> (Value, BTreeMap<String, String>) {
    tags_of(t.iter().map(|t| (t.key(), t.value())))
}

fn arn(c: &RegionClients, kind: &str, id: &str) -> String {
    format!(
        "arn:{}:rds:{}:{}:{kind}:{id}",
        crate::shape::partition(&c.region),
        c.region,
        c.account
    )
}

fn subnets(s: &[Subnet]) -> Value {
    s.iter()
        .map(|n| {
            json!({
                "subnetIdentifier": n.subnet_identifier(),
                "subnetAvailabilityZone": n.subnet_availability_zone().map(|z| json!({"name": z.name()})),
                "subnetOutpost": json!({"arn": n.subnet_outpost().and_then(|o| o.arn())}),
                "subnetStatus": n.subnet_status(),
            })
        })
        .collect()
}

/// A subnet group as it appears inside a DB instance (its ARN null there, as in real
/// items) or on its own.
fn subnet_group(g: &DbSubnetGroup, with_arn: bool) -> Value {
    json!({
        "dBSubnetGroupName": g.db_subnet_group_name(),
        "dBSubnetGroupDescription": g.db_subnet_group_description(),
        "vpcId": g.vpc_id(),
        "subnetGroupStatus": g.subnet_group_status(),
        "subnets": subnets(g.subnets()),
        "dBSubnetGroupArn": if with_arn { json!(g.db_subnet_group_arn()) } else { Value::Null },
    })
}

fn vpc_sgs(v: &[aws_sdk_rds::types::VpcSecurityGroupMembership]) -> Value {
    v.iter()
        .map(|g| json!({"vpcSecurityGroupId": g.vpc_security_group_id(), "status": g.status()}))
        .collect()
}

fn processor_features(p: &[aws_sdk_rds::types::ProcessorFeature]) -> Value {
    p.iter()
        .map(|f| json!({"name": f.name(), "value": f.value()}))
        .collect()
}

fn pending_exports(p: Option<&aws_sdk_rds::types::PendingCloudwatchLogsExports>) -> Value {
    p.map_or(Value::Null, |p| {
        json!({
            "logTypesToEnable": p.log_types_to_enable(),
            "logTypesToDisable": p.log_types_to_disable(),
        })
    })
}

/// `supplementaryConfiguration` of a type whose only extra is its tags.
fn tags_only(tag_list: &Value) -> Map<String, Value> {
    let mut sup = Map::new();
    sup.insert("Tags".into(), tag_list.clone());
    sup
}

async fn instances(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let req = c
        .rds
        .describe_db_instances()
        .set_filters(id_filter("dbi-resource-id", ids))
        .max_records(100);
    let err = for_each_page!(
        c.gate(Service::Rds),
        "rds:DescribeDBInstances",
        req,
        |page| {
            for i in page.db_instances() {
                let id = i.dbi_resource_id().unwrap_or_default();
                let doc = instance_doc(c, i);
                out.add(&c.account, &c.region, DB_INSTANCE, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

fn instance_doc(c: &RegionClients, i: &DbInstance) -> Document {
    let name = i.db_instance_identifier().unwrap_or_default();
    let (tag_list, tag_map) = tags(i.tag_list());
    let mut rels: Vec<Relationship> = Vec::new();
    if let Some(g) = i.db_subnet_group().and_then(|g| g.db_subnet_group_name()) {
        rels.push(rel("Is associated with DBSubnetGroup", DB_SUBNET_GROUP, g));
    }
    for g in i.vpc_security_groups() {
        if let Some(id) = g.vpc_security_group_id() {
            rels.push(rel(
                "Is associated with SecurityGroup",
                "AWS::EC2::SecurityGroup",
                id,
            ));
        }
    }
    let pending = i.pending_modified_values().map(|p| {
        json!({
            "dBInstanceClass": p.db_instance_class(),
            "allocatedStorage": p.allocated_storage(),
            "masterUserPassword": p.master_user_password(),
            "port": p.port(),
            "backupRetentionPeriod": p.backup_retention_period(),
            "multiAZ": p.multi_az(),
            "engineVersion": p.engine_version(),
            "licenseModel": p.license_model(),
            "iops": p.iops(),
            "dBInstanceIdentifier": p.db_instance_identifier(),
            "storageType": p.storage_type(),
            "cACertificateIdentifier": p.ca_certificate_identifier(),
            "dBSubnetGroupName": p.db_subnet_group_name(),
            "pendingCloudwatchLogsExports": pending_exports(p.pending_cloudwatch_logs_exports()),
            "processorFeatures": processor_features(p.processor_features()),
            "iAMDatabaseAuthenticationEnabled": p.iam_database_authentication_enabled(),
        })
    });
    let configuration = json!({
        "dBInstanceIdentifier": i.db_instance_identifier(),
        "dBInstanceClass": i.db_instance_class(),
        "engine": i.engine(),
        "dBInstanceStatus": i.db_instance_status(),
        "masterUsername": i.master_username(),
        "dBName": i.db_name(),
        "endpoint": i.endpoint().map(|e| json!({"address": e.address(), "port": e.port(), "hostedZoneId": e.hosted_zone_id()})),
        "allocatedStorage": i.allocated_storage(),
        "instanceCreateTime": iso(i.instance_create_time()),
        "preferredBackupWindow": i.preferred_backup_window(),
        "backupRetentionPeriod": i.backup_retention_period(),
        "dBSecurityGroups": i.db_security_groups().iter().map(|g| json!({"dBSecurityGroupName": g.db_security_group_name(), "status": g.status()})).collect::<Vec<_>>(),
        "vpcSecurityGroups": vpc_sgs(i.vpc_security_groups()),
        "dBParameterGroups": i.db_parameter_groups().iter().map(|g| json!({"dBParameterGroupName": g.db_parameter_group_name(), "parameterApplyStatus": g.parameter_apply_status()})).collect::<Vec<_>>(),
        "availabilityZone": i.availability_zone(),
        "dBSubnetGroup": i.db_subnet_group().map(|g| subnet_group(g, false)),
        "preferredMaintenanceWindow": i.preferred_maintenance_window(),
        "pendingModifiedValues": pending,
        "latestRestorableTime": iso(i.latest_restorable_time()),
        "multiAZ": i.multi_az(),
        "engineVersion": i.engine_version(),
        "autoMinorVersionUpgrade": i.auto_minor_version_upgrade(),
        "readReplicaSourceDBInstanceIdentifier": i.read_replica_source_db_instance_identifier(),
        "readReplicaDBInstanceIdentifiers": i.read_replica_db_instance_identifiers(),
        "readReplicaDBClusterIdentifiers": i.read_replica_db_cluster_identifiers(),
        "replicaMode": i.replica_mode().map(|m| m.as_str()),
        "licenseModel": i.license_model(),
        "iops": i.iops(),
        "optionGroupMemberships": i.option_group_memberships().iter().map(|g| json!({"optionGroupName": g.option_group_name(), "status": g.status()})).collect::<Vec<_>>(),
        "characterSetName": i.character_set_name(),
        "ncharCharacterSetName": i.nchar_character_set_name(),
        "secondaryAvailabilityZone": i.secondary_availability_zone(),
        "publiclyAccessible": i.publicly_accessible(),
        "statusInfos": i.status_infos().iter().map(|s| json!({"statusType": s.status_type(), "normal": s.normal(), "status": s.status(), "message": s.message()})).collect::<Vec<_>>(),
        "storageType": i.storage_type(),
        "tdeCredentialArn": i.tde_credential_arn(),
        "dbInstancePort": i.db_instance_port(),
        "dBClusterIdentifier": i.db_cluster_identifier(),
        "storageEncrypted": i.storage_encrypted(),
        "kmsKeyId": i.kms_key_id(),
        "dbiResourceId": i.dbi_resource_id(),
        "cACertificateIdentifier": i.ca_certificate_identifier(),
        "domainMemberships": i.domain_memberships().iter().map(|d| json!({"domain": d.domain(), "status": d.status(), "fQDN": d.fqdn(), "iAMRoleName": d.iam_role_name()})).collect::<Vec<_>>(),
        "copyTagsToSnapshot": i.copy_tags_to_snapshot(),
        "monitoringInterval": i.monitoring_interval(),
        "enhancedMonitoringResourceArn": i.enhanced_monitoring_resource_arn(),
        "monitoringRoleArn": i.monitoring_role_arn(),
        "promotionTier": i.promotion_tier(),
        "dBInstanceArn": i.db_instance_arn(),
        "timezone": i.timezone(),
        "iAMDatabaseAuthenticationEnabled": i.iam_database_authentication_enabled(),
        "performanceInsightsEnabled": i.performance_insights_enabled(),
        "performanceInsightsKMSKeyId": i.performance_insights_kms_key_id(),
        "performanceInsightsRetentionPeriod": i.performance_insights_retention_period(),
        "enabledCloudwatchLogsExports": i.enabled_cloudwatch_logs_exports(),
        "processorFeatures": processor_features(i.processor_features()),
        "deletionProtection": i.deletion_protection(),
        "associatedRoles": i.associated_roles().iter().map(|r| json!({"roleArn": r.role_arn(), "featureName": r.feature_name(), "status": r.status()})).collect::<Vec<_>>(),
        "listenerEndpoint": i.listener_endpoint().map(|e| json!({"address": e.address(), "port": e.port(), "hostedZoneId": e.hosted_zone_id()})),
        "maxAllocatedStorage": i.max_allocated_storage(),
        "tagList": tag_list,
        "dBInstanceAutomatedBackupsReplications": i.db_instance_automated_backups_replications().iter().map(|r| json!({"dBInstanceAutomatedBackupsArn": r.db_instance_automated_backups_arn()})).collect::<Vec<_>>(),
        "customerOwnedIpEnabled": i.customer_owned_ip_enabled(),
        "awsBackupRecoveryPointArn": i.aws_backup_recovery_point_arn(),
    });
    let db_arn = i
        .db_instance_arn()
        .map(str::to_string)
        .unwrap_or_else(|| arn(c, "db", name));
    Document {
        arn: Some(db_arn),
        resource_name: Some(name.to_string()),
        availability_zone: i.availability_zone().map(str::to_string),
        resource_creation_time: iso(i.instance_create_time()).as_str().map(str::to_string),
        tags: tag_map,
        relationships: dedup(rels),
        supplementary_configuration: tags_only(&configuration["tagList"]),
        configuration,
    }
}

async fn clusters(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    // Narrowed after listing: moto does not filter on db-cluster-resource-id.
    let req = c.rds.describe_db_clusters().max_records(100);
    let err = for_each_page!(
        c.gate(Service::Rds),
        "rds:DescribeDBClusters",
        req,
        |page| {
            for k in page.db_clusters() {
                let id = k.db_cluster_resource_id().unwrap_or_default();
                if ids.is_some_and(|ids| !ids.iter().any(|i| i == id)) {
                    continue;
                }
                let doc = cluster_doc(c, k);
                out.add(&c.account, &c.region, DB_CLUSTER, id, &doc);
            }
        }
    );
    out.ended_by(err)
}

/// A relationship AWS Config records by name only (its resourceId null, read as empty).
fn by_name(name: &str, resource_type: &str, target: &str) -> Relationship {
    Relationship {
        resource_id: String::new(),
        resource_name: Some(target.to_string()),
        resource_type: resource_type.to_string(),
        name: name.to_string(),
    }
}

fn cluster_doc(c: &RegionClients, k: &DbCluster) -> Document {
    let name = k.db_cluster_identifier().unwrap_or_default();
    let (tag_list, tag_map) = tags(k.tag_list());
    let mut rels: Vec<Relationship> = Vec::new();
    if let Some(g) = k.db_subnet_group() {
        rels.push(by_name("Is associated with ", DB_SUBNET_GROUP, g));
    }
    for g in k.vpc_security_groups() {
        if let Some(id) = g.vpc_security_group_id() {
            rels.push(rel("Is associated with ", "AWS::EC2::SecurityGroup", id));
        }
    }
    for m in k.db_cluster_members() {
        if let Some(i) = m.db_instance_identifier() {
            rels.push(by_name("Contains ", DB_INSTANCE, i));
        }
    }
    let members: Value = k
        .db_cluster_members()
        .iter()
        .map(|m| {
            json!({
                "isClusterWriter": m.is_cluster_writer(),
                "promotionTier": m.promotion_tier(),
                "dbinstanceIdentifier": m.db_instance_identifier(),
                "clusterWriter": m.is_cluster_writer(),
                "dbclusterParameterGroupStatus": m.db_cluster_parameter_group_status(),
            })
        })
        .collect();
    let pending = k.pending_modified_values().map(|p| {
        json!({
            "dbclusterIdentifier": p.db_cluster_identifier(),
            "engineVersion": p.engine_version(),
            "iamdatabaseAuthenticationEnabled": p.iam_database_authentication_enabled(),
            "masterUserPassword": p.master_user_password(),
            "pendingCloudwatchLogsExports": pending_exports(p.pending_cloudwatch_logs_exports()),
        })
    });
    let configuration = json!({
        "allocatedStorage": k.allocated_storage(),
        "availabilityZones": k.availability_zones(),
        "backupRetentionPeriod": k.backup_retention_period(),
        "databaseName": k.database_name(),
        "status": k.status(),
        "endpoint": k.endpoint(),
        "readerEndpoint": k.reader_endpoint(),
        "customEndpoints": k.custom_endpoints(),
        "multiAZ": k.multi_az(),
        "engine": k.engine(),
        "engineVersion": k.engine_version(),
        "port": k.port(),
        "masterUsername": k.master_username(),
        "preferredBackupWindow": k.preferred_backup_window(),
        "preferredMaintenanceWindow": k.preferred_maintenance_window(),
        "replicationSourceIdentifier": k.replication_source_identifier(),
        "readReplicaIdentifiers": k.read_replica_identifiers(),
        "vpcSecurityGroups": vpc_sgs(k.vpc_security_groups()),
        "hostedZoneId": k.hosted_zone_id(),
        "storageEncrypted": k.storage_encrypted(),
        "kmsKeyId": k.kms_key_id(),
        "dbClusterResourceId": k.db_cluster_resource_id(),
        "associatedRoles": k.associated_roles().iter().map(|r| json!({"roleArn": r.role_arn(), "status": r.status(), "featureName": r.feature_name()})).collect::<Vec<_>>(),
        "cloneGroupId": k.clone_group_id(),
        "clusterCreateTime": epoch_ms(k.cluster_create_time()),
        "earliestBacktrackTime": epoch_ms(k.earliest_backtrack_time()),
        "backtrackWindow": k.backtrack_window(),
        "backtrackConsumedChangeRecords": k.backtrack_consumed_change_records(),
        "enabledCloudwatchLogsExports": k.enabled_cloudwatch_logs_exports(),
        "capacity": k.capacity(),
        "pendingModifiedValues": pending,
        "engineMode": k.engine_mode(),
        "scalingConfigurationInfo": k.scaling_configuration_info().map(|s| json!({
            "minCapacity": s.min_capacity(),
            "maxCapacity": s.max_capacity(),
            "autoPause": s.auto_pause(),
            "secondsUntilAutoPause": s.seconds_until_auto_pause(),
            "timeoutAction": s.timeout_action(),
            "secondsBeforeTimeout": s.seconds_before_timeout(),
        })),
        "dbclusterInstanceClass": k.db_cluster_instance_class(),
        "storageType": k.storage_type(),
        "iops": k.iops(),
        "publiclyAccessible": k.publicly_accessible(),
        "deletionProtection": k.deletion_protection(),
        "httpEndpointEnabled": k.http_endpoint_enabled(),
        "activityStreamMode": k.activity_stream_mode().map(|m| m.as_str()),
        "activityStreamStatus": k.activity_stream_status().map(|m| m.as_str()),
        "activityStreamKmsKeyId": k.activity_stream_kms_key_id(),
        "activityStreamKinesisStreamName": k.activity_stream_kinesis_stream_name(),
        "copyTagsToSnapshot": k.copy_tags_to_snapshot(),
        "crossAccountClone": k.cross_account_clone(),
        "domainMemberships": k.domain_memberships().iter().map(|d| json!({"domain": d.domain(), "status": d.status(), "fqdn": d.fqdn(), "iamroleName": d.iam_role_name()})).collect::<Vec<_>>(),
        "tagList": tag_list,
        "globalWriteForwardingStatus": k.global_write_forwarding_status().map(|m| m.as_str()),
        "globalWriteForwardingRequested": k.global_write_forwarding_requested(),
        "networkType": k.network_type(),
        "automaticRestartTime": epoch_ms(k.automatic_restart_time()),
        "serverlessV2ScalingConfiguration": k.serverless_v2_scaling_configuration().map(|s| json!({
            "minCapacity": s.min_capacity(),
            "maxCapacity": s.max_capacity(),
        })),
        "monitoringInterval": k.monitoring_interval(),
        "monitoringRoleArn": k.monitoring_role_arn(),
        "performanceInsightsEnabled": k.performance_insights_enabled(),
        "performanceInsightsKMSKeyId": k.performance_insights_kms_key_id(),
        "performanceInsightsRetentionPeriod": k.performance_insights_retention_period(),
        "percentProgress": k.percent_progress(),
        "autoMinorVersionUpgrade": k.auto_minor_version_upgrade(),
        "dbclusterIdentifier": k.db_cluster_identifier(),
        "iamdatabaseAuthenticationEnabled": k.iam_database_authentication_enabled(),
        "dbsubnetGroup": k.db_subnet_group(),
        "dbclusterOptionGroupMemberships": k.db_cluster_option_group_memberships().iter().map(|g| json!({"dbclusterOptionGroupName": g.db_cluster_option_group_name(), "status": g.status()})).collect::<Vec<_>>(),
        "dbclusterParameterGroup": k.db_cluster_parameter_group(),
        "dbclusterMembers": members,
        "dbclusterArn": k.db_cluster_arn(),
    });
    let cluster_arn = k
        .db_cluster_arn()
        .map(str::to_string)
        .unwrap_or_else(|| arn(c, "cluster", name));
    Document {
        arn: Some(cluster_arn),
        resource_name: Some(name.to_string()),
        availability_zone: Some("Multiple Availability Zones".into()),
        resource_creation_time: iso(k.cluster_create_time()).as_str().map(str::to_string),
        tags: tag_map,
        relationships: dedup(rels),
        supplementary_configuration: tags_only(&configuration["tagList"]),
        configuration,
    }
}

async fn subnet_groups(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut groups: Vec<DbSubnetGroup> = Vec::new();
    let req = c.rds.describe_db_subnet_groups().max_records(100);
    let err = for_each_page!(
        c.gate(Service::Rds),
        "rds:DescribeDBSubnetGroups",
        req,
        |page| {
            groups.extend(
                page.db_subnet_groups()
                    .iter()
                    .filter(|g| {
                        let n = g.db_subnet_group_name().unwrap_or_default();
                        ids.is_none_or(|ids| ids.iter().any(|i| i == n))
                    })
                    .cloned(),
            );
        }
    );
    if let Some(e) = err {
        out.fail(e);
    }
    // DescribeDBSubnetGroups gives no tags: one ListTagsForResource per group.
    let results: Vec<Result<Option<Observed>, PollError>> = stream::iter(
        groups
            .iter()
            .map(|g| subnet_group_item(c, g))
            .collect::<Vec<_>>(),
    )
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

async fn subnet_group_item(
    c: &RegionClients,
    g: &DbSubnetGroup,
) -> Result<Option<Observed>, PollError> {
    let name = g.db_subnet_group_name().unwrap_or_default();
    let group_arn = g
        .db_subnet_group_arn()
        .map(str::to_string)
        .unwrap_or_else(|| arn(c, "subgrp", name));
    let Some(listed) = optional(
        c.gate(Service::Rds),
        "rds:ListTagsForResource",
        c.rds
            .list_tags_for_resource()
            .resource_name(&group_arn)
            .send(),
        &["DBSubnetGroupNotFoundFault"],
    )
    .await?
    else {
        return Ok(None);
    };
    let (tag_list, tag_map) = tags(listed.tag_list());
    let mut rels = Vec::new();
    if let Some(v) = g.vpc_id() {
        rels.push(rel("Is contained in Vpc", "AWS::EC2::VPC", v));
    }
    for s in g.subnets() {
        if let Some(id) = s.subnet_identifier() {
            rels.push(rel("Contains Subnet", "AWS::EC2::Subnet", id));
        }
    }
    let mut configuration = subnet_group(g, true);
    configuration["supportedNetworkTypes"] = json!(g.supported_network_types());
    let doc = Document {
        arn: Some(group_arn),
        resource_name: Some(name.to_string()),
        availability_zone: Some("Multiple Availability Zones".into()),
        resource_creation_time: None,
        tags: tag_map,
        relationships: dedup(rels),
        configuration,
        supplementary_configuration: tags_only(&tag_list),
    };
    Ok(Some(observe(
        &c.account,
        &c.region,
        DB_SUBNET_GROUP,
        name,
        &doc,
    )))
}

async fn snapshots(c: &RegionClients, ids: Option<&[String]>) -> Listing {
    let mut out = Listing::default();
    let mut found: Vec<DbSnapshot> = Vec::new();
    let req = c
        .rds
        .describe_db_snapshots()
        .set_filters(id_filter("db-snapshot-id", ids))
        .max_records(100);
    let err = for_each_page!(
        c.gate(Service::Rds),
        "rds:DescribeDBSnapshots",
        req,
        |page| {
            found.extend(page.db_snapshots().iter().cloned());
        }
    );
    if let Some(e) = err {
        out.fail(e);
    }
    // Who may restore a snapshot (public, shared) is one DescribeDBSnapshotAttributes each.
    let results: Vec<Result<Option<Observed>, PollError>> = stream::iter(
        found
            .iter()
            .map(|s| snapshot_item(c, s))
            .collect::<Vec<_>>(),
    )
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

async fn snapshot_item(c: &RegionClients, s: &DbSnapshot) -> Result<Option<Observed>, PollError> {
    let id = s.db_snapshot_identifier().unwrap_or_default();
    // Gone since the listing: absent.
    let Some(attrs) = optional(
        c.gate(Service::Rds),
        "rds:DescribeDBSnapshotAttributes",
        c.rds
            .describe_db_snapshot_attributes()
            .db_snapshot_identifier(id)
            .send(),
        &["DBSnapshotNotFound", "DBSnapshotNotFoundFault"],
    )
    .await?
    else {
        return Ok(None);
    };
    let attributes: Value = attrs
        .db_snapshot_attributes_result()
        .map(|r| {
            r.db_snapshot_attributes()
                .iter()
                .map(|a| json!({"attributeName": a.attribute_name(), "attributeValues": a.attribute_values()}))
                .collect()
        })
        .unwrap_or_else(|| json!([]));
    let (tag_list, tag_map) = tags(s.tag_list());
    let mut rels = Vec::new();
    if let Some(v) = s.vpc_id() {
        rels.push(rel("Is associated with Vpc", "AWS::EC2::VPC", v));
    }
    let configuration = json!({
        "dBSnapshotIdentifier": s.db_snapshot_identifier(),
        "dBInstanceIdentifier": s.db_instance_identifier(),
        "snapshotCreateTime": iso(s.snapshot_create_time()),
        "engine": s.engine(),
        "allocatedStorage": s.allocated_storage(),
        "status": s.status(),
        "port": s.port(),
        "availabilityZone": s.availability_zone(),
        "vpcId": s.vpc_id(),
        "instanceCreateTime": iso(s.instance_create_time()),
        "masterUsername": s.master_username(),
        "engineVersion": s.engine_version(),
        "licenseModel": s.license_model(),
        "snapshotType": s.snapshot_type(),
        "iops": s.iops(),
        "optionGroupName": s.option_group_name(),
        "percentProgress": s.percent_progress(),
        "sourceRegion": s.source_region(),
        "sourceDBSnapshotIdentifier": s.source_db_snapshot_identifier(),
        "storageType": s.storage_type(),
        "tdeCredentialArn": s.tde_credential_arn(),
        "encrypted": s.encrypted(),
        "kmsKeyId": s.kms_key_id(),
        "dBSnapshotArn": s.db_snapshot_arn(),
        "timezone": s.timezone(),
        "iAMDatabaseAuthenticationEnabled": s.iam_database_authentication_enabled(),
        "processorFeatures": processor_features(s.processor_features()),
        "dbiResourceId": s.dbi_resource_id(),
        "tagList": tag_list,
    });
    let mut sup = tags_only(&configuration["tagList"]);
    sup.insert("DBSnapshotAttributes".into(), attributes);
    let snap_arn = s
        .db_snapshot_arn()
        .map(str::to_string)
        .unwrap_or_else(|| arn(c, "snapshot", id));
    let doc = Document {
        arn: Some(snap_arn),
        resource_name: Some(id.to_string()),
        availability_zone: s.availability_zone().map(str::to_string),
        resource_creation_time: iso(s.snapshot_create_time()).as_str().map(str::to_string),
        tags: tag_map,
        relationships: rels,
        configuration,
        supplementary_configuration: sup,
    };
    Ok(Some(observe(&c.account, &c.region, DB_SNAPSHOT, id, &doc)))
}
