//! Unique mode with real daemons: styles by weight, kill -9 and restart
//! without repeats, partitioned daemons and daemons on one Redis lease
//! without overlap, styles and the space running out, refused state files
//! (corrupted, of another dictionary, of an earlier version) and leases,
//! decode.

mod common;

use common::{Daemon, nickpool_bin, run_cli, unique_name, wait_until};
use nickpool::{Client, Error};
use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for each nickname. A unique-mode daemon syncs its
/// state file before it publishes, and a sync can take seconds while the
/// machine writes a lot (a build alongside); no test here expects to wait.
const WAIT: Duration = Duration::from_secs(10);
const MINUTE: Duration = Duration::from_secs(60);

/// 3 × 3 = 9 nicknames.
const TINY_DICT: &str = "\
[class a]
春 x
夏 x
秋 x
[class b]
风 x
雨 x
云 x
[styles]
ab 1 {a}{b}
";

/// The number of indices of the embedded dictionary's space, blocked
/// combinations included.
fn default_space_size() -> u64 {
    let dict = nickpool_server::generator::Dictionary::embedded();
    dict.styles().iter().map(|s| s.combinations()).sum::<u128>() as u64
}

/// A directory of its own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique_name(tag).trim_start_matches('/'));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_owned()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.file(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `nickpool pull --name NAME -n COUNT`, output piped.
fn spawn_pull(name: &str, count: usize) -> Child {
    Command::new(nickpool_bin())
        .args(["pull", "--name", name, "-n", &count.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nickpool pull")
}

/// Waits for a pull process and returns its nicknames.
fn pulled(child: Child, count: usize) -> String {
    let out = child.wait_with_output().expect("pull output");
    assert!(
        out.status.success(),
        "pull failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8 nicknames");
    assert_eq!(text.lines().count(), count);
    text
}

/// Every line of every output, checked for repeats; returns the number of
/// distinct nicknames.
fn assert_no_repeats<'a>(outputs: impl IntoIterator<Item = &'a str>) -> usize {
    let mut seen = HashSet::new();
    for line in outputs.into_iter().flat_map(str::lines) {
        assert!(seen.insert(line), "'{line}' was handed out twice");
    }
    seen.len()
}

/// Runs `nickpool serve ARGS…` expecting it to refuse to start; returns
/// its exit code and stderr.
fn serve_refused(args: &[&str]) -> (i32, String) {
    let name = unique_name("refused");
    let mut full = vec!["serve", "--name", name.as_str()];
    full.extend_from_slice(args);
    let (code, _, err) = run_cli(&full, Duration::from_secs(20));
    common::remove_segment(&name);
    (code, err)
}

fn unique_args<'a>(state: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--unique", "--state", state];
    args.extend_from_slice(more);
    args
}

/// A directory of its own holding a dictionary of `text` (the path is the
/// second value) and the place for a state file (the third), and a segment
/// name: what a unique-mode test over a small dictionary starts from.
fn small_setup(tag: &str, text: &str) -> (TempDir, String, String, String) {
    let dir = TempDir::new(tag);
    let dict = dir.write("a.dict", text);
    let state = dir.file("s.state");
    (dir, dict, state, unique_name(tag))
}

/// `serve --unique --state STATE --dict DICT --capacity 4` and `more`.
fn serve_small(name: &str, state: &str, dict: &str, more: &[&str]) -> Daemon {
    let mut args = unique_args(state, &["--dict", dict, "--capacity", "4"]);
    args.extend_from_slice(more);
    Daemon::start(name, &args)
}

