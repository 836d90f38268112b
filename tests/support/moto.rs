//! moto on loopback for the AWS tests, shared by the crate tests of driftlog-aws and the
//! binary's tests (included with `#[path]`). moto and boto3 come from the virtualenv that
//! `scripts/test.sh` installs (`.venv`, or `$DRIFTLOG_VENV`); with `CI=true` a missing
//! moto is a failure, never a skip.

#![allow(dead_code, reason = "each test binary uses a different part")]

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root: the nearest ancestor of the including crate holding
/// `tests/aws/estate.py`.
pub fn repo() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests/aws/estate.py").exists() {
        assert!(dir.pop(), "tests/aws/estate.py not found above the crate");
    }
    dir
}

/// A program of the virtualenv.
pub fn venv_bin(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("DRIFTLOG_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    let p = dir.join("bin").join(name);
    p.exists().then_some(p)
}

/// moto_server on a free loopback port, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Started through `tests/aws/moto_unique_db_ids.py` (restarts keep it).
    unique_db_ids: bool,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts moto; `None` (with a loud note) only when it is not installed and not in CI.
pub fn moto() -> Option<Moto> {
    moto_with_env(&[])
}

/// [`moto`] with extra environment for the server (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
pub fn moto_with_env(env: &[(&str, &str)]) -> Option<Moto> {
    start(env, false)
}

/// moto with one of its bugs fixed for the data services: every DB instance gets its own
/// DbiResourceId (AWS Config's resourceId of an instance; moto 5 gives all the same one),
/// through `tests/aws/moto_unique_db_ids.py`.
pub fn moto_with_unique_db_ids() -> Option<Moto> {
    start(&[], true)
}

fn start(env: &[(&str, &str)], unique_db_ids: bool) -> Option<Moto> {
    if venv_bin("moto_server").is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "moto_server not found in the virtualenv: run ./scripts/test.sh, which installs it"
            );
        }
        eprintln!("SKIPPED: moto_server not installed; ./scripts/test.sh installs it");
        return None;
    }
    let port = free_port();
    let child = spawn_moto(port, env, unique_db_ids);
    Some(Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
        unique_db_ids,
    })
}

fn spawn_moto(port: u16, env: &[(&str, &str)], unique_db_ids: bool) -> Child {
    let mut command = if unique_db_ids {
        let mut c = Command::new(venv_bin("python").expect("venv python"));
        c.arg(repo().join("tests/aws/moto_unique_db_ids.py"));
        c
    } else {
        Command::new(venv_bin("moto_server").expect("moto_server"))
    };
    let child = command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut child = child;
    // Someone else's server on the port would answer the probe while ours failed to bind.
    if let Ok(Some(status)) = child.try_wait() {
        panic!("moto_server on port {port} exited ({status}): another server holds the port");
    }
    child
}

impl Moto {
    /// Kills the server (SIGKILL): every request fails until [`Moto::restart`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh server on the same port (moto keeps no state across restarts).
    pub fn restart(&mut self) {
        self.kill();
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url");
        self.child = spawn_moto(port, &[], self.unique_db_ids);
    }
}

#[allow(
    clippy::duplicate_mod,
    reason = "moto.rs and nats.rs are each included alone by some test binaries"
)]
#[path = "ports.rs"]
mod ports;
pub use ports::free_port;

/// The environment that points the SDK's standard chain and boto3 at moto.
pub const CREDENTIALS: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Runs tests/aws/estate.py against the server; returns its JSON answer.
pub fn estate(m: &Moto, args: &[&str]) -> Value {
    estate_as(m, ("testing", "testing"), args)
}

/// [`estate`] with the given access key and secret.
pub fn estate_as(m: &Moto, creds: (&str, &str), args: &[&str]) -> Value {
    script(m, "estate.py", creds, args)
}

/// Runs tests/aws/delivery.py (buckets, topics, queues: the receiving side of delivery).
pub fn delivery(m: &Moto, args: &[&str]) -> Value {
    script(m, "delivery.py", ("testing", "testing"), args)
}

/// Runs the named script of tests/aws (e.g. `estate_data.py`) with the test credentials.
pub fn run_script(m: &Moto, name: &str, args: &[&str]) -> Value {
    script(m, name, ("testing", "testing"), args)
}

fn script(m: &Moto, name: &str, (key, secret): (&str, &str), args: &[&str]) -> Value {
    let python = venv_bin("python").expect("venv python");
    let out = Command::new(python)
        .arg(repo().join("tests/aws").join(name))
        .args(args)
        .envs(CREDENTIALS.iter().copied())
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_ENDPOINT_URL", &m.url)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name} prints JSON: {e}"))
}

/// Calls through the real boto3 `config` client (`tests/aws/config_api.py`) against the AWS
/// Config API at `endpoint`, signed with `key`/`secret` in `region`: one result per call,
/// `{"ok": …}` or `{"error": {"code", "message", "status"}}`.
pub fn config_api_calls(
    endpoint: &str,
    (key, secret): (&str, &str),
    region: &str,
    calls: &Value,
) -> Vec<Value> {
    use std::io::Write;
    let python = venv_bin("python").expect("the virtualenv's python (scripts/test.sh installs it)");
    let mut child = Command::new(python)
        .arg(repo().join("tests/aws/config_api.py"))
        .env("AWS_ENDPOINT_URL_CONFIG", endpoint)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run config_api.py");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(calls.to_string().as_bytes())
        .expect("send the calls");
    let out = child.wait_with_output().expect("config_api.py output");
    assert!(
        out.status.success(),
        "config_api.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("config_api.py answers JSON")
}
