//! The Rust client: open a daemon's segment by name and pull nicknames.
//!
//! A [`Client`] is `Send + Sync`; one handle may be used from many threads.
//! The hot path is one [`Ring::pull_with`] on the current mapping: a few
//! atomic loads, one cache-line copy and one compare-exchange. Everything
//! else (waiting, liveness, reattaching after a daemon restart) happens only
//! when the ring is empty.

use crate::futex;
use crate::ring::{Pull, Ring};
use crate::segment::{self, Mapping, STATE_LIVE, SegmentError};
use arc_swap::ArcSwap;
use std::fmt;
use std::sync::atomic::{Ordering, fence};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an empty pull spins (re-trying the ring) before it sleeps.
const SPIN_ROUNDS: u32 = 200;
/// Longest single sleep; liveness is re-checked after each.
const SLEEP_SLICE: Duration = Duration::from_millis(50);
/// While no daemon serves the name, how long a waiting pull sleeps between
/// looks for a new one (each look opens the name: tens of microseconds).
const RESTART_POLL: Duration = Duration::from_millis(20);

/// Why a client call failed. [`Error::status`] gives the C status number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No nickname became available within the timeout.
    Empty,
    /// The buffer cannot hold the next nickname, which needs `needed`
    /// bytes; nothing was consumed.
    BufferTooSmall {
        needed: usize,
    },
    /// No daemon serves this name (at open).
    NotRunning(String),
    /// The segment is of another layout version, or corrupt.
    Incompatible(String),
    PermissionDenied(String),
    /// The daemon this handle was attached to is gone and none has replaced
    /// it yet; the handle reattaches by itself once one starts.
    DaemonGone(String),
    /// Unique mode: every nickname of the space has been handed out.
    Exhausted,
    InvalidArgument(String),
    Io(String),
}

