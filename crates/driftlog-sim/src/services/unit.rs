//! Building one VPC's service resources (its unit), with a random stream of its own
//! (`DOMAIN_SERVICES`), after the original units: the original types' bytes never depend
//! on it, and it can read the finished topology (subnets, groups, instances, roles).
//!
//! Regional services (queues, topics, tables...) are spread over the VPC units of their
//! account and region too, so that a million-resource estate builds them in parallel. The
//! first unit of each account and region also builds what there is one of per region: the
//! default KMS key every other resource encrypts with, the trail and the `ops-alerts`
//! topic the alarms notify.

mod apps;
mod data;
mod network;

pub(crate) use network::flow_log;

pub(super) use super::plan::ServiceCounts;
use crate::gen::observe;
use crate::ids::{self, DOMAIN_SERVICES};
use crate::shapes::kms::{self, TrailSpec};
use crate::shapes::messaging;
use crate::shapes::svc::Svc;
use crate::shapes::{s3, tags, Tags};
use crate::topology::{RoleRef, SgTopo, SubnetTopo, Topology, VpcTopo};
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
    network::network(rng, &mut cx, counts);
    data::data(rng, &mut cx, counts);
    apps::apps(rng, &mut cx, counts);
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
