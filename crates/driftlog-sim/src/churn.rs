//! What a tick does to the estate: drift as real estates drift, drawn from the seed and the
//! tick number.
//!
//! Each operation parses the few documents it touches, edits them as AWS would (both ends
//! of a relationship together), and canonicalizes them again. The tick remembers each
//! touched resource's state before its first edit, and reports the net change at the end.

use crate::estate::{parse, Estate};
use crate::gen::{self, WORLD};
use crate::ids::{self, DOMAIN_SERVICE_TICK, DOMAIN_TICK};
use crate::shapes::ec2::{self, At, InstanceSpec, HAS_ENI, HAS_VOLUME};
use crate::shapes::{self, config_str, iam, related};
use crate::types;
use crate::{SimChange, SimChangeKind};
use driftlog_model::{Observed, ResourceKey};
use fastrand::Rng;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Open TCP 22 or 3389 to 0.0.0.0/0 on a security group.
    SgOpen,
    /// Close the oldest rule opened to the world; with none open, revoke a random rule or
    /// authorize an internal one.
    SgClose,
    /// Launch an instance (with ENI and volume) or terminate one, keeping the size steady.
    Lifecycle,
    /// Change an instance's security groups (instance and ENI).
    InstanceSgs,
    /// Publish a new default version of a customer-managed policy.
    PolicyEdit,
    /// Attach a customer-managed policy to a role.
    Attach,
    /// Detach one from a role.
    Detach,
    /// Set, change or remove a tag on any taggable resource.
    Tags,
    /// A role was used: `roleLastUsed` ticks (volatile only).
    RoleUsed,
    /// A subnet's free address count moves (volatile only).
    SubnetIps,
}

/// Relative frequency of each operation.
const OPS: &[(Op, u32)] = &[
    (Op::SgOpen, 8),
    (Op::SgClose, 8),
    (Op::Lifecycle, 20),
    (Op::InstanceSgs, 8),
    (Op::PolicyEdit, 6),
    (Op::Attach, 5),
    (Op::Detach, 5),
    (Op::Tags, 15),
    (Op::RoleUsed, 12),
    (Op::SubnetIps, 13),
];

/// Tries per operation slot: an operation that finds nothing to do (no instance to
/// terminate, a tag already set) gives way to another draw.
const ATTEMPTS: usize = 4;

const OWNERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "platform", "data"];
const COST_CENTERS: &[&str] = &["cc-1001", "cc-1002", "cc-2001", "cc-3001", "cc-4040"];

/// One tick's random stream, clock and before-images.
pub(crate) struct Tick {
    pub(crate) rng: Rng,
    pub(crate) now: i64,
    before: BTreeMap<ResourceKey, Option<Observed>>,
}

/// Number of operations a tick applies.
pub(crate) fn ops_per_tick(churn: f64, len: usize) -> usize {
    if !churn.is_finite() || churn <= 0.0 {
        return 0;
    }
    ((churn * len as f64).round() as usize).max(1)
}

fn draw_op(rng: &mut Rng) -> Op {
    let total: u32 = OPS.iter().map(|(_, w)| w).sum();
    let mut r = rng.u32(..total);
    for (op, w) in OPS {
        if r < *w {
            return *op;
        }
        r -= w;
    }
    Op::Tags
}

impl Estate {
    pub(crate) fn run_tick(&mut self) -> Vec<SimChange> {
        self.ticks += 1;
        self.now_ms += self.cfg.tick_ms;
        let mut t = Tick {
            rng: ids::rng_for(self.cfg.seed, DOMAIN_TICK, self.ticks),
            now: self.now_ms,
            before: BTreeMap::new(),
        };
        for _ in 0..ops_per_tick(self.cfg.churn, self.original_len()) {
            for _ in 0..ATTEMPTS {
                let op = draw_op(&mut t.rng);
                if self.apply(op, &mut t) {
                    break;
                }
            }
        }
        // The service types drift from a stream of their own, after the original types,
        // so that the original types' ticks are what they were before issue 15.
        t.rng = ids::rng_for(self.cfg.seed, DOMAIN_SERVICE_TICK, self.ticks);
        self.service_ops(&mut t);
        t.before
            .into_iter()
            .filter_map(|(key, before)| {
                let (kind, observed) = match (before, self.store.get(&key)) {
                    (None, Some(a)) => (SimChangeKind::Created, a.clone()),
                    (Some(b), None) => (SimChangeKind::Deleted, b),
                    (Some(b), Some(a)) if b.doc != a.doc => (SimChangeKind::Modified, a.clone()),
                    (Some(b), Some(a)) if b.volatile != a.volatile => {
                        (SimChangeKind::VolatileOnly, a.clone())
                    }
                    _ => return None,
                };
                Some(SimChange {
                    key,
                    kind,
                    observed,
                })
            })
            .collect()
    }

