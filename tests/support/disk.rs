//! A small real filesystem for tests that fill the disk: a tmpfs of a few MiB mounted on a
//! temporary directory, filled with a filler file until the kernel answers ENOSPC, and
//! emptied again. Real `No space left on device` errors from the kernel, not injected ones.
//!
//! Mounting needs root (CAP_SYS_ADMIN). Without it the test is skipped with a message —
//! except under `CI=true`, where a missing capability fails the run.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted on drop.
pub struct SmallDisk {
    dir: tempfile::TempDir,
    fillers: std::cell::Cell<u32>,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB; `None` (after saying why) when this machine does not let
    /// the test mount one and this is not CI.
    pub fn mount(mib: u64) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m"),
                "driftlog-test",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self {
                dir,
                fillers: std::cell::Cell::new(0),
            }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "a full-disk test needs to mount a tmpfs (root): {why}"
                );
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs for the full-disk test (run as root): {why}"
                );
                None
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with a filler file, until the kernel says ENOSPC.
    pub fn fill(&self) {
        let n = self.fillers.get();
        self.fillers.set(n + 1);
        let mut f = std::fs::File::create(self.filler(n)).expect("filler file");
        let chunk = vec![0u8; 64 << 10];
        loop {
            match f.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the test disk: {e}"),
            }
        }
        // The last partial chunk: byte by byte is too slow, halves are enough.
        let mut size = chunk.len() / 2;
        while size > 0 {
            if f.write_all(&chunk[..size]).is_err() {
                size /= 2;
            }
        }
        let _ = f.sync_all();
    }

    /// Makes the disk larger (a remount keeps its files).
    pub fn grow(&self, mib: u64) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(self.dir.path())
            .status()
            .expect("mount -o remount")
            .success();
        assert!(ok, "remounting the test disk at {mib} MiB");
    }

    /// Frees what [`SmallDisk::fill`] took.
    pub fn free(&self) {
        for n in 0..self.fillers.get() {
            let _ = std::fs::remove_file(self.filler(n));
        }
    }

    fn filler(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("filler-{n}"))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
