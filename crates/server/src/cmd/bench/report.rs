//! The figures of one `nickpool bench` run, as text or as one JSON object.

use super::compare::Comparison;
use super::measure::{self, Measured};
use super::{Config, WorkerResult, procfs};
use hdrhistogram::Histogram;
use nickpool_server::bench::timer::TscClock;
use serde_json::json;
use std::fmt::Write;
use std::time::Duration;

/// What the bench saw of the daemon.
pub struct Daemon {
    pub pid: u32,
    /// Started by the bench (not --attach).
    pub own: bool,
    /// CPU seconds (user + system) over the run.
    pub cpu_seconds: Option<f64>,
    /// Wall time between the two CPU readings.
    pub wall: Duration,
    pub rss_before_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
    /// Empty events the segment counted over the run.
    pub empty_events: u64,
    /// Progress lines (seconds) that found the ring under 5% full.
    pub dry_seconds: u64,
    /// The segment's shards and the daemon's producer threads.
    pub shards: u64,
    pub producers: u64,
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Copy)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
    pub samples: u64,
}

impl Latency {
    /// Percentiles of `histogram` (ticks), each divided by `per` (nicknames
    /// per call, for a per-nickname figure).
    pub fn of(histogram: &Histogram<u64>, clock: TscClock, per: f64) -> Latency {
        let ns = |ticks: u64| clock.ns(ticks) / per;
        Latency {
            p50: ns(histogram.value_at_quantile(0.5)),
            p90: ns(histogram.value_at_quantile(0.9)),
            p99: ns(histogram.value_at_quantile(0.99)),
            p999: ns(histogram.value_at_quantile(0.999)),
            max: ns(histogram.max()),
            mean: clock.ns(1) * histogram.mean() / per,
            samples: histogram.len(),
        }
    }

    fn json(&self) -> serde_json::Value {
        let r = |x: f64| (x * 10.0).round() / 10.0;
        json!({
            "p50": r(self.p50), "p90": r(self.p90), "p99": r(self.p99),
            "p99_9": r(self.p999), "max": r(self.max), "mean": r(self.mean),
            "samples": self.samples,
        })
    }
}

/// One run's figures.
pub struct Run {
    pub date: String,
    pub cpu: String,
    /// What was asked for.
    pub config: Config,
    pub clock: TscClock,
    pub overhead_ticks: u64,
    pub group: u32,
    pub sample_groups: u32,
    pub workers: Vec<WorkerResult>,
    /// All workers' timed calls, in ticks.
    pub histogram: Histogram<u64>,
    pub pulls: u64,
    pub calls: u64,
    pub timeouts: u64,
    /// The longest worker's pulling time.
    pub elapsed: Duration,
    pub daemon: Daemon,
    /// Where the daemon and the clients ran (see `placement.rs`).
    pub placement: String,
    pub comparison: Option<Comparison>,
}

impl Run {
    pub fn new(
        config: Config,
        clock: TscClock,
        workers: Vec<WorkerResult>,
        daemon: Daemon,
        placement: String,
        comparison: Option<Comparison>,
    ) -> Run {
        let mut histogram = measure::histogram();
        for w in &workers {
            // Same bounds and precision on both sides: cannot fail.
            let _ = histogram.add(&w.histogram);
        }
        Run {
            date: today_utc(),
            cpu: procfs::cpu_model(),
            config,
            clock,
            overhead_ticks: workers.iter().map(|w| w.overhead_ticks).max().unwrap_or(0),
            group: workers.first().map_or(1, |w| w.group),
            sample_groups: workers.first().map_or(1, |w| w.sample_groups),
            pulls: workers.iter().map(|w| w.pulls).sum(),
            calls: workers.iter().map(|w| w.calls).sum(),
            timeouts: workers.iter().map(|w| w.timeouts).sum(),
            elapsed: workers.iter().map(|w| w.elapsed).max().unwrap_or_default(),
            histogram,
            workers,
            daemon,
            placement,
            comparison,
        }
    }

