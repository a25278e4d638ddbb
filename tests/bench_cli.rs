//! `nickpool bench`: runs end to end, reports every figure, cleans up after
//! itself. The figures' values are measurements and are not asserted here
//! (see `benches/pull.rs` and the README's performance section).

mod common;

use common::{Daemon, run_cli, shm_path, unique_name};
use std::time::Duration;

fn bench_json(args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) = run_cli(args, Duration::from_secs(60));
    assert_eq!(code, 0, "nickpool {args:?} failed:\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

#[test]
fn bench_json_reports_every_figure_and_removes_its_daemon() {
    let name = unique_name("bench");
    let v = bench_json(&[
        "bench",
        "--seconds",
        "1",
        "--procs",
        "1",
        "--json",
        "--name",
        &name,
    ]);
    assert!(v["pulls"].as_u64().unwrap() > 0, "{v}");
    assert!(v["pulls_per_s"].as_f64().unwrap() > 0.0, "{v}");
    let processes = v["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 1);
    assert!(processes[0]["pulls"].as_u64().unwrap() > 0);
    for which in ["per_call", "per_nickname"] {
        let latency = &v["latency_ns"][which];
        for key in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
            assert!(
                latency[key].as_f64().is_some(),
                "latency_ns.{which}.{key}: {v}"
            );
        }
        assert!(latency["samples"].as_u64().unwrap() > 0);
    }
    assert!(v["empty_events"].as_u64().is_some());
    assert!(v["empty_events_pct"].as_f64().is_some());
    assert!(v["dry_seconds"].as_u64().is_some());
    let daemon = &v["daemon"];
    assert_eq!(daemon["own"], true);
    assert!(daemon["pid"].as_u64().unwrap() > 0);
    for key in ["cpu_s", "rss_before_kib", "rss_after_kib", "rss_growth_kib"] {
        assert!(!daemon[key].is_null(), "daemon.{key}: {v}");
    }
    assert_eq!(v["config"]["name"], name.as_str());
    assert!(v["compare"].is_null());
    // The bench's daemon is stopped and its segment gone.
    assert!(!shm_path(&name).exists());
    let pid = daemon["pid"].as_u64().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "daemon pid {pid} still runs"
    );
}

#[test]
fn bench_attaches_to_a_running_daemon_and_leaves_it_running() {
    let name = unique_name("bench-attach");
    let mut daemon = Daemon::start(&name, &[]);
    let v = bench_json(&[
        "bench",
        "--attach",
        "--name",
        &name,
        "--seconds",
        "1",
        "--procs",
        "2",
        "--batch",
        "16",
        "--json",
    ]);
    assert_eq!(v["daemon"]["own"], false);
    assert_eq!(v["daemon"]["pid"].as_u64().unwrap(), daemon.pid() as u64);
    assert_eq!(v["processes"].as_array().unwrap().len(), 2);
    assert!(v["pulls"].as_u64().unwrap() >= v["calls"].as_u64().unwrap());
    assert!(
        matches!(daemon.child.try_wait(), Ok(None)),
        "daemon stopped"
    );
    assert!(shm_path(&name).exists());
}

#[test]
fn bench_text_report_and_svg_chart() {
    let name = unique_name("bench-svg");
    let svg = std::env::temp_dir().join(format!("nickpool-bench-{}.svg", std::process::id()));
    let svg_arg = svg.to_str().unwrap();
    let (code, stdout, stderr) = run_cli(
        &["bench", "--seconds", "1", "--name", &name, "--svg", svg_arg],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "throughput",
        "latency per pull",
        "empty events",
        "daemon CPU",
        "daemon RSS",
    ] {
        assert!(stdout.contains(line), "no '{line}' in:\n{stdout}");
    }
    // One progress line a second on stderr.
    assert!(stderr.contains("   1 s "), "{stderr}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(chart.starts_with("<svg") && chart.contains("nickpool pull"));
}

#[test]
fn bench_sweep_prints_one_row_per_process_count() {
    let name = unique_name("bench-sweep");
    let v = bench_json(&[
        "bench",
        "--sweep",
        "1,2",
        "--seconds",
        "1",
        "--json",
        "--name",
        &name,
    ]);
    let rows = v["sweep"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    for (row, procs) in rows.iter().zip([1, 2]) {
        assert_eq!(row["config"]["procs"], procs);
        assert_eq!(row["processes"].as_array().unwrap().len(), procs);
        assert!(row["pulls"].as_u64().unwrap() > 0, "{row}");
        assert!(row["daemon"]["shards"].as_u64().unwrap() >= 1);
        // Pinned where the host has a CPU for the daemon and each client
        // thread, else unpinned with the reason.
        let placement = row["placement"].as_str().unwrap();
        assert!(
            placement.starts_with("pinned: daemon on CPU") || placement.starts_with("unpinned: "),
            "{placement}"
        );
    }
    assert!(!shm_path(&name).exists());

    let (code, stdout, stderr) = run_cli(
        &["bench", "--sweep", "1", "--seconds", "1", "--name", &name],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{stderr}");
    for column in [
        "procs",
        "pulls/s total",
        "p50/pull",
        "p99",
        "p99.9",
        "empty events",
        "daemon CPU",
    ] {
        assert!(stdout.contains(column), "no '{column}' in:\n{stdout}");
    }
}

#[test]
fn bench_rejects_bad_arguments_as_usage_errors() {
    for args in [
        &["bench", "--batch", "0"][..],
        &["bench", "--sweep", "1,0"],
        &["bench", "--sweep", "two"],
        &["bench", "--shards", "3"],
        &["bench", "--procs", "0"],
        &["bench", "--capacity", "1000"],
        &["bench", "--attach", "--capacity", "1024"],
    ] {
        let (code, _, stderr) = run_cli(args, Duration::from_secs(10));
        assert_eq!(code, 2, "{args:?}: {stderr}");
    }
    let (code, _, stderr) = run_cli(
        &[
            "bench",
            "--attach",
            "--name",
            "/nickpool-bench-nobody-serves-this",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("--attach"), "{stderr}");
}
