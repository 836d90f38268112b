//! One stream message read back: who published it, which of its items it is, and the item
//! — or why it is refused. The item form is the `tail --json` line
//! ([`ReceivedItem::from_event_json`]); an item too large for one message comes in parts.

use driftlog_deliver::{
    nats_subject, parse_item_subject, parse_snapshot_subject, valid_recorder_id, SnapshotMarker,
    CHUNK_HEADER, LOG_HEADER, RECORDER_HEADER, SEQ_HEADER, SNAPSHOT_HEADER,
};
use driftlog_model::{ReceivedItem, Seq};
use std::collections::HashMap;

/// The most bytes of unfinished parts held at once: a publisher that never sends its last
/// part cannot make the aggregator hold more.
const MAX_PARTS_BYTES: usize = 256 << 20;

/// An item message, read.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The publishing recorder's id.
    pub recorder: String,
    /// Its store's id.
    pub log: String,
    /// The item's sequence in that store.
    pub seq: Seq,
    /// The item.
    pub item: ReceivedItem,
    /// The snapshot it belongs to (a resync), or none for the item stream.
    pub snapshot: Option<String>,
}

/// What a message is.
#[derive(Debug)]
pub enum Parsed {
    /// A whole item.
    Item(Box<Incoming>),
    /// One part of an item, kept until its last part comes.
    Part,
    /// The beginning or end of a recorder's snapshot (a resync).
    Marker(Box<SnapshotMarker>),
    /// Not what a recorder publishes: never applied.
    Refused {
        /// A short reason for counting (`no-recorder`, `bad-json`, `subject-mismatch`, …).
        reason: &'static str,
        /// What exactly was wrong.
        detail: String,
    },
}

/// Parts of items being put back together, per (recorder, sequence).
#[derive(Debug, Default)]
pub struct Reassembly {
    parts: HashMap<(String, Seq), (usize, usize, Vec<u8>)>,
    bytes: usize,
}

impl Reassembly {
    /// Bytes held.
    pub fn held(&self) -> usize {
        self.bytes
    }
}

