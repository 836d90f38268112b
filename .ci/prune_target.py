"""Removes this workspace's stale build artifacts from cargo's target dir.

Every edit of a workspace crate leaves its previous build (rlib, rmeta, test binaries, dep
info, fingerprint) behind under another hash; on a machine whose target dir is reused
across runs they pile up (the AWS SDK keeps the dir near its budget already). Cargo itself
lists what the current build uses (`--message-format=json`, fresh units included): files of
workspace packages that it does not list are deleted. Third-party artifacts are left alone.

Usage: cargo test --workspace --no-run --message-format=json | python3 .ci/prune_target.py TARGET
"""
import json
import os
import re
import shutil
import sys

target = sys.argv[1]
stem = re.compile(r"^(?:lib)?([A-Za-z0-9_]+)-([0-9a-f]{16})(?:\..*)?$")
used, ours = set(), set()
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact":
        continue
    local = msg.get("package_id", "").startswith("path+file://")
    for f in msg.get("filenames", []) + ([msg["executable"]] if msg.get("executable") else []):
        m = stem.match(os.path.basename(f))
        if m:
            used.add((m.group(1), m.group(2)))
            if local:
                ours.add(m.group(1))
if not used:
    sys.exit("prune_target: cargo listed no artifacts; nothing removed")
freed = 0
for sub in ["debug/deps", "debug/.fingerprint"]:
    d = os.path.join(target, sub)
    if not os.path.isdir(d):
        continue
    for name in os.listdir(d):
        m = stem.match(name)
        if not m or m.group(1) not in ours or (m.group(1), m.group(2)) in used:
            continue
        p = os.path.join(d, name)
        if os.path.isdir(p):
            freed += sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(p) for f in fs)
            shutil.rmtree(p)
        else:
            freed += os.path.getsize(p)
            os.remove(p)
print(f"prune_target: removed {freed / 1e6:.0f} MB of stale workspace artifacts")
