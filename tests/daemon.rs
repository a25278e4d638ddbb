//! The daemon and the ring with real processes and real shared memory:
//! concurrent consumer processes, consumers killed mid-pull, the daemon
//! killed and replaced, graceful stop, reload, idle cost.

mod common;

use common::{Daemon, run_cli, shm_path, unique_name, wait_until};
use nickpool::{Client, Error};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn concurrent_consumer_processes_get_every_nickname_once_and_whole() {
    const PROCS: usize = 4;
    const EACH: usize = 25_000;
    let name = unique_name("concurrent");
    let _daemon = Daemon::start(
        &name,
        &[
            "--seed",
            "7",
            "--capacity",
            "1024",
            "--shards",
            "4",
            "--producers",
            "2",
            "--test-tag",
        ],
    );
    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            Command::new(common::nickpool_bin())
                .args(["pull", "--name", &name, "-n", &EACH.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn pull")
        })
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("pull output");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("pulled nicknames are UTF-8")
        })
        .collect();
    // Each shard's nicknames are its own stream of the seed, in order, and
    // none comes twice.
    let counts = common::check_tagged(7, outputs.iter().flat_map(|o| o.lines()));
    assert_eq!(counts.iter().sum::<usize>(), PROCS * EACH);
}

#[test]
fn consumers_killed_mid_pull_never_stall_the_others() {
    let name = unique_name("killc");
    let _daemon = Daemon::start(&name, &["--capacity", "256"]);
    let client = Client::open(Some(&name)).unwrap();
    let mut buf = [0u8; 64];
    let mut rng = common::Rng(0x6b696c6c);
    for round in 0..50 {
        let mut puller = Command::new(common::nickpool_bin())
            .args(["pull", "--name", &name, "-n", "1000000000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pull");
        // A busy puller spends its time inside pulls: kill it at a random
        // moment within its first 30 ms.
        std::thread::sleep(Duration::from_micros(2000 + rng.below(28_000)));
        puller.kill().unwrap();
        puller.wait().unwrap();
        // Another consumer is served at once: no slot is held by the dead.
        let start = Instant::now();
        for _ in 0..300 {
            let len = client
                .next(&mut buf, Some(SECOND))
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(std::str::from_utf8(&buf[..len]).is_ok());
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "round {round}: 300 pulls took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn a_killed_daemon_is_replaced_and_the_same_client_reattaches() {
    let name = unique_name("restart");
    let mut daemon = Daemon::start(&name, &["--capacity", "4"]);
    let client = Client::open(Some(&name)).unwrap();
    let mut buf = [0u8; 64];
    client.next(&mut buf, Some(SECOND)).unwrap();
    daemon.kill9();
    // The segment stays behind after kill -9; the ring may still hold up to
    // 4 nicknames, each handed out once, then the client says DaemonGone.
    let mut leftovers = 0;
    let err = loop {
        match client.next(&mut buf, Some(Duration::from_millis(200))) {
            Ok(_) => leftovers += 1,
            Err(e) => break e,
        }
        assert!(leftovers <= 4, "more nicknames than the ring holds");
    };
    assert!(matches!(err, Error::DaemonGone(_)), "{err}");
    assert!(shm_path(&name).exists());

    // A new daemon takes the stale segment over; the old client follows.
    let mut second = Daemon::start(&name, &["--capacity", "4"]);
    let len = client.next(&mut buf, Some(SECOND)).expect("reattached");
    assert!(len > 0);
    assert_eq!(client.stats().unwrap().reattachments, 1);
    assert_eq!(client.stats().unwrap().daemon_pid, second.pid() as u32);
    assert_eq!(second.stop(), Some(0));
    assert!(
        second.stderr().contains("took over stale segment"),
        "takeover is logged"
    );
}

#[test]
fn graceful_stop_unlinks_the_segment_and_clients_see_daemon_gone() {
    let name = unique_name("stop");
    let mut daemon = Daemon::start(&name, &["--capacity", "4"]);
    let client = Client::open(Some(&name)).unwrap();
    let mut buf = [0u8; 64];
    client.next(&mut buf, Some(SECOND)).unwrap();
    assert_eq!(daemon.stop(), Some(0));
    assert!(!shm_path(&name).exists(), "segment removed on SIGTERM");
    let mut pulls = 0;
    let err = loop {
        match client.next(&mut buf, Some(Duration::from_millis(200))) {
            Ok(_) => pulls += 1,
            Err(e) => break e,
        }
        assert!(pulls <= 4);
    };
    assert!(matches!(err, Error::DaemonGone(_)), "{err}");
    assert!(matches!(
        Client::open(Some(&name)).unwrap_err(),
        Error::NotRunning(_)
    ));
}

#[test]
fn a_second_daemon_on_a_live_name_refuses_with_the_pid() {
    let name = unique_name("second");
    let daemon = Daemon::start(&name, &[]);
    let (code, _, err) = run_cli(&["serve", "--name", &name], Duration::from_secs(10));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("running daemon, pid {}", daemon.pid())),
        "{err}"
    );
    // The first daemon is untouched.
    let client = Client::open(Some(&name)).unwrap();
    assert!(client.next_string(Some(SECOND)).is_ok());
}

#[test]
fn sighup_reloads_the_dictionary_and_refuses_a_bad_one() {
    let dir = std::env::temp_dir().join(unique_name("reload").replace('/', ""));
    std::fs::create_dir_all(&dir).unwrap();
    let dict = dir.join("words.dict");
    let write_dict = |words: [&str; 2]| {
        std::fs::write(
            &dict,
            format!(
                "[class a]\n{} x\n{} x\n[styles]\nonly 1 {{a}}\n",
                words[0], words[1]
            ),
        )
        .unwrap();
    };
    write_dict(["春风", "夏雨"]);
    let name = unique_name("reload");
    let mut daemon = Daemon::start(
        &name,
        &["--capacity", "4", "--dict", dict.to_str().unwrap()],
    );
    let client = Client::open(Some(&name)).unwrap();
    let pull = || client.next_string(Some(SECOND)).unwrap();
    assert!(["春风", "夏雨"].contains(&pull().as_str()));

    write_dict(["秋月", "冬雪"]);
    daemon.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || client
        .stats()
        .unwrap()
        .reloads
        == 1));
    // Drain what was generated before the reload; then only new words.
    for _ in 0..8 {
        pull();
    }
    for _ in 0..20 {
        assert!(["秋月", "冬雪"].contains(&pull().as_str()));
    }

    std::fs::write(&dict, "[class a]\n[styles]\nonly 1 {a}\n").unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || {
        client.stats().unwrap().reload_failures == 1
    }));
    for _ in 0..20 {
        assert!(["秋月", "冬雪"].contains(&pull().as_str()));
    }
    assert_eq!(daemon.stop(), Some(0));
    let log = daemon.stderr();
    assert!(log.contains("reload refused"), "{log}");
    assert!(
        log.contains("is empty"),
        "the log says what is wrong: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); after "pid (comm) " they are 12th and 13th.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn an_idle_daemon_sleeps() {
    let name = unique_name("idle");
    let daemon = Daemon::start(&name, &[]);
    // Let it fill the ring, then measure three idle seconds.
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(daemon.pid());
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_ticks(daemon.pid()) - before;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // 3 s of one core is 3 * hz ticks; 3% is a generous bound (expected ~0).
    assert!(
        used * 100 <= 3 * 3 * hz,
        "idle daemon used {used} ticks of {} in 3 s",
        3 * hz
    );
}