#[test]
fn kill_9_at_any_moment_never_leads_to_a_repeat() {
    const CYCLES: usize = 100;
    let dir = TempDir::new("kill9");
    let state = dir.file("unique.state");
    let name = unique_name("kill9");
    let mut seen = HashSet::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next_random = move |below: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % below
    };
    let start = Instant::now();
    let mut buf = [0u8; 64];
    for cycle in 0..CYCLES {
        let mut daemon = Daemon::start(&name, &unique_args(&state, &["--capacity", "16"]));
        let client = Client::open(Some(&name)).unwrap();
        // Kill while it is producing (a capacity of 16 keeps it refilling
        // between pulls): right after start, while it reserves its first
        // round, in some cycles; around the end of the first round (1024
        // counters shared out by weight; rare styles with a block of one
        // call for more rounds before) in others; after a few hundred pulls
        // in the rest.
        let kill_at = match cycle % 5 {
            0 => 0,
            1 => 995 + next_random(30) as usize,
            _ => 200 + next_random(300) as usize,
        };
        let mut got = 0;
        loop {
            if got == kill_at {
                daemon.kill9();
            }
            // Once the daemon is killed, a pull waits its whole timeout for
            // a new daemon before it says DaemonGone: keep that short.
            let timeout = if got >= kill_at {
                Duration::from_millis(20)
            } else {
                WAIT
            };
            match client.next(&mut buf, Some(timeout)) {
                Ok(len) => {
                    let nickname = std::str::from_utf8(&buf[..len]).unwrap().to_owned();
                    assert!(
                        seen.insert(nickname.clone()),
                        "cycle {cycle}: '{nickname}' handed out again after a restart"
                    );
                    got += 1;
                }
                // After the kill, what the dead daemon left in the ring is
                // handed out, then the daemon is gone.
                Err(Error::DaemonGone(_)) if got >= kill_at => break,
                Err(e) => panic!("cycle {cycle}: {e}"),
            }
        }
        drop(daemon);
    }
    // A last, clean start still continues past everything.
    let daemon = Daemon::start(&name, &unique_args(&state, &["--capacity", "16"]));
    let client = Client::open(Some(&name)).unwrap();
    for _ in 0..100 {
        let nickname = client.next_string(Some(WAIT)).unwrap();
        assert!(seen.insert(nickname.clone()), "'{nickname}' repeated");
    }
    drop(daemon);
    eprintln!(
        "{CYCLES} kill -9 cycles: {} distinct nicknames, 0 duplicates, {:.1} s",
        seen.len(),
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn several_producer_threads_never_repeat_across_kill_9_restarts() {
    const CYCLES: usize = 8;
    let dir = TempDir::new("producers");
    let state = dir.file("unique.state");
    let name = unique_name("producers");
    let args = unique_args(
        &state,
        &["--shards", "4", "--producers", "3", "--capacity", "64"],
    );
    let mut seen = HashSet::new();
    for cycle in 0..CYCLES {
        let mut daemon = Daemon::start(&name, &args);
        let client = Client::open(Some(&name)).unwrap();
        // Three threads pull at once (through their runs) while the three
        // producer threads reserve blocks and refill the shards.
        let pulled: Vec<String> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..3)
                .map(|t| {
                    let client = &client;
                    s.spawn(move || {
                        (0..200 + 150 * t + 40 * cycle)
                            .map(|_| client.next_string(Some(WAIT)).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        daemon.kill9();
        let mut leftovers = Vec::new();
        loop {
            // What the ring still holds comes at once; then DaemonGone after
            // the timeout (no new daemon): keep it short.
            match client.next_string(Some(Duration::from_millis(20))) {
                Ok(nickname) => leftovers.push(nickname),
                Err(Error::DaemonGone(_)) => break,
                Err(e) => panic!("cycle {cycle}: {e}"),
            }
        }
        for nickname in pulled.into_iter().chain(leftovers) {
            assert!(
                seen.insert(nickname.clone()),
                "cycle {cycle}: '{nickname}' handed out twice"
            );
        }
        drop(daemon);
    }
    let daemon = Daemon::start(&name, &args);
    let client = Client::open(Some(&name)).unwrap();
    for _ in 0..300 {
        let nickname = client.next_string(Some(WAIT)).unwrap();
        assert!(seen.insert(nickname.clone()), "'{nickname}' repeated");
    }
    drop(daemon);
}

#[test]
fn four_partitioned_daemons_pull_a_million_each_without_overlap() {
    const NODES: usize = 4;
    const EACH: usize = 1_000_000;
    let dir = TempDir::new("nodes");
    let key = "00112233445566778899aabbccddeeff";
    let states: Vec<String> = (0..NODES)
        .map(|i| dir.file(&format!("node{i}.state")))
        .collect();
    let names: Vec<String> = (0..NODES).map(|_| unique_name("node")).collect();
    let ids: Vec<String> = (0..NODES).map(|i| i.to_string()).collect();
    let _daemons: Vec<Daemon> = (0..NODES)
        .map(|i| {
            let args = unique_args(
                &states[i],
                &[
                    "--node-id",
                    &ids[i],
                    "--nodes",
                    "4",
                    "--key",
                    key,
                    "--capacity",
                    "4096",
                ],
            );
            Daemon::start(&names[i], &args)
        })
        .collect();
    let pullers: Vec<Child> = names.iter().map(|n| spawn_pull(n, EACH)).collect();
    let outputs: Vec<String> = pullers.into_iter().map(|c| pulled(c, EACH)).collect();
    let distinct = assert_no_repeats(outputs.iter().map(String::as_str));
    assert_eq!(distinct, NODES * EACH);

    // Each node's nicknames decode to that node (the first one pulled is
    // from the puller's home shard, so not necessarily the node's counter
    // 0).
    for (i, output) in outputs.iter().enumerate() {
        let first = output.lines().next().unwrap();
        let (code, out, err) = run_cli(&["decode", "--key", key, "--nodes", "4", first], MINUTE);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(&format!("node      {i} of 4 (its counter ")),
            "{out}"
        );
    }
}

/// A redis-server of our own on a free port, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): the lease tests need it; install it (apt-get install redis-server; scripts/test does so as root)"
                )
            });
        let mut redis = Redis { child, port };
        let up = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(status)) = redis.child.try_wait() {
                panic!("redis-server exited at once with {status}");
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "redis-server on port {port} did not come up within 10 s"
        );
        redis
    }

    fn url(&self, key: &str) -> String {
        format!("redis://127.0.0.1:{}/{key}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn three_daemons_on_one_redis_lease_never_overlap() {
    const DAEMONS: usize = 3;
    const EACH: usize = 200_000;
    let redis = Redis::start();
    let lease = redis.url("nickpool-test");
    let names: Vec<String> = (0..DAEMONS).map(|_| unique_name("lease")).collect();
    let mut daemons: Vec<Daemon> = names
        .iter()
        .map(|n| Daemon::start(n, &["--unique", "--lease", &lease, "--capacity", "1024"]))
        .collect();
    let pullers: Vec<Child> = names.iter().map(|n| spawn_pull(n, EACH)).collect();
    let outputs: Vec<String> = pullers.into_iter().map(|c| pulled(c, EACH)).collect();
    let distinct = assert_no_repeats(outputs.iter().map(String::as_str));
    assert_eq!(distinct, DAEMONS * EACH);

    // The lease decodes what its daemons handed out.
    let first = outputs[1].lines().next().unwrap();
    let (code, out, err) = run_cli(&["decode", "--lease", &lease, first], MINUTE);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("issued    maybe"), "{out}");

    // The counters are a hash, one field per style.
    let mut redis_client = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let counters: std::collections::HashMap<String, u64> = redis::cmd("HGETALL")
        .arg("nickpool-test")
        .query(&mut redis_client)
        .unwrap();
    let styles = nickpool_server::generator::Dictionary::embedded()
        .styles()
        .len();
    assert_eq!(counters.len(), styles, "{counters:?}");
    assert!(
        counters.values().sum::<u64>() >= (DAEMONS * EACH) as u64,
        "{counters:?}"
    );

    // Stats: the fleet's leases as of this daemon's last one count as used.
    let stats = Client::open(Some(&names[0])).unwrap().stats().unwrap();
    assert!(
        stats.unique && stats.unique_total == default_space_size(),
        "{stats:?}"
    );
    assert!(stats.unique_used >= EACH as u64, "{stats:?}");

    // A daemon with another dictionary is refused by the lease.
    let dir = TempDir::new("lease");
    let dict = dir.write("tiny.dict", TINY_DICT);
    let (code, err) = serve_refused(&["--unique", "--lease", &lease, "--dict", &dict]);
    assert_eq!(code, 1);
    assert!(err.contains("serves another dictionary"), "{err}");
    for d in &mut daemons {
        assert_eq!(d.stop(), Some(0));
        assert!(d.stderr().contains("unique: lease redis://127.0.0.1:"));
    }
}

