//! `nickpool bench`: measure pulls the way redis-benchmark measures Redis.
//!
//! It starts its own daemon (`nickpool serve` on a fresh name) unless
//! `--attach`ed to a running one, re-executes itself as `--procs` worker
//! processes (`nickpool bench-worker`, hidden) of `--threads` threads each,
//! lets them pull back to back for `--seconds`, printing a progress line a
//! second, and reports throughput, latency percentiles (see `measure.rs`
//! for how calls are timed), empty events, and the daemon's CPU time and
//! resident memory before and after. `--compare` then measures the
//! alternatives in this process (`compare.rs`); `--svg` draws the latency
//! percentiles (`chart.rs`).
//!
//! `--sweep 1,2,4,8,15` runs the same bench once per process count, each
//! with a fresh daemon (unless `--attach`ed), and prints one table row per
//! count (`report::sweep_text`). With `--pin` (implied by `--sweep`) the
//! daemon and every client thread get CPUs of their own where the host has
//! enough (`placement.rs`).

mod chart;
mod compare;
mod measure;
mod placement;
mod procfs;
mod report;
pub mod worker;

use super::CliError;
use crate::BenchArgs;
use hdrhistogram::Histogram;
use nickpool::{Client, segment};
use nickpool_server::bench::DaemonProcess;
use nickpool_server::bench::timer::TscClock;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// What the arguments ask for, validated.
#[derive(Clone)]
pub struct Config {
    pub name: String,
    pub attach: bool,
    pub procs: u32,
    pub threads: u32,
    pub seconds: u64,
    pub batch: u32,
    /// Pulls a second per thread; 0 for as fast as it can.
    pub rate: u64,
    pub capacity: u32,
    /// `serve --shards` and `--producers` for the bench's own daemon.
    pub shards: Option<u32>,
    pub producers: Option<u32>,
    /// Process counts to run one after another (`--sweep`).
    pub sweep: Option<Vec<u32>>,
    /// Place the daemon and the clients on CPUs of their own.
    pub pin: bool,
}

