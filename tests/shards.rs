//! Shards, producer threads and runs with real processes and real shared
//! memory: each nickname goes to exactly one caller across consumer
//! processes on several shards (and a consumer killed with -9 loses at most
//! its runs), a consumer whose home shard is empty takes from the others
//! without waiting for a producer, `--seed` reproduces every shard's
//! sequence whatever `--producers`, and a handle follows a daemon restart
//! to another shard count.

mod common;

use common::{Daemon, Rng, run_cli, unique_name, wait_until};
use nickpool::ring::RUN_MAX;
use nickpool::{Client, Error};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
/// The worker's segment name, nicknames to pull (0: until killed), threads.
const NAME_VAR: &str = "NICKPOOL_SHARDS_NAME";
const COUNT_VAR: &str = "NICKPOOL_SHARDS_COUNT";
const THREADS: usize = 2;

/// A consumer process: this test binary re-run on `shard_consumer_worker`,
/// pulling one by one (so through runs) on `THREADS` threads and printing
/// every nickname on a line of its own as soon as it has it.
#[test]
#[ignore = "run by every_nickname_goes_to_one_consumer_even_when_consumers_are_killed"]
fn shard_consumer_worker() {
    let name = std::env::var(NAME_VAR).expect("segment name");
    let count: usize = std::env::var(COUNT_VAR).unwrap().parse().unwrap();
    let client = Client::open(Some(&name)).unwrap();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN];
                let mut pulled = 0;
                while count == 0 || pulled < count {
                    let len = client.next(&mut buf, Some(SECOND)).unwrap();
                    let nickname = std::str::from_utf8(&buf[..len]).unwrap();
                    // One write per line: a kill cuts at most this line.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{nickname}").unwrap();
                    out.flush().unwrap();
                    pulled += 1;
                }
            });
        }
    });
}

/// A consumer process, and a thread collecting the whole lines it prints
/// (its stdout is read as it goes, so a full pipe never blocks it).
struct Consumer {
    child: Child,
    lines: std::thread::JoinHandle<Vec<String>>,
}

fn spawn_consumer(name: &str, count: usize) -> Consumer {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "shard_consumer_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NAME_VAR, name)
        .env(COUNT_VAR, count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a consumer");
    let stdout = child.stdout.take().expect("piped stdout");
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .split(b'\n')
            .map_while(Result::ok)
            .filter_map(|line| String::from_utf8(line).ok())
            // The first line also carries libtest's "test NAME ... ".
            .map(|line| match line.rfind("... ") {
                Some(at) => line[at + 4..].to_owned(),
                None => line,
            })
            .filter(|line| line.contains('#'))
            .collect()
    });
    Consumer { child, lines }
}

#[test]
fn every_nickname_goes_to_one_consumer_even_when_consumers_are_killed() {
    const KEPT: usize = 3;
    const KILLED: usize = 3;
    const EACH: usize = 4000;
    let name = unique_name("shards-once");
    let daemon = Daemon::start(
        &name,
        &[
            "--shards",
            "4",
            "--producers",
            "2",
            "--capacity",
            "256",
            "--seed",
            "11",
            "--test-tag",
        ],
    );
    let mut rng = Rng(0x5ba4d5);
    let kept: Vec<Consumer> = (0..KEPT).map(|_| spawn_consumer(&name, EACH)).collect();
    let mut killed: Vec<Consumer> = (0..KILLED).map(|_| spawn_consumer(&name, 0)).collect();
    // Kill each busy consumer with -9 at a random moment: mostly inside a
    // call, some of them holding a run.
    for consumer in &mut killed {
        std::thread::sleep(rng.millis(100, 400));
        consumer.child.kill().unwrap();
        consumer.child.wait().unwrap();
    }
    let mut lines: Vec<String> = Vec::new();
    for mut consumer in kept {
        let status = consumer.child.wait().unwrap();
        assert!(status.success(), "a consumer failed: {status}");
        let got = consumer.lines.join().unwrap();
        assert_eq!(got.len(), THREADS * EACH);
        lines.extend(got);
    }
    for consumer in killed {
        lines.extend(consumer.lines.join().unwrap());
    }
    // No (shard, position) twice, each the one its shard's stream holds
    // there; every shard served.
    let counts = common::check_tagged(11, lines.iter().map(String::as_str));
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");

    // Every claimed nickname was handed out, except what the consumers'
    // runs still held when they exited or were killed (and, for a killed
    // one, a nickname between its claim and its line): at most RUN_MAX + 1
    // per thread.
    let consumed = Client::open(Some(&name)).unwrap().stats().unwrap().consumed;
    let delivered = lines.len() as u64;
    let bound = ((KEPT + KILLED) * THREADS * (RUN_MAX + 1)) as u64;
    assert!(
        consumed >= delivered && consumed - delivered <= bound,
        "{consumed} claimed, {delivered} handed out: more lost than the bound of {bound}"
    );
    drop(daemon);
}

