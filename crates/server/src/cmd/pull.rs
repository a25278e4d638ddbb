//! `nickpool pull` and `nickpool stats`.

use super::{CliError, write_result};
use crate::{PullArgs, StatsArgs};
use nickpool::{Client, Stats};
use std::io::Write;
use std::time::Duration;

fn open(name: Option<&str>) -> Result<Client, CliError> {
    Client::open(name).map_err(|e| match e {
        nickpool::Error::InvalidArgument(m) => CliError::Usage(m),
        e => CliError::Runtime(e.to_string()),
    })
}

pub fn run(args: PullArgs) -> Result<(), CliError> {
    let client = open(args.name.as_deref())?;
    let timeout = Some(Duration::from_millis(args.timeout_ms));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    // Pull in batches of up to 64: one atomic claim per batch.
    let mut buf = [0u8; 64 * (nickpool::MAX_NICKNAME_LEN + 1)];
    let mut left = args.count;
    while left > 0 {
        let n = client
            .next_batch(&mut buf, left.min(64) as usize, timeout)
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        let mut rest = &buf[..];
        for _ in 0..n {
            let end = rest.iter().position(|&b| b == 0).expect("NUL-terminated");
            let written = out
                .write_all(&rest[..end])
                .and_then(|()| out.write_all(b"\n"));
            if written.is_err() {
                return write_result(written);
            }
            rest = &rest[end + 1..];
        }
        left -= n as u64;
    }
    write_result(out.flush())
}

pub fn stats(args: StatsArgs) -> Result<(), CliError> {
    let client = open(args.name.as_deref())?;
    let stats = client
        .stats()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let text = if args.json {
        format!("{}\n", to_json(&stats))
    } else if args.prometheus {
        nickpool_server::metrics::encode(&stats, None, &[])
            .map_err(|e| CliError::Runtime(format!("cannot encode the metrics: {e}")))?
    } else {
        to_text(&stats)
    };
    write_result(std::io::stdout().write_all(text.as_bytes()))
}

pub fn to_json(s: &Stats) -> serde_json::Value {
    serde_json::json!({
        "name": s.name,
        "daemon_pid": s.daemon_pid,
        "started_unix_ms": s.started_unix_ms,
        "uptime_ms": s.uptime_ms,
        "heartbeat_age_ms": s.heartbeat_age_ms,
        "dictionary": s.dictionary,
        "style": s.style,
        "capacity": s.capacity,
        "shards": s.shards,
        "producers": s.producers,
        "fill": s.fill,
        "produced": s.produced,
        "consumed": s.consumed,
        "empty_events": s.empty_events,
        "waiters": s.waiters,
        "consumer_waits": s.consumer_waits,
        "consumer_wakeups": s.consumer_wakeups,
        "producer_sleeps": s.producer_sleeps,
        "producer_wakeups": s.producer_wakeups,
        "reattachments": s.reattachments,
        "reloads": s.reloads,
        "reload_failures": s.reload_failures,
        "unique": s.unique,
        "unique_used": s.unique_used,
        "unique_total": s.unique_total,
        "unique_remaining": s.unique_remaining(),
    })
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{}.{:01}s", s, (ms % 1000) / 100),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

pub fn to_text(s: &Stats) -> String {
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let mut t = String::new();
    let mut line = |k: &str, v: String| t.push_str(&format!("{k:<18}{v}\n"));
    line("segment", s.name.clone());
    line(
        "daemon",
        format!(
            "pid {}, up {}, heartbeat {} ms ago",
            s.daemon_pid,
            duration(s.uptime_ms),
            s.heartbeat_age_ms
        ),
    );
    line("dictionary", s.dictionary.clone());
    line("style", s.style.clone());
    line("capacity", format!("{} slots", s.capacity));
    line(
        "shards",
        format!(
            "{} of {} slots, filled by {} producer thread{}",
            s.shards,
            s.capacity / s.shards.max(1),
            s.producers,
            if s.producers == 1 { "" } else { "s" }
        ),
    );
    line(
        "fill",
        format!("{} ({:.1}%)", s.fill, pct(s.fill, s.capacity)),
    );
    line("produced", s.produced.to_string());
    line("consumed", s.consumed.to_string());
    line(
        "empty events",
        format!(
            "{} ({:.3}% of pulls)",
            s.empty_events,
            pct(s.empty_events, s.consumed)
        ),
    );
    line("waiters now", s.waiters.to_string());
    line(
        "consumer sleeps",
        format!("{} (woken {} times)", s.consumer_waits, s.consumer_wakeups),
    );
    line(
        "producer sleeps",
        format!("{} (woken {} times)", s.producer_sleeps, s.producer_wakeups),
    );
    line("reattachments", s.reattachments.to_string());
    line(
        "reloads",
        format!("{} ({} refused)", s.reloads, s.reload_failures),
    );
    if s.unique {
        let remaining = s.unique_remaining();
        let mut v = format!(
            "{} used, {} remaining of {} ({:.2}% left)",
            s.unique_used,
            remaining,
            s.unique_total,
            pct(remaining, s.unique_total)
        );
        if u128::from(remaining) * 100 < u128::from(s.unique_total) {
            v.push_str("  WARNING: below 1% remaining");
        }
        line("unique space", v);
    }
    t
}
