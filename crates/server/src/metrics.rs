//! Prometheus metrics: the one place that names and encodes them, used by the
//! daemon's `/metrics` endpoint (`nickpool serve --metrics ADDR`) and by
//! `nickpool stats --prometheus` (for node_exporter's textfile collector), so
//! both say the same thing under the same names.
//!
//! Every counter and gauge comes from [`Stats`], which reads the segment:
//! counters that clients bump live there already, on slow paths or derived
//! from the ring's head and tail, so metrics add nothing to a pull. The two
//! refill histograms live in the daemon's memory ([`RefillTimes`]), fed once
//! per refill batch by the producer, and so do unique mode's per-style
//! gauges ([`UniqueStyles`]); only the endpoint has them.
//!
//! The encoding is `prometheus-client`'s Prometheus text format (0.0.4): a
//! collector turns one snapshot into metrics at each scrape.

use crate::client::Stats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Prefix of every metric name.
pub const PREFIX: &str = "nickpool";
/// Label that names the pool (the segment name) on every sample, so several
/// daemons on one host stay apart.
pub const POOL_LABEL: &str = "pool";
/// `Content-Type` of the encoded text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the refill-batch histogram, in nanoseconds: a batch of 64
/// takes a few microseconds; the tail catches preemption and page faults.
const BATCH_BOUNDS_NS: &[u64] = &[
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    1_000_000,
    10_000_000,
    100_000_000,
];
/// Upper bounds of the per-nickname generation histogram, in nanoseconds.
const NICKNAME_BOUNDS_NS: &[u64] = &[
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000, 100_000, 1_000_000,
];

