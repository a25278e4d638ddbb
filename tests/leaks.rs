//! Nothing leaks: 100,000 open/pull/close cycles through the C ABI leave a
//! process's file descriptors, mappings and resident memory where they
//! were; the C examples run clean under valgrind's memcheck; and (ignored,
//! long) a daemon's resident memory stays flat over 50 million pulls.

mod common;

use common::c::{Build, assert_success};
use common::{Daemon, skip, unique_name};
use nickpool::ffi::{self, nickpool_status as Status};
use std::ffi::{CString, c_char};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CYCLES: u64 = 100_000;
const WARM_UP: u64 = 2_000;
/// Where the worker finds the daemon's name.
const NAME_VAR: &str = "NICKPOOL_LEAK_NAME";
/// Resident memory may move a little (allocator, page cache of the
/// test binary); a leak of even 8 bytes per cycle would be 800 KB.
const RSS_TOLERANCE_KB: i64 = 256;

/// Open file descriptors, mapping count and resident memory (kB) of a
/// process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Footprint {
    fds: usize,
    maps: usize,
    rss_kb: i64,
}

fn footprint(pid: &str) -> Footprint {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap()
        .lines()
        .count();
    Footprint {
        fds,
        maps,
        rss_kb: rss_kb(pid),
    }
}

/// VmRSS of a process, in kB.
fn rss_kb(pid: &str) -> i64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// One cycle as a C program does it: open, pull one nickname, close.
fn open_pull_close(name: &CString) {
    let mut handle = std::ptr::null_mut();
    // SAFETY: a NUL-terminated name and a valid out-pointer.
    let status = unsafe { ffi::nickpool_open(name.as_ptr(), &mut handle) };
    assert_eq!(status, Status::NICKPOOL_OK);
    let mut buf = [0 as c_char; ffi::NICKPOOL_MAX_NICKNAME_LEN + 1];
    let mut len = 0;
    // SAFETY: a live handle, a buffer of buf.len() bytes, a valid
    // out-pointer.
    let status = unsafe { ffi::nickpool_next(handle, buf.as_mut_ptr(), buf.len(), &mut len, 5000) };
    assert_eq!(status, Status::NICKPOOL_OK);
    assert!(len > 0);
    // SAFETY: the handle came from nickpool_open and is closed once.
    unsafe { ffi::nickpool_close(handle) };
}

/// The measuring half of `open_close_cycles_leak_nothing`, alone in its
/// own process so that no other test's threads, files or memory move the
/// numbers. Prints "before FDS MAPS RSS" and "after FDS MAPS RSS".
#[test]
#[ignore = "run by open_close_cycles_leak_nothing, in a child process"]
fn open_close_worker() {
    let name = CString::new(std::env::var(NAME_VAR).expect("the daemon's name")).unwrap();
    for _ in 0..WARM_UP {
        open_pull_close(&name);
    }
    let before = footprint("self");
    for _ in 0..CYCLES {
        open_pull_close(&name);
    }
    let after = footprint("self");
    for (label, f) in [("before", before), ("after", after)] {
        println!("{label} {} {} {}", f.fds, f.maps, f.rss_kb);
    }
}

