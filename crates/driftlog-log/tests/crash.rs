//! Crash test, sled's pattern: a child process appends batches and prints each acknowledged
//! range; the parent SIGKILLs it at random moments, reopens the store, and checks that every
//! acknowledged item is there, no batch is half-applied, and the derived indexes agree with
//! the log. Then it lets a new child continue on the same store, several times.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use driftlog_diff::diff_partial;
use driftlog_log::{Log, LogOptions};
use driftlog_model::{Filter, Observed, PartialSnapshot, ResourceKey};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BATCH: usize = 40;
const CHILD_ENV: &str = "DRIFTLOG_CRASH_CHILD_DIR";

fn observed(id: usize, round: u64) -> Observed {
    Observed::from_value(
        ResourceKey::new(
            "111122223333",
            "eu-west-1",
            "AWS::EC2::Instance",
            format!("i-{id:05}"),
        ),
        json!({
            "configuration": {"instanceId": format!("i-{id:05}"), "round": round, "pad": "x".repeat(300)},
            "relationships": [{"name": "Is contained in Vpc", "resourceId": format!("vpc-{}", id % 3), "resourceName": null, "resourceType": "AWS::EC2::VPC"}],
        }),
    )
}

/// The child: appends forever, printing `ACK first last time` after each durable batch.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // Only runs as the parent's child.
    };
    let log = Log::open(&dir, LogOptions::default()).expect("open");
    let mut rng = fastrand::Rng::with_seed(log.watermark());
    let mut out = std::io::stdout().lock();
    let mut round = log.watermark();
    loop {
        round += 1;
        let mut ids: Vec<usize> = (0..400).collect();
        rng.shuffle(&mut ids);
        let res: Vec<Observed> = ids[..BATCH].iter().map(|i| observed(*i, round)).collect();
        let d = {
            let st = log.state();
            diff_partial(&st, &PartialSnapshot { resources: res }, u64::MAX, |s| {
                log.get(s).map(|i| i.map(|i| i.doc).unwrap_or_default())
            })
            .expect("diff")
        };
        assert_eq!(d.changes.len(), BATCH);
        let t = 1_000 * round as i64;
        let r = log
            .append(&d.changes, t)
            .expect("append")
            .expect("non-empty");
        writeln!(out, "ACK {} {} {}", r.start(), r.end(), t).expect("stdout");
        out.flush().expect("flush stdout");
    }
}

#[test]
fn kill_9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut acked: Vec<(u64, u64, i64)> = Vec::new();
    for round in 0..6 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let p: Vec<&str> = line.split_whitespace().collect();
                if p.len() == 4 && p[0] == "ACK" {
                    let _ = tx.send((
                        p[1].parse().unwrap(),
                        p[2].parse().unwrap(),
                        p[3].parse().unwrap(),
                    ));
                }
            }
        });
        // Wait for the first ack, then kill at a random moment.
        let start = Instant::now();
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("child never acknowledged");
        acked.push(first);
        std::thread::sleep(Duration::from_millis(rng.u64(5..250)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(rx.try_iter());
        assert!(start.elapsed() < Duration::from_secs(120));

        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let w = log.watermark();
        let last_acked = acked.last().unwrap().1;
        assert!(
            w >= last_acked,
            "round {round}: watermark {w} < acknowledged {last_acked}"
        );
        assert_eq!(
            w % BATCH as u64,
            0,
            "round {round}: a batch is half-applied (watermark {w})"
        );
        for (first, last, t) in &acked {
            for seq in [*first, (*first + *last) / 2, *last] {
                let item = log
                    .get(seq)
                    .unwrap()
                    .unwrap_or_else(|| panic!("acked seq {seq} lost"));
                assert_eq!(item.capture_time_ms, *t);
            }
            assert_eq!(
                log.seq_at_time(*t).unwrap(),
                *last,
                "time index disagrees at {t}"
            );
        }
        // Indexes agree with the log: latest state per resource vs. reverse index.
        let mut latest: HashMap<String, u64> = HashMap::new();
        let mut count = 0;
        log.inventory_at(i64::MAX, &Filter::default(), |ci| {
            latest.insert(ci.key.resource_id.clone(), ci.seq);
            count += 1;
            true
        })
        .unwrap();
        assert_eq!(count as usize, latest.len());
        let mut by_vpc = 0;
        for v in 0..3 {
            by_vpc += log
                .related_to("AWS::EC2::VPC", &format!("vpc-{v}"), None)
                .unwrap()
                .len();
        }
        assert_eq!(by_vpc, latest.len(), "reverse index disagrees with the log");
    }
    assert!(acked.len() >= 6);
}
