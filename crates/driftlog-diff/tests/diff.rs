//! The diff stage against its contract: field diffs, sets, volatile paths, deletions only from complete snapshots, and diff/apply round trips.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]
use bytes::Bytes;
use driftlog_diff::structural::{apply, diff};
use driftlog_diff::{diff_complete, diff_partial, Change};
use driftlog_model::canonical::{hash128, volatile_hash};
use driftlog_model::{
    spec_for, ChangeType, CompleteSnapshot, CurrentState, Observed, PartialSnapshot, ResourceKey,
    ResourceState, Scope, Seq,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;

const SG: &str = "AWS::EC2::SecurityGroup";

fn sg(id: &str, perms: Value) -> Observed {
    Observed::from_value(
        ResourceKey::new("111122223333", "eu-west-1", SG, id),
        json!({"configuration": {"groupId": id, "ipPermissions": perms}, "relationships": []}),
    )
}

/// A tiny in-memory "log": state plus documents by seq, as the recorder keeps them.
#[derive(Default)]
struct Mini {
    state: CurrentState,
    docs: HashMap<Seq, Bytes>,
    next: Seq,
}

impl Mini {
    fn commit(&mut self, changes: &[Change]) {
        for c in changes {
            self.next += 1;
            self.docs.insert(self.next, c.doc.clone());
            self.state.apply(
                &c.key,
                c.id,
                ResourceState {
                    seq: self.next,
                    version: c.version,
                    doc_hash: c.doc_hash,
                    volatile_hash: c.volatile_hash,
                    deleted: c.status.is_deletion(),
                },
            );
        }
    }
    fn complete(&mut self, res: Vec<Observed>) -> driftlog_diff::Diffed {
        let (snap, rejected) =
            CompleteSnapshot::new(Scope::new("111122223333", "eu-west-1", SG), res);
        assert!(rejected.is_empty());
        let docs = &self.docs;
        let d = diff_complete(&self.state, &snap, u64::MAX, |s| {
            Ok::<_, Infallible>(docs[&s].clone())
        })
        .unwrap();
        self.commit(&d.changes);
        d
    }
}

#[test]
fn one_rule_opened_is_one_update_with_aws_path() {
    let mut m = Mini::default();
    let before =
        json!([{"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipRanges": ["10.0.0.0/8"]}]);
    m.complete(vec![sg("sg-1", before.clone()), sg("sg-2", json!([]))]);
    let mut after = before.as_array().unwrap().clone();
    after.push(
        json!({"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": ["0.0.0.0/0"]}),
    );
    let d = m.complete(vec![sg("sg-1", Value::Array(after)), sg("sg-2", json!([]))]);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.stats.unchanged, 1);
    let c = &d.changes[0];
    assert_eq!(c.version, 2);
    let fc: Vec<driftlog_model::FieldChange> = serde_json::from_slice(&c.diff).unwrap();
    assert_eq!(fc.len(), 1);
    // Canonical order puts fromPort 22 before 443, so the new rule is element 0.
    assert_eq!(fc[0].aws_path(), "Configuration.IpPermissions.0");
    assert_eq!(fc[0].change_type, ChangeType::Create);
    assert_eq!(fc[0].updated_value["ipRanges"], json!(["0.0.0.0/0"]));
}

#[test]
fn reordering_a_set_records_nothing() {
    let mut m = Mini::default();
    let a =
        json!({"ipProtocol": "tcp", "fromPort": 22, "ipRanges": ["10.0.0.0/8", "192.168.0.0/16"]});
    let b = json!({"ipProtocol": "tcp", "fromPort": 443, "ipRanges": []});
    m.complete(vec![sg("sg-1", json!([a.clone(), b.clone()]))]);
    let a2 =
        json!({"ipRanges": ["192.168.0.0/16", "10.0.0.0/8"], "fromPort": 22, "ipProtocol": "tcp"});
    let d = m.complete(vec![sg("sg-1", json!([b, a2]))]);
    assert!(d.changes.is_empty());
    assert_eq!(d.stats.unchanged, 1);
}

#[test]
fn missing_from_complete_snapshot_is_one_deletion() {
    let mut m = Mini::default();
    m.complete(vec![sg("sg-1", json!([])), sg("sg-2", json!([]))]);
    let d = m.complete(vec![sg("sg-1", json!([]))]);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].key.resource_id, "sg-2");
    assert!(d.changes[0].status.is_deletion());
    assert_eq!(d.changes[0].version, 2);
    let fc: Vec<driftlog_model::FieldChange> = serde_json::from_slice(&d.changes[0].diff).unwrap();
    assert!(fc
        .iter()
        .any(|c| c.aws_path() == "Configuration" && c.change_type == ChangeType::Delete));
    // Deleted stays deleted: the next complete snapshot records nothing more.
    assert!(m.complete(vec![sg("sg-1", json!([]))]).changes.is_empty());
    // And it may come back, as a new discovery with the next version.
    let d = m.complete(vec![sg("sg-1", json!([])), sg("sg-2", json!([]))]);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].version, 3);
}

#[test]
fn partial_snapshot_never_deletes() {
    let mut m = Mini::default();
    m.complete(vec![sg("sg-1", json!([])), sg("sg-2", json!([]))]);
    let docs = &m.docs;
    let d = diff_partial(
        &m.state,
        &PartialSnapshot { resources: vec![] },
        u64::MAX,
        |s| Ok::<_, Infallible>(docs[&s].clone()),
    )
    .unwrap();
    assert!(d.changes.is_empty());
    let d = diff_partial(
        &m.state,
        &PartialSnapshot {
            resources: vec![sg("sg-1", json!([{"ipProtocol": "-1"}]))],
        },
        u64::MAX,
        |s| Ok::<_, Infallible>(docs[&s].clone()),
    )
    .unwrap();
    assert_eq!(d.changes.len(), 1);
    assert!(!d.changes[0].status.is_deletion());
}

