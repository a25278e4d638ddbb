//! The daemon behind `nickpool serve`: owns the segment, keeps its shards
//! full ahead of demand, sleeps when they are full, beats its heartbeat,
//! reloads the dictionary on SIGHUP and stops cleanly on SIGTERM/SIGINT.
//!
//! Producer threads (`--producers`) each fill a fixed set of shards
//! (`producer.rs`): shard `s` belongs to producer `s % producers`. Each
//! thread draws from a source of its own, split from the one the daemon is
//! given ([`NicknameSource::split`]): in random mode one ChaCha stream per
//! shard, in unique mode counter blocks from the shared reserver. The main
//! thread beats the heartbeat, publishes gauges and carries out reloads.
//!
//! Shutdown and reload are requested through a [`Control`], which signal
//! handlers set; tests drive it directly. With `--metrics ADDR` a thread
//! answers Prometheus scrapes (`metrics.rs`).

mod metrics;
mod producer;

pub use producer::{NicknameSource, RandomSource};

use crate::generator::{DictSource, Seed};
use crate::metrics::RefillTimes;
use crate::ring::CacheLine;
use crate::segment::{self, CreateOptions, Geometry, OwnedSegment, SegmentError};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the daemon updates its heartbeat, and the longest it sleeps.
pub const HEARTBEAT: Duration = Duration::from_millis(100);

/// Everything `nickpool serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub name: String,
    /// Slots of all shards together.
    pub capacity: u32,
    /// Shards; `None`: [`default_shards`].
    pub shards: Option<u32>,
    /// Producer threads; `None`: [`default_producers`].
    pub producers: Option<u32>,
    pub source: DictSource,
    pub seed: Seed,
    /// Only this style (by name); `None` draws from all by weight.
    pub style: Option<String>,
    /// Segment file mode (0o600 by default).
    pub mode: u32,
    /// Group to give the segment to.
    pub group: Option<u32>,
    /// Test aid: append `#<ring position>` to every nickname so a checker can
    /// prove no nickname is delivered twice or torn.
    pub test_tag: bool,
    /// Serve Prometheus metrics over HTTP at this address, under `/metrics`.
    pub metrics: Option<SocketAddr>,
}

impl ServeOptions {
    /// `nickpool serve`'s defaults for segment `name`: the default capacity,
    /// shards and producers from the CPU count, the embedded dictionary, a
    /// seed from the OS, all styles by weight, mode 0600, no group, no
    /// metrics.
    pub fn new(name: impl Into<String>) -> ServeOptions {
        ServeOptions {
            name: name.into(),
            capacity: crate::segment::DEFAULT_CAPACITY,
            shards: None,
            producers: None,
            source: DictSource::default(),
            seed: Seed::Os,
            style: None,
            mode: 0o600,
            group: None,
            test_tag: false,
            metrics: None,
        }
    }
}

impl ServeOptions {
    /// The shards, slots per shard and producer threads these options ask
    /// for: `--capacity` divided among `--shards` (or [`default_shards`]),
    /// filled by `--producers` threads (or [`default_producers`]).
    pub fn geometry(&self) -> Result<Geometry, ServeError> {
        let shards = self.shards.unwrap_or_else(|| default_shards(self.capacity));
        let producers = self.producers.unwrap_or_else(|| default_producers(shards));
        let per_shard = self.capacity.checked_div(shards).unwrap_or(0);
        let geometry = Geometry::new(shards, per_shard, producers).map_err(|why| {
            ServeError::Config(format!(
                "--capacity {} --shards {shards} --producers {producers}: {why}",
                self.capacity
            ))
        })?;
        if geometry.capacity != self.capacity {
            return Err(ServeError::Config(format!(
                "--capacity {} is not a power of two from {} to {}",
                self.capacity,
                segment::MIN_CAPACITY,
                segment::MAX_CAPACITY
            )));
        }
        Ok(geometry)
    }
}

/// CPUs online on this host (not only those this process may run on:
/// clients run everywhere).
pub fn online_cpus() -> u32 {
    // SAFETY: sysconf only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(1).max(1)
}

/// Shards when `--shards` is not given: the online CPUs rounded up to a
/// power of two, at most [`segment::MAX_SHARDS`], and no more than leave
/// each shard [`segment::MIN_SHARD_CAPACITY`] of the `capacity` slots.
pub fn default_shards(capacity: u32) -> u32 {
    let mut shards = online_cpus().next_power_of_two().min(segment::MAX_SHARDS);
    while shards > 1 && capacity / shards < segment::MIN_SHARD_CAPACITY {
        shards /= 2;
    }
    shards
}

/// Producer threads when `--producers` is not given: one per four online
/// CPUs, at least one, at most one per shard.
pub fn default_producers(shards: u32) -> u32 {
    (online_cpus() / 4).clamp(1, shards.max(1))
}