    pub fn pulls_per_s(&self) -> f64 {
        self.workers
            .iter()
            .map(|w| w.pulls as f64 / w.elapsed.as_secs_f64().max(1e-9))
            .sum()
    }

    /// Nicknames per call, on average.
    pub fn per_call(&self) -> f64 {
        if self.calls == 0 {
            1.0
        } else {
            (self.pulls as f64 / self.calls as f64).max(1e-9)
        }
    }

    pub fn per_call_latency(&self) -> Latency {
        Latency::of(&self.histogram, self.clock, 1.0)
    }

    pub fn per_nickname_latency(&self) -> Latency {
        Latency::of(&self.histogram, self.clock, self.per_call())
    }

    pub fn empty_pct(&self) -> f64 {
        self.daemon.empty_events as f64 * 100.0 / self.pulls.max(1) as f64
    }

    pub fn daemon_cpu_pct(&self) -> Option<f64> {
        self.daemon
            .cpu_seconds
            .map(|s| s * 100.0 / self.daemon.wall.as_secs_f64().max(1e-9))
    }

    /// `alternative p50 / pull p50`: how many times faster the pull is.
    fn speedup(&self, other: &Measured) -> f64 {
        let other = Latency::of(&other.histogram, self.clock, 1.0).p50;
        other / self.per_nickname_latency().p50.max(0.1)
    }

    pub fn text(&self) -> String {
        let mut t = String::new();
        let daemon_kind = if self.daemon.own {
            format!("own daemon pid {}", self.daemon.pid)
        } else {
            format!("attached to daemon pid {}", self.daemon.pid)
        };
        let _ = writeln!(
            t,
            "nickpool bench, {}: {} × {}, batch {}, {} s on {} ({}, capacity {})",
            self.date,
            super::plural(self.config.procs, "process", "processes"),
            super::plural(self.config.threads, "thread", "threads"),
            self.config.batch,
            self.config.seconds,
            self.config.name,
            daemon_kind,
            self.config.capacity
        );
        if self.config.rate > 0 {
            let _ = writeln!(
                t,
                "paced: about {} pulls/s per thread",
                millions(self.config.rate as f64)
            );
        }
        let _ = writeln!(t, "cpu: {}", self.cpu);
        let _ = writeln!(
            t,
            "daemon: {} shard{}, {} producer thread{}; {}",
            self.daemon.shards,
            if self.daemon.shards == 1 { "" } else { "s" },
            self.daemon.producers,
            if self.daemon.producers == 1 { "" } else { "s" },
            self.placement
        );
        let _ = writeln!(
            t,
            "clock: rdtsc at {:.3} GHz; calls timed in groups of {} (1 group in {}), \
             the timer's own {} per group subtracted",
            self.clock.ticks_per_ns(),
            self.group,
            self.sample_groups,
            ns(self.clock.ns(self.overhead_ticks))
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "throughput        {} pulls/s in total ({} pulls in {:.2} s)",
            millions(self.pulls_per_s()),
            thousands(self.pulls),
            self.elapsed.as_secs_f64()
        );
        for (i, w) in self.workers.iter().enumerate() {
            let _ = writeln!(
                t,
                "  process {:<3}     {} pulls/s (pid {})",
                i + 1,
                millions(w.pulls as f64 / w.elapsed.as_secs_f64().max(1e-9)),
                w.pid
            );
        }
        let call = self.per_call_latency();
        let what = if self.config.batch == 1 {
            "latency per pull "
        } else {
            "latency per call "
        };
        let _ = writeln!(t, "{what} {}", latency_line(&call));
        if self.config.batch > 1 {
            let nick = self.per_nickname_latency();
            let _ = writeln!(
                t,
                "  per nickname    {} ({:.1} nicknames per call)",
                latency_line(&nick),
                self.per_call()
            );
        }
        let _ = writeln!(
            t,
            "empty events      {} ({:.4}% of pulls){}",
            self.daemon.empty_events,
            self.empty_pct(),
            if self.timeouts > 0 {
                format!("; {} calls timed out after 100 ms", self.timeouts)
            } else {
                String::new()
            }
        );
        let cpu = match (self.daemon.cpu_seconds, self.daemon_cpu_pct()) {
            (Some(s), Some(pct)) => format!(
                "{s:.2} s user+sys in {:.2} s ({pct:.1}% of a core)",
                self.daemon.wall.as_secs_f64()
            ),
            _ => "n/a (cannot read /proc of its pid)".into(),
        };
        let _ = writeln!(t, "daemon CPU        {cpu}");
        let rss = match (self.daemon.rss_before_kib, self.daemon.rss_after_kib) {
            (Some(b), Some(a)) => format!(
                "{} KiB before, {} KiB after ({:+} KiB over {} pulls)",
                thousands(b),
                thousands(a),
                a as i64 - b as i64,
                thousands(self.pulls)
            ),
            _ => "n/a (cannot read /proc of its pid)".into(),
        };
        let _ = writeln!(t, "daemon RSS        {rss}");
        if self.daemon.dry_seconds > 0 {
            let _ = writeln!(
                t,
                "note: the ring was under 5% full at {} of {} progress lines: the clients \
                 outran the daemon, so the latencies include waiting for it to generate; \
                 --rate below its refill rate measures the pull itself",
                self.daemon.dry_seconds, self.config.seconds
            );
        }
        if let Some(c) = &self.comparison {
            self.compare_text(&mut t, c);
        }
        t
    }

