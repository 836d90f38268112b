//! The service types' churn that creates, deletes or re-points resources: EIPs moving
//! between instances (and let go when their instance terminates), flow logs deleted and
//! created, and functions, queues, topics, alarms, EIPs and snapshots coming and going.

use crate::churn::Tick;
use crate::estate::Estate;
use crate::ids;
use crate::services::unit::{self, ALERTS_TOPIC};
use crate::shapes::netx::{self, EipTarget};
use crate::shapes::svc::Svc;
use crate::shapes::{alarms, lambda, messaging, rds, related, tags};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::Value;

impl Estate {
    // ---- EIPs ----------------------------------------------------------------------------

    /// Detaches an associated EIP, or associates a free one with an instance of its region
    /// that has none.
    pub(super) fn eip_move(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self.pick(&mut t.rng, types::EIP, None) else {
            return false;
        };
        let Some(doc) = self.document(&key) else {
            return false;
        };
        let instance = related(&doc, netx::TO_INSTANCE).into_iter().next();
        let nat_owned = instance.is_none()
            && doc
                .pointer("/configuration/networkInterfaceId")
                .is_some_and(|v| !v.is_null());
        if nat_owned {
            return false;
        }
        let mut r = Rng::with_seed(t.rng.u64(..));
        if let Some(i) = instance {
            let ikey = ResourceKey::new(&key.account, &key.region, types::INSTANCE, &i);
            self.eip_by_instance.remove(&ikey);
            let account = key.account.clone();
            return self.change(t, &key, |v| {
                netx::associate(&mut r, v, &account, &EipTarget::None)
            });
        }
        let Some(ikey) = self.pick_in(t, &key, types::INSTANCE) else {
            return false;
        };
        if self.eip_by_instance.contains_key(&ikey) {
            return false;
        }
        let Some(idoc) = self.document(&ikey) else {
            return false;
        };
        let Some(target) = crate::shapes::ec2::instance_ref(&idoc) else {
            return false;
        };
        let account = key.account.clone();
        let done = self.change(t, &key, |v| {
            netx::associate(
                &mut r,
                v,
                &account,
                &EipTarget::Instance {
                    id: &target.id,
                    eni: &target.eni,
                    private_ip: &target.private_ip,
                },
            )
        });
        if done {
            self.eip_by_instance.insert(ikey, key.resource_id.clone());
        }
        done
    }

    /// A random resource of `resource_type` in `near`'s account and region.
    fn pick_in(
        &self,
        t: &mut Tick,
        near: &ResourceKey,
        resource_type: &str,
    ) -> Option<ResourceKey> {
        self.store
            .pick_where(&mut t.rng, |s| {
                s.resource_type == resource_type
                    && s.account == near.account
                    && s.region == near.region
            })
            .map(|o| (*o.key).clone())
    }

    /// An instance was terminated: the EIP associated with it is disassociated.
    pub(crate) fn release_eip_of(&mut self, t: &mut Tick, instance: &ResourceKey) {
        let Some(alloc) = self.eip_by_instance.remove(instance) else {
            return;
        };
        let key = ResourceKey::new(&instance.account, &instance.region, types::EIP, &alloc);
        let account = key.account.clone();
        let mut r = Rng::with_seed(0);
        self.change(t, &key, |v| {
            netx::associate(&mut r, v, &account, &EipTarget::None)
        });
    }

    // ---- flow logs -----------------------------------------------------------------------

    /// Deletes a VPC's flow log, or creates one for a VPC that has none.
    pub(super) fn flow_log_churn(&mut self, t: &mut Tick) -> bool {
        if self.topo.vpcs.is_empty() {
            return false;
        }
        let vi = t.rng.usize(..self.topo.vpcs.len());
        let Some(vpc) = self.topo.vpcs.get(vi).cloned() else {
            return false;
        };
        let Some((account, region)) = self
            .topo
            .pair_names(vpc.pair)
            .map(|(a, r)| (a.to_string(), r.to_string()))
        else {
            return false;
        };
        let vpc_key = ResourceKey::new(&account, &region, types::VPC, &vpc.id);
        if let Some(fl) = self.flow_logs.get(&vpc_key).cloned() {
            self.flow_logs.remove(&vpc_key);
            return self.delete(
                t,
                &ResourceKey::new(&account, &region, types::FLOW_LOG, &fl),
            );
        }
        if self.store.get(&vpc_key).is_none() {
            return false;
        }
        let roles = self
            .topo
            .pairs
            .get(vpc.pair)
            .and_then(|p| self.topo.accounts.get(p.account))
            .map(|a| a.roles.clone())
            .unwrap_or_default();
        let at = Svc {
            account: &account,
            region: &region,
        };
        let ((key, doc), id) = unit::flow_log(&mut t.rng, at, &vpc, &roles, t.now);
        self.write(t, key, doc);
        self.flow_logs.insert(vpc_key, id);
        true
    }