/// A histogram of durations in fixed buckets of plain atomics: recording is a
/// few relaxed adds, reading never blocks the recorder.
#[derive(Debug)]
struct Histogram {
    /// Inclusive upper bounds in nanoseconds, ascending.
    bounds_ns: &'static [u64],
    /// `counts[i]` counts observations above `bounds_ns[i - 1]` and at most
    /// `bounds_ns[i]`; the extra last one counts those above every bound.
    counts: Box<[AtomicU64]>,
    /// Sum of all observations, nanoseconds.
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(bounds_ns: &'static [u64]) -> Histogram {
        debug_assert!(bounds_ns.is_sorted());
        Histogram {
            bounds_ns,
            counts: (0..=bounds_ns.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records `n` observations of `each_ns`, which add up to `total_ns`.
    #[inline]
    fn observe(&self, each_ns: u64, n: u64, total_ns: u64) {
        let bucket = self.bounds_ns.partition_point(|&bound| bound < each_ns);
        self.counts[bucket].fetch_add(n, Ordering::Relaxed);
        self.sum_ns.fetch_add(total_ns, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = self
            .bounds_ns
            .iter()
            .map(|&ns| ns as f64 / 1e9)
            .chain([f64::INFINITY])
            .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        HistogramSnapshot {
            // The count is the buckets' sum, so `_count` always equals the
            // `+Inf` bucket even while the producer records.
            count: buckets.iter().map(|&(_, n)| n).sum(),
            buckets,
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// One histogram's values at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound in seconds, observations in this bucket alone); the last
    /// bound is `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// Adds `other`, a snapshot of a histogram with the same buckets.
    fn add(&mut self, other: &HistogramSnapshot) {
        debug_assert_eq!(self.buckets.len(), other.buckets.len());
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.1 += theirs.1;
        }
        self.count += other.count;
        self.sum_seconds += other.sum_seconds;
    }
}

/// How long a producer thread takes to refill its shards, kept in the
/// daemon's memory. The thread records each batch with one call; the
/// endpoint reads a snapshot of every thread's at each scrape.
#[derive(Debug)]
pub struct RefillTimes {
    batch: Histogram,
    per_nickname: Histogram,
}

impl Default for RefillTimes {
    fn default() -> Self {
        RefillTimes::new()
    }
}

impl RefillTimes {
    pub fn new() -> RefillTimes {
        RefillTimes {
            batch: Histogram::new(BATCH_BOUNDS_NS),
            per_nickname: Histogram::new(NICKNAME_BOUNDS_NS),
        }
    }

    /// Records one refill batch: `nicknames` generated and published in
    /// `elapsed_ns`. The per-nickname histogram gets `nicknames` observations
    /// of the batch's mean, so its count is the number of nicknames produced
    /// and its sum the time spent producing them. Six relaxed atomic adds.
    #[inline]
    pub fn record_batch(&self, elapsed_ns: u64, nicknames: u64) {
        if nicknames == 0 {
            return;
        }
        self.batch.observe(elapsed_ns, 1, elapsed_ns);
        self.per_nickname
            .observe(elapsed_ns / nicknames, nicknames, elapsed_ns);
    }

    pub fn snapshot(&self) -> RefillSnapshot {
        RefillSnapshot {
            batch: self.batch.snapshot(),
            per_nickname: self.per_nickname.snapshot(),
        }
    }

    /// The sum of several producer threads' times (each thread records into
    /// its own, so they never contend for a line).
    pub fn snapshot_all<'a>(times: impl IntoIterator<Item = &'a RefillTimes>) -> RefillSnapshot {
        let mut all = times.into_iter().map(RefillTimes::snapshot);
        let mut sum = all.next().unwrap_or_else(|| RefillTimes::new().snapshot());
        for other in all {
            sum.batch.add(&other.batch);
            sum.per_nickname.add(&other.per_nickname);
        }
        sum
    }
}

/// [`RefillTimes`] at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct RefillSnapshot {
    pub batch: HistogramSnapshot,
    pub per_nickname: HistogramSnapshot,
}

/// One style of a unique-mode daemon at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StyleUsage {
    /// The style's name.
    pub style: String,
    /// Its counters used: handed out, skipped by restarts, or blocked.
    pub used: u64,
    /// Its counters in all (this node's share, or the whole style with a
    /// lease).
    pub space: u64,
}

/// Where a unique-mode daemon's per-style gauges come from; read at each
/// scrape.
pub trait UniqueStyles: Send + Sync {
    /// Every style of the space, in order.
    fn usage(&self) -> Vec<StyleUsage>;
}

/// Label that names the style on unique mode's per-style gauges.
pub const STYLE_LABEL: &str = "style";

/// Encodes `stats` (and the refill histograms and unique mode's per-style
/// gauges, when given) in the Prometheus text format. Every sample carries
/// `pool="<segment name>"`.
pub fn encode(
    stats: &Stats,
    refill: Option<&RefillSnapshot>,
    styles: &[StyleUsage],
) -> Result<String, fmt::Error> {
    let mut registry = Registry::with_prefix_and_labels(
        PREFIX,
        [(Cow::Borrowed(POOL_LABEL), Cow::Owned(stats.name.clone()))].into_iter(),
    );
    registry.register_collector(Box::new(Snapshot {
        stats: stats.clone(),
        refill: refill.cloned(),
        styles: styles.to_vec(),
    }));
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// What one scrape reports (a collector must own its data).
#[derive(Debug)]
struct Snapshot {
    stats: Stats,
    refill: Option<RefillSnapshot>,
    styles: Vec<StyleUsage>,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let s = &self.stats;
        // Names without the `_total` suffix, which the encoder adds.
        let counters = [
            (
                "produced",
                "Nicknames the daemon published into the ring.",
                s.produced,
            ),
            (
                "consumed",
                "Nicknames clients claimed from the ring.",
                s.consumed,
            ),
            (
                "empty_events",
                "Pull calls that found the ring empty after a short spin.",
                s.empty_events,
            ),
            (
                "consumer_waits",
                "Times a client went to sleep waiting for nicknames.",
                s.consumer_waits,
            ),
            (
                "consumer_wakeups",
                "Times the daemon woke sleeping clients.",
                s.consumer_wakeups,
            ),
            (
                "producer_sleeps",
                "Times the daemon slept because the ring was full (it also wakes every 100 ms to beat its heartbeat).",
                s.producer_sleeps,
            ),
            (
                "producer_wakeups",
                "Times a client woke the sleeping daemon.",
                s.producer_wakeups,
            ),
            (
                "reattachments",
                "Client handles that reattached to this daemon after a daemon restart.",
                s.reattachments,
            ),
            (
                "reloads",
                "Dictionary reloads (SIGHUP) that succeeded.",
                s.reloads,
            ),
            (
                "reload_failures",
                "Dictionary reloads refused because the new dictionary was invalid.",
                s.reload_failures,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }

        let gauges = [
            (
                "ring_fill",
                "Nicknames waiting in the ring, all shards together.",
                s.fill,
            ),
            (
                "ring_capacity",
                "Slots in the ring, all shards together.",
                s.capacity,
            ),
            (
                "shards",
                "Rings (shards) the segment is divided into.",
                s.shards,
            ),
            (
                "producer_threads",
                "Daemon threads filling the shards.",
                s.producers,
            ),
            (
                "waiters",
                "Clients asleep waiting for nicknames right now.",
                s.waiters,
            ),
            (
                "unique_remaining",
                "Unique mode: nicknames of the space not yet handed out (0 when not in unique mode).",
                s.unique_remaining(),
            ),
            (
                "unique_space",
                "Unique mode: nicknames in the space, blocked ones included (0 when not in unique mode).",
                s.unique_total,
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let ms_to_seconds = |ms: u64| ms as f64 / 1000.0;
        let seconds = [
            (
                "heartbeat_age",
                "Time since the daemon last beat its heartbeat (it beats every 100 ms while alive).",
                ms_to_seconds(s.heartbeat_age_ms),
            ),
            (
                "uptime",
                "Time since the daemon started.",
                ms_to_seconds(s.uptime_ms),
            ),
            (
                "start_time",
                "When the daemon started, since the Unix epoch.",
                ms_to_seconds(s.started_unix_ms),
            ),
        ];
        for (name, help, value) in seconds {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(
                name,
                help,
                Some(&Unit::Seconds),
                gauge.metric_type(),
            )?)?;
        }

        if !self.styles.is_empty() {
            let per_style = [
                (
                    "unique_style_used",
                    "Unique mode: nicknames of this style handed out, skipped by restarts or blocked.",
                    self.styles.iter().map(|u| u.used).collect::<Vec<_>>(),
                ),
                (
                    "unique_style_space",
                    "Unique mode: nicknames in this style; when it is used up, the other styles go on.",
                    self.styles.iter().map(|u| u.space).collect(),
                ),
            ];
            for (name, help, values) in per_style {
                let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                for (usage, value) in self.styles.iter().zip(values) {
                    let labels = [(STYLE_LABEL, usage.style.as_str())];
                    ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }

        if let Some(refill) = &self.refill {
            let histograms = [
                (
                    "refill_batch_duration",
                    "Time to generate and publish one refill batch of up to 64 nicknames.",
                    &refill.batch,
                ),
                (
                    "generation_duration",
                    "Time to generate and publish one nickname (each batch's time shared evenly by its nicknames).",
                    &refill.per_nickname,
                ),
            ];
            for (name, help, h) in histograms {
                encoder
                    .encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?
                    .encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_inclusive_upper_bounds() {
        let h = Histogram::new(&[10, 100]);
        h.observe(10, 1, 10);
        h.observe(11, 2, 22);
        h.observe(1000, 1, 1000);
        let s = h.snapshot();
        assert_eq!(
            s.buckets,
            [(1e-8, 1), (1e-7, 2), (f64::INFINITY, 1)].as_slice()
        );
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 1032e-9).abs() < 1e-15);
    }

    #[test]
    fn a_batch_counts_once_and_its_nicknames_each() {
        let times = RefillTimes::new();
        times.record_batch(3_200, 64);
        times.record_batch(0, 0); // Nothing generated: nothing recorded.
        let s = times.snapshot();
        assert_eq!(s.batch.count, 1);
        assert_eq!(s.per_nickname.count, 64);
        // 3.2 µs / 64 = 50 ns each, in the (25, 50] bucket.
        let fifty = s
            .per_nickname
            .buckets
            .iter()
            .find(|b| b.0 == 50e-9)
            .unwrap();
        assert_eq!(fifty.1, 64);
        assert!((s.per_nickname.sum_seconds - 3.2e-6).abs() < 1e-12);
    }

    #[test]
    fn producer_threads_refill_times_add_up() {
        let (a, b) = (RefillTimes::new(), RefillTimes::new());
        a.record_batch(3_200, 64);
        b.record_batch(3_200, 64);
        b.record_batch(30_000, 10);
        let all = RefillTimes::snapshot_all([&a, &b]);
        assert_eq!((all.batch.count, all.per_nickname.count), (3, 138));
        assert!((all.batch.sum_seconds - 36.4e-6).abs() < 1e-12);
        let fifty = all
            .per_nickname
            .buckets
            .iter()
            .find(|b| b.0 == 50e-9)
            .unwrap();
        assert_eq!(fifty.1, 128);
    }

    #[test]
    fn encoding_names_every_metric_once_with_its_pool() {
        let stats = Stats {
            name: "/pool-a".into(),
            capacity: 64,
            fill: 60,
            produced: 100,
            consumed: 40,
            unique_total: 1000,
            unique_used: 100,
            heartbeat_age_ms: 50,
            ..Stats::default()
        };
        let refill = RefillTimes::new();
        refill.record_batch(3_200, 64);
        let styles = [
            StyleUsage {
                style: "adj-noun".into(),
                used: 60,
                space: 600,
            },
            StyleUsage {
                style: "xiao-noun".into(),
                used: 40,
                space: 400,
            },
        ];
        let text = encode(&stats, Some(&refill.snapshot()), &styles).unwrap();
        for line in [
            "# TYPE nickpool_produced_total counter",
            "nickpool_produced_total{pool=\"/pool-a\"} 100",
            "nickpool_consumed_total{pool=\"/pool-a\"} 40",
            "# TYPE nickpool_ring_fill gauge",
            "nickpool_ring_fill{pool=\"/pool-a\"} 60",
            "nickpool_unique_remaining{pool=\"/pool-a\"} 900",
            "# TYPE nickpool_unique_space gauge",
            "nickpool_unique_space{pool=\"/pool-a\"} 1000",
            "# TYPE nickpool_unique_style_used gauge",
            "nickpool_unique_style_used{pool=\"/pool-a\",style=\"adj-noun\"} 60",
            "nickpool_unique_style_space{pool=\"/pool-a\",style=\"xiao-noun\"} 400",
            "nickpool_heartbeat_age_seconds{pool=\"/pool-a\"} 0.05",
            "# TYPE nickpool_refill_batch_duration_seconds histogram",
            "nickpool_refill_batch_duration_seconds_bucket{pool=\"/pool-a\",le=\"5e-06\"} 1",
            "nickpool_generation_duration_seconds_count{pool=\"/pool-a\"} 64",
        ] {
            assert_eq!(
                text.lines().filter(|l| *l == line).count(),
                1,
                "{line:?} not once in:\n{text}"
            );
        }
        assert!(!text.contains("unique_total"), "{text}");
        let without = encode(&stats, None, &[]).unwrap();
        assert!(!without.contains("histogram"), "{without}");
        assert!(!without.contains("style="), "{without}");
        let with_styles = encode(&stats, None, &styles).unwrap();
        assert!(
            with_styles.starts_with(&without),
            "the same metrics, in order"
        );
        assert!(text.starts_with(&with_styles), "the same metrics, in order");
    }
}