#[test]
fn an_unreachable_lease_server_is_named() {
    // Nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/k");
    let (code, err) = serve_refused(&["--unique", "--lease", &url]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the lease server"), "{err}");
    let (code, err) = serve_refused(&["--unique", "--lease", "redis://hostonly"]);
    assert_eq!(code, 2);
    assert!(err.contains("the key is missing"), "{err}");
}

#[test]
fn a_tiny_space_runs_out_and_stays_exhausted_across_a_restart() {
    let (_dir, dict, state, name) = small_setup("tiny", TINY_DICT);
    let mut daemon = serve_small(&name, &state, &dict, &[]);
    let client = Client::open(Some(&name)).unwrap();
    let mut all = HashSet::new();
    for _ in 0..9 {
        let nickname = client.next_string(Some(WAIT)).unwrap();
        assert_eq!(nickname.chars().count(), 2);
        assert!(all.insert(nickname));
    }
    let err = client.next_string(Some(WAIT)).unwrap_err();
    assert_eq!(err, Error::Exhausted);
    assert_eq!(err.status(), 7, "NICKPOOL_EXHAUSTED");
    let stats = client.stats().unwrap();
    assert_eq!((stats.unique_used, stats.unique_total), (9, 9));
    let (code, out, _) = run_cli(&["stats", "--name", &name], MINUTE);
    assert_eq!(code, 0);
    assert!(
        out.contains("9 used, 0 remaining of 9 (0.00% left)  WARNING: below 1% remaining"),
        "{out}"
    );
    let (code, _, err) = run_cli(&["pull", "--name", &name], MINUTE);
    assert_eq!(code, 1);
    assert!(
        err.contains("every nickname of the unique space has been handed out"),
        "{err}"
    );
    assert_eq!(daemon.stop(), Some(0));
    let log = daemon.stderr();
    assert!(log.contains("clients now get NICKPOOL_EXHAUSTED"), "{log}");
    assert_eq!(log.matches("below 1%").count(), 1, "warned once: {log}");

    // The state file remembers: a restart is exhausted at once.
    let mut daemon = serve_small(&name, &state, &dict, &[]);
    let client = Client::open(Some(&name)).unwrap();
    assert_eq!(client.next_string(Some(WAIT)), Err(Error::Exhausted));
    assert_eq!(client.stats().unwrap().unique_used, 9);
    assert_eq!(daemon.stop(), Some(0));
}

/// Tags select 2 × 3 = 6 of the 3 × 4 combinations (夏 and 雪 excluded).
const TAGGED_DICT: &str = "\
[class a]
春 season warm
夏 season hot
秋 season
[class b]
风 weather
雨 weather wet
云 weather sky
雪 weather cold
[styles]
ab auto {a:season,-hot}{b:-cold}
";

#[test]
fn a_tagged_dictionary_numbers_and_decodes_only_its_selected_words() {
    let (_dir, dict, state, name) = small_setup("tagged", TAGGED_DICT);
    let mut daemon = serve_small(&name, &state, &dict, &[]);
    let client = Client::open(Some(&name)).unwrap();
    let mut all = HashSet::new();
    for _ in 0..6 {
        let nickname = client.next_string(Some(WAIT)).unwrap();
        assert!(
            !nickname.contains('夏') && !nickname.contains('雪'),
            "{nickname}"
        );
        assert!(all.insert(nickname));
    }
    assert_eq!(client.next_string(Some(WAIT)), Err(Error::Exhausted));
    assert_eq!(daemon.stop(), Some(0));
    for nickname in &all {
        let (code, out, err) = run_cli(
            &["decode", "--state", &state, "--dict", &dict, nickname],
            MINUTE,
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("of the style's 6 (6 in all styles)"), "{out}");
    }
    for unselected in ["夏风", "春雪"] {
        let (code, _, err) = run_cli(
            &["decode", "--state", &state, "--dict", &dict, unselected],
            MINUTE,
        );
        assert_eq!(code, 1);
        assert!(err.contains("not one of ours"), "{unselected}: {err}");
    }
}

#[test]
fn stats_and_the_log_warn_below_one_percent() {
    let (_dir, dict, state, name) =
        small_setup("low", "[class a]\n星 x\n[styles]\nn 1 {a}{digits:3}\n");
    // 星000 … 星999: 1000 nicknames.
    let mut daemon = serve_small(&name, &state, &dict, &[]);
    let (code, out, _) = run_cli(&["stats", "--name", &name], MINUTE);
    assert_eq!(code, 0);
    assert!(
        out.contains("remaining of 1000") && !out.contains("WARNING"),
        "{out}"
    );
    let (code, out, err) = run_cli(&["pull", "--name", &name, "-n", "992"], MINUTE);
    assert_eq!(code, 0, "{err}");
    assert_no_repeats([out.as_str()]);
    assert!(wait_until(Duration::from_secs(5), || {
        let s = Client::open(Some(&name)).unwrap().stats().unwrap();
        s.unique_used >= 992 + 4
    }));
    let (_, out, _) = run_cli(&["stats", "--name", &name], MINUTE);
    assert!(out.contains("WARNING: below 1% remaining"), "{out}");
    let (_, json, _) = run_cli(&["stats", "--name", &name, "--json"], MINUTE);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (v["unique"].as_bool(), v["unique_total"].as_u64()),
        (Some(true), Some(1000))
    );
    assert_eq!(daemon.stop(), Some(0));
    let log = daemon.stderr();
    assert_eq!(
        log.matches("WARNING: unique space below 1%").count(),
        1,
        "{log}"
    );
}

