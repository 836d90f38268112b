//! Building one VPC's service resources (its unit), with a random stream of its own
//! (`DOMAIN_SERVICES`), after the original units: the original types' bytes never depend
//! on it, and it can read the finished topology (subnets, groups, instances, roles).
//!
//! Regional services (queues, topics, tables...) are spread over the VPC units of their
//! account and region too, so that a million-resource estate builds them in parallel. The
//! first unit of each account and region also builds what there is one of per region: the
//! default KMS key every other resource encrypts with, the trail and the `ops-alerts`
//! topic the alarms notify.

use super::plan::ServiceCounts;
use crate::gen::observe;
use crate::ids::{self, DOMAIN_SERVICES};
use crate::shapes::alarms::{self, AlarmSpec};
use crate::shapes::containers::{self, ClusterSpec as EksSpec};
use crate::shapes::dynamodb::{self, TableSpec};
use crate::shapes::elb::{self, LbSpec};
use crate::shapes::kms::{self, TrailSpec};
use crate::shapes::lambda::{self, FunctionSpec};
use crate::shapes::messaging::{self, QueueSpec};
use crate::shapes::netx::{self, EipTarget, EndpointSpec, FlowLogSpec, NatSpec};
use crate::shapes::rds::{self, SubnetGroupSpec};
use crate::shapes::secrets::{self, SecretSpec};
use crate::shapes::svc::Svc;
use crate::shapes::{s3, tags, Tags};
use crate::topology::{RoleRef, SgTopo, SubnetTopo, Topology, VpcTopo};
use crate::types;
use driftlog_model::{Observed, ResourceKey};
use fastrand::Rng;
use serde_json::Value;

const DAY: i64 = 86_400_000;
const APPS: &[&str] = &[
    "orders",
    "billing",
    "payments",
    "search",
    "catalog",
    "auth",
    "inventory",
    "media",
    "notify",
    "reports",
];
const TEAMS: &[&str] = &["platform", "data", "web", "payments", "security"];
/// The topic every region's alarms notify; churn never deletes it.
pub(crate) const ALERTS_TOPIC: &str = "ops-alerts";
const ENDPOINT_SERVICES: &[&str] = &["s3", "dynamodb", "secretsmanager", "sqs", "ecr.api", "kms"];

/// What one unit built, and what churn must know about it.
#[derive(Default)]
pub(crate) struct ServiceUnit {
    pub docs: Vec<Observed>,
    /// EIPs associated with an instance: (instance key, allocation id).
    pub eips: Vec<(ResourceKey, String)>,
    /// Flow logs: (VPC key, flow log id).
    pub flow_logs: Vec<(ResourceKey, String)>,
}

/// A name unique in its account and region (`<app>-<what>-<random><unit><k>`): the unit
/// and index make it unique, the random part makes other seeds name things otherwise.
fn unique(rng: &mut Rng, what: &str, g: usize, k: usize) -> String {
    format!(
        "{}-{what}-{}{g:04x}{k:02x}",
        ids::word(rng, APPS),
        ids::hex(rng, 4)
    )
}

/// The suffix of [`unique`], for names shaped otherwise.
fn suffix(rng: &mut Rng, g: usize, k: usize) -> String {
    format!("{}{g:04x}{k:02x}", ids::hex(rng, 4))
}

/// The access-log bucket every account and region has (the first bucket of its unit).
pub(crate) fn log_bucket(account: &str, region: &str) -> String {
    s3::bucket_name(&mut Rng::with_seed(0), account, region, true)
}

/// The key ARN of an extra customer-managed key of unit `g`.
fn extra_key(at: Svc<'_>, rng: &mut Rng) -> String {
    at.arn("kms", &format!("key/{}", ids::uuid(rng)))
}

struct Ctx<'a> {
    at: Svc<'a>,
    g: usize,
    vpc: &'a VpcTopo,
    roles: &'a [RoleRef],
    pair_key: &'a str,
    /// Keys this unit can encrypt with: the region's default and the unit's own.
    keys: Vec<String>,
    start: i64,
    out: Vec<(ResourceKey, Value)>,
    unit: ServiceUnit,
}

