//! Fixture-driven tests: every row of the table against a real-shaped CloudTrail record, and
//! every carrier against AWS's documented message shapes (`tests/fixtures/events/`).

use crate::envelope::{
    parse_eventbridge, parse_log_file, parse_queue_message, parse_s3_notification,
};
use crate::envelope::{Envelope, QueueMessage};
use crate::mapping::{lookup_name, map, values_at, Mapped};
use crate::table::{Op, Ty, ROWS};
use crate::{Attribution, CloudTrailEvent, Error};
use driftlog_model::{COMPLIANCE_TYPE, KNOWN_TYPES};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every record of every `records/*.json` log file, with the file it came from.
fn all_records() -> Vec<(String, CloudTrailEvent)> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(fixtures().join("records"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for p in paths {
        let (events, errors) = parse_log_file(&std::fs::read(&p).unwrap()).unwrap();
        assert!(errors.is_empty(), "{}: {errors:?}", p.display());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        out.extend(events.into_iter().map(|e| (name.clone(), e)));
    }
    out
}

fn expected() -> BTreeMap<String, Vec<String>> {
    read("expected.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (id, targets) = l.split_once('\t').unwrap_or((l, ""));
            let mut t: Vec<String> = targets
                .split(" | ")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            t.sort();
            (id.to_string(), t)
        })
        .collect()
}

