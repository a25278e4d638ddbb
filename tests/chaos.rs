//! Chaos: several C consumer processes (tests/c/chaos_consumer.c) pull
//! through the C ABI while the test kills them with -9 in the middle of a
//! pull, kills the daemon with -9, stops and resumes it (SIGSTOP/SIGCONT),
//! stops it gracefully and starts new daemons on the same name, for 40
//! seconds and at least 250 events (NICKPOOL_CHAOS_SECS=N for a longer
//! run), then checks every consumer's log:
//!
//! - no call took longer than its timeout (plus a generous slack for a
//!   loaded machine): a call may return EMPTY or DAEMON_GONE, never hang;
//! - no call returned another status (no INCOMPATIBLE, IO_ERROR, ...);
//! - every nickname is whole, valid UTF-8, and exactly the one the daemon
//!   it came from generated at its shard's position: each daemon runs with
//!   four shards, two producer threads, its own --seed and --test-tag
//!   ("<nickname>#<shard>.<position>"), and `nickpool gen --seed S
//!   --stream SHARD` reproduces each shard's sequence;
//! - no (daemon, shard, position) was handed out twice;
//! - after each restart, every consumer whose handle was open before gets
//!   a nickname from the new daemon, on that same handle, within a bound.
//!
//! Which daemon a nickname came from: positions restart at 0 with every
//! daemon, so the consumers log, between their pulls, the pid of the daemon
//! their handle is on (nickpool_stats). A handle only moves forward, from a
//! dead daemon to the next, so the nicknames between two such lines come
//! from the daemons started between those two; the sequences tell which.

mod common;

use common::c::Build;
use common::{Daemon, Rng, unique_name};
use nickpool::segment::monotonic_ns;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Consumers that live through the whole run on their first handle, and
/// consumers that are killed and replaced all the time.
const KEPT: usize = 2;
const CHURNED: usize = 3;
/// Consumers' timeouts, in ms, by consumer number (cycled).
const TIMEOUTS_MS: [u64; 4] = [10, 250, 0, 50];
/// How long a call may take beyond its timeout before it counts as hung:
/// generous, because other builds may share this machine's two cores.
const SLACK: Duration = Duration::from_secs(3);
/// After a daemon starts, no daemon event for this long, and every
/// consumer that had a handle open must have a nickname from the new
/// daemon within it.
const RECOVERY: Duration = Duration::from_secs(2);
const CAPACITY: &str = "64";
/// The run lasts at least MIN_SECS and until MIN_EVENTS events, but no
/// longer than MAX_SECS.
const MIN_SECS: u64 = 40;
const MIN_EVENTS: usize = 250;
const MAX_SECS: u64 = 75;
/// Allowed statuses: NICKPOOL_OK, NICKPOOL_EMPTY, NICKPOOL_DAEMON_GONE.
const ALLOWED_STATUSES: [u32; 3] = [0, 1, 6];

/// The kinds of events, for the count the test reports and requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Event {
    /// kill -9 of a consumer that was inside a pull call at that instant.
    ConsumerKilledMidPull,
    /// kill -9 of a consumer between calls.
    ConsumerKilled,
    DaemonKilled,
    DaemonStopped,
    DaemonContinued,
    /// SIGTERM: the daemon shuts down cleanly.
    DaemonTerminated,
    /// A new daemon on the name (after a kill or a SIGTERM).
    DaemonRestarted,
}

/// One daemon instance: its pid, seed, and when it was ready (monotonic
/// ns).
struct Instance {
    daemon: Daemon,
    pid: u32,
    seed: u64,
    ready_ns: u64,
}

/// One consumer process and its files.
struct Consumer {
    child: Child,
    log: PathBuf,
    state: File,
    timeout_ms: u64,
    killed_ns: Option<u64>,
}

impl Consumer {
    fn spawn(exe: &Path, dir: &Path, name: &str, number: usize) -> Consumer {
        let log = dir.join(format!("consumer-{number}.log"));
        let state_path = dir.join(format!("consumer-{number}.state"));
        let state = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&state_path)
            .unwrap();
        state.set_len(4096).unwrap();
        let timeout_ms = TIMEOUTS_MS[number % TIMEOUTS_MS.len()];
        let stderr = File::create(dir.join(format!("consumer-{number}.err"))).unwrap();
        let child = Command::new(exe)
            .arg(name)
            .arg(&log)
            .arg(&state_path)
            .arg(timeout_ms.to_string())
            .arg(number.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn chaos_consumer");
        Consumer {
            child,
            log,
            state,
            timeout_ms,
            killed_ns: None,
        }
    }

