//! RDS DB instances, clusters, subnet groups and snapshots in AWS Config's shape (reference
//! items `AWS_RDS_*.json`): the SDK v1 bean casing with its quirks (`dBInstanceIdentifier`,
//! `dbclusterIdentifier`), tags both in `configuration.tagList` and in
//! `supplementaryConfiguration.Tags`, qualified relationship names for instances and subnet
//! groups and the unqualified ones (trailing space, by name) for clusters.

use super::svc::Svc;
use super::tmpl::{put, template};
use super::{object_mut, rel, tag_list, Tags, Top};
use crate::ids::{self, iso};
use crate::topology::{SgTopo, SubnetTopo};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::{json, Value};

const IN_VPC: &str = "Is contained in Vpc";
const HAS_SUBNET: &str = "Contains Subnet";
/// Relationship from a DB instance to its subnet group (by name).
pub(crate) const TO_SUBNET_GROUP: &str = "Is associated with DBSubnetGroup";
const WITH_SG: &str = "Is associated with SecurityGroup";
const SNAPSHOT_VPC: &str = "Is associated with Vpc";
/// The cluster's unqualified relationship names.
const CLUSTER_ASSOC: &str = "Is associated with ";
const CLUSTER_CONTAINS: &str = "Contains ";
const UPPER: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn rds_arn(at: Svc<'_>, kind: &str, name: &str) -> String {
    at.arn("rds", &format!("{kind}:{name}"))
}

/// `db-` or `cluster-` and 26 upper-case alphanumerics, as RDS names its resource ids.
pub(crate) fn resource_id(rng: &mut Rng, prefix: &str) -> String {
    let mut s = String::from(prefix);
    for _ in 0..26 {
        s.push(char::from(UPPER[rng.usize(..UPPER.len())]));
    }
    s
}

/// The members of a subnet group as RDS lists them (inside the group and inside each DB
/// instance).
fn subnet_members(at: Svc<'_>, subnets: &[&SubnetTopo]) -> Value {
    Value::Array(
        subnets
            .iter()
            .map(|s| {
                json!({
                    "subnetIdentifier": s.id,
                    "subnetAvailabilityZone": {"name": ids::az(at.region, s.az_index)},
                    "subnetOutpost": {"arn": null},
                    "subnetStatus": "Active",
                })
            })
            .collect(),
    )
}

/// A DB subnet group: what DB instances and clusters of one VPC share.
pub(crate) struct SubnetGroupSpec<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub vpc_id: &'a str,
    pub subnets: &'a [&'a SubnetTopo],
}

pub(crate) fn subnet_group(
    at: Svc<'_>,
    g: &SubnetGroupSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = rds_arn(at, "subgrp", g.name);
    let (mut c, mut supp) = template("RDS_DBSubnetGroup");
    put(&mut c, "/dBSubnetGroupName", g.name);
    put(&mut c, "/dBSubnetGroupDescription", g.description);
    put(&mut c, "/vpcId", g.vpc_id);
    put(&mut c, "/subnets", subnet_members(at, g.subnets));
    put(&mut c, "/dBSubnetGroupArn", arn.clone());
    supp.insert("Tags".into(), tag_list(tags));
    let mut rels = vec![rel(IN_VPC, types::VPC, g.vpc_id, None)];
    rels.extend(
        g.subnets
            .iter()
            .map(|s| rel(HAS_SUBNET, types::SUBNET, &s.id, None)),
    );
    let doc = Top {
        arn,
        name: Some(g.name),
        az: "Multiple Availability Zones",
        created: None,
        tags,
        relationships: rels,
    }
    .build(c, supp);
    (at.key(types::DB_SUBNET_GROUP, g.name), doc)
}

/// What a DB instance depends on.
pub(crate) struct InstanceSpec<'a> {
    pub identifier: &'a str,
    pub group: &'a SubnetGroupSpec<'a>,
    pub sgs: &'a [&'a SgTopo],
    pub kms: &'a str,
    pub az_index: usize,
    pub created_ms: i64,
    pub public: bool,
    /// The cluster it belongs to (Aurora), if any.
    pub cluster: Option<&'a str>,
}