/// One check per fixture record: the targets it maps to (type and reference), their account
/// and region (`global` for IAM), or `Unmapped` when none are expected.
#[test]
fn every_fixture_record_maps_as_expected() {
    let expected = expected();
    let records = all_records();
    assert_eq!(records.len(), expected.len(), "records vs expected.tsv");
    let mut failures = Vec::new();
    for (file, event) in &records {
        let want = &expected[&event.event_id];
        let got: Vec<String> = match map(event) {
            Mapped::Resources(targets) => {
                for t in &targets {
                    assert_eq!(t.account, "111122223333", "{t}");
                    let global = t.resource_type.starts_with("AWS::IAM::");
                    assert_eq!(t.region == "global", global, "{t}");
                    if !global {
                        assert_eq!(t.region, event.aws_region, "{t}");
                    }
                    assert_eq!(
                        t.resource_key().is_some(),
                        matches!(t.reference, crate::Ref::Id(_))
                    );
                }
                let mut v: Vec<String> = targets
                    .iter()
                    .map(|t| format!("{} {}", t.resource_type, t.reference))
                    .collect();
                v.sort();
                v
            }
            Mapped::Unmapped { .. } => Vec::new(),
            other => vec![format!("{other:?}")],
        };
        if &got != want {
            failures.push(format!(
                "{file} {} {}:\n  want {want:?}\n  got  {got:?}",
                event.event_name, event.event_id
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Each row of the table is exercised: some fixture record of its API has a value at its path.
#[test]
fn every_row_has_a_fixture_record() {
    let records = all_records();
    let missing: Vec<String> = ROWS
        .iter()
        .filter(|row| {
            !records.iter().any(|(_, e)| {
                e.event_source == row.source
                    && lookup_name(&e.event_source, &e.event_name) == row.event
                    && !values_at(e, row.path).is_empty()
            })
        })
        .map(|row| format!("{} {} {}", row.source, row.event, row.path))
        .collect();
    assert!(
        missing.is_empty(),
        "rows without a fixture:\n{}",
        missing.join("\n")
    );
}

/// Types whose main write APIs cannot give one of create, modify, delete, and why.
const NO_ROW: &[(&str, Op, &str)] = &[(
    "AWS::EC2::FlowLog",
    Op::Modify,
    "flow logs cannot be modified, only replaced; their tags change through CreateTags/DeleteTags, typed by the fl- prefix",
)];

#[test]
fn every_known_type_has_create_modify_and_delete_rows() {
    let mut missing = Vec::new();
    for spec in KNOWN_TYPES {
        if spec.resource_type == COMPLIANCE_TYPE {
            continue;
        }
        for op in [Op::Create, Op::Modify, Op::Delete] {
            let has_row = ROWS
                .iter()
                .any(|r| r.op == op && r.ty == Ty::Fixed(spec.resource_type));
            let excused = NO_ROW
                .iter()
                .any(|(ty, o, _)| *ty == spec.resource_type && *o == op);
            if !has_row && !excused {
                missing.push(format!("{} {op:?}", spec.resource_type));
            }
        }
    }
    assert!(missing.is_empty(), "no row for: {missing:?}");
}

#[test]
fn table_names_only_known_types_and_well_formed_paths() {
    let known: BTreeSet<&str> = KNOWN_TYPES.iter().map(|s| s.resource_type).collect();
    for row in ROWS {
        if let Ty::Fixed(ty) = row.ty {
            assert!(known.contains(ty), "{ty} is not in KNOWN_TYPES");
        }
        let root = row.path.split('.').next().unwrap_or_default();
        assert!(
            ["requestParameters", "responseElements", "resources[]"].contains(&root),
            "{} {}: path {}",
            row.source,
            row.event,
            row.path
        );
        assert!(
            row.path
                .split('.')
                .all(|s| !s.is_empty() && !s.trim_end_matches("[]").contains('[')),
            "{}",
            row.path
        );
        assert!(!lookup_name(row.source, row.event).is_empty());
        assert_eq!(
            lookup_name(row.source, row.event),
            row.event,
            "store names without suffix"
        );
    }
    for (ty, _) in crate::table::ID_PREFIXES.iter().map(|(p, t)| (t, p)) {
        assert!(known.contains(ty), "{ty}");
    }
}

fn api_call(rel: &str) -> CloudTrailEvent {
    match parse_eventbridge(&read(rel)).unwrap() {
        Envelope::ApiCall(e) => *e,
        other => panic!("{rel}: {other:?}"),
    }
}

#[test]
fn eventbridge_api_call_maps_and_attributes_to_the_assumed_role() {
    let event = api_call("carriers/eventbridge-authorize-sg-ingress.json");
    let Mapped::Resources(targets) = map(&event) else {
        panic!("{:?}", map(&event));
    };
    assert_eq!(targets.len(), 1);
    let key = targets[0].resource_key().unwrap();
    assert_eq!(
        (
            key.account.as_str(),
            key.region.as_str(),
            key.resource_type.as_str(),
            key.resource_id.as_str()
        ),
        (
            "111122223333",
            "eu-west-1",
            "AWS::EC2::SecurityGroup",
            "sg-0a1b2c3d4e5f6a7b8"
        )
    );
    let a = crate::attribute(&event);
    assert_eq!(a.principal, "arn:aws:iam::111122223333:role/deploy");
    assert_eq!(a.session_name.as_deref(), Some("ci-run-481"));
    assert_eq!(
        a.describe(),
        "by arn:aws:iam::111122223333:role/deploy (session ci-run-481) via AuthorizeSecurityGroupIngress from 203.0.113.7"
    );
    let issuer = event.user_identity.session_context.as_ref().unwrap();
    assert!(issuer
        .attributes
        .contains(&("mfaAuthenticated".into(), "false".into())));
}

#[test]
fn failed_read_only_and_unmapped_calls_touch_nothing() {
    let failed = api_call("carriers/eventbridge-failed-call.json");
    assert_eq!(
        map(&failed),
        Mapped::Failed {
            error_code: "Client.UnauthorizedOperation".into()
        }
    );
    assert_eq!(
        map(&api_call("carriers/eventbridge-read-only.json")),
        Mapped::ReadOnly
    );
    assert_eq!(
        map(&api_call("carriers/eventbridge-unmapped-write.json")),
        Mapped::Unmapped {
            source: "ec2.amazonaws.com".into(),
            name: "CreateSnapshot".into()
        }
    );
    // A read named as such is read-only even when readOnly is absent.
    let mut e = api_call("carriers/eventbridge-read-only.json");
    e.read_only = None;
    assert_eq!(map(&e), Mapped::ReadOnly);
    // A data event (an object write) changes no bucket configuration.
    let mut e = api_call("carriers/eventbridge-unmapped-write.json");
    e.event_category = Some("Data".into());
    assert_eq!(map(&e), Mapped::ReadOnly);
}

#[test]
fn other_eventbridge_events_are_a_distinct_outcome() {
    let body = read("carriers/eventbridge-not-cloudtrail.json");
    let expected = Envelope::NotApiCall {
        detail_type: "EC2 Instance State-change Notification".into(),
        source: "aws.ec2".into(),
    };
    assert_eq!(parse_eventbridge(&body).unwrap(), expected);
    assert_eq!(
        parse_queue_message(&body).unwrap(),
        QueueMessage::EventBridge(expected)
    );
}

#[test]
fn malformed_bodies_are_refused_naming_the_field() {
    let cases = [
        (
            "carriers/malformed-event-time.json",
            "EventBridge envelope: field detail.eventTime = \"1 May 2024\" rejected: not an RFC 3339 time",
        ),
        (
            "carriers/malformed-missing-event-name.json",
            "EventBridge envelope: field detail.eventName is missing",
        ),
        (
            "carriers/malformed-detail-not-object.json",
            "EventBridge envelope: field detail = \"AuthorizeSecurityGroupIngress\" rejected: not a JSON object",
        ),
        ("carriers/malformed-truncated.json", "EventBridge envelope is not valid JSON"),
    ];
    for (rel, expected) in cases {
        let err = parse_eventbridge(&read(rel)).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{rel}: {err}");
    }
    let err = parse_queue_message(r#"{"hello": 1, "world": 2}"#).unwrap_err();
    assert!(
        matches!(err, Error::UnknownMessage { ref keys } if keys == "hello, world"),
        "{err}"
    );
    let err = parse_log_file(br#"{"records": []}"#)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "CloudTrail log file: field Records is missing");
    let err = parse_log_file(&[0x1f, 0x8b, 0, 1, 2]).unwrap_err();
    assert!(matches!(err, Error::Gzip { .. }), "{err}");
}

#[test]
fn gzip_log_file_keeps_good_records_beside_bad_ones() {
    let bytes = std::fs::read(
        fixtures()
            .join("111122223333_CloudTrail_eu-west-1_20240501T1005Z_a1B2c3D4e5F6g7H8.json.gz"),
    )
    .unwrap();
    let (events, errors) = parse_log_file(&bytes).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = events.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "AuthorizeSecurityGroupIngress",
            "CreateUser",
            "PutBucketPolicy"
        ]
    );

    let partial = br#"{"Records": [
        {"eventID": "1", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": "DeleteBucket", "awsRegion": "eu-west-1"},
        {"eventID": "2", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "s3.amazonaws.com", "awsRegion": "eu-west-1"}
    ]}"#;
    let (events, errors) = parse_log_file(partial).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "CloudTrail log file: field Records[1].eventName is missing"
    );
}

#[test]
fn s3_notifications_list_only_new_cloudtrail_log_files() {
    let QueueMessage::LogObjects(objects) =
        parse_s3_notification(&read("carriers/s3-notification.json")).unwrap()
    else {
        panic!("not log objects");
    };
    let keys: Vec<(&str, &str)> = objects
        .objects
        .iter()
        .map(|o| (o.bucket.as_str(), o.key.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("example-trail-logs", "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/111122223333_CloudTrail_eu-west-1_20240501T1005Z_a1B2c3D4e5F6g7H8.json.gz"),
            // `+` in a notification key is a space.
            ("example-trail-logs", "trails 2024/AWSLogs/o-aa111bb222/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T1005Z_Zz9Yy8Xx7Ww6Vv5U.json.gz"),
        ]
    );
    assert_eq!(objects.skipped, 2, "the digest file and the removal");
    assert_eq!(objects.objects[0].size, Some(2048));
    assert_eq!(objects.objects[0].region.as_deref(), Some("eu-west-1"));

    let sns = parse_queue_message(&read("carriers/sns-s3-notification.json")).unwrap();
    let QueueMessage::LogObjects(via_sns) = sns else {
        panic!("{sns:?}");
    };
    assert_eq!(via_sns.objects, objects.objects[..1]);

    assert_eq!(
        parse_queue_message(&read("carriers/s3-test-event.json")).unwrap(),
        QueueMessage::S3TestEvent
    );
    assert_eq!(
        parse_s3_notification(&read("carriers/s3-test-event.json")).unwrap(),
        QueueMessage::S3TestEvent
    );
}

#[test]
fn queue_messages_are_recognized_by_shape() {
    let envelope = read("carriers/eventbridge-authorize-sg-ingress.json");
    assert!(matches!(
        parse_queue_message(&envelope).unwrap(),
        QueueMessage::EventBridge(Envelope::ApiCall(_))
    ));
    let detail =
        serde_json::from_str::<serde_json::Value>(&envelope).unwrap()["detail"].to_string();
    let QueueMessage::Record(e) = parse_queue_message(&detail).unwrap() else {
        panic!("not a record");
    };
    assert_eq!(e.event_id, "a9e8d7c6-b5a4-4321-8fed-cba987654321");
}

/// The stored form of an attribution is a boundary: its bytes are pinned.
/// Refresh with `UPDATE_GOLDEN=1 cargo test -p driftlog-events` after a deliberate change.
#[test]
fn attribution_golden() {
    let event = api_call("carriers/eventbridge-authorize-sg-ingress.json");
    let text = serde_json::to_string_pretty(&crate::attribute(&event)).unwrap() + "\n";
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/attribution.golden.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, golden);
    let back: Attribution = serde_json::from_str(&golden).unwrap();
    assert_eq!(back, crate::attribute(&event));
}