    /// Whether the consumer is inside a pull call right now.
    fn in_call(&self) -> bool {
        let mut word = [0u8; 4];
        self.state.read_exact_at(&mut word, 0).unwrap();
        u32::from_ne_bytes(word) == 1
    }

    /// kill -9, aiming for the middle of a pull: waits up to `aim` for the
    /// consumer to be inside one. Returns whether it was. Panics if the
    /// consumer had exited by itself.
    fn kill9(&mut self, aim: Duration) -> bool {
        if let Some(status) = self.child.try_wait().unwrap() {
            let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
            panic!("a consumer exited by itself with {status}: {err}");
        }
        let start = Instant::now();
        let mut mid_pull = self.in_call();
        while !mid_pull && start.elapsed() < aim {
            std::hint::spin_loop();
            mid_pull = self.in_call();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.killed_ns = Some(monotonic_ns());
        mid_pull
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The daemon side of the schedule.
enum DaemonState {
    Running,
    Stopped { since: Instant },
    Dead { since: Instant },
}

#[test]
fn chaos_consumers_and_daemons_killed_stopped_and_restarted() {
    // At least MIN_SECS and MIN_EVENTS, at most MAX_SECS (a slow machine
    // gets more time for its events); NICKPOOL_CHAOS_SECS sets a longer
    // minimum for runs by hand.
    let min_secs: u64 = std::env::var("NICKPOOL_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(MIN_SECS);
    let max_secs = MAX_SECS.max(min_secs);
    let name = unique_name("chaos");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name.trim_start_matches('/'));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = Build::new("tests/c/chaos_consumer.c", "chaos_consumer").compile();

    let mut rng = Rng(0xc4a05);
    let mut instances: Vec<Instance> = Vec::new();
    let start_daemon = |instances: &mut Vec<Instance>| {
        let seed = 1000 + instances.len() as u64;
        let daemon = Daemon::start(
            &name,
            &[
                "--capacity",
                CAPACITY,
                "--shards",
                "4",
                "--producers",
                "2",
                "--test-tag",
                "--seed",
                &seed.to_string(),
            ],
        );
        let pid = daemon.pid() as u32;
        instances.push(Instance {
            daemon,
            pid,
            seed,
            ready_ns: monotonic_ns(),
        });
    };
    start_daemon(&mut instances);
    let mut consumers: Vec<Consumer> = (0..KEPT + CHURNED)
        .map(|n| Consumer::spawn(&exe, &dir, &name, n))
        .collect();
    let mut churned: Vec<usize> = (KEPT..KEPT + CHURNED).collect();

    let mut events: HashMap<Event, usize> = HashMap::new();
    let mut killed_while_stopped = 0;
    let mut daemon_events = 0u64;
    let mut state = DaemonState::Running;
    let mut next_daemon_event = Instant::now() + RECOVERY;
    let started = Instant::now();
    let mut total = 0;
    while started.elapsed() < Duration::from_secs(min_secs)
        || (total < MIN_EVENTS && started.elapsed() < Duration::from_secs(max_secs))
    {
        std::thread::sleep(rng.millis(40, 160));
        let now = Instant::now();
        let event = match state {
            DaemonState::Dead { since } if now - since > rng.millis(50, 300) => {
                start_daemon(&mut instances);
                state = DaemonState::Running;
                next_daemon_event = Instant::now() + RECOVERY;
                Event::DaemonRestarted
            }
            DaemonState::Stopped { since } if now - since > rng.millis(100, 600) => {
                let daemon = &mut instances.last_mut().unwrap().daemon;
                // Every third stopped daemon is killed instead of resumed.
                if events.get(&Event::DaemonStopped).copied().unwrap_or(0) % 3 == 0 {
                    daemon.kill9();
                    state = DaemonState::Dead { since: now };
                    Event::DaemonKilled
                } else {
                    daemon.signal(libc::SIGCONT);
                    state = DaemonState::Running;
                    Event::DaemonContinued
                }
            }
            DaemonState::Running if now >= next_daemon_event && rng.below(2) == 0 => {
                let daemon = &mut instances.last_mut().unwrap().daemon;
                // In turn: stop, kill -9, stop, SIGTERM (so every kind
                // comes often, whatever the timing).
                daemon_events += 1;
                match daemon_events % 4 {
                    1 | 3 => {
                        daemon.signal(libc::SIGSTOP);
                        state = DaemonState::Stopped { since: now };
                        Event::DaemonStopped
                    }
                    2 => {
                        daemon.kill9();
                        state = DaemonState::Dead { since: now };
                        Event::DaemonKilled
                    }
                    _ => {
                        assert_eq!(daemon.stop(), Some(0), "a graceful stop exits 0");
                        state = DaemonState::Dead { since: now };
                        Event::DaemonTerminated
                    }
                }
            }
            _ => {
                // Kill a consumer, aiming for the middle of a pull, and
                // start another in its place.
                let victim = churned.swap_remove(rng.below(CHURNED as u64) as usize);
                let mid_pull = consumers[victim].kill9(Duration::from_millis(20));
                if matches!(state, DaemonState::Stopped { .. }) {
                    killed_while_stopped += 1;
                }
                churned.push(consumers.len());
                consumers.push(Consumer::spawn(&exe, &dir, &name, consumers.len()));
                if mid_pull {
                    Event::ConsumerKilledMidPull
                } else {
                    Event::ConsumerKilled
                }
            }
        };
        *events.entry(event).or_default() += 1;
        total += 1;
    }
    // Leave the last daemon running while the consumers stop.
    if let DaemonState::Stopped { .. } = state {
        instances.last().unwrap().daemon.signal(libc::SIGCONT);
    }
    std::thread::sleep(Duration::from_millis(200));
    let end_ns = monotonic_ns();
    for consumer in &mut consumers {
        if consumer.killed_ns.is_none() {
            consumer.kill9(Duration::ZERO);
        }
    }
    let chaos_time = started.elapsed();

    let report = check(&instances, &consumers, end_ns);
    let mut kinds: Vec<_> = events.iter().collect();
    kinds.sort();
    println!(
        "chaos for {chaos_time:.1?}: {total} events survived {kinds:?} \
         ({killed_while_stopped} consumer kills while the daemon was stopped); \
         {} daemons, {} consumers; {report}",
        instances.len(),
        consumers.len()
    );
    assert!(
        total >= 200,
        "only {total} events in {chaos_time:?}: {kinds:?}"
    );
    for kind in [
        Event::ConsumerKilledMidPull,
        Event::DaemonKilled,
        Event::DaemonStopped,
        Event::DaemonContinued,
        Event::DaemonRestarted,
    ] {
        assert!(
            events.get(&kind).copied().unwrap_or(0) >= 3,
            "too few {kind:?}: {kinds:?}"
        );
    }
    drop(consumers);
    drop(instances);
    common::remove_segment(&name);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One logged nickname, with the range of daemons it can come from.
struct Pulled {
    consumer: usize,
    t1: u64,
    nickname: String,
    shard: usize,
    position: usize,
    /// Indices into the instances: the handle was on `first` or a later
    /// one, and on `last` or an earlier one.
    first: usize,
    last: usize,
}

/// Checks every consumer's log against the instances (see the module
/// doc); panics on the first violation, returns a summary.
fn check(instances: &[Instance], consumers: &[Consumer], end_ns: u64) -> String {
    // pid -> instance indices (a pid could come back; take the first at or
    // after the lower bound).
    let mut by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
    for (k, instance) in instances.iter().enumerate() {
        by_pid.entry(instance.pid).or_default().push(k);
    }
    let mut pulled: Vec<Pulled> = Vec::new();
    let mut opened_ns: Vec<Option<u64>> = vec![None; consumers.len()];
    let mut calls = 0usize;
    let mut statuses: HashMap<u32, usize> = HashMap::new();
    let mut longest_over = Duration::ZERO;
    for (c, consumer) in consumers.iter().enumerate() {
        let bytes = std::fs::read(&consumer.log).unwrap_or_default();
        // A kill may cut the last line short; only whole lines count.
        let whole = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(end) => &bytes[..=end],
            None => &[][..],
        };
        let mut first = 0usize;
        let mut window_start = pulled.len();
        for line in whole.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = std::str::from_utf8(line).unwrap_or_else(|_| {
                panic!("consumer {c}: a line that is not UTF-8 (a torn nickname?): {line:?}")
            });
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[0] {
                "O" => opened_ns[c] = Some(fields[1].parse().unwrap()),
                "S" => {
                    let pid: u32 = fields[2].parse().unwrap();
                    if pid == 0 {
                        continue; // No daemon: the handle did not move.
                    }
                    let k = *by_pid
                        .get(&pid)
                        .and_then(|ks| ks.iter().find(|&&k| k >= first))
                        .unwrap_or_else(|| {
                            panic!("consumer {c}: stats name pid {pid}, no daemon of this test")
                        });
                    for p in &mut pulled[window_start..] {
                        p.last = k;
                    }
                    first = k;
                    window_start = pulled.len();
                }
                "N" => {
                    assert_eq!(fields.len(), 5, "consumer {c}: bad line {line:?}");
                    let t0: u64 = fields[1].parse().unwrap();
                    let t1: u64 = fields[2].parse().unwrap();
                    let status: u32 = fields[3].parse().unwrap();
                    calls += 1;
                    *statuses.entry(status).or_default() += 1;
                    assert!(
                        ALLOWED_STATUSES.contains(&status),
                        "consumer {c}: status {status} in {line:?}"
                    );
                    let took = Duration::from_nanos(t1 - t0);
                    let timeout = Duration::from_millis(consumer.timeout_ms);
                    longest_over = longest_over.max(took.saturating_sub(timeout));
                    assert!(
                        took <= timeout + SLACK,
                        "consumer {c}: a call with a timeout of {timeout:?} took {took:?}: {line}"
                    );
                    if status != 0 {
                        continue;
                    }
                    let nickname = fields[4];
                    let (_, shard, position) = common::tagged(nickname);
                    pulled.push(Pulled {
                        consumer: c,
                        t1,
                        nickname: nickname.to_owned(),
                        shard,
                        position,
                        first,
                        last: usize::MAX, // Until the next stats line.
                    });
                }
                _ => panic!("consumer {c}: unknown line {line:?}"),
            }
        }
        // After the last stats line: up to the last daemon.
        for p in &mut pulled[window_start..] {
            p.last = instances.len() - 1;
        }
    }

    // Each daemon's shards' sequences, as far as any nickname may need them.
    let mut needed: HashMap<(usize, usize), usize> = HashMap::new();
    for p in &pulled {
        for k in p.first..=p.last {
            let n = needed.entry((k, p.shard)).or_default();
            *n = (*n).max(p.position + 1);
        }
    }
    let sequences: HashMap<(usize, usize), Vec<String>> = needed
        .into_iter()
        .map(|((k, shard), n)| ((k, shard), common::generated(instances[k].seed, shard, n)))
        .collect();

    // Every nickname is the one a candidate daemon wrote at its shard's
    // position; none is handed out twice.
    let mut seen: HashSet<(usize, usize, usize)> = HashSet::new();
    let mut first_ok: HashMap<(usize, usize), u64> = HashMap::new();
    for p in &pulled {
        let text = &p.nickname[..p.nickname.rfind('#').unwrap()];
        let k = (p.first..=p.last)
            .find(|&k| {
                sequences[&(k, p.shard)]
                    .get(p.position)
                    .is_some_and(|s| s == text)
            })
            .unwrap_or_else(|| {
                panic!(
                    "consumer {}: {:?} is not what daemons {}..={} wrote at shard {} position {}",
                    p.consumer, p.nickname, p.first, p.last, p.shard, p.position
                )
            });
        assert!(
            seen.insert((k, p.shard, p.position)),
            "daemon {k}'s shard {} position {} handed out twice (again to consumer {})",
            p.shard,
            p.position,
            p.consumer
        );
        let t = first_ok.entry((p.consumer, k)).or_insert(p.t1);
        *t = (*t).min(p.t1);
    }

    // After each restart, every consumer with a handle open before it, and
    // alive through the bound, got a nickname from the new daemon in time.
    let bound = RECOVERY.as_nanos() as u64;
    let mut recoveries = 0;
    let mut slowest_recovery = Duration::ZERO;
    for (k, instance) in instances.iter().enumerate().skip(1) {
        for (c, consumer) in consumers.iter().enumerate() {
            let Some(opened) = opened_ns[c] else { continue };
            let alive_until = consumer.killed_ns.unwrap_or(end_ns).min(end_ns);
            if opened >= instance.ready_ns || alive_until < instance.ready_ns + bound + bound / 2 {
                continue;
            }
            let got = first_ok.get(&(c, k)).copied();
            assert!(
                got.is_some_and(|t| t <= instance.ready_ns + bound),
                "consumer {c} did not recover within {RECOVERY:?} after daemon {k} started \
                 (first nickname from it: {:?} ms after)",
                got.map(|t| (t.saturating_sub(instance.ready_ns)) / 1_000_000)
            );
            recoveries += 1;
            let took = got.unwrap().saturating_sub(instance.ready_ns);
            slowest_recovery = slowest_recovery.max(Duration::from_nanos(took));
        }
    }
    let mut statuses: Vec<_> = statuses.into_iter().collect();
    statuses.sort();
    format!(
        "{calls} calls (statuses {statuses:?}), {} nicknames checked whole, in sequence and \
         unique; {recoveries} recoveries on existing handles after restarts (the slowest \
         {slowest_recovery:?} after the new daemon was up); longest call beyond its timeout \
         {longest_over:?}",
        pulled.len()
    )
}