/// A DB instance and the resource id it is recorded under.
pub(crate) fn db_instance(
    rng: &mut Rng,
    at: Svc<'_>,
    d: &InstanceSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let dbi = resource_id(rng, "db-");
    let arn = rds_arn(at, "db", d.identifier);
    let az = ids::az(at.region, d.az_index);
    let created = iso(d.created_ms);
    let aurora = d.cluster.is_some();
    let (engine, version, port) = if aurora {
        ("aurora-postgresql", "15.4", 5432)
    } else {
        *ids::pick(
            rng,
            &[
                ("postgres", "15.5", 5432),
                ("mysql", "8.0.35", 3306),
                ("postgres", "16.2", 5432),
            ],
        )
        .unwrap_or(&("postgres", "15.5", 5432))
    };
    let multi_az = !aurora && rng.bool();
    let (mut c, mut supp) = template("RDS_DBInstance");
    let base = d.identifier.split('-').next().unwrap_or("app");
    put(&mut c, "/dBInstanceIdentifier", d.identifier);
    put(
        &mut c,
        "/dBInstanceClass",
        ids::word(rng, &["db.t4g.medium", "db.r6g.large", "db.m6g.xlarge"]),
    );
    put(&mut c, "/engine", engine);
    put(&mut c, "/masterUsername", format!("{base}_admin"));
    put(&mut c, "/dBName", base);
    put(
        &mut c,
        "/endpoint/address",
        format!(
            "{}.c{}.{}.rds.amazonaws.com",
            d.identifier,
            ids::hex(rng, 11),
            at.region
        ),
    );
    put(&mut c, "/endpoint/port", port);
    put(
        &mut c,
        "/allocatedStorage",
        if aurora {
            1
        } else {
            *ids::pick(rng, &[20, 50, 100, 200]).unwrap_or(&100)
        },
    );
    put(&mut c, "/instanceCreateTime", created.clone());
    put(
        &mut c,
        "/backupRetentionPeriod",
        *ids::pick(rng, &[1, 7, 14, 35]).unwrap_or(&7),
    );
    put(
        &mut c,
        "/vpcSecurityGroups",
        json!(d
            .sgs
            .iter()
            .map(|g| json!({"vpcSecurityGroupId": g.id, "status": "active"}))
            .collect::<Vec<_>>()),
    );
    put(
        &mut c,
        "/dBParameterGroups/0/dBParameterGroupName",
        format!(
            "default.{engine}{}",
            version.split('.').next().unwrap_or("15")
        ),
    );
    put(&mut c, "/availabilityZone", az.clone());
    put(&mut c, "/dBSubnetGroup/dBSubnetGroupName", d.group.name);
    put(
        &mut c,
        "/dBSubnetGroup/dBSubnetGroupDescription",
        d.group.description,
    );
    put(&mut c, "/dBSubnetGroup/vpcId", d.group.vpc_id);
    put(
        &mut c,
        "/dBSubnetGroup/subnets",
        subnet_members(at, d.group.subnets),
    );
    put(
        &mut c,
        "/latestRestorableTime",
        iso(d.created_ms.max(0) / 300_000 * 300_000),
    );
    put(&mut c, "/multiAZ", multi_az);
    put(&mut c, "/engineVersion", version);
    put(
        &mut c,
        "/licenseModel",
        if engine == "mysql" {
            "general-public-license"
        } else {
            "postgresql-license"
        },
    );
    put(&mut c, "/iops", json!((!aurora).then_some(3000)));
    put(
        &mut c,
        "/optionGroupMemberships/0/optionGroupName",
        format!(
            "default:{engine}-{}",
            version.split('.').next().unwrap_or("15")
        ),
    );
    put(
        &mut c,
        "/secondaryAvailabilityZone",
        json!(multi_az.then(|| ids::az(at.region, d.az_index + 1))),
    );
    put(&mut c, "/publiclyAccessible", d.public);
    put(
        &mut c,
        "/storageType",
        if aurora { "aurora" } else { "gp3" },
    );
    put(&mut c, "/dBClusterIdentifier", json!(d.cluster));
    put(&mut c, "/kmsKeyId", d.kms);
    put(&mut c, "/dbiResourceId", dbi.clone());
    put(
        &mut c,
        "/enhancedMonitoringResourceArn",
        at.arn("logs", &format!("log-group:RDSOSMetrics:log-stream:{dbi}")),
    );
    put(
        &mut c,
        "/monitoringRoleArn",
        format!("arn:aws:iam::{}:role/rds-monitoring-role", at.account),
    );
    put(&mut c, "/promotionTier", json!(aurora.then_some(1)));
    put(&mut c, "/dBInstanceArn", arn.clone());
    put(&mut c, "/performanceInsightsKMSKeyId", d.kms);
    put(
        &mut c,
        "/enabledCloudwatchLogsExports",
        json!(if engine == "mysql" {
            vec!["error", "slowquery"]
        } else {
            vec!["postgresql", "upgrade"]
        }),
    );
    put(&mut c, "/deletionProtection", rng.u8(..3) != 0);
    put(
        &mut c,
        "/associatedRoles/0/roleArn",
        format!("arn:aws:iam::{}:role/{base}-db-s3-import", at.account),
    );
    if rng.u8(..4) != 0 {
        put(&mut c, "/associatedRoles", json!([]));
    }
    if rng.u8(..5) != 0 {
        put(&mut c, "/domainMemberships", json!([]));
    }
    if rng.u8(..3) != 0 {
        put(&mut c, "/dBInstanceAutomatedBackupsReplications", json!([]));
    } else {
        put(
            &mut c,
            "/dBInstanceAutomatedBackupsReplications/0/dBInstanceAutomatedBackupsArn",
            format!(
                "arn:aws:rds:eu-central-1:{}:auto-backup:ab-{}",
                at.account,
                dbi.trim_start_matches("db-").to_ascii_lowercase()
            ),
        );
    }
    put(
        &mut c,
        "/maxAllocatedStorage",
        json!((!aurora).then_some(500)),
    );
    put(&mut c, "/tagList", tag_list(tags));
    supp.insert("Tags".into(), tag_list(tags));
    let mut rels = vec![rel(
        TO_SUBNET_GROUP,
        types::DB_SUBNET_GROUP,
        d.group.name,
        None,
    )];
    rels.extend(
        d.sgs
            .iter()
            .map(|g| rel(WITH_SG, types::SECURITY_GROUP, &g.id, None)),
    );
    let doc = Top {
        arn,
        name: Some(d.identifier),
        az: &az,
        created: Some(created),
        tags,
        relationships: rels,
    }
    .build(c, supp);
    (at.key(types::DB_INSTANCE, &dbi), doc)
}

