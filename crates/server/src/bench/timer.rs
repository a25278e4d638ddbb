//! A cycle-counter clock for timing operations of a few nanoseconds.
//!
//! `Instant::now()` costs about 20 ns through the vDSO, as much as the pull
//! it would time, and its resolution is no better. The x86-64 time-stamp
//! counter (`rdtsc`) costs a few nanoseconds, ticks at a constant rate on
//! every CPU that advertises `constant_tsc`/`nonstop_tsc`, and is the same
//! across cores, so ticks read in one process compare with ticks read in
//! another. [`TscClock::calibrate`] measures its rate against `Instant`.
//!
//! [`start`] and [`stop`] are fenced (`lfence; rdtsc; lfence` and
//! `rdtscp; lfence`), so the timed code can neither start before the first
//! read nor still be running at the second. The fences and the reads cost a
//! fixed few nanoseconds per timed region: [`overhead_ticks`] measures it so
//! callers can subtract it.
//!
//! Elsewhere than x86-64 the "ticks" are nanoseconds from `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Reads the clock at the start of a timed region.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn start() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: lfence and rdtsc exist on every x86-64 CPU (SSE2 is part of
    // the baseline) and have no memory effects.
    unsafe {
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
}

/// Reads the clock at the end of a timed region.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn stop() -> u64 {
    use std::arch::x86_64::{__rdtscp, _mm_lfence};
    let mut aux = 0u32;
    // SAFETY: rdtscp is available on every x86-64 CPU this crate supports
    // (Linux requires it for the vDSO clock); it only writes `aux`, a local.
    unsafe {
        let t = __rdtscp(&mut aux);
        _mm_lfence();
        t
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Reads the clock at the start of a timed region.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn start() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Reads the clock at the end of a timed region.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn stop() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// The cost of an empty timed region (`stop() - start()` with nothing
/// between), in ticks: the median of 20,001 tries.
pub fn overhead_ticks() -> u64 {
    let mut samples: Vec<u64> = (0..20_001)
        .map(|_| {
            let t0 = start();
            let t1 = stop();
            t1.wrapping_sub(t0)
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// The clock's rate, measured against `Instant`.
#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    ticks_per_ns: f64,
}

impl TscClock {
    /// Measures ticks per nanosecond over about 50 ms (once per process;
    /// later calls return the same value).
    pub fn calibrate() -> TscClock {
        static CLOCK: OnceLock<TscClock> = OnceLock::new();
        *CLOCK.get_or_init(|| {
            if cfg!(not(target_arch = "x86_64")) {
                return TscClock { ticks_per_ns: 1.0 };
            }
            let i0 = Instant::now();
            let t0 = start();
            while i0.elapsed() < Duration::from_millis(50) {
                std::hint::spin_loop();
            }
            let t1 = stop();
            let ns = i0.elapsed().as_nanos() as f64;
            TscClock {
                ticks_per_ns: t1.wrapping_sub(t0) as f64 / ns,
            }
        })
    }

    /// Ticks per nanosecond (the clock's frequency in GHz).
    pub fn ticks_per_ns(&self) -> f64 {
        self.ticks_per_ns
    }

    /// `ticks` in nanoseconds.
    pub fn ns(&self, ticks: u64) -> f64 {
        ticks as f64 / self.ticks_per_ns
    }

    /// `ns` nanoseconds in ticks.
    pub fn ticks(&self, ns: f64) -> u64 {
        (ns * self.ticks_per_ns) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_advance_at_a_plausible_rate() {
        let clock = TscClock::calibrate();
        // Between 0.1 and 10 GHz on any machine this runs on.
        assert!((0.1..10.0).contains(&clock.ticks_per_ns()), "{clock:?}");
        let t0 = start();
        std::thread::sleep(Duration::from_millis(5));
        let t1 = stop();
        assert!(clock.ns(t1 - t0) >= 4_000_000.0);
    }
}
