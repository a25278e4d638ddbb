//! Waiting through a daemon restart. While no daemon serves the name, a
//! pull waits up to its timeout for one to appear and then pulls from it on
//! the same handle, asleep meanwhile (no busy loop): Rust threads sharing one
//! handle through ten restarts, and a C program blocked with
//! NICKPOOL_WAIT_FOREVER through kill -9 and restart.
//!
//! Each daemon serves a one-word dictionary, so every nickname says which
//! daemon made it.

mod common;

use common::c::Build;
use common::{Daemon, unique_name, wait_until};
use nickpool::{Client, Error};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::thread::JoinHandleExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The most CPU a waiting caller may use, as a share of one core. A busy
/// retry loop uses all of it; sleeping in slices uses well under 1%.
const MAX_WAITING_CPU: f64 = 0.05;

/// A dictionary file whose only nickname is `word`; removed on drop.
struct OneWordDict {
    path: PathBuf,
    word: String,
}

impl OneWordDict {
    fn new(word: &str) -> OneWordDict {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{}.dict",
            unique_name("restart-dict").trim_start_matches('/')
        ));
        std::fs::write(
            &path,
            format!("[class w]\n{word} t\n[styles]\nonly 1 {{w}}\n"),
        )
        .unwrap();
        OneWordDict {
            path,
            word: word.to_owned(),
        }
    }

    /// A daemon on `name` serving this dictionary.
    fn serve(&self, name: &str, capacity: &str) -> Daemon {
        Daemon::start(
            name,
            &[
                "--dict",
                self.path.to_str().unwrap(),
                "--capacity",
                capacity,
            ],
        )
    }
}

impl Drop for OneWordDict {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The word of round `round`'s daemon.
fn round_word(round: usize) -> String {
    format!("第{round}轮")
}

/// The CPU time a thread has used so far (its CPU-time clock).
fn thread_cpu(thread: libc::pthread_t) -> Duration {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `thread` is a live thread of this process (the caller holds
    // its JoinHandle and the thread runs until told to stop); `clock` is a
    // valid out-pointer.
    let found = unsafe { libc::pthread_getcpuclockid(thread, &mut clock) };
    assert_eq!(found, 0);
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and out-pointer.
    assert_eq!(unsafe { libc::clock_gettime(clock, &mut ts) }, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPU time (user + system) a process has used so far, from
/// /proc/PID/stat.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): state is
    // the 3rd field of the whole line, utime the 14th, stime the 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// Ten restarts (kill -9 and clean stops in turn) under eight threads of
/// one handle, each pulling with no timeout: no call fails, every thread
/// gets nicknames from every new daemon, and while no daemon runs each
/// waiting thread stays under 5% of a core.
#[test]
fn threads_waiting_forever_ride_through_ten_restarts() {
    const THREADS: usize = 8;
    const RESTARTS: usize = 10;
    const CAPACITY: &str = "16";
    const QUIET: Duration = Duration::from_millis(700);
    let name = unique_name("restart-threads");
    let dicts: Vec<OneWordDict> = (0..=RESTARTS)
        .map(|round| OneWordDict::new(&round_word(round)))
        .collect();
    let mut daemon = dicts[0].serve(&name, CAPACITY);
    let client = Arc::new(Client::open(Some(&name)).unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    // Bit r of seen[t]: thread t got a nickname of round r's daemon.
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..THREADS).map(|_| AtomicU64::new(0)).collect());
    let (error_tx, error_rx) = mpsc::channel::<String>();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (client, stop, errors, seen) = (
                Arc::clone(&client),
                Arc::clone(&stop),
                Arc::clone(&errors),
                Arc::clone(&seen),
            );
            let error_tx = error_tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    match client.next(&mut buf, None) {
                        Ok(len) => {
                            let word = std::str::from_utf8(&buf[..len]).unwrap();
                            let round = (0..=RESTARTS).find(|&r| round_word(r) == word);
                            match round {
                                Some(r) => {
                                    seen[t].fetch_or(1 << r, Ordering::Relaxed);
                                }
                                None => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                    let _ = error_tx.send(format!("unexpected nickname {word}"));
                                }
                            }
                            // A gentle consumer: the test is about waiting.
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            let _ = error_tx.send(e.to_string());
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
            })
        })
        .collect();
    drop(error_tx);

