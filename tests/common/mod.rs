//! Helpers shared by the integration tests: start a real daemon process on a
//! unique segment name, and clean up its process and /dev/shm file whatever
//! happens.
#![allow(dead_code)]

pub mod big_dict;
pub mod binary;
pub mod c;

pub use binary::nickpool_bin;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A segment name no other test (or test run) uses.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "/nptest-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The /dev/shm path of a segment name.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/dev/shm{name}"))
}

/// Removes a segment file and any temporary files of that name.
pub fn remove_segment(name: &str) {
    let _ = std::fs::remove_file(shm_path(name));
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        let prefix = format!(".{}.", &name[1..]);
        for entry in dir.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Removes every /dev/shm file whose segment name starts with `prefix`
/// (left behind by a process that was killed).
pub fn remove_segments_with_prefix(prefix: &str) {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for entry in dir.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&prefix[1..])
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Polls `cond` every 5 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// A `nickpool serve` child process. Dropping it kills the process and
/// removes the segment.
pub struct Daemon {
    pub child: Child,
    pub name: String,
}

impl Daemon {
    /// Starts `nickpool serve --name NAME ARGS…` and waits until a client can
    /// open the segment (at most 10 s).
    pub fn start(name: &str, args: &[&str]) -> Daemon {
        let child = Command::new(nickpool_bin())
            .arg("serve")
            .arg("--name")
            .arg(name)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nickpool serve");
        let mut daemon = Daemon {
            child,
            name: name.to_owned(),
        };
        let up = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("daemon exited early with {status}: {}", daemon.stderr());
            }
            nickpool::Client::open(Some(name)).is_ok()
        });
        assert!(up, "daemon on {name} did not come up within 10 s");
        daemon
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// SIGSTOP, and waits (at most 10 s) until every thread of the daemon
    /// has stopped: until then a producer thread on another CPU may still
    /// publish.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        let stopped = wait_until(Duration::from_secs(10), || {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid())) else {
                return false;
            };
            tasks.flatten().all(|task| {
                std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                    // The state follows the parenthesised command name.
                    stat.rfind(')')
                        .and_then(|at| stat[at + 1..].split_whitespace().next())
                        .is_some_and(|state| state == "T" || state == "t")
                })
            })
        });
        assert!(
            stopped,
            "daemon pid {} did not stop within 10 s",
            self.pid()
        );
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (at most 10 s) and returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill9();
        None
    }

    /// Everything the daemon wrote to stderr so far (after it exited).
    pub fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(err) = self.child.stderr.as_mut() {
            let _ = err.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
        remove_segment(&self.name);
    }
}

/// Runs `nickpool ARGS…` to completion (killed after `timeout`) and returns
/// (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], timeout: Duration) -> (i32, String, String) {
    let child = Command::new(nickpool_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nickpool");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("nickpool {args:?} did not finish within {timeout:?}");
        }
    };
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `--test-tag` nickname split into its text, shard and position in that
/// shard ("快乐的小猫#2.41" is `("快乐的小猫", 2, 41)`).
pub fn tagged(nickname: &str) -> (&str, usize, usize) {
    let (text, tag) = nickname
        .rsplit_once('#')
        .unwrap_or_else(|| panic!("{nickname:?} has no tag"));
    let (shard, position) = tag
        .split_once('.')
        .unwrap_or_else(|| panic!("{nickname:?} has a bad tag"));
    let number = |n: &str| -> usize {
        n.parse()
            .unwrap_or_else(|_| panic!("{nickname:?} has a bad tag"))
    };
    (text, number(shard), number(position))
}

/// The first `n` nicknames of the seed's ChaCha stream `stream`: what shard
/// `stream` of `nickpool serve --seed SEED` serves, in order
/// (`nickpool gen --seed SEED --stream STREAM`).
pub fn generated(seed: u64, stream: usize, n: usize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let (code, out, err) = run_cli(
        &[
            "gen",
            "--seed",
            &seed.to_string(),
            "--stream",
            &stream.to_string(),
            "-n",
            &n.to_string(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    out.lines().map(str::to_owned).collect()
}

/// Checks that every tagged nickname is the one its shard's stream of
/// `seed` holds at its position, and that no (shard, position) comes twice;
/// returns how many came from each shard.
pub fn check_tagged<'a>(seed: u64, nicknames: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    let mut by_shard: Vec<Vec<(usize, &str)>> = Vec::new();
    for nickname in nicknames {
        let (text, shard, position) = tagged(nickname);
        if by_shard.len() <= shard {
            by_shard.resize_with(shard + 1, Vec::new);
        }
        by_shard[shard].push((position, text));
    }
    let mut counts = Vec::new();
    for (shard, mut pulled) in by_shard.into_iter().enumerate() {
        pulled.sort_unstable();
        for pair in pulled.windows(2) {
            assert_ne!(
                pair[0].0, pair[1].0,
                "shard {shard} position {} delivered twice",
                pair[0].0
            );
        }
        let needed = pulled.last().map_or(0, |&(p, _)| p + 1);
        let expected = generated(seed, shard, needed);
        for &(position, text) in &pulled {
            assert_eq!(
                text, expected[position],
                "shard {shard} position {position} is not what its producer wrote"
            );
        }
        counts.push(pulled.len());
    }
    counts
}

/// Says on the real stderr (not the captured test output, so it shows in a
/// plain `cargo test` run) that a test skipped its check, and why.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Runs the `#[ignore]`d test `test` of this very test binary alone, in a
/// child process with `env` added, and returns its output; the child is
/// killed (and the caller fails) after a minute. For tests that must
/// survive a crash of the code they test, or measure a process of their
/// own.
pub fn run_test_in_child(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    let exe = std::env::current_exe().expect("the test binary");
    c::run(
        &exe,
        &[
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ],
        env,
    )
}

/// A small deterministic random source for tests (SplitMix64): the same seed
/// gives the same sequence, so a failing run can be repeated.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A duration from `from` to `to` milliseconds, inclusive.
    pub fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}
