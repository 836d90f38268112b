#!/usr/bin/env bash
# The one test command for a new user and for CI: installs what the tests need, runs them all.
# Issue 2 (the recording core) needs only the Rust toolchain; later issues add their servers
# and clients here (Python venv with moto/boto3/awscli, Debian packages), never as silent skips.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust with rustup (https://rustup.rs) and retry" >&2
  exit 1
fi
if ! command -v cc >/dev/null 2>&1; then
  echo "error: no C compiler (cc) found; it builds the mimalloc allocator: apt-get install gcc" >&2
  exit 1
fi
# Tests spawn the driftlog binary and the crash-test child; build them once, then run.
cargo test --workspace --no-fail-fast "$@"