impl Error {
    /// The `nickpool_status` number of this error.
    pub fn status(&self) -> u32 {
        match self {
            Error::Empty => 1,
            Error::BufferTooSmall { .. } => 2,
            Error::NotRunning(_) => 3,
            Error::Incompatible(_) => 4,
            Error::PermissionDenied(_) => 5,
            Error::DaemonGone(_) => 6,
            Error::Exhausted => 7,
            Error::InvalidArgument(_) => 8,
            Error::Io(_) => 9,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => f.write_str(
                "no nickname became available within the timeout; the daemon is not keeping up or is stopped",
            ),
            Error::BufferTooSmall { needed } => write!(
                f,
                "the buffer is too small for the next nickname ({needed} bytes); nothing was consumed"
            ),
            Error::Exhausted => f.write_str(
                "every nickname of the unique space has been handed out; extend the dictionary or reset the state",
            ),
            Error::NotRunning(m)
            | Error::Incompatible(m)
            | Error::PermissionDenied(m)
            | Error::DaemonGone(m)
            | Error::InvalidArgument(m)
            | Error::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<SegmentError> for Error {
    fn from(e: SegmentError) -> Error {
        let m = e.to_string();
        match e {
            SegmentError::NotRunning(_) => Error::NotRunning(m),
            SegmentError::Incompatible(_) => Error::Incompatible(m),
            SegmentError::PermissionDenied(_) => Error::PermissionDenied(m),
            SegmentError::InvalidName(_) => Error::InvalidArgument(m),
            SegmentError::AlreadyRunning { .. } | SegmentError::Io(_) => Error::Io(m),
        }
    }
}

/// The numbers `nickpool stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub name: String,
    pub capacity: u64,
    /// Nicknames waiting in the ring.
    pub fill: u64,
    pub produced: u64,
    pub consumed: u64,
    pub empty_events: u64,
    pub consumer_waits: u64,
    pub consumer_wakeups: u64,
    pub producer_sleeps: u64,
    pub producer_wakeups: u64,
    pub reattachments: u64,
    pub reloads: u64,
    pub reload_failures: u64,
    /// Consumers asleep waiting for nicknames right now.
    pub waiters: u64,
    pub daemon_pid: u32,
    pub started_unix_ms: u64,
    pub uptime_ms: u64,
    pub heartbeat_age_ms: u64,
    pub unique: bool,
    pub unique_used: u64,
    pub unique_total: u64,
    pub dictionary: String,
    pub style: String,
}

impl Stats {
    /// Unique mode: nicknames of the space not yet handed out (0 when not
    /// unique).
    pub fn unique_remaining(&self) -> u64 {
        self.unique_total.saturating_sub(self.unique_used)
    }
}

/// A handle on a daemon's segment.
pub struct Client {
    name: String,
    current: ArcSwap<Mapping>,
    reattach_lock: Mutex<()>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("name", &self.name).finish()
    }
}

/// Opens `name` and checks that a live daemon serves it.
fn attach(name: &str) -> Result<Mapping, Error> {
    let mapping = Mapping::open(name)?;
    if mapping.header().state.load(Ordering::Acquire) != STATE_LIVE || !mapping.daemon_alive() {
        return Err(Error::NotRunning(format!(
            "no live daemon serves {name} ({} is left over from a stopped daemon); start one with `nickpool serve --name {name}`",
            segment::shm_path(name).display()
        )));
    }
    Ok(mapping)
}

impl Client {
    /// Opens the segment `name`; `None` means `$NICKPOOL_NAME`, else
    /// `/nickpool`.
    pub fn open(name: Option<&str>) -> Result<Client, Error> {
        let name = name.map_or_else(segment::default_name, str::to_owned);
        segment::validate_name(&name)?;
        let mapping = attach(&name)?;
        Ok(Client {
            name,
            current: ArcSwap::from_pointee(mapping),
            reattach_lock: Mutex::new(()),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Pulls one nickname into `buf` (UTF-8, no terminator) and returns its
    /// length. `timeout`: `Some(Duration::ZERO)` never waits, `None` waits
    /// without limit. It bounds both the wait for the daemon to publish and,
    /// while no daemon serves the name, the wait for a new one: the handle
    /// reattaches to it and the call pulls from it (so `None` rides through
    /// a restart); [`Error::DaemonGone`] only once the timeout has run out.
    pub fn next(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize, Error> {
        let mut len = 0;
        self.pull_with(1, timeout, |_, nickname| {
            let Some(dst) = buf.get_mut(..nickname.len()) else {
                return false;
            };
            dst.copy_from_slice(nickname);
            len = nickname.len();
            true
        })?;
        Ok(len)
    }

    /// Pulls one nickname as a `String`.
    pub fn next_string(&self, timeout: Option<Duration>) -> Result<String, Error> {
        let mut buf = [0u8; crate::MAX_NICKNAME_LEN];
        let len = self.next(&mut buf, timeout)?;
        Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
    }

    /// Claims up to `max` nicknames in one atomic step and writes them into
    /// `buf` NUL-terminated, back to back; claims only what fits. Returns
    /// how many were written.
    pub fn next_batch(
        &self,
        buf: &mut [u8],
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        if max == 0 {
            return Err(Error::InvalidArgument(
                "max_count must be at least 1".into(),
            ));
        }
        let mut used = 0;
        self.pull_with(max, timeout, |i, nickname| {
            if i == 0 {
                used = 0; // A retried attempt starts over.
            }
            let end = used + nickname.len();
            if end >= buf.len() {
                return false;
            }
            buf[used..end].copy_from_slice(nickname);
            buf[end] = 0;
            used = end + 1;
            true
        })
        .map_err(|e| match e {
            // The caller's view: the first nickname plus its NUL did not fit.
            Error::BufferTooSmall { needed } => Error::BufferTooSmall { needed: needed + 1 },
            e => e,
        })
    }

    /// The core pull: claims up to `max` nicknames, handing each to `sink`
    /// (see [`Ring::pull_with`] for the retry contract), waiting up to
    /// `timeout` for the first. Returns how many were claimed.
    pub(crate) fn pull_with(
        &self,
        max: usize,
        timeout: Option<Duration>,
        mut sink: impl FnMut(usize, &[u8]) -> bool,
    ) -> Result<usize, Error> {
        {
            let mapping = self.current.load();
            let ring = mapping.ring();
            if let Some(result) = finish(ring, ring.pull_with(max, &mut sink)) {
                return result;
            }
        }
        self.pull_slow(max, timeout, &mut sink)
    }

    #[cold]
    fn pull_slow(
        &self,
        max: usize,
        timeout: Option<Duration>,
        sink: &mut dyn FnMut(usize, &[u8]) -> bool,
    ) -> Result<usize, Error> {
        // A deadline past what `Instant` can hold (`Duration::MAX`) is
        // no deadline: wait without limit rather than overflow.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut counted = false;
        loop {
            let mapping = self.current.load_full();
            let ring = mapping.ring();
            for _ in 0..SPIN_ROUNDS {
                if let Some(result) = finish(ring, ring.pull_with(max, &mut *sink)) {
                    return result;
                }
                std::hint::spin_loop();
            }
            let counters = &ring.header().counters;
            if !counted {
                counters.empty_events.fetch_add(1, Ordering::Relaxed);
                counted = true;
            }
            if mapping.header().state.load(Ordering::Acquire) != STATE_LIVE
                || !mapping.daemon_alive()
            {
                // One more look: what the old daemon left is still good.
                if let Some(result) = finish(ring, ring.pull_with(max, &mut *sink)) {
                    return result;
                }
                self.wait_for_daemon(&mapping, timeout, deadline)?;
                continue;
            }
            if mapping.header().flags.load(Ordering::Relaxed) & segment::FLAG_EXHAUSTED != 0 {
                return Err(Error::Exhausted);
            }
            let remaining = match deadline {
                None => SLEEP_SLICE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::Empty);
                    }
                    left.min(SLEEP_SLICE)
                }
            };
            let sleep = &ring.header().sleep;
            // The producer may be asleep if a wake-up was lost (a consumer
            // killed between its claim and the wake); nudge it.
            wake_producer(ring);
            sleep.consumer_sleepers.fetch_add(1, Ordering::Relaxed);
            // The futex word first, then the request: a wake-up that
            // answers our request bumps the word after this load, so the
            // wait below returns at once even if another consumer took the
            // nicknames in between. (Read after the request, the bump could
            // already be in `seen`, and we would sleep a whole slice.)
            let seen = sleep.consumer_futex.load(Ordering::SeqCst);
            sleep.consumer_wake_wanted.store(1, Ordering::SeqCst);
            // SYNC POINT (consumer wake, consumer side): pairs with the
            // SeqCst fence in `Producer::take_wake_request`. Either the
            // producer sees our request (and bumps the futex word after
            // taking it), or we see its data below.
            fence(Ordering::SeqCst);
            let result = finish(ring, ring.pull_with(max, &mut *sink));
            if result.is_none() {
                counters.consumer_waits.fetch_add(1, Ordering::Relaxed);
                futex::wait(&sleep.consumer_futex, seen, remaining);
            }
            // Saturating: the producer may have reset a count left too high
            // by a consumer killed while asleep.
            let _ = sleep
                .consumer_sleepers
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if let Some(result) = result {
                return result;
            }
        }
    }

    /// The daemon of `old` is gone: waits until a daemon serves the name
    /// again and the handle has reattached to it (`Ok`: pull again), or
    /// until `deadline` (`DaemonGone`; `None` waits without limit, a
    /// deadline already past looks once). Sleeps [`RESTART_POLL`] between
    /// looks, so a caller waiting through a restart costs next to no CPU.
    /// Any error but "not running" (the name now holds another user's or
    /// an incompatible segment) ends the wait at once.
    #[cold]
    fn wait_for_daemon(
        &self,
        old: &Arc<Mapping>,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        loop {
            if self.reattach(old)? {
                return Ok(());
            }
            // A failed liveness test (the lock query) may have sent us
            // here while the daemon lives on.
            if old.header().state.load(Ordering::Acquire) == STATE_LIVE && old.daemon_alive() {
                return Ok(());
            }
            let slice = match deadline {
                None => RESTART_POLL,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(self.daemon_gone(old, timeout));
                    }
                    left.min(RESTART_POLL)
                }
            };
            std::thread::sleep(slice);
        }
    }