#[test]
fn another_dictionary_or_node_on_a_state_file_is_refused_unless_reset() {
    let (_dir, dict, state, name) = small_setup("change", TINY_DICT);
    let mut daemon = serve_small(&name, &state, &dict, &[]);
    let before = Client::open(Some(&name))
        .unwrap()
        .next_string(Some(WAIT))
        .unwrap();
    assert_eq!(daemon.stop(), Some(0));
    let saved = std::fs::read(&state).unwrap();

    // One word changed: the numbering changed, so the state is refused.
    std::fs::write(&dict, TINY_DICT.replace("云 x", "雪 x")).unwrap();
    let (code, err) = serve_refused(&unique_args(&state, &["--dict", &dict]));
    assert_eq!(code, 1);
    assert!(err.contains("was made for another dictionary"), "{err}");
    assert!(err.contains("--reset-state"), "{err}");
    // So is the embedded dictionary, and another partition.
    let (code, err) = serve_refused(&unique_args(&state, &[]));
    assert_eq!(code, 1);
    assert!(err.contains("was made for another dictionary"), "{err}");
    std::fs::write(&dict, TINY_DICT).unwrap();
    let key = "000102030405060708090a0b0c0d0e0f";
    let (code, err) = serve_refused(&unique_args(
        &state,
        &[
            "--dict",
            &dict,
            "--node-id",
            "1",
            "--nodes",
            "2",
            "--key",
            key,
        ],
    ));
    assert_eq!(code, 1);
    assert!(err.contains("belongs to node 0 of 1"), "{err}");
    let (code, err) = serve_refused(&unique_args(&state, &["--dict", &dict, "--key", key]));
    assert_eq!(code, 1);
    assert!(err.contains("another permutation key than --key"), "{err}");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        saved,
        "refusals leave the file alone"
    );

    // --reset-state takes the new dictionary and starts a new permutation.
    std::fs::write(&dict, TINY_DICT.replace("云 x", "雪 x")).unwrap();
    let mut daemon = Daemon::start(
        &name,
        &unique_args(
            &state,
            &["--dict", &dict, "--reset-state", "--capacity", "4"],
        ),
    );
    let after = Client::open(Some(&name))
        .unwrap()
        .next_string(Some(WAIT))
        .unwrap();
    assert!(after.chars().count() == 2 && !before.is_empty());
    assert_eq!(daemon.stop(), Some(0));
    assert!(daemon.stderr().contains("--reset-state: starting"));
    // And from then on the new dictionary is the state's.
    let daemon = Daemon::start(&name, &unique_args(&state, &["--dict", &dict]));
    drop(daemon);
}