    // ---- creation and deletion -------------------------------------------------------------

    pub(super) fn service_lifecycle(&mut self, t: &mut Tick, create: bool) -> bool {
        let ty = *ids::pick(
            &mut t.rng,
            &[
                types::LAMBDA_FUNCTION,
                types::SQS_QUEUE,
                types::SNS_TOPIC,
                types::ALARM,
                types::EIP,
                types::DB_SNAPSHOT,
            ],
        )
        .unwrap_or(&types::SQS_QUEUE);
        if create {
            return self.create_service(t, ty);
        }
        let Some(key) = self.pick(&mut t.rng, ty, None) else {
            return false;
        };
        let Some(doc) = self.document(&key) else {
            return false;
        };
        let keep = match ty {
            types::SNS_TOPIC => {
                doc.get("resourceName").and_then(Value::as_str) == Some(ALERTS_TOPIC)
            }
            // An address is released only once disassociated.
            types::EIP => doc
                .pointer("/configuration/associationId")
                .is_some_and(|v| !v.is_null()),
            _ => false,
        };
        !keep && self.delete(t, &key)
    }

    fn create_service(&mut self, t: &mut Tick, ty: &str) -> bool {
        if self.topo.vpcs.is_empty() {
            return false;
        }
        let vi = t.rng.usize(..self.topo.vpcs.len());
        let Some(vpc) = self.topo.vpcs.get(vi).cloned() else {
            return false;
        };
        let Some(pair) = self.topo.pairs.get(vpc.pair).cloned() else {
            return false;
        };
        let Some((account, region)) = self
            .topo
            .pair_names(vpc.pair)
            .map(|(a, r)| (a.to_string(), r.to_string()))
        else {
            return false;
        };
        let at = Svc {
            account: &account,
            region: &region,
        };
        let serial = format!("t{:x}{:03x}", self.ticks, t.rng.u32(..4096));
        let rng = &mut t.rng;
        let tg = tags(&[("env", vpc.env), ("created-by", "churn")]);
        let built = match ty {
            types::LAMBDA_FUNCTION => {
                let roles = self
                    .topo
                    .accounts
                    .get(pair.account)
                    .map(|a| a.roles.clone())
                    .unwrap_or_default();
                let Some(role) = ids::pick(rng, &roles) else {
                    return false;
                };
                let name = format!("worker-fn-{serial}");
                let spec = lambda::FunctionSpec {
                    name: &name,
                    role,
                    subnets: &[],
                    sgs: &[],
                    dlq_arn: None,
                    kms: None,
                    modified_ms: t.now,
                };
                lambda::function(rng, at, &spec, &tg)
            }
            types::SQS_QUEUE => {
                let name = format!("jobs-queue-{serial}");
                let kms = rng.bool().then_some(pair.kms_key.as_str());
                let spec = messaging::QueueSpec {
                    name: &name,
                    dlq: None,
                    kms,
                    created_ms: t.now,
                    modified_ms: t.now,
                };
                messaging::queue(rng, at, &spec, &tg)
            }
            types::SNS_TOPIC => {
                let name = format!("events-{serial}");
                messaging::topic(rng, at, &name, None, &tg)
            }
            types::ALARM => {
                let name = format!("cpu-high-{serial}");
                let topic = messaging::topic_arn(at, ALERTS_TOPIC);
                let group = format!("{}-asg", vpc.env);
                let spec = alarms::AlarmSpec {
                    name: &name,
                    metric: (
                        "AWS/EC2",
                        "CPUUtilization",
                        "AutoScalingGroupName",
                        &group,
                        "Average",
                        80.0,
                    ),
                    topic: Some(&topic),
                    updated_ms: t.now,
                };
                alarms::alarm(rng, at, &spec, &tags(&[]))
            }
            types::EIP => {
                let alloc = ids::ec2_id(rng, "eipalloc");
                let ip = netx::public_ip(rng);
                netx::eip(
                    rng,
                    at,
                    &alloc,
                    &ip,
                    &EipTarget::None,
                    &tags(&[("Name", "spare-ip")]),
                )
            }
            _ => {
                let instance = format!("adhoc-db-{serial}");
                let spec = rds::SnapshotSpec {
                    identifier: &format!("{instance}-final"),
                    instance: &instance,
                    dbi: &rds::resource_id(rng, "db-"),
                    vpc_id: &vpc.id,
                    az_index: 0,
                    kms: &pair.kms_key,
                    instance_created_ms: t.now - 86_400_000,
                    created_ms: t.now,
                    automated: false,
                    public: false,
                };
                rds::snapshot(rng, at, &spec, &tg)
            }
        };
        let (key, doc) = built;
        if self.store.get(&key).is_some()
            || self
                .store
                .get(&ResourceKey::new(&account, &region, types::VPC, &vpc.id))
                .is_none()
        {
            return false;
        }
        self.write(t, key, doc);
        true
    }
}
