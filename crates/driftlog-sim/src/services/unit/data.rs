//! A VPC unit's data services: DB subnet groups, DB instances, Aurora clusters with their
//! members, DB snapshots and DynamoDB tables.

use super::{suffix, unique, Ctx, ServiceCounts, APPS, DAY};
use crate::ids;
use crate::shapes::dynamodb::{self, TableSpec};
use crate::shapes::rds::{self, SubnetGroupSpec};
use crate::topology::SubnetTopo;
use fastrand::Rng;

/// Subnet groups, DB instances, Aurora clusters with their members, snapshots, tables.
pub(super) fn data(rng: &mut Rng, cx: &mut Ctx<'_>, c: &ServiceCounts) {
    let at = cx.at;
    let private = cx.subnets(Some(false));
    let subnets: Vec<&SubnetTopo> = if private.len() >= 2 {
        private
    } else {
        cx.subnets(None)
    };
    let groups = c
        .subnet_groups
        .max(usize::from(c.db_instances + c.clusters > 0));
    let names: Vec<(String, String)> = (0..groups)
        .map(|k| {
            let app = ids::word(rng, APPS);
            (
                format!("{app}-db-subnets-{}", suffix(rng, cx.g, k)),
                format!("Private subnets for the {app} database"),
            )
        })
        .collect();
    let specs: Vec<SubnetGroupSpec<'_>> = names
        .iter()
        .map(|(n, d)| SubnetGroupSpec {
            name: n,
            description: d,
            vpc_id: &cx.vpc.id,
            subnets: &subnets,
        })
        .collect();
    for s in &specs {
        let t = cx.tags(rng);
        cx.out.push(rds::subnet_group(at, s, &t));
    }
    let mut instances: Vec<(String, String, usize, i64)> = Vec::new();
    for k in 0..c.db_instances {
        let Some(group) = ids::pick(rng, &specs) else {
            break;
        };
        let identifier = unique(rng, "db", cx.g, k);
        let sgs = cx.sgs(rng);
        let key = cx.key(rng);
        let created = cx.created(rng);
        let az_index = rng.usize(..3);
        let t = cx.tags(rng);
        let public = rng.u8(..10) == 0;
        let spec = rds::InstanceSpec {
            identifier: &identifier,
            group,
            sgs: &sgs,
            kms: &key,
            az_index,
            created_ms: created,
            public,
            cluster: None,
        };
        let (rk, doc) = rds::db_instance(rng, at, &spec, &t);
        instances.push((identifier, rk.resource_id.clone(), az_index, created));
        cx.out.push((rk, doc));
    }
    for k in 0..c.clusters {
        let Some(group) = ids::pick(rng, &specs) else {
            break;
        };
        let identifier = unique(rng, "aurora", cx.g, k);
        let members: Vec<String> = (1..=2).map(|i| format!("{identifier}-{i}")).collect();
        let sgs = cx.sgs(rng);
        let key = cx.key(rng);
        let created = cx.created(rng);
        let t = cx.tags(rng);
        for (i, m) in members.iter().enumerate() {
            let spec = rds::InstanceSpec {
                identifier: m,
                group,
                sgs: &sgs,
                kms: &key,
                az_index: i,
                created_ms: created,
                public: false,
                cluster: Some(&identifier),
            };
            cx.out.push(rds::db_instance(rng, at, &spec, &t));
        }
        let spec = rds::ClusterSpec {
            identifier: &identifier,
            group,
            sgs: &sgs,
            kms: &key,
            members: &members,
            created_ms: created,
        };
        cx.out.push(rds::db_cluster(rng, at, &spec, &t));
    }
    for k in 0..c.snapshots {
        let (instance, dbi, az_index, inst_created) = match ids::pick(rng, &instances) {
            Some(i) => i.clone(),
            None => (
                unique(rng, "db", cx.g, 0xff - k),
                rds::resource_id(rng, "db-"),
                0,
                cx.created(rng),
            ),
        };
        let automated = rng.bool();
        let taken = cx.start - rng.i64(DAY..30 * DAY);
        let day = crate::ids::iso(taken);
        let stamp = day.get(..10).unwrap_or("2024-01-01");
        let identifier = if automated {
            format!("rds:{instance}-{stamp}-{k:02x}")
        } else {
            format!("{instance}-manual-{stamp}-{k:02x}")
        };
        let key = cx.key(rng);
        let t = cx.tags(rng);
        let spec = rds::SnapshotSpec {
            identifier: &identifier,
            instance: &instance,
            dbi: &dbi,
            vpc_id: &cx.vpc.id,
            az_index,
            kms: &key,
            instance_created_ms: inst_created,
            created_ms: taken,
            automated,
            public: !automated && rng.u8(..8) == 0,
        };
        cx.out.push(rds::snapshot(rng, at, &spec, &t));
    }
    for k in 0..c.tables {
        let name = unique(rng, "table", cx.g, k);
        let key = rng.bool().then(|| cx.key(rng));
        let created = cx.created(rng);
        let t = cx.tags(rng);
        let replica_key;
        let replica = if rng.u8(..5) == 0 {
            replica_key = format!(
                "arn:aws:kms:eu-central-1:{}:key/{}",
                at.account,
                ids::uuid(rng)
            );
            Some(("eu-central-1", replica_key.as_str()))
        } else {
            None
        };
        cx.out.push(dynamodb::table(
            rng,
            at,
            &TableSpec {
                name: &name,
                kms: key.as_deref(),
                replica,
                created_ms: created,
            },
            &t,
        ));
    }
}