impl<'a> Ctx<'a> {
    fn tags(&self, rng: &mut Rng) -> Tags {
        tags(&[("env", self.vpc.env), ("team", ids::word(rng, TEAMS))])
    }

    fn key(&self, rng: &mut Rng) -> String {
        ids::pick(rng, &self.keys)
            .cloned()
            .unwrap_or_else(|| self.pair_key.to_string())
    }

    fn subnets(&self, public: Option<bool>) -> Vec<&'a SubnetTopo> {
        let vpc: &'a VpcTopo = self.vpc;
        vpc.subnets
            .iter()
            .filter(|s| public.is_none_or(|p| s.public == p))
            .collect()
    }

    fn sgs(&self, rng: &mut Rng) -> Vec<&'a SgTopo> {
        let vpc: &'a VpcTopo = self.vpc;
        let others: Vec<&SgTopo> = vpc.sgs.iter().filter(|g| g.name != "default").collect();
        let pool = if others.is_empty() {
            vpc.sgs.iter().collect()
        } else {
            others
        };
        ids::pick(rng, &pool).map(|g| vec![*g]).unwrap_or_default()
    }

    fn created(&self, rng: &mut Rng) -> i64 {
        self.start - rng.i64(DAY..400 * DAY)
    }
}

/// Builds unit `g`'s service resources.
pub(crate) fn service_unit(
    seed: u64,
    g: usize,
    counts: &ServiceCounts,
    topo: &Topology,
    start_ms: i64,
) -> ServiceUnit {
    let Some(vpc) = topo.vpcs.get(g) else {
        return ServiceUnit::default();
    };
    let (Some(pair), Some((account, region))) =
        (topo.pairs.get(vpc.pair), topo.pair_names(vpc.pair))
    else {
        return ServiceUnit::default();
    };
    let roles = topo
        .accounts
        .get(pair.account)
        .map_or(&[][..], |a| &a.roles[..]);
    let mut rng = ids::rng_for(seed, DOMAIN_SERVICES, g as u64);
    let rng = &mut rng;
    let at = Svc { account, region };
    let mut cx = Ctx {
        at,
        g,
        vpc,
        roles,
        pair_key: &pair.kms_key,
        keys: vec![pair.kms_key.clone()],
        start: start_ms,
        out: Vec::new(),
        unit: ServiceUnit::default(),
    };
    if g == vpc.pair {
        regional_singletons(rng, &mut cx);
    }
    keys(rng, &mut cx, counts.keys);
    network(rng, &mut cx, counts);
    data(rng, &mut cx, counts);
    apps(rng, &mut cx, counts);
    let mut unit = cx.unit;
    unit.docs = observe(cx.out);
    unit
}

/// The default key, the trail and the alerts topic of an account and region.
fn regional_singletons(rng: &mut Rng, cx: &mut Ctx<'_>) {
    let at = cx.at;
    let t = tags(&[("purpose", "default-encryption")]);
    let created = cx.start - 700 * DAY + rng.i64(0..DAY);
    cx.out.push(kms::key(
        at,
        cx.pair_key,
        "Default key for EBS, S3 and service data",
        created,
        true,
        &t,
    ));
    let bucket = log_bucket(at.account, at.region);
    let topic = messaging::topic_arn(at, ALERTS_TOPIC);
    let t = tags(&[("team", "security")]);
    cx.out.push(kms::trail(
        at,
        &TrailSpec {
            name: "org-audit",
            bucket: &bucket,
            kms: cx.pair_key,
            topic: rng.bool().then_some((ALERTS_TOPIC, topic.as_str())),
            multi_region: rng.bool(),
            validation: true,
        },
        &t,
    ));
    let t = tags(&[("team", "platform")]);
    cx.out.push(messaging::topic(
        rng,
        at,
        ALERTS_TOPIC,
        Some(cx.pair_key),
        &t,
    ));
}

fn keys(rng: &mut Rng, cx: &mut Ctx<'_>, n: usize) {
    for _ in 0..n {
        let arn = extra_key(cx.at, rng);
        let t = cx.tags(rng);
        let app = ids::word(rng, APPS);
        let created = cx.created(rng);
        let rotation = rng.u8(..4) != 0;
        cx.out.push(kms::key(
            cx.at,
            &arn,
            &format!("Data key for {app} workloads"),
            created,
            rotation,
            &t,
        ));
        cx.keys.push(arn);
    }
}

