//! Loopback ports for test servers that restart on the same port (moto, nats-server).
//!
//! A port from `bind(":0")` comes from the kernel's ephemeral range, where the kernel may hand
//! it out again the moment a killed server frees it: a second test's server then takes the
//! port a first test is about to restart on, and one of them talks to the other's server (a CI
//! run failed on this). Ports here come from below the ephemeral range (Linux: 32768–60999)
//! and are never handed out twice in one process.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::Mutex;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port nobody listens on and no other test of this process was given.
pub fn free_port() -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    loop {
        // std's per-process random hash keys are the randomness: no extra crate for tests.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if handed.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed.insert(port);
            return port;
        }
    }
}
