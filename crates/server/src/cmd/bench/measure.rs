//! How `nickpool bench` times operations: in groups of [`GROUP`]
//! back-to-back calls, one fenced cycle-counter read at each end
//! (`nickpool_server::bench::timer`); the group's time, less the timer's own cost,
//! divided by the calls, goes into an HDR histogram once per call. One
//! group in [`SAMPLE_GROUPS`] is timed.
//!
//! Why groups: `Instant::now()` costs about 20 ns, as much as a pull, and
//! the time-stamp counter of AMD Zen CPUs advances in steps of 10 ns (back-to-back reads
//! differ by 0 or about 26 ticks at 2.6 GHz), so one pull timed alone reads as 0, 10
//! or 20 ns. Eight calls per reading give about 1 ns of resolution. The
//! price: a slow call is averaged with seven others, so p99.9 and max are
//! of groups (a 1 µs stall shows as about 130 ns); operations of
//! microseconds (sockets, Redis) are timed one by one.
//!
//! Why sample: the fences and reads cost about 20 ns, so timing every
//! group would take throughput from the run that reports it. One group in
//! 4 costs well under a nanosecond per call on average and still gives
//! hundreds of thousands of samples a second.

use hdrhistogram::Histogram;
use nickpool_server::bench::timer;
use std::time::{Duration, Instant};

/// Calls per timed group for operations of nanoseconds.
pub const GROUP: u32 = 8;
/// Time one group in this many.
pub const SAMPLE_GROUPS: u32 = 4;

/// The largest time a histogram holds, in ticks (about 100 s at 5 GHz).
const MAX_TICKS: u64 = 500_000_000_000;

/// A histogram of ticks: three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TICKS, 3).expect("valid histogram bounds")
}

/// Runs operations in groups of `group` calls and times one group in
/// `every` into a histogram of ticks per call.
pub struct Sampler {
    pub histogram: Histogram<u64>,
    /// The timer's own cost, subtracted from every timed group.
    pub overhead_ticks: u64,
    pub group: u32,
    pub every: u32,
    countdown: u32,
}

impl Sampler {
    pub fn new(group: u32, every: u32) -> Sampler {
        Sampler {
            histogram: histogram(),
            overhead_ticks: timer::overhead_ticks(),
            group: group.max(1),
            every: every.max(1),
            countdown: every.max(1),
        }
    }

    /// Runs `op` [`Sampler::group`] times back to back, timing the group
    /// if its turn has come.
    #[inline(always)]
    pub fn group(&mut self, mut op: impl FnMut()) {
        self.countdown -= 1;
        if self.countdown != 0 {
            for _ in 0..self.group {
                op();
            }
            return;
        }
        self.countdown = self.every;
        let t0 = timer::start();
        for _ in 0..self.group {
            op();
        }
        let t1 = timer::stop();
        let ticks = t1.wrapping_sub(t0).saturating_sub(self.overhead_ticks);
        self.histogram
            .saturating_record_n(ticks / u64::from(self.group), u64::from(self.group));
    }
}

/// What one in-process measurement found.
pub struct Measured {
    pub histogram: Histogram<u64>,
    pub ops: u64,
    pub elapsed: Duration,
    /// Calls per timed group.
    pub group: u32,
}

/// Calls `op` back to back for `duration`, in groups of `group`, timing
/// one group in `every`. `op` returns the length of what it put in the
/// caller's buffer.
pub fn for_duration(
    duration: Duration,
    group: u32,
    every: u32,
    mut op: impl FnMut() -> usize,
) -> Measured {
    let mut sampler = Sampler::new(group, every);
    // Warm up: caches, branch predictors, lazily built state.
    let warm = Instant::now();
    while warm.elapsed() < duration / 10 {
        std::hint::black_box(op());
    }
    let start = Instant::now();
    let mut ops = 0u64;
    let elapsed = loop {
        for _ in 0..16 {
            sampler.group(|| {
                std::hint::black_box(op());
            });
        }
        ops += 16 * u64::from(sampler.group);
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break elapsed;
        }
    };
    Measured {
        histogram: sampler.histogram,
        ops,
        elapsed,
        group: sampler.group,
    }
}
