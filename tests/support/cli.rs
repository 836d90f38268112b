//! Helpers for tests that run the `driftlog` binary, shared by the binary's tests in
//! `tests/` (included with `#[path]`).

#![allow(dead_code, reason = "each test binary uses a different part")]

use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

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

/// Waits until `f` holds, failing the test after `secs`.
pub fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `driftlog serve --quiet --config cfg` as a process (its config listens on
/// `127.0.0.1:0`), returned with the API's port once `driftlog status` shows it running.
pub fn serve_process(cfg: &Path) -> (KillOnDrop, u16) {
    let child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_driftlog"))
            .args(["serve", "--quiet", "--config"])
            .arg(cfg)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn driftlog serve"),
    );
    let mut port = 0;
    wait(
        "serve runs and shows its API address",
        120,
        || match running_status(cfg) {
            Some(st) => {
                port = api_port(&st);
                true
            }
            None => false,
        },
    );
    (child, port)
}

/// `driftlog ARGS --config cfg` under `timeout`: a command that waits for something that
/// never comes (a `tail --limit` beyond what is recorded) fails the test in two minutes
/// instead of hanging the run.
pub fn driftlog_within(cfg: &Path, args: &[&str]) -> Output {
    let out = Command::new("timeout")
        .arg("120")
        .arg(env!("CARGO_BIN_EXE_driftlog"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .expect("run driftlog under timeout");
    assert_ne!(out.status.code(), Some(124), "driftlog {args:?} hung");
    out
}

/// `driftlog status --json` of the server running with `cfg`, once it is running.
pub fn running_status(cfg: &Path) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_driftlog"))
        .args(["status", "--json", "--config"])
        .arg(cfg)
        .output()
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    (v["running"] == true).then_some(v)
}

/// The port of the API in a running server's status.
pub fn api_port(status: &Value) -> u16 {
    status["apiAddress"]
        .as_str()
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no API address in the status: {status}"))
}

/// A plain HTTP/1.1 GET on loopback; the whole response, headers included.
pub fn http_get(port: u16, path: &str) -> String {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut s = String::new();
    c.read_to_string(&mut s).expect("read");
    s
}

/// Ctrl-C to a child (SIGINT through `kill`): the graceful stop of `serve`.
pub fn ctrl_c(child: &KillOnDrop) {
    let pid = child.0.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT {pid}");
}

/// The child's exit status, failing the test if it has not ended within `secs`.
pub fn exit_within(child: &mut KillOnDrop, secs: u64) -> ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.0.try_wait().expect("child status") {
            return s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "the child did not exit within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Ctrl-C, then the exit status within `secs`.
pub fn interrupt(child: &mut KillOnDrop, secs: u64) -> ExitStatus {
    ctrl_c(child);
    exit_within(child, secs)
}