    fn compare_text(&self, t: &mut String, c: &Comparison) {
        let pull = self.per_nickname_latency();
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "compare (one thread in this process, 1 s each, timed like the pulls; \
             sockets and Redis call by call)"
        );
        let _ = writeln!(
            t,
            "  {:<34} {:>9} {:>9} {:>9} {:>9} {:>11}  pull p50 is",
            "what", "p50", "p99", "p99.9", "max", "ops/s"
        );
        let _ = writeln!(
            t,
            "  {:<34} {:>9} {:>9} {:>9} {:>9} {:>11}",
            if self.config.batch == 1 {
                "nickpool pull".to_owned()
            } else {
                format!("nickpool pull (batch {}, per name)", self.config.batch)
            },
            ns(pull.p50),
            ns(pull.p99),
            ns(pull.p999),
            ns(pull.max),
            millions(self.pulls_per_s()),
        );
        for a in &c.alternatives {
            let l = Latency::of(&a.measured.histogram, self.clock, 1.0);
            let rate = a.measured.ops as f64 / a.measured.elapsed.as_secs_f64().max(1e-9);
            let _ = writeln!(
                t,
                "  {:<34} {:>9} {:>9} {:>9} {:>9} {:>11}  {}",
                a.label,
                ns(l.p50),
                ns(l.p99),
                ns(l.p999),
                ns(l.max),
                millions(rate),
                faster(self.speedup(&a.measured))
            );
        }
        if let Some(why) = &c.redis_skipped {
            let _ = writeln!(t, "  {:<34} skipped: {why}", "Redis LPOP");
        }
        let _ = writeln!(
            t,
            "  {:<34} {:>9}  (half a round trip of two {} threads)",
            "cross-core cache line, one way",
            ns(c.cache_line_one_way_ns),
            if c.cache_line_pinned {
                "pinned"
            } else {
                "UNPINNED"
            }
        );
        let phrases: Vec<String> = c
            .alternatives
            .iter()
            .filter(|a| a.key != "chacha8_floor")
            .map(|a| format!("{} {}", faster(self.speedup(&a.measured)), a.phrase))
            .collect();
        let _ = writeln!(t);
        let _ = writeln!(t, "pull p50 is {}", phrases.join(", "));
    }

    pub fn json(&self) -> serde_json::Value {
        let round = |x: f64, places: i32| {
            let f = 10f64.powi(places);
            (x * f).round() / f
        };
        let processes: Vec<_> = self
            .workers
            .iter()
            .map(|w| {
                json!({
                    "pid": w.pid,
                    "pulls": w.pulls,
                    "calls": w.calls,
                    "elapsed_s": round(w.elapsed.as_secs_f64(), 3),
                    "pulls_per_s": (w.pulls as f64 / w.elapsed.as_secs_f64().max(1e-9)).round(),
                })
            })
            .collect();
        let compare = self.comparison.as_ref().map(|c| {
            let alternatives: Vec<_> = c
                .alternatives
                .iter()
                .map(|a| {
                    json!({
                        "key": a.key,
                        "label": a.label,
                        "ops": a.measured.ops,
                        "ops_per_s": (a.measured.ops as f64
                            / a.measured.elapsed.as_secs_f64().max(1e-9)).round(),
                        "latency_ns": Latency::of(&a.measured.histogram, self.clock, 1.0).json(),
                        "group": a.measured.group,
                        "pull_p50_speedup": round(self.speedup(&a.measured), 2),
                    })
                })
                .collect();
            json!({
                "alternatives": alternatives,
                "redis_skipped": c.redis_skipped,
                "cache_line_one_way_ns": round(c.cache_line_one_way_ns, 1),
                "cache_line_pinned": c.cache_line_pinned,
            })
        });
        json!({
            "date": self.date,
            "cpu": self.cpu,
            "config": {
                "name": self.config.name,
                "attach": self.config.attach,
                "procs": self.config.procs,
                "threads": self.config.threads,
                "seconds": self.config.seconds,
                "batch": self.config.batch,
                "rate": self.config.rate,
                "capacity": self.config.capacity,
            },
            "placement": self.placement,
            "clock": {
                "ticks_per_ns": round(self.clock.ticks_per_ns(), 4),
                "timer_overhead_ns": round(self.clock.ns(self.overhead_ticks), 1),
                "group": self.group,
                "sample_groups": self.sample_groups,
            },
            "elapsed_s": round(self.elapsed.as_secs_f64(), 3),
            "pulls": self.pulls,
            "calls": self.calls,
            "timeouts": self.timeouts,
            "pulls_per_s": self.pulls_per_s().round(),
            "processes": processes,
            "latency_ns": {
                "per_call": self.per_call_latency().json(),
                "per_nickname": self.per_nickname_latency().json(),
            },
            "empty_events": self.daemon.empty_events,
            "empty_events_pct": round(self.empty_pct(), 5),
            "dry_seconds": self.daemon.dry_seconds,
            "daemon": {
                "pid": self.daemon.pid,
                "own": self.daemon.own,
                "shards": self.daemon.shards,
                "producers": self.daemon.producers,
                "cpu_s": self.daemon.cpu_seconds.map(|s| round(s, 2)),
                "cpu_pct_of_core": self.daemon_cpu_pct().map(|p| round(p, 1)),
                "rss_before_kib": self.daemon.rss_before_kib,
                "rss_after_kib": self.daemon.rss_after_kib,
                "rss_growth_kib": self.daemon.rss_before_kib.zip(self.daemon.rss_after_kib)
                    .map(|(b, a)| a as i64 - b as i64),
            },
            "compare": compare,
        })
    }
}