    fn apply(&mut self, op: Op, t: &mut Tick) -> bool {
        match op {
            Op::SgOpen => self.sg_open(t),
            Op::SgClose => self.sg_close(t),
            Op::Lifecycle => {
                let launch_p = if self.original_len() > self.target_len {
                    4
                } else {
                    6
                };
                let launch = t.rng.u8(..10) < launch_p;
                self.lifecycle(t, launch) || self.lifecycle(t, !launch)
            }
            Op::InstanceSgs => self.instance_sgs(t),
            Op::PolicyEdit => self.policy_edit(t),
            Op::Attach => self.attach(t),
            Op::Detach => self.detach(t),
            Op::Tags => self.retag(t),
            Op::RoleUsed => self.role_used(t),
            Op::SubnetIps => self.subnet_ips(t),
        }
    }

    // ---- primitives ------------------------------------------------------------------

    pub(crate) fn remember(&self, t: &mut Tick, key: &ResourceKey) {
        if !t.before.contains_key(key) {
            t.before.insert(key.clone(), self.store.get(key).cloned());
        }
    }

    pub(crate) fn write(&mut self, t: &mut Tick, key: ResourceKey, doc: Value) {
        self.remember(t, &key);
        self.store.put(Observed::from_value(key, doc));
    }

    pub(crate) fn delete(&mut self, t: &mut Tick, key: &ResourceKey) -> bool {
        self.remember(t, key);
        self.store.take(key).is_some()
    }

    /// Edits one resource; `f` returns false to leave it untouched.
    pub(crate) fn change(
        &mut self,
        t: &mut Tick,
        key: &ResourceKey,
        f: impl FnOnce(&mut Value) -> bool,
    ) -> bool {
        let Some(mut doc) = self.store.get(key).and_then(parse) else {
            return false;
        };
        if !f(&mut doc) {
            return false;
        }
        self.write(t, key.clone(), doc);
        true
    }

    pub(crate) fn pick(
        &self,
        rng: &mut Rng,
        resource_type: &str,
        account: Option<&str>,
    ) -> Option<ResourceKey> {
        self.store
            .pick_where(rng, |s| {
                s.resource_type == resource_type
                    && (account.is_none() || account == Some(s.account.as_str()))
            })
            .map(|o| (*o.key).clone())
    }

    pub(crate) fn exists(&self, at: At<'_>, resource_type: &str, id: &str) -> bool {
        self.store.get(&at.key(resource_type, id)).is_some()
    }

    // ---- security groups -------------------------------------------------------------

    fn sg_open(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self.pick(&mut t.rng, types::SECURITY_GROUP, None) else {
            return false;
        };
        let port = if t.rng.bool() { 22 } else { 3389 };
        if self.change(t, &key, |v| ec2::sg_authorize(v, port, WORLD, None)) {
            self.open_rules.push_back((key, port));
            return true;
        }
        false
    }

    fn sg_close(&mut self, t: &mut Tick) -> bool {
        while let Some((key, port)) = self.open_rules.pop_front() {
            if self.change(t, &key, |v| ec2::sg_revoke(v, port, WORLD)) {
                return true;
            }
        }
        let Some(key) = self.pick(&mut t.rng, types::SECURITY_GROUP, None) else {
            return false;
        };
        if t.rng.bool() {
            let r = t.rng.usize(..);
            self.change(t, &key, |v| ec2::sg_revoke_any(v, r))
        } else {
            let port = *ids::pick(&mut t.rng, &[443, 8443, 9090, 6379]).unwrap_or(&443);
            self.change(t, &key, |v| {
                ec2::sg_authorize(v, port, "10.0.0.0/8", Some("internal"))
            })
        }
    }