/// Makes a DB instance publicly accessible or private again.
pub(crate) fn set_public(v: &mut Value, public: bool) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    if c.get("publiclyAccessible").and_then(Value::as_bool) == Some(public)
        || !c.contains_key("publiclyAccessible")
    {
        return false;
    }
    c.insert("publiclyAccessible".into(), public.into());
    true
}

/// Changes backup retention (an ordinary change).
pub(crate) fn set_backup_retention(v: &mut Value, days: u32) -> bool {
    let Some(c) = object_mut(v, &["configuration"]) else {
        return false;
    };
    let key = if c.contains_key("backupRetentionPeriod") {
        "backupRetentionPeriod"
    } else {
        return false;
    };
    if c.get(key).and_then(Value::as_u64) == Some(u64::from(days)) {
        return false;
    }
    c.insert(key.into(), days.into());
    true
}

/// The member instances' identifiers: what the cluster's `Contains ` edges name.
pub(crate) struct ClusterSpec<'a> {
    pub identifier: &'a str,
    pub group: &'a SubnetGroupSpec<'a>,
    pub sgs: &'a [&'a SgTopo],
    pub kms: &'a str,
    pub members: &'a [String],
    pub created_ms: i64,
}

pub(crate) fn db_cluster(
    rng: &mut Rng,
    at: Svc<'_>,
    d: &ClusterSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let rid = resource_id(rng, "cluster-");
    let arn = rds_arn(at, "cluster", d.identifier);
    let created = d.created_ms.div_euclid(1000) * 1000 + rng.i64(0..1000);
    let host = ids::hex(rng, 12);
    let base = d.identifier.split('-').next().unwrap_or("app");
    let (mut c, mut supp) = template("RDS_DBCluster");
    let zones: Vec<String> = (0..3).map(|i| ids::az(at.region, i)).collect();
    put(&mut c, "/availabilityZones", json!(zones));
    put(&mut c, "/databaseName", base);
    put(
        &mut c,
        "/endpoint",
        format!(
            "{}.cluster-{host}.{}.rds.amazonaws.com",
            d.identifier, at.region
        ),
    );
    put(
        &mut c,
        "/readerEndpoint",
        format!(
            "{}.cluster-ro-{host}.{}.rds.amazonaws.com",
            d.identifier, at.region
        ),
    );
    put(&mut c, "/masterUsername", format!("{base}_admin"));
    put(
        &mut c,
        "/vpcSecurityGroups",
        json!(d
            .sgs
            .iter()
            .map(|g| json!({"vpcSecurityGroupId": g.id, "status": "active"}))
            .collect::<Vec<_>>()),
    );
    put(&mut c, "/kmsKeyId", d.kms);
    put(&mut c, "/dbClusterResourceId", rid.clone());
    put(
        &mut c,
        "/associatedRoles/0/roleArn",
        format!("arn:aws:iam::{}:role/{base}-aurora-s3-export", at.account),
    );
    put(&mut c, "/clusterCreateTime", created);
    put(&mut c, "/performanceInsightsKMSKeyId", d.kms);
    put(&mut c, "/deletionProtection", rng.u8(..3) != 0);
    put(&mut c, "/tagList", tag_list(tags));
    put(&mut c, "/dbclusterIdentifier", d.identifier);
    put(&mut c, "/dbsubnetGroup", d.group.name);
    let members: Vec<Value> = d
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"isClusterWriter": i == 0, "promotionTier": 1, "dbinstanceIdentifier": m, "clusterWriter": i == 0, "dbclusterParameterGroupStatus": "in-sync"}))
        .collect();
    put(&mut c, "/dbclusterMembers", Value::Array(members));
    put(&mut c, "/dbclusterArn", arn.clone());
    supp.insert("Tags".into(), tag_list(tags));
    let by_name = |ty: &str, name: &str, rel_name: &str| json!({"resourceId": null, "resourceName": name, "resourceType": ty, "name": rel_name});
    let mut rels = vec![by_name(types::DB_SUBNET_GROUP, d.group.name, CLUSTER_ASSOC)];
    rels.extend(
        d.sgs
            .iter()
            .map(|g| rel(CLUSTER_ASSOC, types::SECURITY_GROUP, &g.id, None)),
    );
    rels.extend(
        d.members
            .iter()
            .map(|m| by_name(types::DB_INSTANCE, m, CLUSTER_CONTAINS)),
    );
    let doc = Top {
        arn,
        name: Some(d.identifier),
        az: "Multiple Availability Zones",
        created: Some(iso(created)),
        tags,
        relationships: rels,
    }
    .build(c, supp);
    (at.key(types::DB_CLUSTER, &rid), doc)
}