/// The table of a `--sweep`: one row per process count.
pub fn sweep_text(rows: &[Run]) -> String {
    let mut t = String::new();
    let Some(first) = rows.first() else {
        return t;
    };
    let c = &first.config;
    let _ = writeln!(
        t,
        "nickpool bench --sweep, {}: {} per process, batch {}, {} s per row on {} ({}, capacity {}, {} shards, {} producer thread{})",
        first.date,
        super::plural(c.threads, "thread", "threads"),
        c.batch,
        c.seconds,
        c.name,
        if first.daemon.own {
            "a fresh daemon per row"
        } else {
            "attached daemon"
        },
        c.capacity,
        first.daemon.shards,
        first.daemon.producers,
        if first.daemon.producers == 1 { "" } else { "s" },
    );
    if c.rate > 0 {
        let _ = writeln!(
            t,
            "paced: about {} pulls/s per thread",
            millions(c.rate as f64)
        );
    }
    let _ = writeln!(t, "cpu: {}", first.cpu);
    let per = if c.batch == 1 { "pull" } else { "nickname" };
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "{:>5} {:>14} {:>9} {:>9} {:>9} {:>16} {:>12}  placement",
        "procs",
        "pulls/s total",
        format!("p50/{per}"),
        "p99",
        "p99.9",
        "empty events",
        "daemon CPU"
    );
    for run in rows {
        let l = run.per_nickname_latency();
        let _ = writeln!(
            t,
            "{:>5} {:>14} {:>9} {:>9} {:>9} {:>16} {:>12}  {}",
            run.config.procs,
            millions(run.pulls_per_s()),
            ns(l.p50),
            ns(l.p99),
            ns(l.p999),
            format!(
                "{} ({:.3}%)",
                thousands(run.daemon.empty_events),
                run.empty_pct()
            ),
            run.daemon_cpu_pct()
                .map_or("n/a".into(), |p| format!("{p:.0}% core")),
            run.placement
        );
    }
    let dry: Vec<String> = rows
        .iter()
        .filter(|r| r.daemon.dry_seconds > 0)
        .map(|r| r.config.procs.to_string())
        .collect();
    if !dry.is_empty() {
        let _ = writeln!(
            t,
            "note: the ring ran under 5% full in the rows of {} process(es): the clients outran \
             the daemon there, so those latencies include waiting for it",
            dry.join(", ")
        );
    }
    t
}

