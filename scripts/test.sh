#!/usr/bin/env bash
# The one test command for a new user and for CI: installs what the tests need, runs them all.
#   * Rust toolchain (cargo) and a C compiler: checked, with what to install.
#   * Python 3 virtualenv in .venv (or $DRIFTLOG_VENV) with moto[server], boto3 and the aws
#     CLI from PyPI: created or completed here; Debian's python3-venv installed if missing.
#   * nats-server (Debian package; 2.9 on bookworm) for the NATS JetStream sink tests.
#   * kill (procps) and mount (Debian packages) for stopping `serve` and the full-disk tests;
#     timeout (coreutils) bounding the end-to-end tests' CLI calls.
# With CI=true a component that cannot be installed fails the run; tests never skip silently.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
BOTO3_VERSION=1.44.5
AWSCLI_VERSION=1.46.3

die() { echo "error: $*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust with rustup (https://rustup.rs) and retry"
command -v cc >/dev/null 2>&1 || die "no C compiler (cc) found; it builds the mimalloc allocator and the AWS SDK's crypto: apt-get install gcc"

apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "== installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
  else
    return 1
  fi
}

# Python virtualenv with moto (the AWS-compatible server the AWS source is tested against),
# boto3 (changes the estate under test) and the aws CLI.
VENV="${DRIFTLOG_VENV:-$PWD/.venv}"
export DRIFTLOG_VENV="$VENV"
if ! command -v python3 >/dev/null 2>&1; then
  apt_install python3 python3-venv || die "python3 not found; install Python 3.9+ (apt-get install python3 python3-venv)"
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating the Python virtualenv $VENV"
  python3 -m venv "$VENV" 2>/dev/null || {
    rm -rf "$VENV"
    apt_install python3-venv || die "python3 -m venv failed; install the venv module (apt-get install python3-venv)"
    python3 -m venv "$VENV"
  }
fi
if ! "$VENV/bin/python" - <<PY 2>/dev/null
import importlib.metadata as m
want = {"moto": "$MOTO_VERSION", "boto3": "$BOTO3_VERSION", "awscli": "$AWSCLI_VERSION"}
assert all(m.version(k) == v for k, v in want.items())
import flask, moto.server  # moto[server] extras
PY
then
  echo "== installing moto[server]==$MOTO_VERSION boto3==$BOTO3_VERSION awscli==$AWSCLI_VERSION from PyPI into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "moto[server]==$MOTO_VERSION" "boto3==$BOTO3_VERSION" "awscli==$AWSCLI_VERSION" \
    || die "pip could not install moto/boto3/awscli from PyPI; the AWS tests need them"
fi
[ -x "$VENV/bin/moto_server" ] || die "moto_server missing from $VENV after install"
[ -x "$VENV/bin/aws" ] || die "the aws CLI is missing from $VENV after install"

# NATS JetStream, the server the NATS sink is tested against (Debian puts it in /usr/sbin).
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  apt_install nats-server || die "nats-server not found; install it (apt-get install nats-server, or a release from nats.io on PATH)"
fi

# The binary's tests stop `serve` with Ctrl-C through `kill` (procps), and the full-disk
# tests mount small tmpfs filesystems with `mount` (and need root to do so).
command -v kill >/dev/null 2>&1 || apt_install procps || die "kill not found; install procps (apt-get install procps)"
# End-to-end tests bound each CLI call with `timeout` (coreutils), so a hang fails fast.
command -v timeout >/dev/null 2>&1 || apt_install coreutils || die "timeout not found; install coreutils (apt-get install coreutils)"
command -v mount >/dev/null 2>&1 || apt_install mount || die "mount not found; install it (apt-get install mount)"
if [ "${CI:-}" = true ] && [ "$(id -u)" != 0 ]; then
  die "CI=true needs root: the full-disk tests mount tmpfs filesystems (run as root, or without CI=true to skip them)"
fi

# Tests spawn the driftlog binary, moto_server and the crash-test child.
cargo test --workspace --no-fail-fast "$@"