#[test]
fn a_consumer_whose_home_shard_is_empty_takes_from_the_others_without_waiting() {
    let name = unique_name("shards-steal");
    let daemon = Daemon::start(
        &name,
        &[
            "--shards",
            "4",
            "--producers",
            "1",
            "--capacity",
            "64",
            "--test-tag",
        ],
    );
    let client = Client::open(Some(&name)).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        client.stats().unwrap().fill == 64
    }));
    // No producer runs from here on: whatever a pull gets, it takes from
    // what the shards hold now.
    daemon.pause();
    let mut buf = [0u8; 64];
    let mut shards_seen = [0usize; 4];
    let start = Instant::now();
    loop {
        match client.next(&mut buf, Some(Duration::ZERO)) {
            Ok(len) => {
                let nickname = std::str::from_utf8(&buf[..len]).unwrap();
                shards_seen[common::tagged(nickname).1] += 1;
            }
            Err(Error::Empty) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Every shard's 16, not just the home shard's, and without waiting.
    assert_eq!(shards_seen, [16; 4]);
    assert!(start.elapsed() < SECOND, "{:?}", start.elapsed());
    daemon.signal(libc::SIGCONT);
    assert!(client.next(&mut buf, Some(Duration::from_secs(5))).is_ok());
}

#[test]
fn each_shard_serves_its_own_stream_of_the_seed_whatever_the_producer_count() {
    for producers in ["1", "3"] {
        let name = unique_name("shards-seed");
        let _daemon = Daemon::start(
            &name,
            &[
                "--shards",
                "4",
                "--producers",
                producers,
                "--capacity",
                "64",
                "--seed",
                "5",
                "--test-tag",
            ],
        );
        let (code, json, err) = run_cli(&["stats", "--name", &name, "--json"], SECOND * 10);
        assert_eq!(code, 0, "{err}");
        let stats: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(stats["shards"], 4);
        assert_eq!(stats["producers"].to_string(), producers);
        // Pull from several threads of this process, so several shards are
        // drained (and stolen from) at once.
        let client = Client::open(Some(&name)).unwrap();
        let pulled: Vec<String> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    s.spawn(|| {
                        (0..300)
                            .map(|_| client.next_string(Some(SECOND * 5)).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let counts = common::check_tagged(5, pulled.iter().map(String::as_str));
        assert_eq!(counts.iter().sum::<usize>(), 900, "{producers} producers");
        assert!(counts.len() >= 2, "{counts:?}");
    }
}

#[test]
fn a_handle_follows_a_restart_to_another_shard_count() {
    let name = unique_name("shards-restart");
    let mut first = Daemon::start(&name, &["--shards", "4", "--capacity", "64"]);
    let client = Client::open(Some(&name)).unwrap();
    let mut buf = [0u8; 64];
    for _ in 0..20 {
        client.next(&mut buf, Some(SECOND)).unwrap();
    }
    first.kill9();
    // Leftovers of the dead daemon (its shards, and this thread's run), then
    // DaemonGone.
    let mut leftovers = 0;
    let err = loop {
        match client.next(&mut buf, Some(Duration::from_millis(200))) {
            Ok(_) => leftovers += 1,
            Err(e) => break e,
        }
        assert!(
            leftovers <= 64 + RUN_MAX,
            "more nicknames than the shards and a run hold"
        );
    };
    assert!(matches!(err, Error::DaemonGone(_)), "{err}");
    let _second = Daemon::start(&name, &["--shards", "1", "--capacity", "4"]);
    for _ in 0..20 {
        client
            .next(&mut buf, Some(SECOND * 5))
            .expect("reattached to one shard");
    }
    let stats = client.stats().unwrap();
    assert_eq!((stats.shards, stats.capacity), (1, 4));
}

#[test]
fn a_segment_of_the_old_layout_is_refused_with_a_clear_message() {
    let name = unique_name("shards-old");
    // Magic, then layout version 1 where every version keeps it.
    let mut bytes = vec![0u8; 16384];
    bytes[..8].copy_from_slice(b"NICKPOOL");
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(common::shm_path(&name), bytes).unwrap();
    let err = Client::open(Some(&name)).unwrap_err();
    common::remove_segment(&name);
    assert_eq!(err.status(), 4, "NICKPOOL_INCOMPATIBLE: {err}");
    let text = err.to_string();
    assert!(
        text.contains("layout version 1") && text.contains("restart the daemon"),
        "{text}"
    );
}

#[test]
fn shard_and_producer_counts_are_checked_before_serving() {
    for (args, why) in [
        (&["--shards", "3"][..], "power of two"),
        (&["--shards", "128"][..], "power of two from 1 to 64"),
        (
            &["--capacity", "8", "--shards", "4"][..],
            "at least 4 slots",
        ),
        (&["--shards", "2", "--producers", "3"][..], "from 1 to 2"),
        (&["--producers", "0"][..], "producers"),
    ] {
        let name = unique_name("shards-usage");
        let mut all = vec!["serve", "--name", &name];
        all.extend_from_slice(args);
        let (code, _, err) = run_cli(&all, SECOND * 10);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
        assert!(!common::shm_path(&name).exists());
    }
}