/// NAT gateways with their EIPs, other EIPs, VPC endpoints and the flow log.
fn network(rng: &mut Rng, cx: &mut Ctx<'_>, c: &ServiceCounts) {
    let at = cx.at;
    let public: Vec<SubnetTopo> = cx.subnets(Some(true)).into_iter().cloned().collect();
    let nats = c.nats.min(public.len());
    for k in 0..nats {
        let Some(subnet) = public.get(k) else { break };
        let id = ids::ec2_id(rng, "nat");
        let alloc = ids::ec2_id(rng, "eipalloc");
        let ip = netx::public_ip(rng);
        let created = cx.created(rng);
        let t = tags(&[
            (
                "Name",
                &format!("nat-{}", ids::az(at.region, subnet.az_index)),
            ),
            ("env", cx.vpc.env),
        ]);
        let (key, nat) = netx::nat_gateway(
            rng,
            at,
            &NatSpec {
                id: &id,
                vpc_id: &cx.vpc.id,
                subnet,
                vpc_octet: cx.vpc.octet,
                allocation_id: &alloc,
                public_ip: &ip,
                created_ms: created,
            },
            &t,
        );
        let addr = nat
            .pointer("/configuration/natGatewayAddresses/0")
            .cloned()
            .unwrap_or(Value::Null);
        let eni = addr
            .get("networkInterfaceId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let private_ip = addr
            .get("privateIp")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let t = tags(&[("Name", &format!("{id}-ip"))]);
        cx.out.push(netx::eip(
            rng,
            at,
            &alloc,
            &ip,
            &EipTarget::Nat { eni, private_ip },
            &t,
        ));
        cx.out.push((key, nat));
    }
    let mut free: Vec<_> = cx.vpc.instances.iter().collect();
    for _ in 0..c.eips.saturating_sub(nats) {
        let alloc = ids::ec2_id(rng, "eipalloc");
        let ip = netx::public_ip(rng);
        let t = tags(&[("Name", &format!("{}-ip", ids::word(rng, APPS)))]);
        let target = if rng.u8(..10) < 7 && !free.is_empty() {
            let i = free.swap_remove(rng.usize(..free.len()));
            cx.unit
                .eips
                .push((at_key(at, types::INSTANCE, &i.id), alloc.clone()));
            EipTarget::Instance {
                id: &i.id,
                eni: &i.eni,
                private_ip: &i.private_ip,
            }
        } else {
            EipTarget::None
        };
        cx.out.push(netx::eip(rng, at, &alloc, &ip, &target, &t));
    }
    let private = cx.subnets(Some(false));
    let private: Vec<&SubnetTopo> = if private.is_empty() {
        cx.subnets(None)
    } else {
        private
    };
    let mut services: Vec<&str> = ENDPOINT_SERVICES.to_vec();
    for _ in 0..c.endpoints.min(services.len()) {
        let service = services.swap_remove(rng.usize(..services.len()));
        let id = ids::ec2_id(rng, "vpce");
        let sgs = cx.sgs(rng);
        let created = cx.created(rng);
        let t = tags(&[("Name", &format!("{service}-endpoint"))]);
        cx.out.push(netx::vpc_endpoint(
            rng,
            at,
            &EndpointSpec {
                id: &id,
                vpc_id: &cx.vpc.id,
                service,
                rtb: &cx.vpc.rtb,
                subnets: &private,
                sg: sgs.first().copied(),
                created_ms: created,
            },
            &t,
        ));
    }
    if c.flow_logs > 0 {
        let created = cx.created(rng);
        let (key, id) = flow_log(rng, cx.at, cx.vpc, cx.roles, created);
        cx.unit
            .flow_logs
            .push((at_key(at, types::VPC, &cx.vpc.id), id));
        cx.out.push(key);
    }
}

fn at_key(at: Svc<'_>, ty: &str, id: &str) -> ResourceKey {
    at.key(ty, id)
}

/// A flow log watching `vpc`, to S3 or CloudWatch Logs; also what churn creates.
pub(crate) fn flow_log(
    rng: &mut Rng,
    at: Svc<'_>,
    vpc: &VpcTopo,
    roles: &[RoleRef],
    created_ms: i64,
) -> ((ResourceKey, Value), String) {
    let id = ids::ec2_id(rng, "fl");
    let bucket = log_bucket(at.account, at.region);
    let role = ids::pick(rng, roles).map_or_else(String::new, |r| r.arn.clone());
    let t = tags(&[("Name", &format!("{}-flow-log", vpc.env))]);
    let to_s3 = rng.bool();
    let doc = netx::flow_log(
        rng,
        at,
        &FlowLogSpec {
            id: &id,
            vpc_id: &vpc.id,
            bucket: to_s3.then_some(bucket.as_str()),
            role_arn: &role,
            created_ms,
        },
        &t,
    );
    (doc, id)
}

/// Subnet groups, DB instances, Aurora clusters with their members, snapshots, tables.
fn data(rng: &mut Rng, cx: &mut Ctx<'_>, c: &ServiceCounts) {
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

/// Functions, queues, topics, alarms, secrets, repositories, EKS, load balancers.
fn apps(rng: &mut Rng, cx: &mut Ctx<'_>, c: &ServiceCounts) {
    let at = cx.at;
    let mut queue_arns = Vec::new();
    let mut dlq: Option<String> = None;
    for k in 0..c.queues {
        let is_dlq = k == 0 && c.queues > 1;
        let name = unique(rng, if is_dlq { "dlq" } else { "queue" }, cx.g, k);
        let kms = match rng.u8(..4) {
            0 => None,
            1 => Some("alias/aws/sqs".to_string()),
            _ => Some(cx.key(rng)),
        };
        let created = cx.created(rng);
        let t = cx.tags(rng);
        let spec = QueueSpec {
            name: &name,
            dlq: dlq.as_deref(),
            kms: kms.as_deref(),
            created_ms: created,
            modified_ms: created + rng.i64(0..DAY),
        };
        let (key, doc) = messaging::queue(rng, at, &spec, &t);
        let arn = at.arn("sqs", &name);
        if is_dlq {
            dlq = Some(arn.clone());
        }
        queue_arns.push(arn);
        cx.out.push((key, doc));
    }
    let mut topics = vec![messaging::topic_arn(at, ALERTS_TOPIC)];
    for k in 0..c.topics {
        let name = unique(rng, "events", cx.g, k);
        let kms = match rng.u8(..3) {
            0 => None,
            1 => Some("alias/aws/sns".to_string()),
            _ => Some(cx.key(rng)),
        };
        let t = cx.tags(rng);
        let (key, doc) = messaging::topic(rng, at, &name, kms.as_deref(), &t);
        topics.push(key.resource_id.clone());
        cx.out.push((key, doc));
    }
    let private = cx.subnets(Some(false));
    let mut function_names = Vec::new();
    for k in 0..c.functions {
        let Some(role) = ids::pick(rng, cx.roles) else {
            break;
        };
        let name = unique(rng, "fn", cx.g, k);
        let in_vpc = rng.u8(..3) != 0;
        let subnets: Vec<&SubnetTopo> = if in_vpc { private.clone() } else { Vec::new() };
        let sgs = if in_vpc { cx.sgs(rng) } else { Vec::new() };
        let dlq_arn = if rng.u8(..3) == 0 {
            ids::pick(rng, &queue_arns).cloned()
        } else {
            None
        };
        let kms = rng.bool().then(|| cx.key(rng));
        let modified = cx.start - rng.i64(0..200 * DAY);
        let t = cx.tags(rng);
        let spec = FunctionSpec {
            name: &name,
            role,
            subnets: &subnets,
            sgs: &sgs,
            dlq_arn: dlq_arn.as_deref(),
            kms: kms.as_deref(),
            modified_ms: modified,
        };
        cx.out.push(lambda::function(rng, at, &spec, &t));
        function_names.push(name);
    }
    for k in 0..c.alarms {
        let name = unique(rng, "alarm", cx.g, k);
        let (ns, metric, dim, value, stat, threshold): (&str, &str, &str, String, &str, f64) =
            match (rng.u8(..3), function_names.first()) {
                (0, Some(f)) => (
                    "AWS/Lambda",
                    "Errors",
                    "FunctionName",
                    f.clone(),
                    "Sum",
                    5.0,
                ),
                (1, _) => (
                    "AWS/SQS",
                    "ApproximateAgeOfOldestMessage",
                    "QueueName",
                    name.replace("alarm", "queue"),
                    "Maximum",
                    600.0,
                ),
                _ => (
                    "AWS/EC2",
                    "CPUUtilization",
                    "AutoScalingGroupName",
                    format!("{}-asg", cx.vpc.env),
                    "Average",
                    80.0,
                ),
            };
        let topic = (rng.u8(..10) != 0)
            .then(|| ids::pick(rng, &topics).cloned())
            .flatten();
        let updated = cx.start - rng.i64(0..100 * DAY);
        let t = if rng.u8(..3) == 0 {
            cx.tags(rng)
        } else {
            Tags::new()
        };
        let spec = AlarmSpec {
            name: &name,
            metric: (ns, metric, dim, &value, stat, threshold),
            topic: topic.as_deref(),
            updated_ms: updated,
        };
        cx.out.push(alarms::alarm(rng, at, &spec, &t));
    }
    for k in 0..c.secrets {
        let app = ids::word(rng, APPS);
        let name = format!("{}/{app}/db-password-{}", cx.vpc.env, suffix(rng, cx.g, k));
        let description = format!("Password for the {} {app} database", cx.vpc.env);
        let key = cx.key(rng);
        let rotation = (rng.u8(..3) != 0).then(|| secrets::rotation_function(at, rng));
        let created = cx.created(rng);
        let t = cx.tags(rng);
        let spec = SecretSpec {
            name: &name,
            description: &description,
            kms: &key,
            rotation_lambda: rotation.as_deref(),
            created_ms: created,
        };
        cx.out.push(secrets::secret(rng, at, &spec, &t));
    }
    for k in 0..c.repositories {
        let name = format!(
            "{}/{}-{}",
            ids::word(rng, TEAMS),
            ids::word(rng, APPS),
            suffix(rng, cx.g, k)
        );
        let kms = rng.bool().then(|| cx.key(rng));
        let pull = ids::pick(rng, cx.roles).map_or_else(String::new, |r| r.arn.clone());
        let t = cx.tags(rng);
        cx.out.push(containers::repository(
            rng,
            at,
            &name,
            kms.as_deref(),
            &pull,
            &t,
        ));
    }
    for k in 0..c.eks {
        let Some(role) = ids::pick(rng, cx.roles) else {
            break;
        };
        let name = format!("{}-cluster-{}", cx.vpc.env, suffix(rng, cx.g, k));
        let subnets = cx.subnets(None).iter().map(|s| s.id.clone()).collect();
        let sgs = cx.sgs(rng).iter().map(|g| g.id.clone()).collect();
        let key = cx.key(rng);
        let t = cx.tags(rng);
        let spec = EksSpec {
            name: &name,
            role_arn: &role.arn,
            subnets,
            sgs,
            kms: &key,
        };
        cx.out.push(containers::cluster(rng, at, &spec, &t));
    }
    let public = cx.subnets(Some(true));
    let lb_subnets = if public.len() >= 2 {
        public
    } else {
        cx.subnets(None)
    };
    let bucket = log_bucket(at.account, at.region);
    for k in 0..c.load_balancers {
        let name = format!("{}-{}", ids::word(rng, APPS), suffix(rng, cx.g, k));
        let sgs = cx.sgs(rng);
        let created = cx.created(rng);
        let t = cx.tags(rng);
        let spec = LbSpec {
            name: &name,
            vpc_id: &cx.vpc.id,
            subnets: &lb_subnets,
            sgs: &sgs,
            log_bucket: &bucket,
            created_ms: created,
        };
        let (key, doc) = elb::load_balancer(rng, at, &spec, &t);
        cx.out
            .push(elb::listener(rng, at, &key.resource_id, &Tags::new()));
        if rng.u8(..10) < 6 {
            cx.out
                .push(elb::https_listener(rng, at, &key.resource_id, &name));
        }
        cx.out.push((key, doc));
    }
}