/// What a snapshot copies from its instance.
pub(crate) struct SnapshotSpec<'a> {
    pub identifier: &'a str,
    pub instance: &'a str,
    pub dbi: &'a str,
    pub vpc_id: &'a str,
    pub az_index: usize,
    pub kms: &'a str,
    pub instance_created_ms: i64,
    pub created_ms: i64,
    pub automated: bool,
    /// Shared with everyone (`restore` = `all`).
    pub public: bool,
}

pub(crate) fn snapshot(
    rng: &mut Rng,
    at: Svc<'_>,
    s: &SnapshotSpec<'_>,
    tags: &Tags,
) -> (ResourceKey, Value) {
    let arn = rds_arn(at, "snapshot", s.identifier);
    let az = ids::az(at.region, s.az_index);
    let created = iso(s.created_ms);
    let (mut c, mut supp) = template("RDS_DBSnapshot");
    put(&mut c, "/dBSnapshotIdentifier", s.identifier);
    put(&mut c, "/dBInstanceIdentifier", s.instance);
    put(&mut c, "/snapshotCreateTime", created.clone());
    put(
        &mut c,
        "/allocatedStorage",
        *ids::pick(rng, &[20, 50, 100, 200]).unwrap_or(&100),
    );
    put(&mut c, "/availabilityZone", az.clone());
    put(&mut c, "/vpcId", s.vpc_id);
    put(&mut c, "/instanceCreateTime", iso(s.instance_created_ms));
    put(
        &mut c,
        "/masterUsername",
        format!("{}_admin", s.instance.split('-').next().unwrap_or("app")),
    );
    put(
        &mut c,
        "/snapshotType",
        if s.automated { "automated" } else { "manual" },
    );
    put(&mut c, "/kmsKeyId", s.kms);
    put(&mut c, "/dBSnapshotArn", arn.clone());
    put(&mut c, "/dbiResourceId", s.dbi);
    put(&mut c, "/tagList", tag_list(tags));
    supp.insert("DBSnapshotAttributes".into(), attributes(s.public));
    supp.insert("Tags".into(), tag_list(tags));
    let doc = Top {
        arn,
        name: Some(s.identifier),
        az: &az,
        created: Some(created),
        tags,
        relationships: vec![rel(SNAPSHOT_VPC, types::VPC, s.vpc_id, None)],
    }
    .build(c, supp);
    (at.key(types::DB_SNAPSHOT, s.identifier), doc)
}

fn attributes(public: bool) -> Value {
    let values: Vec<&str> = if public { vec!["all"] } else { Vec::new() };
    json!([{"attributeName": "restore", "attributeValues": values}])
}

/// Shares a snapshot with everyone, or stops sharing it.
pub(crate) fn set_snapshot_public(v: &mut Value, public: bool) -> bool {
    let Some(supp) = object_mut(v, &["supplementaryConfiguration"]) else {
        return false;
    };
    let new = attributes(public);
    if supp.get("DBSnapshotAttributes") == Some(&new) || !supp.contains_key("DBSnapshotAttributes")
    {
        return false;
    }
    supp.insert("DBSnapshotAttributes".into(), new);
    true
}
