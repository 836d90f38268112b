//! How the service types drift: security-relevant settings flipped now and then (public
//! databases, key rotation and deletion, trail validation, queue and topic encryption,
//! scan-on-push, public EKS endpoints, secret rotation, alarms losing their actions, EIPs
//! moving, flow logs deleted, listeners' TLS policy weakened), ordinary edits (tags, memory, retention, thresholds),
//! resources created and deleted, and volatile values ticking.
//!
//! It runs after the original types' operations, from its own random stream and with a
//! budget of `round(churn * service resources)` operations, so the original types' ticks
//! are unchanged.

mod moves;

use crate::churn::{ops_per_tick, Tick};
use crate::estate::Estate;
use crate::ids;
use crate::services::unit::ALERTS_TOPIC;
use crate::shapes::svc::Svc;
use crate::shapes::{
    alarms, containers, dynamodb, elb, kms, lambda, messaging, rds, secrets, tags_svc,
};
use crate::types;
use driftlog_model::ResourceKey;
use fastrand::Rng;
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
enum Op {
    DbPublic,
    DbRetention,
    SnapshotPublic,
    KeyRotation,
    KeyDeletion,
    TrailValidation,
    QueueEncryption,
    QueueRetention,
    TopicEncryption,
    ScanOnPush,
    EksEndpoint,
    SecretRotation,
    SecretRotated,
    AlarmActions,
    AlarmThreshold,
    Eip,
    FlowLog,
    Lifecycle,
    Tags,
    Memory,
    LbProtection,
    /// An HTTPS listener's TLS policy weakened or restored, or a redirect's status code.
    ListenerRedirect,
    TablePitr,
    TableGrow,
}

/// Relative frequency of each operation.
const OPS: &[(Op, u32)] = &[
    (Op::DbPublic, 4),
    (Op::DbRetention, 3),
    (Op::SnapshotPublic, 2),
    (Op::KeyRotation, 4),
    (Op::KeyDeletion, 2),
    (Op::TrailValidation, 2),
    (Op::QueueEncryption, 5),
    (Op::QueueRetention, 4),
    (Op::TopicEncryption, 4),
    (Op::ScanOnPush, 3),
    (Op::EksEndpoint, 2),
    (Op::SecretRotation, 4),
    (Op::SecretRotated, 4),
    (Op::AlarmActions, 5),
    (Op::AlarmThreshold, 3),
    (Op::Eip, 5),
    (Op::FlowLog, 4),
    (Op::Lifecycle, 15),
    (Op::Tags, 12),
    (Op::Memory, 6),
    (Op::LbProtection, 2),
    (Op::ListenerRedirect, 2),
    (Op::TablePitr, 2),
    (Op::TableGrow, 4),
];

const ATTEMPTS: usize = 4;
const OWNERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "platform", "data"];

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

fn svc(key: &ResourceKey) -> Svc<'_> {
    Svc {
        account: &key.account,
        region: &key.region,
    }
}

impl Estate {
    /// Resources of the original fourteen types, which set their own churn budget.
    pub(crate) fn original_len(&self) -> usize {
        self.store
            .scopes()
            .filter(|(s, _)| types::is_original(&s.resource_type))
            .map(|(_, n)| n)
            .sum()
    }

    pub(crate) fn service_ops(&mut self, t: &mut Tick) {
        let n = self.len() - self.original_len();
        for _ in 0..ops_per_tick(self.cfg.churn, n) {
            for _ in 0..ATTEMPTS {
                let op = draw_op(&mut t.rng);
                if self.apply_service(op, t) {
                    break;
                }
            }
        }
    }

