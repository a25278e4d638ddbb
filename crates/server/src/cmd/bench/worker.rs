//! `nickpool bench-worker`: one client process of `nickpool bench`.
//!
//! Protocol over its standard streams: it opens the segment, starts its
//! threads and warms them up, prints `ready`; on the line `go` the threads
//! pull back to back; on the line `stop` (or end of input) they stop, and
//! the worker prints one JSON line: what it pulled, for how long, and the
//! histogram of timed calls in ticks.

use super::measure::{GROUP, SAMPLE_GROUPS, Sampler};
use crate::BenchWorkerArgs;
use crate::cmd::CliError;
use nickpool::Client;
use nickpool_server::bench::timer::{self, TscClock};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// How long one call may wait for the daemon before it counts as a timeout.
const TIMEOUT: Option<Duration> = Some(Duration::from_millis(100));
/// Untimed calls per thread before `ready`.
const WARM_UP_CALLS: u32 = 10_000;

/// What one thread did.
struct ThreadResult {
    sampler: Sampler,
    pulls: u64,
    calls: u64,
    timeouts: u64,
}

#[allow(clippy::too_many_arguments)]
fn pull_loop(
    client: &Client,
    cpu: Option<usize>,
    batch: usize,
    rate: u64,
    go: &Barrier,
    ready: &Barrier,
    stop: &AtomicBool,
    failure: &Mutex<Option<String>>,
) -> ThreadResult {
    if let Some(cpu) = cpu {
        if !nickpool_server::bench::affinity::pin_to(cpu) {
            let mut first = failure.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| format!("cannot pin a thread to CPU {cpu}"));
        }
    }
    let mut buf = vec![0u8; batch * (nickpool::MAX_NICKNAME_LEN + 1)];
    let mut sampler = Sampler::new(GROUP, SAMPLE_GROUPS);
    let pull = |buf: &mut [u8]| -> Result<usize, nickpool::Error> {
        if batch == 1 {
            let len = client.next(buf, TIMEOUT)?;
            // Touch the payload: the copy is the point.
            std::hint::black_box(&buf[..len]);
            Ok(1)
        } else {
            let n = client.next_batch(buf, batch, TIMEOUT)?;
            std::hint::black_box(&*buf);
            Ok(n)
        }
    };
    for _ in 0..WARM_UP_CALLS {
        let _ = pull(&mut buf);
    }
    ready.wait();
    go.wait();
    let (mut pulls, mut calls, mut timeouts) = (0u64, 0u64, 0u64);
    // Pacing: one group of calls every `interval` ticks.
    let clock = TscClock::calibrate();
    let interval =
        (rate > 0).then(|| clock.ticks(1e9 * f64::from(GROUP) * batch as f64 / rate as f64));
    let mut next_group = timer::start();
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..8 {
            if let Some(interval) = interval {
                next_group += interval;
                let mut now = timer::start();
                if now > next_group + 100 * interval {
                    next_group = now; // Far behind (descheduled): do not burst.
                }
                while now < next_group {
                    std::hint::spin_loop();
                    now = timer::start();
                }
            }
            sampler.group(|| {
                calls += 1;
                match pull(&mut buf) {
                    Ok(n) => pulls += n as u64,
                    Err(nickpool::Error::Empty) => timeouts += 1,
                    Err(e) => {
                        let mut first = failure.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert_with(|| e.to_string());
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    }
    ThreadResult {
        sampler,
        pulls,
        calls,
        timeouts,
    }
}

pub fn run(args: BenchWorkerArgs) -> Result<(), CliError> {
    let client =
        Arc::new(Client::open(Some(&args.name)).map_err(|e| CliError::Runtime(e.to_string()))?);
    let threads = args.threads.max(1) as usize;
    let batch = args.batch.max(1) as usize;
    let ready = Arc::new(Barrier::new(threads + 1));
    let go = Arc::new(Barrier::new(threads + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let failure = Arc::new(Mutex::new(None));
    let cpus = args.cpus;
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let cpu = cpus.get(i).copied();
            let (client, ready, go, stop, failure) = (
                Arc::clone(&client),
                Arc::clone(&ready),
                Arc::clone(&go),
                Arc::clone(&stop),
                Arc::clone(&failure),
            );
            std::thread::spawn(move || {
                pull_loop(&client, cpu, batch, args.rate, &go, &ready, &stop, &failure)
            })
        })
        .collect();
    ready.wait();
    let stdout = std::io::stdout();
    let say = |line: &str| {
        let mut out = stdout.lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    };
    say("ready");
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    // Anything but `go` (or a closed pipe) still releases the threads, so
    // they can stop at once.
    let _ = lines.next();
    go.wait();
    let start = Instant::now();
    let _ = lines.next();
    stop.store(true, Ordering::Relaxed);
    let results: Vec<ThreadResult> = handles
        .into_iter()
        .map(|h| h.join().expect("pull thread"))
        .collect();
    let elapsed = start.elapsed();
    let mut histogram = super::measure::histogram();
    for r in &results {
        histogram
            .add(&r.sampler.histogram)
            .map_err(|e| CliError::Runtime(format!("cannot merge histograms: {e}")))?;
    }
    let buckets: Vec<[u64; 2]> = histogram
        .iter_recorded()
        .map(|v| [v.value_iterated_to(), v.count_at_value()])
        .collect();
    let report = serde_json::json!({
        "pid": std::process::id(),
        "elapsed_ns": elapsed.as_nanos() as u64,
        "pulls": results.iter().map(|r| r.pulls).sum::<u64>(),
        "calls": results.iter().map(|r| r.calls).sum::<u64>(),
        "timeouts": results.iter().map(|r| r.timeouts).sum::<u64>(),
        "failure": failure.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        "overhead_ticks": results.iter().map(|r| r.sampler.overhead_ticks).max().unwrap_or(0),
        "group": GROUP,
        "sample_groups": SAMPLE_GROUPS,
        "histogram": buckets,
    });
    say(&report.to_string());
    Ok(())
}