#[test]
fn volatile_tick_is_counted_not_recorded() {
    let role = |used: &str| {
        Observed::from_value(
            ResourceKey::new("111122223333", "global", "AWS::IAM::Role", "AROA1"),
            json!({"configuration": {"roleName": "r", "roleLastUsed": {"lastUsedDate": used}}}),
        )
    };
    let mut state = CurrentState::new();
    let o = role("2024-01-01");
    state.apply(
        &o.key,
        o.key.id_hash(),
        ResourceState {
            seq: 1,
            version: 1,
            doc_hash: hash128(&o.doc),
            volatile_hash: volatile_hash(&o.volatile),
            deleted: false,
        },
    );
    let (snap, _) = CompleteSnapshot::new(
        Scope::new("111122223333", "global", "AWS::IAM::Role"),
        vec![role("2024-01-02")],
    );
    let d = diff_complete(&state, &snap, u64::MAX, |_| {
        Ok::<_, Infallible>(o.doc.clone())
    })
    .unwrap();
    assert!(d.changes.is_empty());
    assert_eq!(d.stats.volatile_only, 1);
    assert_eq!(d.volatile_ticks.len(), 1);
}

#[test]
fn stale_snapshot_neither_reverts_nor_deletes_newer_items() {
    let mut m = Mini::default();
    m.complete(vec![sg("sg-1", json!([])), sg("sg-2", json!([]))]);
    let as_of = m.next;
    // A refresh records sg-1 and sg-3 after the next poll started...
    let docs = &m.docs;
    let d = diff_partial(
        &m.state,
        &PartialSnapshot {
            resources: vec![
                sg("sg-1", json!([{"ipProtocol": "-1"}])),
                sg("sg-3", json!([])),
            ],
        },
        u64::MAX,
        |s| Ok::<_, Infallible>(docs[&s].clone()),
    )
    .unwrap();
    m.commit(&d.changes);
    // ...then that poll's older view arrives: it lacks sg-3 and has the old sg-1.
    let (snap, _) = CompleteSnapshot::new(
        Scope::new("111122223333", "eu-west-1", SG),
        vec![sg("sg-1", json!([])), sg("sg-2", json!([]))],
    );
    let docs = &m.docs;
    let d = diff_complete(&m.state, &snap, as_of, |s| {
        Ok::<_, Infallible>(docs[&s].clone())
    })
    .unwrap();
    assert!(d.changes.is_empty(), "{:?}", d.changes);
    assert_eq!(d.stats.stale, 2);
}

#[test]
fn duplicate_in_snapshot_cannot_hide_a_deletion() {
    let mut m = Mini::default();
    m.complete(vec![sg("sg-1", json!([])), sg("sg-2", json!([]))]);
    let (snap, rejected) = CompleteSnapshot::new(
        Scope::new("111122223333", "eu-west-1", SG),
        vec![sg("sg-1", json!([])), sg("sg-1", json!([]))],
    );
    assert_eq!(rejected.len(), 1);
    let docs = &m.docs;
    let d = diff_complete(&m.state, &snap, u64::MAX, |s| {
        Ok::<_, Infallible>(docs[&s].clone())
    })
    .unwrap();
    assert_eq!(d.stats.deleted, 1);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-50i64..50).prop_map(|n| json!(n)),
        "[a-c]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-e]", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// SG-shaped documents whose set-like arrays get random content and order.
fn arb_sg() -> impl Strategy<Value = Value> {
    let range = prop::sample::select(vec![
        "10.0.0.0/8",
        "0.0.0.0/0",
        "192.168.0.0/16",
        "203.0.113.7/32",
    ]);
    let perm = (
        prop::sample::select(vec![22u16, 80, 443, 3389]),
        prop::collection::vec(range, 0..3),
    )
        .prop_map(|(p, r)| json!({"ipProtocol": "tcp", "fromPort": p, "toPort": p, "ipRanges": r}));
    (prop::collection::vec(perm, 0..5), "[a-c]{1,2}", arb_json()).prop_map(|(perms, name, extra)| {
        json!({"configuration": {"groupName": name, "ipPermissions": perms, "extra": extra}})
    })
}

proptest! {
    #[test]
    fn diff_of_equal_is_empty(a in arb_json()) {
        prop_assert!(diff(spec_for("AWS::S3::Bucket"), &a, &a).is_empty());
    }

    #[test]
    fn apply_diff_yields_target(a in arb_json(), b in arb_json()) {
        let spec = spec_for("AWS::S3::Bucket");
        let changes = diff(spec, &a, &b);
        prop_assert_eq!(apply(spec, &a, &changes), b);
    }

    #[test]
    fn apply_diff_yields_target_with_sets(a in arb_sg(), b in arb_sg()) {
        let spec = spec_for(SG);
        let key = ResourceKey::new("1", "r", SG, "sg");
        let ca: Value = serde_json::from_slice(&Observed::from_value(key.clone(), a).doc).unwrap();
        let cb: Value = serde_json::from_slice(&Observed::from_value(key, b).doc).unwrap();
        let changes = diff(spec, &ca, &cb);
        prop_assert_eq!(apply(spec, &ca, &changes), cb.clone());
        prop_assert!(diff(spec, &cb, &cb).is_empty());
    }
}
