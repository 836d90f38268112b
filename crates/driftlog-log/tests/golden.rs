//! Golden test of the on-disk frame format `driftlog-log/1`: a frame built from fixed
//! items must encode to the committed bytes, and the committed bytes must decode to those
//! items. A change that breaks either needs a new format version (and a migration).
//! Refresh the fixture only for a deliberate format change: `UPDATE_GOLDEN=1 cargo test`.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_log::frame::{status_code, Entry, Frame, FrameBuilder};
use driftlog_model::{ResourceKey, Status};

fn entry(id: &str, status: Status, version: u64, prev: u64) -> Entry {
    let key = ResourceKey::new("111122223333", "eu-west-1", "AWS::EC2::SecurityGroup", id);
    Entry {
        id: key.id_hash(),
        status: status_code(status),
        version,
        prev_seq: prev,
        capture_time_ms: 1_714_557_600_123,
        doc_hash: 7,
        volatile_hash: 9,
        account: key.account,
        region: key.region,
        resource_type: key.resource_type,
        resource_id: key.resource_id,
        edge_targets: vec![42],
        body_offset: 0,
        body_len: 0,
    }
}

fn build() -> Vec<u8> {
    let mut fb = FrameBuilder::new(100);
    fb.push(
        entry("sg-1", Status::ResourceDiscovered, 1, 0),
        br#"{"configuration":{"groupId":"sg-1"}}"#,
        b"{}",
        b"[]",
    );
    fb.push(
        entry("sg-1", Status::Ok, 2, 100),
        br#"{"configuration":{"groupId":"sg-1","x":1}}"#,
        b"{}",
        br#"[{"changeType":"CREATE","path":["configuration","x"],"previousValue":null,"updatedValue":1}]"#,
    );
    // A large document fills the first body chunk, so the next item starts a second one.
    let big = format!(r#"{{"configuration":{{"pad":"{}"}}}}"#, "x".repeat(40_000));
    fb.push(
        entry("sg-2", Status::ResourceDiscovered, 1, 0),
        big.as_bytes(),
        b"{}",
        b"[]",
    );
    fb.push(
        entry("sg-3", Status::ResourceDeleted, 4, 90),
        br#"{"configuration":null}"#,
        b"{}",
        b"[]",
    );
    fb.finish()
}

#[test]
fn frame_v1_bytes_are_pinned() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/frame_v1.bin");
    let bytes = build();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &bytes).unwrap();
    }
    let fixture = std::fs::read(path).unwrap();
    assert_eq!(
        bytes, fixture,
        "frame encoding changed: bump FRAME_VERSION / STORE_FORMAT"
    );
    let f = Frame::decode(sled::IVec::from(fixture)).unwrap();
    assert_eq!(f.first_seq, 100);
    assert_eq!(f.last_seq(), 103);
    let last = f.item(3).unwrap();
    assert_eq!(last.status, Status::ResourceDeleted);
    assert_eq!(&last.doc[..], br#"{"configuration":null}"#);
    assert_eq!(f.item(2).unwrap().doc.len(), 40_028);
    let second = f.item(1).unwrap();
    assert_eq!(second.seq, 101);
    assert_eq!(second.version, 2);
    assert_eq!(second.status, Status::Ok);
    assert_eq!(
        &second.doc[..],
        br#"{"configuration":{"groupId":"sg-1","x":1}}"#
    );
    assert_eq!(f.entry(1).unwrap().prev_seq, 100);
    assert_eq!(f.entries().unwrap()[3].version, 4);
    let e3 = f.entry(3).unwrap();
    assert_eq!(f.id_status(3).unwrap(), (e3.id, e3.status));
}

#[test]
fn corrupt_frame_is_refused() {
    let mut bytes = build();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    match Frame::decode(sled::IVec::from(bytes)) {
        Err(driftlog_log::Error::Corrupt {
            first_seq: 100,
            reason,
        }) => assert!(reason.contains("checksum")),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("a corrupt frame decoded"),
    }
}