    let mut worst_cpu = 0.0_f64;
    for round in 0..=RESTARTS {
        let all_served = wait_until(Duration::from_secs(20), || {
            seen.iter()
                .all(|s| s.load(Ordering::Relaxed) & (1 << round) != 0)
        });
        let missing: Vec<usize> = (0..THREADS)
            .filter(|&t| seen[t].load(Ordering::Relaxed) & (1 << round) == 0)
            .collect();
        assert!(
            all_served,
            "round {round}: threads {missing:?} got nothing from the new daemon; errors: {:?}",
            error_rx.try_iter().collect::<Vec<_>>()
        );
        if round == RESTARTS {
            break;
        }
        if round % 2 == 0 {
            daemon.kill9();
        } else {
            assert_eq!(daemon.stop(), Some(0), "SIGTERM stops the daemon cleanly");
        }
        // The threads drain what the dead daemon left, then wait. Measure
        // their CPU over a quiet stretch with no daemon at all.
        std::thread::sleep(Duration::from_millis(200));
        let before: Vec<Duration> = threads
            .iter()
            .map(|h| thread_cpu(h.as_pthread_t()))
            .collect();
        let start = Instant::now();
        std::thread::sleep(QUIET);
        let after: Vec<Duration> = threads
            .iter()
            .map(|h| thread_cpu(h.as_pthread_t()))
            .collect();
        let wall = start.elapsed().as_secs_f64();
        for (t, (b, a)) in before.iter().zip(&after).enumerate() {
            let share = (*a - *b).as_secs_f64() / wall;
            worst_cpu = worst_cpu.max(share);
            assert!(
                share < MAX_WAITING_CPU,
                "round {round}: thread {t} used {:.1}% of a core while no daemon ran",
                share * 100.0
            );
        }
        drop(daemon);
        daemon = dicts[round + 1].serve(&name, CAPACITY);
    }

    // Let the threads return from their last pull and finish.
    stop.store(true, Ordering::Relaxed);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for thread in threads {
            thread.join().unwrap();
        }
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the pulling threads did not finish");
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "failed calls: {:?}",
        error_rx.try_iter().collect::<Vec<_>>()
    );
    assert!(client.stats().unwrap().reattachments >= 1);
    eprintln!(
        "10 restarts, {THREADS} threads: worst waiting thread {:.2}% of a core",
        worst_cpu * 100.0
    );
    drop(daemon);
}

/// A finite timeout still ends the wait: DAEMON_GONE once it has run out,
/// not before; and 0 never waits.
#[test]
fn a_timeout_bounds_the_wait_for_a_new_daemon() {
    let name = unique_name("restart-timeout");
    let dict = OneWordDict::new("等待");
    let mut daemon = dict.serve(&name, "4");
    let client = Client::open(Some(&name)).unwrap();
    let mut buf = [0u8; 64];
    client.next(&mut buf, Some(Duration::from_secs(5))).unwrap();
    daemon.kill9();
    while client.next(&mut buf, Some(Duration::ZERO)).is_ok() {} // Leftovers.

    let start = Instant::now();
    let err = client.next(&mut buf, Some(Duration::ZERO)).unwrap_err();
    assert!(matches!(err, Error::DaemonGone(_)), "{err}");
    assert!(start.elapsed() < Duration::from_millis(100), "0 waited");

    for timeout in [Duration::from_millis(100), Duration::from_millis(300)] {
        let start = Instant::now();
        let err = client.next(&mut buf, Some(timeout)).unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, Error::DaemonGone(_)), "{err}");
        assert!(took >= timeout, "returned after {took:?} < {timeout:?}");
        assert!(took < timeout + Duration::from_secs(1), "took {took:?}");
        assert!(
            err.to_string()
                .contains(&format!("within {} ms", timeout.as_millis())),
            "{err}"
        );
    }

    // A new daemon within the timeout: the same call gets its nickname.
    let second = OneWordDict::new("回来了");
    let (tx, rx) = mpsc::channel();
    let name_for_starter = name.clone();
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let daemon = second.serve(&name_for_starter, "4");
        let _ = tx.send(());
        (daemon, second)
    });
    let len = client
        .next(&mut buf, Some(Duration::from_secs(10)))
        .expect("the call waited for the new daemon");
    assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), "回来了");
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    drop(starter.join().unwrap());
}

/// tests/c/wait_restart.c: a C program blocked in nickpool_next with
/// NICKPOOL_WAIT_FOREVER while its daemon is killed (kill -9) gets its
/// nickname from the daemon started next, on the same handle, and sleeps
/// (under 5% of a core) while no daemon runs.
#[test]
fn a_c_program_waiting_forever_rides_through_kill_9_and_restart() {
    let exe = Build::new("tests/c/wait_restart.c", "wait_restart").compile();
    let name = unique_name("restart-c");
    let first = OneWordDict::new("先来的");
    let second = OneWordDict::new("后到的");
    let mut daemon = first.serve(&name, "16");

    let mut child = Command::new(&exe)
        .args([name.as_str(), first.word.as_str(), second.word.as_str()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Kill the program (and fail) if anything below hangs.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        format!("got {}", first.word)
    );

    daemon.kill9();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    // It drains the dead daemon's ring, then blocks: still running, asleep.
    std::thread::sleep(Duration::from_millis(300));
    let before = process_cpu(pid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let share = (process_cpu(pid) - before).as_secs_f64() / start.elapsed().as_secs_f64();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the program returned while no daemon ran"
    );
    assert!(
        share < MAX_WAITING_CPU,
        "the waiting program used {:.1}% of a core",
        share * 100.0
    );

    drop(daemon);
    let _daemon = second.serve(&name, "16");
    assert_eq!(
        lines.next().unwrap().unwrap(),
        format!("got {}", second.word)
    );
    let status = child.wait().unwrap();
    let _ = done_tx.send(());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
}