#[test]
fn a_corrupted_state_file_is_refused_and_left_alone() {
    let (_dir, dict, state, name) = small_setup("corrupt", TINY_DICT);
    let mut daemon = serve_small(&name, &state, &dict, &[]);
    assert_eq!(daemon.stop(), Some(0));
    let good = std::fs::read_to_string(&state).unwrap();
    let flipped = good.replacen("reserved ", "reserved 1", 1);
    let truncated = good[..good.len() / 2].to_owned();
    for (what, bad, reason) in [
        (
            "a changed mark",
            flipped.as_str(),
            "checksum does not match",
        ),
        ("truncated", truncated.as_str(), "no checksum line"),
        ("garbage", "\u{1}\u{2}garbage", "does not start with"),
        ("empty", "", "is empty"),
    ] {
        std::fs::write(&state, bad).unwrap();
        let (code, err) = serve_refused(&unique_args(&state, &["--dict", &dict]));
        assert_eq!(code, 1, "{what}");
        assert!(
            err.contains("is corrupted") && err.contains(reason),
            "{what}: {err}"
        );
        assert!(err.contains("never reset silently"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            bad,
            "{what}: left alone"
        );
    }
}

#[test]
fn one_state_file_serves_one_daemon() {
    let dir = TempDir::new("shared");
    let state = dir.file("s.state");
    let name = unique_name("shared");
    let daemon = Daemon::start(&name, &unique_args(&state, &["--capacity", "4"]));
    let (code, err) = serve_refused(&unique_args(&state, &[]));
    assert_eq!(code, 1);
    assert!(
        err.contains("in use by another running nickpool daemon"),
        "{err}"
    );
    assert!(err.contains(&format!("pid {}", daemon.pid())), "{err}");
}

#[test]
fn decode_maps_nicknames_back_to_their_counters() {
    let dir = TempDir::new("decode");
    let state = dir.file("s.state");
    let name = unique_name("decode");
    let mut daemon = Daemon::start(&name, &unique_args(&state, &["--capacity", "4"]));
    let client = Client::open(Some(&name)).unwrap();
    let nicknames: Vec<String> = (0..5)
        .map(|_| client.next_string(Some(WAIT)).unwrap())
        .collect();
    assert_eq!(daemon.stop(), Some(0));

    // The ring hands out in order, so the i-th nickname of a style is that
    // style's counter i.
    let mut of_style = std::collections::HashMap::<String, u64>::new();
    let mut decoded = Vec::new();
    for nickname in &nicknames {
        let (code, out, err) = run_cli(&["decode", "--state", &state, nickname], MINUTE);
        assert_eq!(code, 0, "{err}");
        let style = out
            .lines()
            .find_map(|l| l.strip_prefix("style     "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or_else(|| panic!("no style in {out}"))
            .to_owned();
        let counter = of_style.entry(style).or_default();
        assert!(
            out.contains(&format!("counter   {counter} of the style\n")),
            "{out}"
        );
        *counter += 1;
        assert!(
            out.contains(&format!("({} in all styles)", default_space_size())),
            "{out}"
        );
        assert!(out.contains("issued    maybe"), "{out}");
        decoded.push(out);
    }
    // The key alone does the same.
    let text = std::fs::read_to_string(&state).unwrap();
    let key = text.lines().find_map(|l| l.strip_prefix("key ")).unwrap();
    let (code, out, _) = run_cli(&["decode", "--key", key, &nicknames[3]], MINUTE);
    assert_eq!(code, 0);
    let counter_line = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("counter"))
            .map(str::to_owned)
    };
    assert_eq!(counter_line(&out), counter_line(&decoded[3]), "{out}");

    // Not ours: not spelled by the dictionary, or blocked across a join.
    let (code, _, err) = run_cli(&["decode", "--state", &state, "hello"], MINUTE);
    assert_eq!(code, 1);
    assert!(err.contains("'hello' is not one of ours"), "{err}");
    let dir2 = TempDir::new("decode-dict");
    let dict = dir2.write("t.dict", TINY_DICT);
    let (code, _, err) = run_cli(
        &["decode", "--state", &state, "--dict", &dict, "春风"],
        MINUTE,
    );
    assert_eq!(code, 1);
    assert!(err.contains("made for another dictionary"), "{err}");
    let (code, _, err) = run_cli(&["decode", &nicknames[0]], MINUTE);
    assert_eq!(code, 2, "needs a key: {err}");
}

#[test]
fn sighup_accepts_the_same_dictionary_and_refuses_another() {
    let (_dir, dict, state, name) = small_setup("hup", TINY_DICT);
    let mut daemon = serve_small(&name, &state, &dict, &[]);
    let client = Client::open(Some(&name)).unwrap();
    // Same words, another comment and style name: same numbering.
    std::fs::write(
        &dict,
        format!("# edited\n{}", TINY_DICT.replace("ab 1", "pair 5")),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || client
        .stats()
        .unwrap()
        .reloads
        == 1));
    std::fs::write(&dict, TINY_DICT.replace("云 x", "雪 x")).unwrap();
    daemon.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || {
        client.stats().unwrap().reload_failures == 1
    }));
    let mut seen = HashSet::new();
    for _ in 0..9 {
        let nickname = client.next_string(Some(WAIT)).unwrap();
        assert!(
            !nickname.contains('雪'),
            "the refused dictionary is not served"
        );
        assert!(seen.insert(nickname));
    }
    assert_eq!(daemon.stop(), Some(0));
    let log = daemon.stderr();
    assert!(log.contains("numbers its nicknames differently"), "{log}");
}

