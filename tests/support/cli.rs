//! Helpers for tests that run the `driftlog` binary, shared by `tests/e2e.rs` and
//! `tests/aws.rs` (included with `#[path]`).

#![allow(dead_code, reason = "each test binary uses a different part")]

use serde_json::Value;
use std::process::{Child, Output};

/// A child that cannot outlive a failing test.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The NDJSON lines of a successful command (its stderr is the failure message).
pub fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an NDJSON line"))
        .collect()
}
