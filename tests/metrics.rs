//! The Prometheus endpoint of `nickpool serve --metrics` over real HTTP, and
//! `nickpool stats --json` / `--prometheus` against it: the format (also as
//! `promtool check metrics` sees it), values that move with pulls and
//! reloads, unique mode's space and per-style gauges, one set of numbers
//! everywhere, and a bad address refused before the segment exists.

mod common;

use common::{Daemon, run_cli, shm_path, skip, unique_name, wait_until};
use nickpool::Client;
use nickpool::ring::RUN_MAX;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const CAPACITY: f64 = 64.0;

/// Starts a daemon with `--metrics 127.0.0.1:0` and returns it with the
/// address it logged. Its stderr is drained by a thread from then on.
fn start_with_metrics(name: &str, args: &[&str]) -> (Daemon, SocketAddr) {
    let mut all = vec!["--capacity", "64", "--metrics", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut daemon = Daemon::start(name, &all);
    let stderr = daemon.child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the daemon logs its metrics address");
        if let Some(rest) = line.split_once("metrics at http://").map(|(_, r)| r) {
            let addr = rest.strip_suffix("/metrics").expect("…/metrics");
            return (daemon, addr.parse().expect("a socket address"));
        }
    }
}

/// One HTTP/1.0 GET; returns (status code, headers, body).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("a whole response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers, then body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, head.to_owned(), body.to_owned())
}

/// A parsed exposition: samples keyed by `name{labels}`, and each family's
/// type.
#[derive(Debug)]
struct Exposition {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Exposition {
    /// The value of the sample `name` with only the pool label.
    fn value(&self, name: &str, pool: &str) -> f64 {
        let key = format!("{name}{{pool=\"{pool}\"}}");
        *self
            .samples
            .get(&key)
            .unwrap_or_else(|| panic!("no sample {key}"))
    }
}

/// Parses `text` line by line and checks the Prometheus text format: every
/// sample belongs to a family announced by `# HELP` then `# TYPE`, counters
/// end in `_total`, histograms have cumulative `_bucket{le=…}` ending in
/// `+Inf` equal to `_count`, and a `_sum`; every sample names `pool`.
fn parse(text: &str, pool: &str) -> Exposition {
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    let mut helped = None::<String>;
    let mut family: Option<(String, String)> = None;
    // Per histogram: bucket values in order, and _sum/_count.
    let mut buckets: HashMap<String, Vec<(String, f64)>> = HashMap::new();
    assert!(text.ends_with('\n'), "the text ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("# HELP name text");
            assert!(!help.is_empty(), "{line}");
            helped = Some(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            assert_eq!(helped.as_deref(), Some(name), "HELP before TYPE: {line}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} ends in _total");
            }
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{name} announced twice"
            );
            family = Some((name.to_owned(), kind.to_owned()));
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').expect("}"))),
            None => (series, Vec::new()),
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name: {line}"
        );
        assert!(name.starts_with("nickpool_"), "{line}");
        assert_eq!(
            labels.first(),
            Some(&("pool".to_owned(), pool.to_owned())),
            "{line}"
        );
        let (family_name, kind) = family.as_ref().expect("a sample after its # TYPE");
        if kind == "histogram" {
            let suffix = name
                .strip_prefix(family_name.as_str())
                .unwrap_or_else(|| panic!("{name} outside its family {family_name}"));
            let entry = buckets.entry(family_name.clone()).or_default();
            match suffix {
                "_bucket" => {
                    assert_eq!(labels.len(), 2, "{line}");
                    assert_eq!(labels[1].0, "le", "{line}");
                    entry.push((labels[1].1.clone(), value));
                }
                "_sum" | "_count" => {
                    assert_eq!(labels.len(), 1, "{line}");
                    entry.push((suffix.to_owned(), value));
                }
                _ => panic!("unexpected histogram sample: {line}"),
            }
        } else {
            assert_eq!(name, family_name, "{line}");
            if name.starts_with("nickpool_unique_style_") {
                assert_eq!(labels.len(), 2, "{line}");
                assert_eq!(labels[1].0, "style", "{line}");
            } else {
                assert_eq!(labels.len(), 1, "{line}");
            }
        }
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    for (name, entries) in &buckets {
        let le: Vec<f64> = entries
            .iter()
            .take_while(|(k, _)| !k.starts_with('_'))
            .map(|(k, _)| {
                if k == "+Inf" {
                    f64::INFINITY
                } else {
                    k.parse().unwrap()
                }
            })
            .collect();
        let counts: Vec<f64> = entries.iter().take(le.len()).map(|&(_, v)| v).collect();
        assert!(le.len() >= 2, "{name} has buckets");
        assert!(
            le.is_sorted() && le.last() == Some(&f64::INFINITY),
            "{name}: {le:?}"
        );
        assert!(
            counts.is_sorted(),
            "{name} buckets are cumulative: {counts:?}"
        );
        let rest: Vec<&(String, f64)> = entries[le.len()..].iter().collect();
        assert_eq!(rest.len(), 2, "{name}: _sum and _count after the buckets");
        assert_eq!(rest[0].0, "_sum");
        assert_eq!(rest[1], &("_count".to_owned(), *counts.last().unwrap()));
        assert!(rest[0].1 >= 0.0);
    }
    Exposition { samples, types }
}