#[test]
fn open_close_cycles_leak_nothing() {
    let name = unique_name("leak-cycles");
    let _daemon = Daemon::start(&name, &["--seed", "1"]);
    let started = Instant::now();
    let out = common::run_test_in_child("open_close_worker", &[(NAME_VAR, &name)]);
    assert_success(&out, "open_close_worker");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let read = |label: &str| -> Footprint {
        let numbers: Vec<i64> = stdout
            .lines()
            // The first line also carries libtest's "test NAME ... ".
            .find_map(|l| l.split_once(&format!("{label} ")).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no '{label}' line:\n{stdout}"))
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        Footprint {
            fds: numbers[0] as usize,
            maps: numbers[1] as usize,
            rss_kb: numbers[2],
        }
    };
    let (before, after) = (read("before"), read("after"));
    println!(
        "{CYCLES} open/pull/close cycles in {:?}: fds {} -> {}, maps {} -> {}, RSS {} -> {} kB",
        started.elapsed(),
        before.fds,
        after.fds,
        before.maps,
        after.maps,
        before.rss_kb,
        after.rss_kb
    );
    assert_eq!(after.fds, before.fds, "file descriptors leaked");
    assert_eq!(after.maps, before.maps, "mappings leaked");
    assert!(
        after.rss_kb - before.rss_kb <= RSS_TOLERANCE_KB,
        "resident memory grew from {} to {} kB",
        before.rss_kb,
        after.rss_kb
    );
}

/// examples/pull.c and examples/threads.c under valgrind's memcheck: no
/// invalid read or write, no use of uninitialised memory, and no block
/// definitely or possibly lost once they have closed their handles.
#[test]
fn the_c_examples_are_clean_under_valgrind() {
    let valgrind = Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !valgrind.is_ok_and(|s| s.success()) {
        return skip(
            "the_c_examples_are_clean_under_valgrind",
            "valgrind is not installed (scripts/test installs it as root: apt-get install valgrind)",
        );
    }
    let name = unique_name("leak-valgrind");
    let _daemon = Daemon::start(&name, &["--seed", "1"]);
    for (example, lines) in [("pull.c", 10), ("threads.c", 2000)] {
        let exe = Build::new(
            &format!("examples/{example}"),
            &format!("{example}-valgrind"),
        )
        .flags(&["-g"])
        .compile();
        let args = [
            "--error-exitcode=1",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,possible",
            "--track-origins=yes",
            exe.to_str().unwrap(),
        ];
        let out = common::c::run(
            std::path::Path::new("valgrind"),
            &args,
            &[("NICKPOOL_NAME", &name)],
        );
        assert_success(&out, &format!("valgrind {example}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.lines().count(), lines, "{example}:\n{stdout}");
        let report = String::from_utf8_lossy(&out.stderr);
        assert!(
            report.contains("ERROR SUMMARY: 0 errors"),
            "{example}:\n{report}"
        );
    }
}

/// Resident memory of a daemon serving 50 million nicknames: flat after
/// warm-up (the ring and the generator touch all their memory in the
/// first million). Long; run by hand:
/// `cargo test --release --test leaks -- --ignored --nocapture daemon_rss`.
#[test]
#[ignore = "long: 50 million pulls; run by hand"]
fn daemon_rss_is_flat_over_50_million_pulls() {
    const TOTAL: u64 = 50_000_000;
    const WARM: u64 = 5_000_000;
    let name = unique_name("leak-daemon");
    let daemon = Daemon::start(&name, &["--seed", "1"]);
    let pid = daemon.pid().to_string();
    let client = nickpool::Client::open(Some(&name)).unwrap();
    let mut buf = [0u8; 64 * (nickpool::MAX_NICKNAME_LEN + 1)];
    let started = Instant::now();
    let mut pulled = 0u64;
    let mut warm_rss = None;
    let mut samples = Vec::new();
    while pulled < TOTAL {
        pulled += client
            .next_batch(&mut buf, 64, Some(Duration::from_secs(5)))
            .expect("the daemon keeps up") as u64;
        if pulled >= WARM && warm_rss.is_none() {
            warm_rss = Some(rss_kb(&pid));
        }
        if pulled % 10_000_000 < 64 {
            samples.push((pulled, rss_kb(&pid)));
        }
    }
    let warm = warm_rss.unwrap();
    let end = rss_kb(&pid);
    println!(
        "daemon RSS over {TOTAL} pulls in {:?}: {warm} kB after {WARM}, {end} kB at the end; samples {samples:?}",
        started.elapsed()
    );
    assert!(
        end - warm <= RSS_TOLERANCE_KB,
        "daemon RSS grew from {warm} to {end} kB"
    );
}