#[test]
fn a_waiting_client_wakes_when_the_producer_resumes() {
    let name = unique_name("wake");
    let daemon = Daemon::start(&name, &["--capacity", "4"]);
    let client = Client::open(Some(&name)).unwrap();
    daemon.pause();
    let mut buf = [0u8; 64];
    // Drain; then a pull with a timeout returns Empty on time.
    while client.next(&mut buf, Some(Duration::ZERO)).is_ok() {}
    let start = Instant::now();
    assert_eq!(
        client.next(&mut buf, Some(Duration::from_millis(300))),
        Err(Error::Empty)
    );
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2));
    // A waiting pull returns once the daemon runs again.
    let resumer = std::thread::spawn({
        let pid = daemon.pid();
        move || {
            std::thread::sleep(Duration::from_millis(200));
            // SAFETY: kill(2) on the daemon child.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    });
    assert!(client.next(&mut buf, None).is_ok());
    resumer.join().unwrap();
    assert!(client.stats().unwrap().consumer_waits >= 1);
}

#[test]
fn stats_report_the_daemon() {
    let name = unique_name("stats");
    let daemon = Daemon::start(&name, &["--capacity", "64", "--style", "gufeng"]);
    let (code, out, err) = run_cli(
        &["pull", "--name", &name, "-n", "10"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 10);
    let (code, out, _) = run_cli(
        &["stats", "--name", &name, "--json"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["capacity"], 64);
    assert_eq!(v["consumed"], 10);
    assert_eq!(v["daemon_pid"], daemon.pid());
    assert_eq!(v["style"], "gufeng");
    assert!(v["produced"].as_u64().unwrap() >= 10);
    let (code, out, _) = run_cli(&["stats", "--name", &name], Duration::from_secs(10));
    assert_eq!(code, 0);
    assert!(out.contains("capacity          64 slots"), "{out}");
    assert!(out.contains(&format!("pid {}", daemon.pid())), "{out}");
}

#[test]
fn the_segment_is_private_by_default() {
    use std::os::unix::fs::PermissionsExt;
    let name = unique_name("mode");
    let _daemon = Daemon::start(&name, &[]);
    let mode = std::fs::metadata(shm_path(&name))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn cli_errors_exit_with_their_codes() {
    let (code, _, err) = run_cli(
        &["pull", "--name", "/nptest-nobody-here"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("nickpool serve --name /nptest-nobody-here"),
        "{err}"
    );
    let (code, _, err) = run_cli(&["serve", "--capacity", "1000"], Duration::from_secs(10));
    assert_eq!(code, 2);
    assert!(err.contains("power of two"), "{err}");
    let (code, _, err) = run_cli(&["serve", "--name", "no-slash"], Duration::from_secs(10));
    assert_eq!(code, 2);
    assert!(err.contains("must start with '/'"), "{err}");
    let (code, _, _) = run_cli(&["serve", "--mode", "0777"], Duration::from_secs(10));
    assert_eq!(code, 2);
}