    // ---- instances -------------------------------------------------------------------

    fn lifecycle(&mut self, t: &mut Tick, launch: bool) -> bool {
        if launch {
            self.launch(t)
        } else {
            self.terminate(t)
        }
    }

    fn launch(&mut self, t: &mut Tick) -> bool {
        if self.topo.vpcs.is_empty() {
            return false;
        }
        let vi = t.rng.usize(..self.topo.vpcs.len());
        let built = {
            let Some(vpc) = self.topo.vpcs.get(vi) else {
                return false;
            };
            let (Some(pair), Some((account, region))) = (
                self.topo.pairs.get(vpc.pair),
                self.topo.pair_names(vpc.pair),
            ) else {
                return false;
            };
            let at = At { account, region };
            if !self.exists(at, types::VPC, &vpc.id) {
                return false;
            }
            let subnets: Vec<_> = vpc
                .subnets
                .iter()
                .filter(|s| self.exists(at, types::SUBNET, &s.id))
                .collect();
            let Some(subnet) = ids::pick(&mut t.rng, &subnets).copied() else {
                return false;
            };
            let sgs = gen::choose_sgs(&mut t.rng, &vpc.sgs, |id| {
                self.exists(at, types::SECURITY_GROUP, id)
            });
            if sgs.is_empty() {
                return false;
            }
            let profiles = self
                .topo
                .accounts
                .get(pair.account)
                .map_or(&[][..], |a| &a.profiles[..]);
            let spec = InstanceSpec {
                at,
                vpc_id: &vpc.id,
                vpc_octet: vpc.octet,
                subnet,
                sgs: &sgs,
                profile: gen::choose_profile(&mut t.rng, profiles),
                kms_key: &pair.kms_key,
                ami: ids::pick(&mut t.rng, &pair.amis)
                    .map_or("ami-00000000000000000", String::as_str),
                launch_ms: t.now,
                env: vpc.env,
            };
            (
                ec2::instance_trio(&mut t.rng, &spec),
                at.key(types::SUBNET, &subnet.id),
            )
        };
        let (trio, subnet_key) = built;
        for (key, doc) in trio {
            self.write(t, key, doc);
        }
        self.change(t, &subnet_key, |v| ec2::adjust_free_ips(v, -1));
        true
    }

    fn terminate(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self.pick(&mut t.rng, types::INSTANCE, None) else {
            return false;
        };
        let Some(doc) = self.document(&key) else {
            return false;
        };
        let at = At {
            account: &key.account,
            region: &key.region,
        };
        self.delete(t, &key);
        for eni in related(&doc, HAS_ENI) {
            self.delete(t, &at.key(types::NETWORK_INTERFACE, &eni));
        }
        for vol in related(&doc, HAS_VOLUME) {
            self.delete(t, &at.key(types::VOLUME, &vol));
        }
        self.release_eip_of(t, &key);
        if let Some(subnet) = ec2::subnet_of(&doc) {
            self.change(t, &at.key(types::SUBNET, subnet), |v| {
                ec2::adjust_free_ips(v, 1)
            });
        }
        true
    }

    fn instance_sgs(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self.pick(&mut t.rng, types::INSTANCE, None) else {
            return false;
        };
        let Some(mut doc) = self.document(&key) else {
            return false;
        };
        let at = At {
            account: &key.account,
            region: &key.region,
        };
        let Some(vpc) =
            config_str(&doc, "vpcId").and_then(|id| self.topo.vpc(at.account, at.region, id))
        else {
            return false;
        };
        let current = ec2::group_ids(&doc);
        let mut new = Vec::new();
        for _ in 0..2 {
            new = gen::choose_sgs(&mut t.rng, &vpc.sgs, |id| {
                self.exists(at, types::SECURITY_GROUP, id)
            });
            if !new.is_empty() && new.iter().map(|g| &g.id).ne(current.iter()) {
                break;
            }
        }
        if new.is_empty() || new.iter().map(|g| &g.id).eq(current.iter()) {
            return false;
        }
        if !ec2::set_groups(&mut doc, types::INSTANCE, &new) {
            return false;
        }
        let enis = related(&doc, HAS_ENI);
        self.write(t, key.clone(), doc);
        for eni in enis {
            let eni_key = at.key(types::NETWORK_INTERFACE, &eni);
            self.change(t, &eni_key, |v| {
                ec2::set_groups(v, types::NETWORK_INTERFACE, &new)
            });
        }
        true
    }

