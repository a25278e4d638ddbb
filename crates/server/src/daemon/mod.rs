//! The daemon behind `nickpool serve`: owns the segment, keeps the ring full
//! ahead of demand, sleeps when it is full, beats its heartbeat, reloads the
//! dictionary on SIGHUP and stops cleanly on SIGTERM/SIGINT.
//!
//! Shutdown and reload are requested through a [`Control`], which signal
//! handlers set; tests drive it directly. With `--metrics ADDR` a thread
//! answers Prometheus scrapes (`metrics.rs`).

mod metrics;
mod producer;

pub use producer::{NicknameSource, RandomSource};

use crate::generator::{DictSource, Seed};
use crate::metrics::RefillTimes;
use crate::segment::{CreateOptions, OwnedSegment, SegmentError};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the daemon updates its heartbeat, and the longest it sleeps.
pub const HEARTBEAT: Duration = Duration::from_millis(100);

/// Everything `nickpool serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub name: String,
    pub capacity: u32,
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
    /// the embedded dictionary, a seed from the OS, all styles by weight,
    /// mode 0600, no group, no metrics.
    pub fn new(name: impl Into<String>) -> ServeOptions {
        ServeOptions {
            name: name.into(),
            capacity: crate::segment::DEFAULT_CAPACITY,
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
    serve_with(options, Box::new(source), 0, control)
}

/// Runs the daemon with any nickname source (random or unique mode).
/// `unique_total` is the size of a unique space (0 when not unique).
pub fn serve_with(
    options: &ServeOptions,
    mut source: Box<dyn NicknameSource>,
    unique_total: u64,
    control: &Control,
) -> Result<(), ServeError> {
    // Listen first: a bad --metrics address fails before the segment exists.
    let endpoint = options.metrics.map(metrics::Endpoint::bind).transpose()?;
    let create = CreateOptions {
        capacity: options.capacity,
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
        "serving {}: capacity {} ({} KiB), dictionary {}, style {}, mode {:o}",
        options.name,
        options.capacity,
        crate::segment::segment_size(options.capacity) / 1024,
        create.dictionary,
        create.style,
        options.mode
    ));
    let refill = RefillTimes::new();
    let unique_styles = source.unique_styles();
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
        producer::run(
            &segment,
            source.as_mut(),
            options.test_tag,
            control,
            &refill,
        );
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