#[test]
fn unique_mode_usage_errors() {
    let dir = TempDir::new("usage");
    let state = dir.file("s.state");
    let (code, err) = serve_refused(&["--unique"]);
    assert_eq!(code, 2);
    assert!(err.contains("--unique needs --state FILE"), "{err}");
    let (code, _) = serve_refused(&["--state", &state]);
    assert_eq!(code, 2, "--state needs --unique");
    let (code, err) = serve_refused(&unique_args(&state, &["--key", "xyz"]));
    assert_eq!(code, 2);
    assert!(err.contains("not 32 hex digits"), "{err}");
    let (code, err) = serve_refused(&unique_args(&state, &["--node-id", "2", "--nodes", "2"]));
    assert_eq!(code, 2);
    assert!(err.contains("from 0 to 1"), "{err}");
    let (code, err) = serve_refused(&unique_args(&state, &["--node-id", "0", "--nodes", "2"]));
    assert_eq!(code, 1);
    assert!(err.contains("pass the same --key"), "{err}");
    assert!(!Path::new(&state).exists(), "nothing created on a refusal");
}

/// Four styles of 100,000 nicknames each, weights 5 : 3 : 1 : 1; the first
/// character names the style.
const SEASONS_DICT: &str = "\
[styles]
spring 5 春{digits:4}{digits:1}
summer 3 夏{digits:4}{digits:1}
autumn 1 秋{digits:4}{digits:1}
winter 1 冬{digits:4}{digits:1}
";