    // ---- IAM -------------------------------------------------------------------------

    fn policy_edit(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self.pick(&mut t.rng, types::POLICY, None) else {
            return false;
        };
        let region = self.cfg.regions.first().map_or("us-east-1", String::as_str);
        let document = iam::random_policy(&mut t.rng, &key.account, region, true);
        let now = t.now;
        self.change(t, &key, |v| iam::add_version(v, document, now))
    }

    fn attach(&mut self, t: &mut Tick) -> bool {
        let Some(role) = self.pick(&mut t.rng, types::ROLE, None) else {
            return false;
        };
        let Some(policy) = self.pick(&mut t.rng, types::POLICY, Some(&role.account)) else {
            return false;
        };
        let Some((name, arn, id)) = self.document(&policy).as_ref().and_then(iam::policy_ident)
        else {
            return false;
        };
        if !self.change(t, &role, |v| iam::attach(v, &name, &arn, &id)) {
            return false;
        }
        self.change(t, &policy, |v| iam::bump_attachments(v, 1));
        true
    }

    fn detach(&mut self, t: &mut Tick) -> bool {
        let Some(role) = self.pick(&mut t.rng, types::ROLE, None) else {
            return false;
        };
        let Some(doc) = self.document(&role) else {
            return false;
        };
        let attached = related(&doc, iam::TO_POLICY);
        let Some(id) = ids::pick(&mut t.rng, &attached).cloned() else {
            return false;
        };
        let policy = ResourceKey::new(&role.account, types::GLOBAL_REGION, types::POLICY, &id);
        if !self.change(t, &role, |v| iam::detach(v, &id)) {
            return false;
        }
        self.change(t, &policy, |v| iam::bump_attachments(v, -1));
        true
    }

    fn role_used(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self.pick(&mut t.rng, types::ROLE, None) else {
            return false;
        };
        let at = t.now - t.rng.i64(0..self.cfg.tick_ms.max(1));
        let region = ids::pick(&mut t.rng, &self.cfg.regions)
            .cloned()
            .unwrap_or_else(|| "us-east-1".to_string());
        self.change(t, &key, |v| iam::touch_role(v, at, &region))
    }

    // ---- everything else ---------------------------------------------------------------

    fn retag(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self
            .store
            .pick_where(&mut t.rng, |s| {
                shapes::taggable(&s.resource_type) && types::is_original(&s.resource_type)
            })
            .map(|o| (*o.key).clone())
        else {
            return false;
        };
        let what = t.rng.u8(..3);
        let value = match what {
            1 => ids::word(&mut t.rng, COST_CENTERS),
            _ => ids::word(&mut t.rng, OWNERS),
        };
        let ty = key.resource_type.clone();
        self.change(t, &key, |v| shapes::retag(v, &ty, what, value))
    }

    fn subnet_ips(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self.pick(&mut t.rng, types::SUBNET, None) else {
            return false;
        };
        let delta = *ids::pick(&mut t.rng, &[-3, -2, -1, 1, 2, 3]).unwrap_or(&1);
        self.change(t, &key, |v| ec2::adjust_free_ips(v, delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_counts() {
        assert_eq!(ops_per_tick(0.0, 1000), 0);
        assert_eq!(ops_per_tick(0.01, 10), 1);
        assert_eq!(ops_per_tick(0.01, 2000), 20);
        assert_eq!(ops_per_tick(f64::NAN, 2000), 0);
    }
}
