"""Removes this workspace's stale build artifacts from cargo's target dir.

Every edit of a workspace crate leaves its previous build (rlib, rmeta, test binaries, dep
info, fingerprint) behind under another hash; on a machine whose target dir is reused
across runs they pile up (the AWS SDK keeps the dir near its budget already). Cargo itself
lists what the current build uses (`--message-format=json`, fresh units included): files of
workspace packages that it does not list are deleted. Third-party artifacts are left alone.

With --executables, the workspace's current test binaries and its binary go too: every
commit relinks most of them anyway, and they are ~0.5 GB (each links the AWS SDK) that a
reused target dir would otherwise keep between runs, over its 3 GB budget. The next run
relinks them (about a minute); nothing is compiled again.

Usage: cargo test --workspace --no-run --message-format=json | python3 .ci/prune_target.py TARGET [--executables]
"""
import json
import os
import re
import shutil
import sys

target = sys.argv[1]
drop_executables = "--executables" in sys.argv[2:]
executables = set()
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
    if local and msg.get("executable"):
        executables.add(msg["executable"])
    for f in msg.get("filenames", []) + ([msg["executable"]] if msg.get("executable") else []):
        m = stem.match(os.path.basename(f))
        if m:
            used.add((m.group(1), m.group(2)))
            if local:
                ours.add(m.group(1))
if not used:
    sys.exit("prune_target: cargo listed no artifacts; nothing removed")
# A binary is listed by its uplifted name (debug/driftlog); its build under deps/ (the same
# file, hard-linked) and that build's fingerprint carry the hash: they are in use too.
inodes = {os.stat(p).st_ino for p in executables if os.path.isfile(p)}
deps = os.path.join(target, "debug/deps")
linked = set()
if os.path.isdir(deps):
    for name in os.listdir(deps):
        p = os.path.join(deps, name)
        m = stem.match(name)
        if m and os.path.isfile(p) and os.stat(p).st_ino in inodes:
            used.add((m.group(1), m.group(2)))
            linked.add(p)
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
if drop_executables:
    executables |= linked
    dropped = 0
    for p in sorted(executables):
        if os.path.isfile(p):
            st = os.stat(p)
            # A hard-linked file's bytes are freed by its last name only.
            dropped += st.st_size if st.st_nlink == 1 else 0
            os.remove(p)
    print(f"prune_target: removed {len(executables)} workspace executables ({dropped / 1e6:.0f} MB), relinked by the next run")