fn config(args: &BenchArgs) -> Result<Config, CliError> {
    let usage = |m: String| Err(CliError::Usage(m));
    let name = match (&args.name, args.attach) {
        (Some(name), _) => name.clone(),
        (None, true) => segment::default_name(),
        (None, false) => format!("/nickpool-bench-{}", std::process::id()),
    };
    segment::validate_name(&name).map_err(|e| CliError::Usage(e.to_string()))?;
    if !(1..=256).contains(&args.procs) {
        return usage(format!("--procs {} must be from 1 to 256", args.procs));
    }
    if !(1..=256).contains(&args.threads) {
        return usage(format!("--threads {} must be from 1 to 256", args.threads));
    }
    if !(1..=86_400).contains(&args.seconds) {
        return usage(format!(
            "--seconds {} must be from 1 to 86400",
            args.seconds
        ));
    }
    if !(1..=1024).contains(&args.batch) {
        return usage(format!("--batch {} must be from 1 to 1024", args.batch));
    }
    let sweep = match &args.sweep {
        None => None,
        Some(list) => {
            let counts: Option<Vec<u32>> = list
                .split(',')
                .map(|n| n.trim().parse().ok().filter(|n| (1..=256).contains(n)))
                .collect();
            match counts {
                Some(counts) if !counts.is_empty() => Some(counts),
                _ => {
                    return usage(format!(
                        "--sweep '{list}' must be process counts from 1 to 256, separated by commas, e.g. 1,2,4,8,15"
                    ));
                }
            }
        }
    };
    let capacity = args.capacity;
    if !capacity.is_power_of_two()
        || !(segment::MIN_CAPACITY..=segment::MAX_CAPACITY).contains(&capacity)
    {
        return usage(format!(
            "--capacity {capacity} must be a power of two from {} to {}",
            segment::MIN_CAPACITY,
            segment::MAX_CAPACITY
        ));
    }
    let config = Config {
        name,
        attach: args.attach,
        procs: args.procs,
        threads: args.threads,
        seconds: args.seconds,
        batch: args.batch,
        rate: args.rate,
        capacity,
        shards: args.shards,
        producers: args.producers,
        pin: args.pin || sweep.is_some(),
        sweep,
    };
    if !config.attach {
        // The daemon would refuse them; say so before starting anything.
        nickpool_server::daemon::ServeOptions {
            capacity,
            shards: config.shards,
            producers: config.producers,
            ..nickpool_server::daemon::ServeOptions::new(&config.name)
        }
        .geometry()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    Ok(config)
}

fn this_program() -> Result<std::path::PathBuf, CliError> {
    std::env::current_exe()
        .map_err(|e| CliError::Runtime(format!("cannot find this program to re-run it: {e}")))
}

/// One worker process and its pipes.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// What a worker reported.
pub struct WorkerResult {
    pub pid: u32,
    pub elapsed: Duration,
    pub pulls: u64,
    pub calls: u64,
    pub timeouts: u64,
    pub overhead_ticks: u64,
    /// Calls per timed group, and one group in `sample_groups` timed.
    pub group: u32,
    pub sample_groups: u32,
    pub histogram: Histogram<u64>,
}

impl Worker {
    /// Starts a worker; with `cpus`, its thread `i` runs on `cpus[i]` only.
    fn spawn(config: &Config, cpus: Option<&[usize]>) -> Result<Worker, CliError> {
        let mut command = Command::new(this_program()?);
        command
            .arg("bench-worker")
            .args(["--name", &config.name])
            .args(["--threads", &config.threads.to_string()])
            .args(["--batch", &config.batch.to_string()])
            .args(["--rate", &config.rate.to_string()]);
        if let Some(cpus) = cpus {
            let list: Vec<String> = cpus.iter().map(usize::to_string).collect();
            command.args(["--cpus", &list.join(",")]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| CliError::Runtime(format!("cannot start a bench worker: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    fn read_line(&mut self) -> Result<String, CliError> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Ok(line.trim_end().to_owned()),
            _ => Err(CliError::Runtime(format!(
                "bench worker pid {} stopped early (see its message above)",
                self.child.id()
            ))),
        }
    }

    fn send(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
        }
    }

    fn result(&mut self) -> Result<WorkerResult, CliError> {
        let line = self.read_line()?;
        let bad = |what: &str| CliError::Runtime(format!("bench worker sent {what}: {line}"));
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|_| bad("no JSON"))?;
        let num = |key: &str| v[key].as_u64().ok_or_else(|| bad(key));
        if let Some(failure) = v["failure"].as_str() {
            return Err(CliError::Runtime(format!(
                "bench worker pid {} failed: {failure}",
                num("pid")?
            )));
        }
        let mut histogram = measure::histogram();
        for bucket in v["histogram"].as_array().ok_or_else(|| bad("histogram"))? {
            let (Some(value), Some(count)) = (bucket[0].as_u64(), bucket[1].as_u64()) else {
                return Err(bad("a bad histogram bucket"));
            };
            histogram.saturating_record_n(value, count);
        }
        let _ = self.child.wait();
        Ok(WorkerResult {
            pid: num("pid")? as u32,
            elapsed: Duration::from_nanos(num("elapsed_ns")?),
            pulls: num("pulls")?,
            calls: num("calls")?,
            timeouts: num("timeouts")?,
            overhead_ticks: num("overhead_ticks")?,
            group: num("group")? as u32,
            sample_groups: num("sample_groups")? as u32,
            histogram,
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The daemon's CPU seconds and RSS now.
fn daemon_usage(pid: u32) -> (Option<f64>, Option<u64>) {
    (procfs::cpu_seconds(pid), procfs::rss_kib(pid))
}

pub fn run(args: BenchArgs) -> Result<(), CliError> {
    let config = config(&args)?;
    let clock = TscClock::calibrate();
    if let Some(counts) = config.sweep.clone() {
        let mut rows = Vec::new();
        for procs in counts {
            let row = Config {
                procs,
                ..config.clone()
            };
            rows.push(measure_once(row, clock, false)?);
        }
        let text = if args.json {
            format!("{}\n", report::sweep_json(&rows))
        } else {
            report::sweep_text(&rows)
        };
        return super::write_result(std::io::stdout().write_all(text.as_bytes()));
    }
    let run = measure_once(config, clock, args.compare)?;
    let text = if args.json {
        format!("{}\n", run.json())
    } else {
        run.text()
    };
    super::write_result(std::io::stdout().write_all(text.as_bytes()))?;
    if let Some(path) = &args.svg {
        chart::write_svg(path, &run).map_err(|e| {
            CliError::Runtime(format!("cannot write the chart {}: {e}", path.display()))
        })?;
        eprintln!("nickpool bench: wrote {}", path.display());
    }
    Ok(())
}

/// One bench run: its own daemon (unless attached), `config.procs` worker
/// processes for `config.seconds`, the figures.
fn measure_once(config: Config, clock: TscClock, compare: bool) -> Result<report::Run, CliError> {
    let attached = if config.attach {
        Some(Client::open(Some(&config.name)).map_err(|e| {
            CliError::Runtime(format!(
                "{e}\n(--attach uses a running daemon; drop it to let the bench start its own)"
            ))
        })?)
    } else {
        None
    };
    let place = placement::plan(&config, attached.as_ref());
    let (own, client) = match attached {
        Some(client) => (None, client),
        None => {
            let mut more = Vec::new();
            if let Some(shards) = config.shards {
                more.extend(["--shards".to_owned(), shards.to_string()]);
            }
            if let Some(producers) = config.producers {
                more.extend(["--producers".to_owned(), producers.to_string()]);
            }
            let (daemon, client) = DaemonProcess::start_with(
                &this_program()?,
                &config.name,
                config.capacity,
                &more,
                place.daemon.as_deref(),
            )
            .map_err(CliError::Runtime)?;
            (Some(daemon), client)
        }
    };
    let stats = |client: &Client| {
        client
            .stats()
            .map_err(|e| CliError::Runtime(format!("cannot read the daemon's statistics: {e}")))
    };
    let mut workers = (0..config.procs as usize)
        .map(|i| Worker::spawn(&config, place.clients.as_ref().map(|c| c[i].as_slice())))
        .collect::<Result<Vec<_>, _>>()?;
    for worker in &mut workers {
        let line = worker.read_line()?;
        if line != "ready" {
            return Err(CliError::Runtime(format!(
                "bench worker said {line:?} instead of ready"
            )));
        }
    }
    let before = stats(&client)?;
    let daemon_pid = before.daemon_pid;
    let (cpu_before, rss_before) = daemon_usage(daemon_pid);
    eprintln!(
        "nickpool bench: {} × {} on {} for {} s ({}) …",
        plural(config.procs, "process", "processes"),
        plural(config.threads, "thread", "threads"),
        config.name,
        config.seconds,
        place.note
    );
    for worker in &mut workers {
        worker.send("go");
    }
    let start = Instant::now();
    let mut last = before.clone();
    let mut dry_seconds = 0;
    for second in 1..=config.seconds {
        let wake = start + Duration::from_secs(second);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        let now = stats(&client)?;
        eprintln!(
            "{second:>4} s  {:>8.2} M pulls/s  fill {:>5.1}%  empty events +{}",
            now.consumed.saturating_sub(last.consumed) as f64 / 1e6,
            now.fill as f64 * 100.0 / now.capacity.max(1) as f64,
            now.empty_events.saturating_sub(last.empty_events)
        );
        if now.fill * 20 < now.capacity {
            dry_seconds += 1;
        }
        last = now;
    }
    for worker in &mut workers {
        worker.send("stop");
    }
    let wall = start.elapsed();
    let (cpu_after, rss_after) = daemon_usage(daemon_pid);
    let results = workers
        .iter_mut()
        .map(Worker::result)
        .collect::<Result<Vec<_>, _>>()?;
    drop(workers);
    let after = stats(&client)?;
    let comparison = compare.then(compare::run);
    drop(client);
    drop(own);

    let own_daemon = !config.attach;
    Ok(report::Run::new(
        config,
        clock,
        results,
        report::Daemon {
            pid: daemon_pid,
            own: own_daemon,
            cpu_seconds: cpu_before.zip(cpu_after).map(|(b, a)| a - b),
            wall,
            rss_before_kib: rss_before,
            rss_after_kib: rss_after,
            empty_events: after.empty_events.saturating_sub(before.empty_events),
            dry_seconds,
            shards: after.shards,
            producers: after.producers,
        },
        place.note,
        comparison,
    ))
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
