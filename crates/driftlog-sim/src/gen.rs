//! Building the initial estate in independent units (one per VPC, per account's IAM, per
//! account and region's buckets), each with its own random stream, so that units can run
//! on any number of threads and still give the same bytes.

use crate::ids::{self, DOMAIN_BUCKETS, DOMAIN_VPC};
use crate::plan::VpcPlan;
use crate::shapes::ec2::{self, At, InstanceSpec};
use crate::shapes::{s3, tags, Tags};
use crate::topology::{Profile, SgTopo, SubnetTopo, Topology, VpcTopo};
use crate::types;
use driftlog_model::{Observed, ResourceKey};
use fastrand::Rng;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

const DAY: i64 = 86_400_000;
const ENVS: &[&str] = &["prod", "staging", "dev"];
/// Usable addresses of a /24 once AWS has reserved five.
const SUBNET_IPS: u32 = 251;
/// The address every ingress rule opened to the world uses.
pub(crate) const WORLD: &str = "0.0.0.0/0";

/// Runs `f(0..n)` on up to `available_parallelism` threads and returns the results in
/// index order. Small jobs stay on the calling thread.
pub(crate) fn run_parallel<T: Send>(
    n: usize,
    heavy: bool,
    f: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(8)
        .min(n);
    if threads <= 1 || !heavy {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break mine;
                        }
                        mine.push((i, f(i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(items) => items,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Canonicalizes built documents into what the store keeps.
pub(crate) fn observe(items: Vec<(ResourceKey, Value)>) -> Vec<Observed> {
    items
        .into_iter()
        .map(|(k, v)| crate::store::compact(Observed::from_value(k, v)))
        .collect()
}

/// Picks the security groups of a new instance: one or two non-default groups, sometimes
/// the default group too; only groups `exists` accepts.
pub(crate) fn choose_sgs(
    rng: &mut Rng,
    sgs: &[SgTopo],
    exists: impl Fn(&str) -> bool,
) -> Vec<SgTopo> {
    let live: Vec<&SgTopo> = sgs.iter().filter(|g| exists(&g.id)).collect();
    let (default, others): (Vec<&SgTopo>, Vec<&SgTopo>) =
        live.into_iter().partition(|g| g.name == "default");
    let mut out: Vec<SgTopo> = Vec::new();
    let want = if rng.u8(..10) < 7 { 1 } else { 2 };
    for _ in 0..want {
        if let Some(g) = ids::pick(rng, &others) {
            if !out.iter().any(|o| o.id == g.id) {
                out.push((*g).clone());
            }
        }
    }
    if out.is_empty() || rng.u8(..100) < 15 {
        out.extend(default.into_iter().cloned());
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The instance profile a new instance carries, if any.
pub(crate) fn choose_profile<'a>(rng: &mut Rng, profiles: &'a [Profile]) -> Option<&'a Profile> {
    if rng.u8(..10) < 7 {
        ids::pick(rng, profiles)
    } else {
        None
    }
}

/// One VPC with its subnets, security groups, NACL, route table, internet gateway and
/// instances.
pub(crate) fn vpc_unit(
    seed: u64,
    g: usize,
    plan: &VpcPlan,
    topo: &Topology,
    start_ms: i64,
) -> (Vec<Observed>, Option<VpcTopo>) {
    let mut rng = ids::rng_for(seed, DOMAIN_VPC, g as u64);
    let (Some(pair), Some((account, region))) =
        (topo.pairs.get(plan.pair), topo.pair_names(plan.pair))
    else {
        return (Vec::new(), None);
    };
    let profiles = topo
        .accounts
        .get(pair.account)
        .map_or(&[][..], |a| &a.profiles[..]);
    let at = At { account, region };
    let rng = &mut rng;
    let env = ids::word(rng, ENVS);
    let octet = (g % 250) as u8 + 1;
    let vpc_id = ids::ec2_id(rng, "vpc");
    let vpc_name = format!("{env}-{}", ids::hex(rng, 4));
    let cidr = format!("10.{octet}.0.0/16");
    let subnets: Vec<SubnetTopo> = (0..plan.subnets)
        .map(|k| SubnetTopo {
            id: ids::ec2_id(rng, "subnet"),
            az_index: k % 3,
            octet: (k + 1) as u8,
            public: k % 2 == 0,
        })
        .collect();
    let archs: Vec<&str> = (0..plan.sgs).map(|k| sg_archetype(k, rng)).collect();
    let sgs: Vec<SgTopo> = archs
        .iter()
        .enumerate()
        .map(|(k, arch)| SgTopo {
            id: ids::ec2_id(rng, "sg"),
            name: match *arch {
                "default" => "default".to_string(),
                arch if k < 4 => format!("{vpc_name}-{arch}"),
                arch => format!("{vpc_name}-{arch}-{k}"),
            },
        })
        .collect();
    let igw = ids::ec2_id(rng, "igw");
    let acl = ids::ec2_id(rng, "acl");
    let rtb = ids::ec2_id(rng, "rtb");
    let mut out: Vec<(ResourceKey, Value)> =
        Vec::with_capacity(4 + subnets.len() + sgs.len() + 3 * plan.instances);
    let mut used = vec![0u32; subnets.len()];
    let mut instances = Vec::with_capacity(plan.instances);
    for _ in 0..plan.instances {
        let si = rng.usize(..subnets.len().max(1));
        let Some(subnet) = subnets.get(si) else { break };
        let chosen = choose_sgs(rng, &sgs, |_| true);
        let spec = InstanceSpec {
            at,
            vpc_id: &vpc_id,
            vpc_octet: octet,
            subnet,
            sgs: &chosen,
            profile: choose_profile(rng, profiles),
            kms_key: &pair.kms_key,
            ami: ids::pick(rng, &pair.amis).map_or("ami-00000000000000000", String::as_str),
            launch_ms: start_ms - rng.i64(3_600_000..300 * DAY),
            env,
        };
        let trio = ec2::instance_trio(rng, &spec);
        if let Some(r) = ec2::instance_ref(&trio[0].1) {
            instances.push(r);
        }
        out.extend(trio);
        if let Some(n) = used.get_mut(si) {
            *n += 1;
        }
    }
    for (s, n) in subnets.iter().zip(&used) {
        let kind = if s.public { "public" } else { "private" };
        let t = tags(&[
            ("Name", &format!("{vpc_name}-{kind}-{}", s.octet)),
            ("env", env),
        ]);
        let subnet_cidr = format!("10.{octet}.{}.0/24", s.octet);
        out.push((
            at.key(types::SUBNET, &s.id),
            ec2::subnet(
                at,
                &vpc_id,
                s,
                &subnet_cidr,
                SUBNET_IPS.saturating_sub(*n),
                &t,
            ),
        ));
    }
    for (g, arch) in sgs.iter().zip(&archs) {
        let (description, ingress) = sg_rules(rng, arch, &sgs, account, &cidr);
        let t: Tags = if g.name == "default" {
            Tags::new()
        } else {
            tags(&[("Name", &g.name), ("env", env)])
        };
        out.push((
            at.key(types::SECURITY_GROUP, &g.id),
            ec2::security_group(at, &vpc_id, &g.id, &g.name, &description, ingress, &t),
        ));
    }
    let named = |what: &str| tags(&[("Name", &format!("{vpc_name}-{what}")), ("env", env)]);
    out.push((
        at.key(types::NETWORK_ACL, &acl),
        ec2::network_acl(rng, at, &vpc_id, &acl, &subnets, &named("nacl")),
    ));
    out.push((
        at.key(types::ROUTE_TABLE, &rtb),
        ec2::route_table(rng, at, &vpc_id, &cidr, &rtb, &igw, &subnets, &named("rt")),
    ));
    out.push((
        at.key(types::INTERNET_GATEWAY, &igw),
        ec2::internet_gateway(at, &vpc_id, &igw, &named("igw")),
    ));
    let assoc = ids::ec2_id(rng, "vpc-cidr-assoc");
    out.push((
        at.key(types::VPC, &vpc_id),
        ec2::vpc(
            at,
            &vpc_id,
            &cidr,
            &pair.dhcp_options,
            &assoc,
            &named("vpc"),
        ),
    ));
    let topo = VpcTopo {
        pair: plan.pair,
        id: vpc_id,
        octet,
        env,
        subnets,
        sgs,
        rtb,
        instances,
    };
    (observe(out), Some(topo))
}

/// The role of security group `k` in its VPC. Draws from `rng` only for extra groups.
fn sg_archetype(k: usize, rng: &mut Rng) -> &'static str {
    match k {
        0 => "default",
        1 => "web",
        2 => "app",
        3 => "db",
        _ => ids::word(rng, &["cache", "admin", "monitoring"]),
    }
}

/// Description and ingress rules of a security group of archetype `arch`, referring to the
/// VPC's other groups the way tiers do (web <- world, app <- web, db <- app); group 0 is
/// the default group, 1 web, 2 app.
fn sg_rules(
    rng: &mut Rng,
    arch: &str,
    sgs: &[SgTopo],
    account: &str,
    vpc_cidr: &str,
) -> (String, Vec<Value>) {
    let id = |i: usize| sgs.get(i).map_or("", |g| g.id.as_str());
    let rules = match arch {
        "default" => vec![ec2::perm(
            "-1",
            None,
            &[],
            &[],
            &[],
            vec![ec2::pair(id(0), account, None)],
        )],
        "web" => vec![
            ec2::perm(
                "tcp",
                Some((443, 443)),
                &[(WORLD, None)],
                &["::/0"],
                &[],
                Vec::new(),
            ),
            ec2::perm(
                "tcp",
                Some((80, 80)),
                &[(WORLD, None)],
                &[],
                &[],
                Vec::new(),
            ),
            ec2::perm(
                "tcp",
                Some((22, 22)),
                &[
                    ("198.51.100.0/24", Some("office")),
                    ("203.0.113.7/32", None),
                ],
                &[],
                &[],
                Vec::new(),
            ),
        ],
        "app" => vec![
            ec2::perm(
                "tcp",
                Some((8080, 8080)),
                &[],
                &[],
                &[],
                vec![ec2::pair(id(1), account, Some("from web tier"))],
            ),
            ec2::perm(
                "tcp",
                Some((22, 22)),
                &[(vpc_cidr, Some("vpc"))],
                &[],
                &[],
                Vec::new(),
            ),
        ],
        "db" => {
            let pl = format!("pl-{}", ids::hex(rng, 8));
            vec![ec2::perm(
                "tcp",
                Some((5432, 5432)),
                &[],
                &[],
                &[&pl],
                vec![ec2::pair(id(2), account, Some("from app tier"))],
            )]
        }
        "cache" => vec![ec2::perm(
            "tcp",
            Some((6379, 6379)),
            &[],
            &[],
            &[],
            vec![ec2::pair(id(2), account, None)],
        )],
        "admin" => {
            let desk = format!("203.0.113.{}/32", rng.u8(1..=254));
            vec![ec2::perm(
                "tcp",
                Some((3389, 3389)),
                &[(&desk, Some("admin desk"))],
                &[],
                &[],
                Vec::new(),
            )]
        }
        _ => vec![ec2::perm(
            "tcp",
            Some((9100, 9100)),
            &[(vpc_cidr, None)],
            &[],
            &[],
            Vec::new(),
        )],
    };
    let description = match arch {
        "default" => "default VPC security group".to_string(),
        other => format!("{other} tier"),
    };
    (description, rules)
}

/// The buckets of one account and region.
pub(crate) fn bucket_unit(
    seed: u64,
    p: usize,
    n: usize,
    topo: &Topology,
    start_ms: i64,
) -> Vec<Observed> {
    let (Some(pair), Some((account, region))) = (topo.pairs.get(p), topo.pair_names(p)) else {
        return Vec::new();
    };
    let mut rng = ids::rng_for(seed, DOMAIN_BUCKETS, p as u64);
    let rng = &mut rng;
    let owner = s3::owner_id(account);
    let log_bucket = s3::bucket_name(rng, account, region, true);
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut name = s3::bucket_name(rng, account, region, i == 0);
        while !names.insert(name.clone()) {
            name = s3::bucket_name(rng, account, region, false);
        }
        let t = if i == 0 {
            tags(&[("purpose", "access-logs")])
        } else {
            tags(&[
                ("env", ids::word(rng, ENVS)),
                (
                    "team",
                    ids::word(rng, &["platform", "data", "web", "finance"]),
                ),
            ])
        };
        let spec = s3::BucketSpec {
            account,
            region,
            name: &name,
            owner: &owner,
            log_bucket: &log_bucket,
            kms_key: &pair.kms_key,
            created_ms: start_ms - rng.i64(DAY..1000 * DAY),
            is_log_bucket: i == 0,
        };
        out.push(s3::bucket(rng, &spec, &t));
    }
    observe(out)
}
