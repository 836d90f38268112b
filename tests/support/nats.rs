//! nats-server with JetStream on loopback for the sink tests, included with `#[path]`.
//! The server is Debian's `nats-server` package, which `scripts/test.sh` installs; with
//! `CI=true` a missing server is a failure, never a skip.

#![allow(dead_code, reason = "each test binary uses a different part")]

#[allow(
    clippy::duplicate_mod,
    reason = "moto.rs and nats.rs are each included alone by some test binaries"
)]
#[path = "ports.rs"]
mod ports;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary: on PATH, or where Debian puts it.
pub fn nats_server_bin() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("nats-server"))
            .find(|p| p.exists())
    });
    on_path.or_else(|| {
        let p = PathBuf::from("/usr/sbin/nats-server");
        p.exists().then_some(p)
    })
}

/// A running nats-server, killed (SIGKILL) on drop.
pub struct Nats {
    child: Option<Child>,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    store: PathBuf,
    /// A configuration file the server runs with (users, permissions), if any.
    conf: Option<PathBuf>,
}

impl Nats {
    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and store directory (JetStream data survives).
    pub fn restart(&mut self) {
        self.kill();
        self.child = Some(spawn(self.port, &self.store, self.conf.as_deref()));
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16, store: &Path, conf: Option<&Path>) -> Child {
    let bin = nats_server_bin().expect("nats-server");
    let mut cmd = Command::new(bin);
    if let Some(c) = conf {
        cmd.arg("-c").arg(c);
    }
    let child = cmd
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Starts nats-server with JetStream storing under `store`; `None` (loudly) only when it
/// is not installed and not in CI.
pub fn nats(store: &Path) -> Option<Nats> {
    nats_with_config(store, "")
}

/// As [`nats`], with `conf` (nats-server's configuration syntax, e.g. an `authorization`
/// block) written beside the store and given with `-c`; "" for none.
pub fn nats_with_config(store: &Path, conf: &str) -> Option<Nats> {
    if nats_server_bin().is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "nats-server not found: run ./scripts/test.sh, which installs Debian's nats-server"
            );
        }
        eprintln!("SKIPPED: nats-server not installed; ./scripts/test.sh installs it");
        return None;
    }
    let port = ports::free_port();
    let conf = (!conf.is_empty()).then(|| {
        std::fs::create_dir_all(store).expect("nats store dir");
        let path = store.join("nats.conf");
        std::fs::write(&path, conf).expect("write nats.conf");
        path
    });
    Some(Nats {
        child: Some(spawn(port, store, conf.as_deref())),
        url: format!("nats://127.0.0.1:{port}"),
        port,
        store: store.to_path_buf(),
        conf,
    })
}