/// Reads one message: its subject, a header lookup, its payload. Parts are kept in `parts`
/// until the item is whole.
pub fn parse_message<'h>(
    subject: &str,
    header: impl Fn(&str) -> Option<&'h str>,
    payload: &[u8],
    parts: &mut Reassembly,
) -> Parsed {
    let refuse = |reason: &'static str, detail: String| Parsed::Refused { reason, detail };
    let Some(recorder) = header(RECORDER_HEADER) else {
        return refuse(
            "no-recorder",
            format!("{subject}: no {RECORDER_HEADER} header (is the sink's format \"item\"?)"),
        );
    };
    if !valid_recorder_id(recorder) {
        return refuse(
            "bad-header",
            format!("{subject}: {RECORDER_HEADER} {recorder:?} is not a recorder id"),
        );
    }
    let Some(log) = header(LOG_HEADER).filter(|l| !l.is_empty()) else {
        return refuse(
            "bad-header",
            format!("{subject}: recorder {recorder}: no {LOG_HEADER} header"),
        );
    };
    let Some(seq) = header(SEQ_HEADER).and_then(|s| s.parse::<Seq>().ok()) else {
        return refuse(
            "bad-header",
            format!(
                "{subject}: recorder {recorder}: {SEQ_HEADER} {:?} is not a sequence",
                header(SEQ_HEADER)
            ),
        );
    };
    if let Some(id) = parse_snapshot_subject(subject) {
        return match SnapshotMarker::from_bytes(payload) {
            Ok(m) if id == recorder && m.recorder == recorder && m.log == log => {
                Parsed::Marker(Box::new(m))
            }
            Ok(m) => refuse(
                "subject-mismatch",
                format!(
                    "{subject}: recorder {recorder} (log {log}): a snapshot marker of recorder {:?} (log {:?})",
                    m.recorder, m.log
                ),
            ),
            Err(e) => refuse(
                "bad-marker",
                format!("{subject}: recorder {recorder}: {e}"),
            ),
        };
    }
    if parse_item_subject(subject).is_none() {
        return refuse(
            "subject-mismatch",
            format!("{subject}: recorder {recorder} seq {seq}: not an item subject"),
        );
    }
    let whole: Vec<u8>;
    let body: &[u8] = match header(CHUNK_HEADER) {
        None => payload,
        Some(c) => {
            let Some((i, n)) = c
                .split_once('/')
                .and_then(|(i, n)| Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?)))
                .filter(|(i, n)| *i >= 1 && i <= n)
            else {
                return refuse(
                    "bad-header",
                    format!("{subject}: recorder {recorder} seq {seq}: {CHUNK_HEADER} {c:?}"),
                );
            };
            let key = (recorder.to_string(), seq);
            let entry = parts.parts.remove(&key);
            let (mut got, mut buf) = match entry {
                Some((got, total, buf)) if total == n => (got, buf),
                Some((_, _, buf)) => {
                    parts.bytes -= buf.len();
                    (0, Vec::new())
                }
                None => (0, Vec::new()),
            };
            if i != got + 1 {
                // A part out of order (a redelivery of an earlier part): start again from
                // part 1, which comes again with the redelivery of the whole item.
                parts.bytes -= buf.len();
                if i != 1 {
                    return Parsed::Part;
                }
                buf.clear();
                got = 0;
            }
            if parts.bytes + payload.len() > MAX_PARTS_BYTES {
                parts.bytes -= buf.len();
                return refuse(
                    "too-large",
                    format!("{subject}: recorder {recorder} seq {seq}: parts exceed {MAX_PARTS_BYTES} bytes held"),
                );
            }
            buf.extend_from_slice(payload);
            parts.bytes += payload.len();
            got += 1;
            if got < n {
                parts.parts.insert(key, (got, n, buf));
                return Parsed::Part;
            }
            parts.bytes -= buf.len();
            whole = buf;
            &whole
        }
    };
    let item = match ReceivedItem::from_event_json(body) {
        Ok(i) => i,
        Err(e) => {
            return refuse(
                "bad-item",
                format!("{subject}: recorder {recorder} seq {seq}: {e}"),
            )
        }
    };
    if item.seq != seq {
        return refuse(
            "seq-mismatch",
            format!(
                "{subject}: recorder {recorder}: header seq {seq}, item seq {}",
                item.seq
            ),
        );
    }
    if nats_subject(&item.key) != subject {
        return refuse(
            "subject-mismatch",
            format!(
                "{subject}: recorder {recorder} seq {seq}: the item is {}/{}/{}, whose subject is {}",
                item.key.account,
                item.key.region,
                item.key.resource_type,
                nats_subject(&item.key)
            ),
        );
    }
    Parsed::Item(Box::new(Incoming {
        recorder: recorder.to_string(),
        log: log.to_string(),
        seq,
        item,
        snapshot: header(SNAPSHOT_HEADER).map(str::to_string),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "driftlog.ci.111122223333.eu-west-1.AWS::EC2::VPC";

    fn body(seq: u64, account: &str) -> String {
        format!(
            r#"{{"configurationItem":{{"ARN":null,"availabilityZone":null,"awsAccountId":"{account}","awsRegion":"eu-west-1","configuration":{{"vpcId":"vpc-1"}},"configurationItemCaptureTime":"2024-05-01T10:00:00.000Z","configurationItemStatus":"ResourceDiscovered","configurationItemVersion":"1.3","configurationStateId":1,"configurationStateMd5Hash":"","relatedEvents":[],"relationships":[],"resourceCreationTime":null,"resourceId":"vpc-1","resourceName":null,"resourceType":"AWS::EC2::VPC","supplementaryConfiguration":{{}},"tags":{{}}}},"configurationItemDiff":{{"changedProperties":{{}},"changeType":"CREATE"}},"seq":{seq},"version":1}}"#
        )
    }

    fn headers<'a>(seq: &'a str, chunk: Option<&'a str>) -> impl Fn(&str) -> Option<&'a str> {
        move |h: &str| match h {
            RECORDER_HEADER => Some("eu"),
            LOG_HEADER => Some("L1"),
            SEQ_HEADER => Some(seq),
            CHUNK_HEADER => chunk,
            _ => None,
        }
    }

    #[test]
    fn snapshot_markers_and_items() {
        use driftlog_deliver::{snapshot_subject, SnapshotPhase};
        let mut parts = Reassembly::default();
        let marker = |recorder: &str| SnapshotMarker {
            phase: SnapshotPhase::End,
            snapshot: "s1".into(),
            recorder: recorder.into(),
            log: "L1".into(),
            seq: 9,
            items: 2,
            scopes: vec![("111122223333".into(), "eu-west-1".into())],
        };
        match parse_message(
            &snapshot_subject("eu"),
            headers("9", None),
            &marker("eu").to_bytes(),
            &mut parts,
        ) {
            Parsed::Marker(m) => assert_eq!(*m, marker("eu")),
            other => panic!("{other:?}"),
        }
        // Another recorder's marker, or one on another's subject: refused.
        for (subject, body) in [
            (snapshot_subject("eu"), marker("us").to_bytes()),
            (snapshot_subject("us"), marker("eu").to_bytes()),
        ] {
            assert!(matches!(
                parse_message(&subject, headers("9", None), &body, &mut parts),
                Parsed::Refused {
                    reason: "subject-mismatch",
                    ..
                }
            ));
        }
        assert!(matches!(
            parse_message(
                &snapshot_subject("eu"),
                headers("9", None),
                b"{}",
                &mut parts
            ),
            Parsed::Refused {
                reason: "bad-marker",
                ..
            }
        ));
        // A snapshot's item names its snapshot.
        let snap = |h: &str| match h {
            SNAPSHOT_HEADER => Some("s1"),
            h => headers("7", None)(h),
        };
        match parse_message(
            SUBJECT,
            snap,
            body(7, "111122223333").as_bytes(),
            &mut parts,
        ) {
            Parsed::Item(i) => assert_eq!(i.snapshot.as_deref(), Some("s1")),
            other => panic!("{other:?}"),
        }
    }

    /// What a recorder publishes reads back as exactly what it recorded: the canonical
    /// document and volatile values of every resource of every simulated type, so the
    /// aggregator's diff stage finds the publisher's changes and no others.
    #[test]
    fn every_simulated_resource_reads_back_byte_for_byte() {
        let estate = driftlog_sim::Estate::new(driftlog_sim::SimConfig {
            resources: 3000,
            ..driftlog_sim::SimConfig::default()
        });
        let mut types = std::collections::BTreeSet::new();
        let mut fast = 0;
        for (i, o) in estate.iter().enumerate() {
            let ci = driftlog_model::ConfigurationItem {
                seq: i as u64 + 1,
                version: 3,
                key: (*o.key).clone(),
                status: driftlog_model::Status::Ok,
                capture_time_ms: 1_714_557_600_123,
                doc: o.doc.clone(),
                volatile: o.volatile.clone(),
                diff: bytes::Bytes::from_static(b"[]"),
                attribution: Vec::new(),
            };
            let mut line = Vec::new();
            ci.write_event_json(&mut line).unwrap();
            let back = ReceivedItem::from_event_json(&line).unwrap();
            assert_eq!(back.key, *o.key);
            assert_eq!((back.seq, back.version), (ci.seq, 3));
            assert_eq!(back.capture_time_ms, ci.capture_time_ms);
            // The fast reading (what is canonical already is taken as it is) and the
            // reference reading (a tree, canonicalized) agree, byte for byte.
            let tree = ReceivedItem::from_event_json_tree(&line).unwrap();
            let (obs, reference) = (back.observed.unwrap(), tree.observed.unwrap());
            assert_eq!(obs.doc, o.doc, "{}", o.key);
            assert_eq!(obs.volatile, o.volatile, "{}", o.key);
            assert_eq!(
                (&reference.doc, &reference.volatile),
                (&obs.doc, &obs.volatile)
            );
            if o.volatile.len() <= 2 {
                fast += 1;
            }
            types.insert(o.key.resource_type.clone());
        }
        assert!(types.len() >= 34, "{types:?}");
        assert!(fast > 2000, "{fast} of 3000 without volatile values");
    }

    #[test]
    fn items_parts_and_refusals() {
        let mut parts = Reassembly::default();
        let b = body(7, "111122223333");
        match parse_message(SUBJECT, headers("7", None), b.as_bytes(), &mut parts) {
            Parsed::Item(i) => {
                assert_eq!(
                    (i.recorder.as_str(), i.log.as_str(), i.seq),
                    ("eu", "L1", 7)
                );
                assert_eq!(i.item.key.resource_id, "vpc-1");
                assert!(i.item.observed.is_some());
            }
            other => panic!("{other:?}"),
        }
        // In three parts.
        let (a, rest) = b.split_at(100);
        let (m, z) = rest.split_at(100);
        for (i, p) in [a, m].iter().enumerate() {
            let c = format!("{}/3", i + 1);
            assert!(matches!(
                parse_message(SUBJECT, headers("7", Some(&c)), p.as_bytes(), &mut parts),
                Parsed::Part
            ));
        }
        assert!(parts.held() > 0);
        assert!(matches!(
            parse_message(SUBJECT, headers("7", Some("3/3")), z.as_bytes(), &mut parts),
            Parsed::Item(_)
        ));
        assert_eq!(parts.held(), 0);
        // A forged subject: the item is another account's.
        let forged = body(8, "999999999999");
        let reason = |p: Parsed| match p {
            Parsed::Refused { reason, detail } => {
                assert!(!detail.is_empty());
                reason
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(parse_message(
                SUBJECT,
                headers("8", None),
                forged.as_bytes(),
                &mut parts
            )),
            "subject-mismatch"
        );
        assert_eq!(
            reason(parse_message(
                SUBJECT,
                headers("8", None),
                b"{not json",
                &mut parts
            )),
            "bad-item"
        );
        assert_eq!(
            reason(parse_message(
                SUBJECT,
                headers("9", None),
                b.as_bytes(),
                &mut parts
            )),
            "seq-mismatch"
        );
        assert_eq!(
            reason(parse_message(SUBJECT, |_| None, b.as_bytes(), &mut parts)),
            "no-recorder"
        );
    }
}
