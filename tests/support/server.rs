//! `serve` in-process: the test binds `127.0.0.1:0` and the data dir's query socket itself
//! (no free-port race), runs `driftlog_server::serve` on a runtime of its own, and stops it
//! as Ctrl-C does. The CLI (a process) and real clients (boto3, the aws CLI, tonic) talk to
//! it as to a `driftlog serve` process.

#![allow(dead_code, reason = "each test module uses a different part")]

use driftlog_server::config::Config;
use driftlog_server::Listeners;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A running server; stopped (and waited for) when dropped.
pub struct InProcess {
    /// The API's port (0 when the config turns the API off).
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The data dir.
    pub data_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<driftlog_server::Result<()>>>,
}

/// Starts `serve` with the config file at `path`, once it answers on its query socket.
pub fn start(path: &Path) -> InProcess {
    start_with(Config::load(path).expect("the test's config file"))
}

/// Starts `serve` with `cfg` (its API on `127.0.0.1:0` unless the config turns it off),
/// once it answers on its query socket.
pub fn start_with(cfg: Config) -> InProcess {
    std::fs::create_dir_all(&cfg.data_dir).expect("data dir");
    let data_dir = cfg.data_dir.clone();
    let sock = driftlog_server::socket_path(&data_dir);
    let _ = std::fs::remove_file(&sock);
    let with_api = cfg.api.address().expect("api.listen").is_some();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let api = if with_api {
                Some(
                    tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("bind 127.0.0.1:0"),
                )
            } else {
                None
            };
            let port = api
                .as_ref()
                .map_or(0, |l| l.local_addr().expect("local addr").port());
            let query = tokio::net::UnixListener::bind(&sock).expect("bind the query socket");
            port_tx.send(port).expect("the test waits");
            let served = driftlog_server::serve(
                cfg,
                Listeners {
                    api,
                    query: Some(query),
                },
                async {
                    let _ = stop_rx.await;
                },
            )
            .await;
            let _ = std::fs::remove_file(&sock);
            served
        })
    });
    let port = port_rx.recv().expect("the server thread binds");
    let server = InProcess {
        port,
        url: format!("http://127.0.0.1:{port}"),
        data_dir,
        shutdown: Some(stop_tx),
        thread: Some(thread),
    };
    server.wait_ready(Duration::from_secs(120));
    server
}

impl InProcess {
    /// Waits until the query socket answers `status` (the services are built).
    fn wait_ready(&self, within: Duration) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.status() {
                if st["running"] == true {
                    return;
                }
            }
            assert!(
                t.elapsed() < within,
                "the in-process server did not answer within {within:?}"
            );
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                panic!("the in-process server ended while starting");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The answer to `driftlog status --json`, through the query socket.
    pub fn status(&self) -> Option<serde_json::Value> {
        let sock = driftlog_server::socket_path(&self.data_dir);
        let mut s = std::os::unix::net::UnixStream::connect(sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        s.write_all(b"{\"op\":\"status\"}\n").ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).ok()?;
        serde_json::from_str(&line).ok()
    }

    /// Stops it as Ctrl-C does and returns how `serve` ended.
    pub fn stop(mut self) -> driftlog_server::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> driftlog_server::Result<()> {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().expect("the server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