    /// The error for a daemon that is gone with no successor in `timeout`.
    fn daemon_gone(&self, old: &Mapping, timeout: Option<Duration>) -> Error {
        let name = &self.name;
        let pid = old.header().daemon_pid.load(Ordering::Relaxed);
        let waited = match timeout {
            Some(t) if !t.is_zero() => format!(" within {} ms", t.as_millis()),
            _ => String::new(),
        };
        Error::DaemonGone(format!(
            "the daemon serving {name} (pid {pid}) is gone and no new daemon started on the name{waited}; \
             the handle reattaches by itself when `nickpool serve --name {name}` starts"
        ))
    }

    /// Replaces the mapping with a new daemon's, if one runs under our name.
    /// Returns whether the handle now points at a live daemon other than
    /// `old`'s.
    fn reattach(&self, old: &Arc<Mapping>) -> Result<bool, Error> {
        let _guard = self
            .reattach_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !Arc::ptr_eq(&self.current.load(), old) {
            return Ok(true); // Another thread already reattached.
        }
        match attach(&self.name) {
            // Only a segment of the same user as the one this handle opened
            // is the daemon restarted: another user's file at the name is
            // an impostor (or someone else's daemon), and following it would
            // hand its nicknames to this program.
            Ok(new) if new.owner() != old.owner() => Err(Error::PermissionDenied(format!(
                "{} now belongs to user id {}, not to user id {} as when this handle opened it; \
                 the handle does not follow it. Remove the file if it is not yours, or open a new handle",
                self.name,
                new.owner(),
                old.owner()
            ))),
            Ok(new) if new.instance_id() != old.instance_id() => {
                new.ring()
                    .header()
                    .counters
                    .reattachments
                    .fetch_add(1, Ordering::Relaxed);
                self.current.store(Arc::new(new));
                Ok(true)
            }
            Ok(_) | Err(Error::NotRunning(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The daemon's statistics. Reattaches first if the daemon was replaced.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut mapping = self.current.load_full();
        if mapping.header().state.load(Ordering::Acquire) != STATE_LIVE || !mapping.daemon_alive() {
            if !self.reattach(&mapping)? {
                return Err(self.daemon_gone(&mapping, None));
            }
            mapping = self.current.load_full();
        }
        Ok(read_stats(&mapping))
    }
}

/// Turns a ring outcome into a call result; `None` means empty (keep trying).
#[inline]
fn finish(ring: Ring<'_>, pull: Pull) -> Option<Result<usize, Error>> {
    match pull {
        Pull::Claimed { start, count } => {
            if ring.crosses_wake_mark(start, count) {
                wake_producer(ring);
            }
            Some(Ok(count))
        }
        Pull::Empty => None,
        Pull::Refused { needed } => Some(Err(Error::BufferTooSmall { needed })),
        Pull::Corrupt => Some(Err(Error::Incompatible(
            "a slot of the segment holds an impossible length: the segment is corrupt; restart the daemon".into(),
        ))),
    }
}

/// Wakes the producer if it sleeps on a full ring.
#[inline]
fn wake_producer(ring: Ring<'_>) {
    let sleep = &ring.header().sleep;
    // SYNC POINT (producer wake, consumer side): SeqCst, after our SeqCst
    // claim; pairs with `Producer::prepare_sleep`.
    if sleep.producer_sleeping.load(Ordering::SeqCst) != 0
        && sleep.producer_sleeping.swap(0, Ordering::SeqCst) != 0
    {
        sleep.producer_futex.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(&sleep.producer_futex);
        ring.header()
            .counters
            .producer_wakeups
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads a mapping's statistics (for the daemon's metrics endpoint).
#[doc(hidden)]
pub fn read_stats(mapping: &Mapping) -> Stats {
    let h = mapping.header();
    let ring = mapping.ring();
    let c = &ring.header().counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let now_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let started = load(&h.started_unix_ms);
    let flags = h.flags.load(Ordering::Relaxed);
    Stats {
        name: mapping.name().to_owned(),
        capacity: ring.capacity(),
        fill: ring.len(),
        produced: ring.tail(),
        consumed: ring.head(),
        empty_events: load(&c.empty_events),
        consumer_waits: load(&c.consumer_waits),
        consumer_wakeups: load(&c.consumer_wakeups),
        producer_sleeps: load(&c.producer_sleeps),
        producer_wakeups: load(&c.producer_wakeups),
        reattachments: load(&c.reattachments),
        reloads: load(&c.reloads),
        reload_failures: load(&c.reload_failures),
        waiters: u64::from(
            ring.header()
                .sleep
                .consumer_sleepers
                .load(Ordering::Relaxed),
        ),
        daemon_pid: h.daemon_pid.load(Ordering::Relaxed),
        started_unix_ms: started,
        uptime_ms: now_unix_ms.saturating_sub(started),
        heartbeat_age_ms: segment::monotonic_ms().saturating_sub(load(&h.heartbeat_ms)),
        unique: flags & segment::FLAG_UNIQUE != 0,
        unique_used: load(&h.unique_used),
        unique_total: load(&h.unique_total),
        dictionary: segment::read_text(&h.dictionary),
        style: segment::read_text(&h.style),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn client_is_send_and_sync() {
        assert_send_sync::<Client>();
    }

    #[test]
    fn status_numbers_are_the_contract() {
        assert_eq!(Error::Empty.status(), 1);
        assert_eq!(Error::BufferTooSmall { needed: 3 }.status(), 2);
        assert_eq!(Error::NotRunning(String::new()).status(), 3);
        assert_eq!(Error::Incompatible(String::new()).status(), 4);
        assert_eq!(Error::PermissionDenied(String::new()).status(), 5);
        assert_eq!(Error::DaemonGone(String::new()).status(), 6);
        assert_eq!(Error::Exhausted.status(), 7);
        assert_eq!(Error::InvalidArgument(String::new()).status(), 8);
        assert_eq!(Error::Io(String::new()).status(), 9);
    }

    #[test]
    fn opening_a_missing_segment_says_not_running() {
        let err = Client::open(Some("/nickpool-test-never-started")).unwrap_err();
        assert_eq!(err.status(), 3, "{err}");
        assert!(err.to_string().contains("nickpool serve --name"));
    }

    #[test]
    fn bad_names_are_invalid_arguments() {
        for name in ["nickpool", "/a/b", "/", "/.x"] {
            assert_eq!(Client::open(Some(name)).unwrap_err().status(), 8, "{name}");
        }
    }
}