/// Requests to a running daemon; signal handlers set the flags.
#[derive(Debug, Default)]
pub struct Control {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

impl Control {
    pub fn new() -> Arc<Control> {
        Arc::new(Control::default())
    }

    /// Routes SIGTERM and SIGINT to [`Control::request_stop`] and SIGHUP to
    /// [`Control::request_reload`].
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        signal_hook::flag::register(SIGTERM, Arc::clone(&self.stop))?;
        signal_hook::flag::register(SIGINT, Arc::clone(&self.stop))?;
        signal_hook::flag::register(SIGHUP, Arc::clone(&self.reload))?;
        Ok(())
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn request_reload(&self) {
        self.reload.store(true, Ordering::SeqCst);
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::Relaxed)
    }
}

/// Why the daemon could not run.
#[derive(Debug)]
pub enum ServeError {
    /// The dictionary (or style, or blocklist) is invalid.
    Config(String),
    /// The segment could not be created.
    Segment(SegmentError),
    /// The metrics endpoint could not listen.
    Metrics(String),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Config(m) | ServeError::Metrics(m) => f.write_str(m),
            ServeError::Segment(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServeError {}

/// Writes one log line to stderr.
pub fn log(message: impl fmt::Display) {
    eprintln!("nickpool[{}]: {message}", std::process::id());
}

/// Runs the daemon until `control` asks it to stop. Logs to stderr.
pub fn serve(options: &ServeOptions, control: &Control) -> Result<(), ServeError> {
    let source = RandomSource::new(options)?;
    serve_with(options, source, 0, control)
}

/// Runs the daemon with any nickname source (random or unique mode), split
/// once per producer thread. `unique_total` is the size of a unique space
/// (0 when not unique).
pub fn serve_with<S: NicknameSource>(
    options: &ServeOptions,
    source: S,
    unique_total: u64,
    control: &Control,
) -> Result<(), ServeError> {
    let geometry = options.geometry()?;
    // Listen first: a bad --metrics address fails before the segment exists.
    let endpoint = options.metrics.map(metrics::Endpoint::bind).transpose()?;
    let create = CreateOptions {
        geometry,
        mode: options.mode,
        group: options.group,
        dictionary: options.source.describe(),
        style: match (&options.style, unique_total > 0) {
            (Some(style), false) => style.clone(),
            (None, false) => "all (weighted)".into(),
            (Some(style), true) => format!("{style} (unique permutation)"),
            (None, true) => "all (weighted; unique, a permutation per style)".into(),
        },
        unique_total,
    };
    let segment = OwnedSegment::create(&options.name, &create).map_err(ServeError::Segment)?;
    for note in &segment.notes {
        log(note);
    }
    log(format_args!(
        "serving {}: capacity {} ({} KiB) in {} shards of {}, {} producer thread{}, dictionary {}, style {}, mode {:o}",
        options.name,
        geometry.capacity,
        geometry.size() / 1024,
        geometry.shards,
        geometry.shard_capacity,
        geometry.producers,
        if geometry.producers == 1 { "" } else { "s" },
        create.dictionary,
        create.style,
        options.mode
    ));
    let unique_styles = source.unique_styles();
    let sources: Vec<Mutex<S>> = (0..geometry.producers as usize)
        .map(|p| Mutex::new(source.split(&producer::shards_of(geometry, p))))
        .collect();
    drop(source);
    let refill: Vec<CacheLine<RefillTimes>> = (0..geometry.producers)
        .map(|_| CacheLine(RefillTimes::new()))
        .collect();
    let team = producer::Team::new(&segment, control, options.test_tag);
    std::thread::scope(|scope| {
        let _running = match &endpoint {
            Some(endpoint) => {
                let running = endpoint
                    .spawn(scope, segment.mapping(), &refill, unique_styles.as_deref())
                    .map_err(|e| {
                        ServeError::Metrics(format!("cannot start the metrics thread: {e}"))
                    })?;
                log(format_args!(
                    "metrics at http://{}/metrics",
                    endpoint.addr()
                ));
                Some(running)
            }
            None => None,
        };
        for (index, (source, refill)) in sources.iter().zip(&refill).enumerate() {
            let team = &team;
            std::thread::Builder::new()
                .name(format!("producer-{index}"))
                .spawn_scoped(scope, move || producer::run(team, index, source, refill))
                .map_err(|e| {
                    control.request_stop();
                    ServeError::Config(format!("cannot start producer thread {index}: {e}"))
                })?;
        }
        producer::control_loop(&team, &sources);
        Ok(())
    })?;
    if segment.shut_down() {
        log(format_args!("stopped; removed {}", options.name));
    } else {
        log(format_args!(
            "stopped; {} was already removed or belongs to another daemon, left as is",
            options.name
        ));
    }
    Ok(())
}