    fn apply_service(&mut self, op: Op, t: &mut Tick) -> bool {
        let flip = t.rng.bool();
        let now = t.now;
        match op {
            Op::DbPublic => self.edit_one(t, types::DB_INSTANCE, |_, v| rds::set_public(v, flip)),
            Op::DbRetention => {
                let days = *ids::pick(&mut t.rng, &[1, 7, 14, 35]).unwrap_or(&7);
                self.edit_one(t, types::DB_INSTANCE, |_, v| {
                    rds::set_backup_retention(v, days)
                })
            }
            Op::SnapshotPublic => {
                let public = t.rng.u8(..3) == 0;
                self.edit_one(t, types::DB_SNAPSHOT, |_, v| {
                    rds::set_snapshot_public(v, public)
                })
            }
            Op::KeyRotation => self.edit_one(t, types::KMS_KEY, |_, v| kms::set_rotation(v, flip)),
            Op::KeyDeletion => {
                let days = flip.then(|| t.rng.i64(7..=30));
                self.edit_one(t, types::KMS_KEY, |_, v| {
                    kms::schedule_deletion(v, days, now)
                })
            }
            Op::TrailValidation => self.edit_one(t, types::TRAIL, |_, v| kms::toggle_validation(v)),
            Op::QueueEncryption => self.edit_one(t, types::SQS_QUEUE, |_, v| {
                messaging::set_queue_kms(v, flip.then_some("alias/aws/sqs"), now)
            }),
            Op::QueueRetention => {
                let secs =
                    *ids::pick(&mut t.rng, &[86_400, 345_600, 1_209_600]).unwrap_or(&345_600);
                self.edit_one(t, types::SQS_QUEUE, |_, v| {
                    messaging::set_queue_retention(v, secs, now)
                })
            }
            Op::TopicEncryption => self.edit_one(t, types::SNS_TOPIC, |_, v| {
                messaging::set_topic_kms(v, flip.then_some("alias/aws/sns"))
            }),
            Op::ScanOnPush => self.edit_one(t, types::ECR_REPOSITORY, |_, v| {
                containers::toggle_scan_on_push(v)
            }),
            Op::EksEndpoint => self.edit_one(t, types::EKS_CLUSTER, |_, v| {
                containers::toggle_public_endpoint(v)
            }),
            Op::SecretRotation => self.edit_one(t, types::SECRET, |k, v| {
                let f = flip.then(|| {
                    svc(k).arn(
                        "lambda",
                        "function:SecretsManagerRDSPostgreSQLRotationSingleUser",
                    )
                });
                secrets::set_rotation(v, f.as_deref(), now)
            }),
            Op::SecretRotated => self.edit_one(t, types::SECRET, |_, v| secrets::rotated(v, now)),
            Op::AlarmActions => self.edit_one(t, types::ALARM, |k, v| {
                let topic = flip.then(|| messaging::topic_arn(svc(k), ALERTS_TOPIC));
                alarms::set_actions(v, topic.as_deref(), now)
            }),
            Op::AlarmThreshold => {
                let factor = if flip { 1.5 } else { 0.75 };
                self.edit_one(t, types::ALARM, |_, v| {
                    alarms::set_threshold(v, factor, now)
                })
            }
            Op::Eip => self.eip_move(t),
            Op::FlowLog => self.flow_log_churn(t),
            Op::Lifecycle => {
                let create_p = if self.len() - self.original_len() > self.service_target {
                    4
                } else {
                    6
                };
                let create = t.rng.u8(..10) < create_p;
                self.service_lifecycle(t, create) || self.service_lifecycle(t, !create)
            }
            Op::Tags => self.retag_service(t),
            Op::Memory => {
                let mb = *ids::pick(&mut t.rng, &[128, 256, 512, 1024, 2048]).unwrap_or(&256);
                let mut r = Rng::with_seed(t.rng.u64(..));
                self.edit_one(t, types::LAMBDA_FUNCTION, |_, v| {
                    lambda::set_memory(&mut r, v, mb, now)
                })
            }
            Op::LbProtection => self.edit_one(t, types::LOAD_BALANCER, |_, v| {
                elb::set_deletion_protection(v, flip)
            }),
            Op::ListenerRedirect => self.edit_one(t, types::LISTENER, |_, v| {
                elb::toggle_tls_policy(v) || elb::toggle_redirect(v)
            }),
            Op::TablePitr => {
                self.edit_one(t, types::DYNAMODB_TABLE, |_, v| dynamodb::toggle_pitr(v))
            }
            Op::TableGrow => {
                let delta = t.rng.u64(1..5_000);
                self.edit_one(t, types::DYNAMODB_TABLE, |_, v| dynamodb::grow(v, delta))
            }
        }
    }

    /// Edits one random resource of `resource_type`.
    fn edit_one(
        &mut self,
        t: &mut Tick,
        resource_type: &str,
        f: impl FnOnce(&ResourceKey, &mut Value) -> bool,
    ) -> bool {
        let Some(key) = self.pick(&mut t.rng, resource_type, None) else {
            return false;
        };
        self.change(t, &key, |v| f(&key, v))
    }

    fn retag_service(&mut self, t: &mut Tick) -> bool {
        let Some(key) = self
            .store
            .pick_where(&mut t.rng, |s| tags_svc::taggable(&s.resource_type))
            .map(|o| (*o.key).clone())
        else {
            return false;
        };
        let owner = ids::word(&mut t.rng, OWNERS);
        let remove = t.rng.u8(..3) == 0;
        let ty = key.resource_type.clone();
        self.change(t, &key, |v| {
            let Some(map) = crate::shapes::object_mut(v, &["tags"]) else {
                return false;
            };
            if remove && map.contains_key("owner") {
                map.remove("owner");
            } else if map.get("owner").and_then(Value::as_str) == Some(owner) {
                return false;
            } else {
                map.insert("owner".into(), owner.into());
            }
            tags_svc::sync(&ty, v)
        })
    }
}
