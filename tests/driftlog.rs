//! End-to-end tests of driftlog, one module per area, in one test binary (each test
//! binary links the AWS SDK). `serve` runs in-process on `127.0.0.1:0`
//! (`support/server.rs`) wherever the test does not need a process of its own (kill -9,
//! the CLI's output and exit codes, `--help`).

/// Helpers shared by the modules: each is loaded once.
mod support {
    pub mod cli;
    pub mod disk;
    pub mod moto;
    pub mod nats;
    pub mod server;
}

mod aggregate;
mod aws;
mod config_api;
mod delivery;
mod e2e;
mod events;
mod grpc;
mod rules;
mod rules_api;

/// The binary's rendering (`crates/driftlog/render.rs`) with its unit tests, compiled here:
/// the binary has no test target of its own (one more would link the AWS SDK again).
#[allow(dead_code, reason = "only the rendering's own tests use it here")]
#[path = "../crates/driftlog/render.rs"]
mod render;