/// A `--sweep` as JSON: `{"sweep": [one run's object per process count]}`.
pub fn sweep_json(rows: &[Run]) -> serde_json::Value {
    json!({ "sweep": rows.iter().map(Run::json).collect::<Vec<_>>() })
}

fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (mean {}, {} timed)",
        ns(l.p50),
        ns(l.p90),
        ns(l.p99),
        ns(l.p999),
        ns(l.max),
        ns(l.mean),
        thousands(l.samples)
    )
}

/// "2.4× faster than" or "1.3× slower than".
fn faster(speedup: f64) -> String {
    if speedup >= 1.0 {
        format!("{}× faster than", ratio(speedup))
    } else {
        format!("{}× slower than", ratio(1.0 / speedup.max(1e-9)))
    }
}

fn ratio(x: f64) -> String {
    if x >= 100.0 {
        thousands(x.round() as u64)
    } else if x >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// A duration in nanoseconds, in the unit that reads best.
pub fn ns(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.1} ns")
    } else if x < 1_000.0 {
        format!("{x:.0} ns")
    } else if x < 1_000_000.0 {
        format!("{:.1} µs", x / 1e3)
    } else {
        format!("{:.1} ms", x / 1e6)
    }
}

fn millions(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M", per_s / 1e6)
    } else {
        format!("{:.1} k", per_s / 1e3)
    }
}

/// 1234567 as "1,234,567".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Today's date in UTC, YYYY-MM-DD.
fn today_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(ns(8.44), "8.4 ns");
        assert_eq!(ns(123.4), "123 ns");
        assert_eq!(ns(18_240.0), "18.2 µs");
        assert_eq!(faster(3.12), "3.1× faster than");
        assert_eq!(faster(0.5), "2.0× slower than");
        assert_eq!(faster(1234.4), "1,234× faster than");
        assert_eq!(today_utc().len(), 10);
    }
}