/// Parses `k="v",k2="v2"` (values with `\\`, `\"` and `\n` escapes).
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("key=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (i, '"') => break i,
                (_, '\\') => match chars.next().expect("escape").1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_owned(), value));
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    labels
}

/// Scrapes `/metrics` and parses it.
fn scrape(addr: SocketAddr, pool: &str) -> Exposition {
    let (status, head, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    parse(&body, pool)
}

/// Scrapes until the ring is full again (the daemon idle), at most 5 s.
fn scrape_when_full(addr: SocketAddr, pool: &str) -> Exposition {
    let mut last = None;
    let full = wait_until(Duration::from_secs(5), || {
        let e = scrape(addr, pool);
        let full = e.value("nickpool_ring_fill", pool) == CAPACITY;
        last = Some(e);
        full
    });
    assert!(full, "the ring refills");
    last.unwrap()
}

#[test]
fn the_endpoint_serves_prometheus_text_that_moves_with_pulls_and_reloads() {
    let name = unique_name("metrics");
    let (mut daemon, addr) = start_with_metrics(&name, &[]);
    let v = |e: &Exposition, metric: &str| e.value(metric, &name);

    let first = scrape_when_full(addr, &name);
    for (family, kind) in [
        ("nickpool_produced_total", "counter"),
        ("nickpool_consumed_total", "counter"),
        ("nickpool_empty_events_total", "counter"),
        ("nickpool_consumer_waits_total", "counter"),
        ("nickpool_consumer_wakeups_total", "counter"),
        ("nickpool_producer_sleeps_total", "counter"),
        ("nickpool_producer_wakeups_total", "counter"),
        ("nickpool_reattachments_total", "counter"),
        ("nickpool_reloads_total", "counter"),
        ("nickpool_reload_failures_total", "counter"),
        ("nickpool_ring_fill", "gauge"),
        ("nickpool_ring_capacity", "gauge"),
        ("nickpool_shards", "gauge"),
        ("nickpool_producer_threads", "gauge"),
        ("nickpool_waiters", "gauge"),
        ("nickpool_unique_remaining", "gauge"),
        ("nickpool_unique_space", "gauge"),
        ("nickpool_heartbeat_age_seconds", "gauge"),
        ("nickpool_uptime_seconds", "gauge"),
        ("nickpool_start_time_seconds", "gauge"),
        ("nickpool_refill_batch_duration_seconds", "histogram"),
        ("nickpool_generation_duration_seconds", "histogram"),
    ] {
        assert_eq!(
            first.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    assert_eq!(v(&first, "nickpool_ring_capacity"), CAPACITY);
    assert_eq!(v(&first, "nickpool_consumed_total"), 0.0);
    assert_eq!(v(&first, "nickpool_produced_total"), CAPACITY);
    assert_eq!(v(&first, "nickpool_unique_space"), 0.0);
    assert!(!first.types.contains_key("nickpool_unique_style_used"));
    assert_eq!(v(&first, "nickpool_waiters"), 0.0);
    assert!(v(&first, "nickpool_heartbeat_age_seconds") < 5.0);
    assert!(v(&first, "nickpool_generation_duration_seconds_count") == CAPACITY);
    let batches = v(&first, "nickpool_refill_batch_duration_seconds_count");
    assert!(batches >= 1.0);

    // Each pull counts once, when it is claimed: a thread claims ahead of
    // its calls (1, 2, 4, … up to RUN_MAX + 1 at once) and hands those out
    // from its run, so the count runs at most RUN_MAX ahead of the pulls.
    // Soon after a claim, before the daemon refills, the ring is short (the
    // daemon refills at once only when a quarter is drained, else within
    // 100 ms).
    let claimed_for = |pulled: f64, consumed: f64| {
        assert!(
            consumed >= pulled && consumed <= pulled + RUN_MAX as f64,
            "{consumed} claimed for {pulled} pulls"
        );
    };
    let client = Client::open(Some(&name)).unwrap();
    let mut pulled = 0.0;
    let mut saw_short_ring = false;
    for _ in 0..50 {
        client.next_string(Some(SECOND)).unwrap();
        pulled += 1.0;
        let e = scrape(addr, &name);
        claimed_for(pulled, v(&e, "nickpool_consumed_total"));
        if v(&e, "nickpool_ring_fill") < CAPACITY {
            saw_short_ring = true;
            break;
        }
    }
    assert!(saw_short_ring, "ring_fill never dropped after a pull");

    for _ in 0..10 {
        client.next_string(Some(SECOND)).unwrap();
    }
    pulled += 10.0;
    let after = scrape_when_full(addr, &name);
    let consumed = v(&after, "nickpool_consumed_total");
    claimed_for(pulled, consumed);
    assert_eq!(v(&after, "nickpool_produced_total"), consumed + CAPACITY);
    // Every nickname produced was timed, in refill batches.
    assert_eq!(
        v(&after, "nickpool_generation_duration_seconds_count"),
        consumed + CAPACITY
    );
    assert!(v(&after, "nickpool_refill_batch_duration_seconds_count") > batches);
    assert!(v(&after, "nickpool_generation_duration_seconds_sum") > 0.0);

    assert_eq!(v(&after, "nickpool_reloads_total"), 0.0);
    daemon.signal(libc::SIGHUP);
    let mut reloaded = None;
    assert!(
        wait_until(Duration::from_secs(5), || {
            let e = scrape(addr, &name);
            let done = v(&e, "nickpool_reloads_total") == 1.0;
            reloaded = Some(e);
            done
        }),
        "reloads_total reaches 1 after SIGHUP"
    );
    assert_eq!(v(&reloaded.unwrap(), "nickpool_reload_failures_total"), 0.0);

    let (status, _, body) = get(addr, "/");
    assert_eq!(status, 404);
    assert!(body.contains("/metrics"), "{body}");

    // The metrics thread does not hold up a clean stop.
    assert_eq!(daemon.stop(), Some(0));
    assert!(!shm_path(&name).exists());
}

#[test]
fn stats_json_and_prometheus_agree_with_the_endpoint() {
    let name = unique_name("metrics-agree");
    let (_daemon, addr) = start_with_metrics(&name, &[]);
    let (code, out, err) = run_cli(
        &["pull", "--name", &name, "-n", "7"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 7);
    let endpoint = scrape_when_full(addr, &name);

    let (code, text, err) = run_cli(
        &["stats", "--name", &name, "--prometheus"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 0, "{err}");
    let file = parse(&text, &name);
    let (code, json, err) = run_cli(
        &["stats", "--name", &name, "--json"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();

    // The same families under the same names; only the daemon has the
    // refill histograms.
    let mut endpoint_types = endpoint.types.clone();
    endpoint_types.retain(|_, kind| kind != "histogram");
    assert_eq!(file.types, endpoint_types);
    // The same values, except those that move while the daemon idles.
    let moving = [
        "nickpool_producer_sleeps_total",
        "nickpool_heartbeat_age_seconds",
        "nickpool_uptime_seconds",
    ];
    for (series, value) in &file.samples {
        if moving.iter().any(|m| series.starts_with(&format!("{m}{{"))) {
            continue;
        }
        assert_eq!(endpoint.samples.get(series), Some(value), "{series}");
    }
    assert_eq!(file.value("nickpool_consumed_total", &name), 7.0);

    for (key, metric) in [
        ("produced", "nickpool_produced_total"),
        ("consumed", "nickpool_consumed_total"),
        ("empty_events", "nickpool_empty_events_total"),
        ("consumer_waits", "nickpool_consumer_waits_total"),
        ("consumer_wakeups", "nickpool_consumer_wakeups_total"),
        ("producer_wakeups", "nickpool_producer_wakeups_total"),
        ("reattachments", "nickpool_reattachments_total"),
        ("reloads", "nickpool_reloads_total"),
        ("reload_failures", "nickpool_reload_failures_total"),
        ("fill", "nickpool_ring_fill"),
        ("capacity", "nickpool_ring_capacity"),
        ("shards", "nickpool_shards"),
        ("producers", "nickpool_producer_threads"),
        ("waiters", "nickpool_waiters"),
        ("unique_remaining", "nickpool_unique_remaining"),
        ("unique_total", "nickpool_unique_space"),
    ] {
        assert_eq!(
            json[key].as_f64(),
            Some(file.value(metric, &name)),
            "{key} vs {metric}"
        );
    }
    assert_eq!(
        json["started_unix_ms"].as_f64().unwrap() / 1000.0,
        file.value("nickpool_start_time_seconds", &name)
    );
    assert!(
        json["producer_sleeps"].as_f64().unwrap()
            >= file.value("nickpool_producer_sleeps_total", &name)
    );
    assert!(json["heartbeat_age_ms"].as_f64().unwrap() < 5000.0);

    let (_, _, body) = get(addr, "/metrics");
    promtool_check(&body, "the endpoint of a random-mode daemon");
    promtool_check(&text, "stats --prometheus of a random-mode daemon");
}

/// Runs `promtool check metrics` (Prometheus's own linter) on `text` and
/// fails on any complaint; says so and checks nothing where promtool is
/// not installed (scripts/test installs it: Debian package prometheus).
fn promtool_check(text: &str, what: &str) {
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            skip(
                "promtool check metrics",
                &format!(
                    "cannot run promtool ({e}); install it (apt-get install prometheus; scripts/test does so as root)"
                ),
            );
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics rejects {what} ({}):\n{}{}\n--- the text:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unique_mode_reports_its_space_and_each_style_and_promtool_accepts_it() {
    let dir = std::env::temp_dir().join(unique_name("metrics-unique").trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    let dict = dir.join("d.dict");
    // 1,000 and 100 nicknames, drawn 1 : 1.
    std::fs::write(
        &dict,
        "[styles]\nstar 1 星{digits:3}\nmoon 1 月{digits:2}\n",
    )
    .unwrap();
    let state = dir.join("s.state");
    let name = unique_name("metrics-unique");
    let (mut daemon, addr) = start_with_metrics(
        &name,
        &[
            "--unique",
            "--state",
            state.to_str().unwrap(),
            "--dict",
            dict.to_str().unwrap(),
        ],
    );
    // A unique-mode daemon writes and syncs its state file before it
    // publishes, and a sync can take seconds while the machine writes a
    // lot (a build alongside): wait up to 10 s for each nickname.
    let (code, _, err) = run_cli(
        &[
            "pull",
            "--name",
            &name,
            "-n",
            "300",
            "--timeout-ms",
            "10000",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    let e = scrape_when_full(addr, &name);
    let v = |metric: &str| e.value(metric, &name);
    let style = |metric: &str, style: &str| {
        let key = format!("{metric}{{pool=\"{name}\",style=\"{style}\"}}");
        *e.samples
            .get(&key)
            .unwrap_or_else(|| panic!("no sample {key} in {:?}", e.samples.keys()))
    };
    assert_eq!(e.types["nickpool_unique_space"], "gauge");
    assert_eq!(e.types["nickpool_unique_style_used"], "gauge");
    assert_eq!(e.types["nickpool_unique_style_space"], "gauge");
    assert!(!e.types.contains_key("nickpool_unique_total"));
    assert_eq!(v("nickpool_unique_space"), 1100.0);
    assert_eq!(style("nickpool_unique_style_space", "star"), 1000.0);
    assert_eq!(style("nickpool_unique_style_space", "moon"), 100.0);
    // 300 pulled and 64 waiting in the ring, from both styles, moon used
    // up (it gets half the draws) once about 200 were drawn.
    let (star, moon) = (
        style("nickpool_unique_style_used", "star"),
        style("nickpool_unique_style_used", "moon"),
    );
    assert_eq!(moon, 100.0);
    assert_eq!(star + moon, 364.0);
    assert_eq!(v("nickpool_unique_remaining"), 1100.0 - 364.0);

    let (code, text, err) = run_cli(
        &["stats", "--name", &name, "--prometheus"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 0, "{err}");
    let file = parse(&text, &name);
    assert_eq!(file.value("nickpool_unique_space", &name), 1100.0);
    // Only the daemon knows its styles.
    assert!(!file.types.contains_key("nickpool_unique_style_used"));

    let (_, _, body) = get(addr, "/metrics");
    promtool_check(&body, "the endpoint of a unique-mode daemon");
    promtool_check(&text, "stats --prometheus of a unique-mode daemon");
    assert_eq!(daemon.stop(), Some(0));
}

#[test]
fn a_bad_metrics_address_fails_before_the_segment_exists() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let name = unique_name("metrics-taken");
    let (code, _, err) = run_cli(
        &["serve", "--name", &name, "--metrics", &addr],
        Duration::from_secs(10),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot serve metrics on {addr}")),
        "{err}"
    );
    assert!(err.contains("choose another --metrics address"), "{err}");
    assert!(!shm_path(&name).exists(), "no segment was created");

    let (code, _, err) = run_cli(
        &["serve", "--name", &name, "--metrics", "localhost"],
        Duration::from_secs(10),
    );
    assert_eq!(code, 2, "a malformed address is a usage error: {err}");
    assert!(err.contains("like 127.0.0.1:9464"), "{err}");
    assert!(!shm_path(&name).exists());
}