#[test]
fn styles_come_up_by_their_weights_over_100000_pulls() {
    const PULLS: usize = 100_000;
    let dir = TempDir::new("weights");
    let dict = dir.write("seasons.dict", SEASONS_DICT);
    let state = dir.file("s.state");
    let name = unique_name("weights");
    let mut daemon = Daemon::start(
        &name,
        &unique_args(&state, &["--dict", &dict, "--capacity", "1024"]),
    );
    let out = pulled(spawn_pull(&name, PULLS), PULLS);
    assert_eq!(assert_no_repeats([out.as_str()]), PULLS);
    let mut counts = std::collections::BTreeMap::<char, usize>::new();
    for line in out.lines() {
        *counts.entry(line.chars().next().unwrap()).or_default() += 1;
    }
    let mut report = Vec::new();
    for (style, weight) in [('春', 5), ('夏', 3), ('秋', 1), ('冬', 1)] {
        let share = counts[&style] as f64 / PULLS as f64;
        let expected = weight as f64 / 10.0;
        report.push(format!(
            "{style} {:.2}% (weight {:.0}%)",
            share * 100.0,
            expected * 100.0
        ));
        assert!(
            (share - expected).abs() < 0.01,
            "{style}: {share} of {PULLS} pulls, but its weight is {expected} of the total"
        );
    }
    eprintln!("shares over {PULLS} pulls: {}", report.join(", "));
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_used_up_style_drops_out_and_the_others_go_on() {
    let (_dir, dict, state, name) = small_setup(
        "dropout",
        &TINY_DICT.replace("ab 1 {a}{b}", "ab 5 {a}{b}\nnum 1 号{digits:2}"),
    );
    // 9 two-character nicknames drawn 5 times as often as 100 others.
    // --seed makes the choice of styles reproducible.
    let mut daemon = serve_small(&name, &state, &dict, &["--seed", "7"]);
    let client = Client::open(Some(&name)).unwrap();
    let mut order = Vec::new();
    let mut all = HashSet::new();
    for _ in 0..109 {
        let nickname = client.next_string(Some(WAIT)).unwrap();
        order.push(nickname.starts_with('号'));
        assert!(all.insert(nickname));
    }
    assert_eq!(client.next_string(Some(WAIT)), Err(Error::Exhausted));
    // The 9 came early (about 5 in 6 of the first draws), the rest after.
    let last_short = order.iter().rposition(|&numbered| !numbered).unwrap();
    assert!(
        last_short < 40,
        "the last two-character one came {last_short}th"
    );
    let stats = client.stats().unwrap();
    assert_eq!((stats.unique_used, stats.unique_total), (109, 109));
    assert_eq!(daemon.stop(), Some(0));
    let log = daemon.stderr();
    assert!(
        log.contains(
            "style 'ab' is used up (all 9 counters of this node's share reserved); the others go on (1 styles left)"
        ),
        "{log}"
    );
    assert!(log.contains("style 'num' is used up"), "{log}");
    assert!(log.contains("no style is left"), "{log}");
    assert!(log.contains("clients now get NICKPOOL_EXHAUSTED"), "{log}");
}

/// What version 1 wrote: one counter for the whole space.
const V1_STATE: &str = "\
nickpool unique state v1
key 000102030405060708090a0b0c0d0e0f
dictionary 8cbd3f1c4a3e2a7cc3b4d5ab35e0c9c1
space 9
node 0/1
reserved 1024
checksum 52b3ff3a0c8f2f7d
";

#[test]
fn a_state_file_of_the_earlier_format_is_refused_with_what_to_do() {
    let dir = TempDir::new("v1");
    let dict = dir.write("a.dict", TINY_DICT);
    let state = dir.write("s.state", V1_STATE);
    let (code, err) = serve_refused(&unique_args(&state, &["--dict", &dict]));
    assert_eq!(code, 1);
    for part in [
        "was written by an earlier nickpool (state format v1: one counter for all styles)",
        "cannot be carried over without risking repeats",
        "keep serving it with the earlier version, or move it away (or start once with --reset-state)",
        "may then repeat",
    ] {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        V1_STATE,
        "left alone"
    );
    let (code, _, err) = run_cli(
        &["decode", "--state", &state, "--dict", &dict, "春风"],
        MINUTE,
    );
    assert_eq!(code, 1);
    assert!(err.contains("written by an earlier nickpool"), "{err}");

    // What the message says works: --reset-state starts the new format.
    let name = unique_name("v1");
    let mut daemon = Daemon::start(
        &name,
        &unique_args(
            &state,
            &["--dict", &dict, "--reset-state", "--capacity", "4"],
        ),
    );
    Client::open(Some(&name))
        .unwrap()
        .next_string(Some(WAIT))
        .unwrap();
    assert_eq!(daemon.stop(), Some(0));
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(text.starts_with("nickpool unique state v2\n"), "{text}");
    assert!(
        text.contains("\nstyles 1\nstyle 0 size 9 reserved 9\n"),
        "{text}"
    );
}

#[test]
fn a_lease_of_the_earlier_format_is_refused_with_what_to_do() {
    let redis = Redis::start();
    let mut connection = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let v1_meta = V1_STATE
        .replace("state v1", "lease v1")
        .replace("node 0/1\nreserved 1024\n", "");
    let () = redis::cmd("MSET")
        .arg("old")
        .arg(4096)
        .arg("old:meta")
        .arg(&v1_meta)
        .query(&mut connection)
        .unwrap();
    let (code, err) = serve_refused(&["--unique", "--lease", &redis.url("old")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("was made by an earlier nickpool (one counter for all styles)"),
        "{err}"
    );
    assert!(err.contains("Use a new lease key"), "{err}");
    assert!(err.contains("redis-cli DEL old old:meta"), "{err}");
    // Left as it was.
    let value: i64 = redis::cmd("GET").arg("old").query(&mut connection).unwrap();
    assert_eq!(value, 4096);

    // Counters without their metadata are refused too.
    let () = redis::cmd("HSET")
        .arg("orphan")
        .arg("0")
        .arg(10)
        .query(&mut connection)
        .unwrap();
    let (code, err) = serve_refused(&["--unique", "--lease", &redis.url("orphan")]);
    assert_eq!(code, 1);
    assert!(err.contains("orphan:meta is missing"), "{err}");
}

/// Words of one to three characters in three styles, one of them with a
/// blocked join (小 + 三花猫 → 小三), so a cap cuts each style differently.
const MIXED_LENGTHS_DICT: &str = "\
[class a]
春 x
夏天 x
秋高气 x
娇小 x
[class b]
风 x
雨水 x
三花猫 x
[styles]
ab 2 {a}{b}
a-de-b 1 {a}的{b}
xiao 1 小{b}
[block]
小三
";

#[test]
fn a_length_cap_serves_exactly_what_gen_all_lists_and_decode_agrees() {
    let dir = TempDir::new("cap");
    let dict = dir.write("d.dict", MIXED_LENGTHS_DICT);
    let state = dir.file("s.state");
    let (code, listed, err) = run_cli(
        &["gen", "--all", "--dict", &dict, "--max-chars", "4"],
        MINUTE,
    );
    assert_eq!(code, 0, "{err}");
    let listed: HashSet<&str> = listed.lines().collect();
    assert!(
        listed.contains("春风") && listed.contains("娇小的风"),
        "{listed:?}"
    );
    assert!(!listed.contains("秋高气雨水") && !listed.contains("娇小三花猫"));

    let name = unique_name("cap");
    let args = unique_args(
        &state,
        &["--dict", &dict, "--max-chars", "4", "--capacity", "4"],
    );
    let mut daemon = Daemon::start(&name, &args);
    let client = Client::open(Some(&name)).unwrap();
    let mut served = Vec::new();
    loop {
        match client.next_string(Some(WAIT)) {
            Ok(nickname) => served.push(nickname),
            Err(Error::Exhausted) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let distinct: HashSet<&str> = served.iter().map(String::as_str).collect();
    assert_eq!(distinct.len(), served.len(), "a repeat in {served:?}");
    assert_eq!(distinct, listed, "served against gen --all --max-chars 4");
    assert_eq!(daemon.stop(), Some(0));

    // The ring hands out in order: decode with the same cap finds the i-th
    // nickname of a style at that style's counter i.
    let mut of_style = std::collections::HashMap::<String, u64>::new();
    for nickname in served.iter().take(12) {
        let (code, out, err) = run_cli(
            &[
                "decode",
                "--state",
                &state,
                "--dict",
                &dict,
                "--max-chars",
                "4",
                nickname,
            ],
            MINUTE,
        );
        assert_eq!(code, 0, "{nickname}: {err}");
        let style = out
            .lines()
            .find_map(|l| l.strip_prefix("style     "))
            .and_then(|l| l.split(' ').next())
            .unwrap()
            .to_owned();
        let counter = of_style.entry(style).or_default();
        assert!(
            out.contains(&format!("counter   {counter} of the style\n")),
            "{out}"
        );
        *counter += 1;
    }
    // Without the cap the numbering is another one, and says so.
    let (code, _, err) = run_cli(
        &["decode", "--state", &state, "--dict", &dict, &served[0]],
        MINUTE,
    );
    assert_eq!(code, 1);
    assert!(err.contains("--max-chars the daemon runs with"), "{err}");
    let (code, _, err) = run_cli(
        &[
            "decode",
            "--state",
            &state,
            "--dict",
            &dict,
            "--max-chars",
            "4",
            "秋高气雨水",
        ],
        MINUTE,
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "not one of ours: no style of the dictionary spells it in at most 4 characters"
        ),
        "{err}"
    );
    // A daemon with another cap is refused by the state file.
    let (code, err) = serve_refused(&unique_args(&state, &["--dict", &dict, "--max-chars", "5"]));
    assert_eq!(code, 1);
    assert!(err.contains("was made for another dictionary"), "{err}");
}

#[test]
fn the_default_dictionary_capped_at_six_characters_never_serves_longer() {
    const PULLS: usize = 20_000;
    let dir = TempDir::new("cap6");
    let state = dir.file("s.state");
    let name = unique_name("cap6");
    let mut daemon = Daemon::start(
        &name,
        &unique_args(&state, &["--max-chars", "6", "--capacity", "1024"]),
    );
    let out = pulled(spawn_pull(&name, PULLS), PULLS);
    assert_eq!(assert_no_repeats([out.as_str()]), PULLS);
    let longest = out.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest <= 6, "a nickname of {longest} characters");
    // The space is what the cap leaves, counted exactly.
    let mut dict = nickpool_server::generator::Dictionary::embedded();
    dict.limit_chars(6).unwrap();
    // A style that fits whole keeps its pools (`fits()` is `None`); one
    // with nothing short enough is left out.
    let capped: u128 = dict
        .styles()
        .iter()
        .enumerate()
        .filter(|&(i, _)| dict.style_fits(i))
        .map(|(_, s)| {
            s.fits()
                .map_or(s.combinations(), |f| u128::from(f.combinations()))
        })
        .sum();
    let stats = Client::open(Some(&name)).unwrap().stats().unwrap();
    assert_eq!(u128::from(stats.unique_total), capped);
    assert!(capped < u128::from(default_space_size()));
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn the_default_dictionary_follows_its_weights_over_100000_pulls() {
    const PULLS: usize = 100_000;
    let dir = TempDir::new("weights-default");
    let state = dir.file("s.state");
    let name = unique_name("weights-default");
    let mut daemon = Daemon::start(&name, &unique_args(&state, &["--capacity", "1024"]));
    let out = pulled(spawn_pull(&name, PULLS), PULLS);
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(assert_no_repeats([out.as_str()]), PULLS);
    let dict = std::sync::Arc::new(nickpool_server::generator::Dictionary::embedded());
    let space = nickpool_server::unique::IndexSpace::new(dict, None).unwrap();
    let mut counts = vec![0u64; space.style_count()];
    for line in out.lines() {
        let parsed = space
            .parse(line)
            .unwrap_or_else(|| panic!("{line} is not in the space"));
        counts[parsed.style] += 1;
    }
    let total: u64 = (0..space.style_count())
        .map(|k| space.style_weight(k))
        .sum();
    let mut worst = (0.0f64, String::new());
    for (k, &count) in counts.iter().enumerate() {
        let p = space.style_weight(k) as f64 / total as f64;
        let share = count as f64 / PULLS as f64;
        let what = format!(
            "style {}: {count} of {PULLS} pulls ({:.3}%) for a weight share of {:.3}%",
            space.style_name(k),
            share * 100.0,
            p * 100.0
        );
        // The goal, and a sharper one: within 5 standard deviations
        // of a binomial draw.
        assert!((share - p).abs() < 0.01, "{what}");
        let sigma = (PULLS as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (count as f64 - PULLS as f64 * p).abs() <= 5.0 * sigma + 1.0,
            "{what}: more than 5 standard deviations off"
        );
        if (share - p).abs() > worst.0 {
            worst = ((share - p).abs(), what);
        }
    }
    let mut heaviest: Vec<usize> = (0..counts.len()).collect();
    heaviest.sort_by_key(|&k| std::cmp::Reverse(space.style_weight(k)));
    let shown: Vec<String> = heaviest[..5]
        .iter()
        .map(|&k| {
            format!(
                "{} {:.2}% (weight {:.2}%)",
                space.style_name(k),
                counts[k] as f64 / PULLS as f64 * 100.0,
                space.style_weight(k) as f64 / total as f64 * 100.0
            )
        })
        .collect();
    eprintln!(
        "{} styles over {PULLS} pulls; the heaviest: {}; largest deviation {:.3} points: {}",
        counts.len(),
        shown.join(", "),
        worst.0 * 100.0,
        worst.1
    );
}
