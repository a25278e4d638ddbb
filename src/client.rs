//! The Rust client: open a daemon's segment by name and pull nicknames.
//!
//! A [`Client`] is `Send + Sync`; one handle may be used from many threads.
//!
//! The hot path touches no shared line most of the time. Each thread keeps,
//! per handle, a *run*: nicknames it claimed together in one atomic step
//! ([`Run`]). A call hands out the next nickname of the run from the
//! thread's own memory; only when the run is used up does it claim again:
//! one [`pull_any`] from the thread's home shard (chosen by the CPU it runs
//! on), or, if that is empty, from the other shards. Claims start at one
//! nickname and double each time a run is used up, to [`RUN_MAX`] + 1 (32),
//! so a thread that pulls once claims one. While a run is handed out, the
//! slots of the next claim are fetched ahead ([`Ahead`]). Everything else (waiting, liveness,
//! reattaching after a daemon restart) happens only when every shard is
//! empty.
//!
//! What a run holds is claimed: no one else can hand it out. A thread that
//! exits, or a process that exits or is killed, loses what its runs still
//! hold: at most [`RUN_MAX`] nicknames per thread and handle, and one more
//! if it dies inside a call. A child process never hands out its parent's
//! runs: a `pthread_atfork` handler marks every run copied into the child
//! as stale. The runs live on the heap (one allocation per thread that
//! pulls, freed when it exits), not in every thread's TLS block.

use crate::futex;
use crate::ring::{Ahead, Payload, Pull, RUN_MAX, Run, pull_any};
use crate::segment::{self, Mapping, STATE_LIVE, SegmentError};
use arc_swap::ArcSwap;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

/// How many sweeps of the shards an empty pull makes (re-trying) before it
/// sleeps: about 200 shard visits, at least 8 sweeps.
const SPIN_VISITS: usize = 200;
const MIN_SPIN_SWEEPS: usize = 8;
/// Longest single sleep; liveness is re-checked after each.
const SLEEP_SLICE: Duration = Duration::from_millis(50);
/// Runs a thread keeps, one per handle (the least recently used gives way,
/// and what it held is lost).
const RUNS_PER_THREAD: usize = 4;
/// Claims between two looks at which CPU the thread runs on (it also looks
/// again when its home shard was empty).
const CPU_RECHECK: u32 = 64;
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
    /// Slots of all shards.
    pub capacity: u64,
    /// Rings the segment is divided into, and the daemon's producer threads.
    pub shards: u64,
    pub producers: u64,
    /// Nicknames waiting in the shards (claimed runs not included).
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
    /// The serial of `current` (see [`next_serial`]): the key of the
    /// threads' runs. A run of an older serial (a daemon this handle has
    /// left) is dropped, not handed out.
    serial: AtomicU64,
    reattach_lock: Mutex<()>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("name", &self.name).finish()
    }
}

/// A number no other mapping of this process had: one per attach.
fn next_serial() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Bumped in a child process right after `fork`: runs filled under another
/// value were claimed by the parent, which still hands them out.
static FORK_GENERATION: AtomicU32 = AtomicU32::new(0);
/// Whether runs may be used: false if the fork handler could not be
/// registered (every call then claims exactly what it hands out).
static RUNS_ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Registers the fork handler, once per process.
fn watch_forks() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registers a handler that only bumps an atomic, which is
        // async-signal-safe and valid in a freshly forked child.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        RUNS_ENABLED.store(rc == 0, Ordering::Relaxed);
    });
}

/// One thread's run for one mapping.
struct LocalRun {
    /// The mapping serial the run was claimed from; 0 for none.
    serial: u64,
    run: Run,
    /// How many the next claim takes: 1, 2, 4, … up to `RUN_MAX + 1`.
    claim: usize,
    /// `Local::tick` at its last use, to find the least recently used.
    used_at: u64,
    /// Where the next claim most likely starts, fetched ahead while the run
    /// is handed out (after a claim that filled the run).
    ahead: Ahead,
}

impl LocalRun {
    const EMPTY: LocalRun = LocalRun {
        serial: 0,
        run: Run::new(),
        claim: 1,
        used_at: 0,
        ahead: Ahead::NONE,
    };

    /// Hands out the run's next nickname into `buf` (or says it does not
    /// fit, consuming nothing); `None` when the run is used up.
    #[inline(always)]
    fn hand_out(&mut self, buf: &mut [u8]) -> Option<Result<usize, Error>> {
        let nickname = self.run.peek()?;
        Some(match copy_into(buf, nickname) {
            Some(len) => {
                let handed = self.run.advance();
                self.ahead.prefetch(handed - 1);
                Ok(len)
            }
            None => Err(Error::BufferTooSmall {
                needed: nickname.len(),
            }),
        })
    }
}

/// What a claim got: how many nicknames, and where the next claim from the
/// same shard would start.
struct Claim {
    count: usize,
    ahead: Ahead,
}

/// What a thread keeps between calls: its runs, and where it runs.
struct Local {
    runs: Runs,
    home: Home,
}

/// A thread's runs, one per handle it used lately.
struct Runs {
    /// [`FORK_GENERATION`] when the runs were filled.
    generation: u32,
    /// The entry used last: the one the next call most likely wants.
    last: usize,
    entries: [LocalRun; RUNS_PER_THREAD],
    tick: u64,
}

/// Where a thread runs, to choose its home shard.
struct Home {
    /// The CPU the thread last ran on, and claims until it looks again.
    cpu: usize,
    claims_left: u32,
}

thread_local! {
    /// Made at a thread's first call, dropped when it exits.
    static LOCAL: RefCell<Option<Box<Local>>> = const { RefCell::new(None) };
}

impl Local {
    fn new() -> Box<Local> {
        Box::new(Local {
            runs: Runs {
                generation: FORK_GENERATION.load(Ordering::Relaxed),
                last: 0,
                entries: [LocalRun::EMPTY; RUNS_PER_THREAD],
                tick: 0,
            },
            home: Home {
                cpu: 0,
                claims_left: 0,
            },
        })
    }
}

impl Runs {
    /// Drops every run if this process was forked since they were filled:
    /// they belong to the parent.
    #[inline]
    fn check_fork(&mut self) {
        let generation = FORK_GENERATION.load(Ordering::Relaxed);
        if generation != self.generation {
            for entry in &mut self.entries {
                *entry = LocalRun::EMPTY;
            }
            self.generation = generation;
        }
    }

    /// The hot path: hands out the next nickname of mapping `serial`'s run
    /// into `buf` if it is the run used last and holds one (or says it does
    /// not fit, consuming nothing). `None` sends the call the long way.
    #[inline]
    fn take(&mut self, serial: u64, buf: &mut [u8]) -> Option<Result<usize, Error>> {
        if self.generation != FORK_GENERATION.load(Ordering::Relaxed) {
            return None;
        }
        debug_assert!(self.last < RUNS_PER_THREAD);
        let entry = &mut self.entries[self.last];
        if entry.serial != serial {
            return None;
        }
        entry.hand_out(buf)
    }

    /// The run of mapping `serial`, if this thread has one.
    #[inline]
    fn run_of(&mut self, serial: u64) -> Option<&mut LocalRun> {
        self.check_fork();
        let index = self.entries.iter().position(|e| e.serial == serial)?;
        self.tick += 1;
        self.last = index;
        self.entries[index].used_at = self.tick;
        Some(&mut self.entries[index])
    }

    /// The run of mapping `serial`, made if missing: in an entry whose run
    /// is empty, else in the least recently used one (whose nicknames are
    /// then lost).
    fn run_for(&mut self, serial: u64) -> &mut LocalRun {
        self.check_fork();
        let index = match self.entries.iter().position(|e| e.serial == serial) {
            Some(index) => index,
            None => {
                let index = self
                    .entries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| (!e.run.is_empty(), e.used_at))
                    .map_or(0, |(i, _)| i);
                self.entries[index] = LocalRun::EMPTY;
                self.entries[index].serial = serial;
                index
            }
        };
        self.tick += 1;
        self.last = index;
        self.entries[index].used_at = self.tick;
        &mut self.entries[index]
    }
}

impl Home {
    /// The home shard of this thread among `shards` (a power of two): the
    /// CPU it runs on, looked up again every [`CPU_RECHECK`] claims or when
    /// `moved` (its home was empty: it may have migrated).
    #[inline]
    fn shard(&mut self, shards: usize, moved: bool) -> usize {
        if moved || self.claims_left == 0 {
            // SAFETY: sched_getcpu has no preconditions.
            let cpu = unsafe { libc::sched_getcpu() };
            self.cpu = usize::try_from(cpu).unwrap_or(0);
            self.claims_left = CPU_RECHECK;
        }
        self.claims_left -= 1;
        self.cpu & (shards - 1)
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

/// Copies `nickname` into `buf` if it fits.
#[inline]
fn copy_into(buf: &mut [u8], nickname: &[u8]) -> Option<usize> {
    let dst = buf.get_mut(..nickname.len())?;
    dst.copy_from_slice(nickname);
    Some(nickname.len())
}

impl Client {
    /// Opens the segment `name`; `None` means `$NICKPOOL_NAME`, else
    /// `/nickpool`.
    pub fn open(name: Option<&str>) -> Result<Client, Error> {
        let name = name.map_or_else(segment::default_name, str::to_owned);
        segment::validate_name(&name)?;
        let mapping = attach(&name)?;
        watch_forks();
        Ok(Client {
            name,
            current: ArcSwap::from_pointee(mapping),
            serial: AtomicU64::new(next_serial()),
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
    /// If `buf` is too small, returns [`Error::BufferTooSmall`] and
    /// consumes nothing.
    #[inline]
    pub fn next(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize, Error> {
        let serial = self.serial.load(Ordering::Relaxed);
        // The common case: the next nickname of this thread's run.
        let hit = LOCAL.try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            local.as_deref_mut()?.runs.take(serial, buf)
        });
        if let Ok(Some(result)) = hit {
            return result;
        }
        self.next_claiming(serial, buf, timeout)
    }

    /// `next` the long way: another handle's run, a fork, a run used up or
    /// a thread's first call. No thread-local state at all means the thread
    /// is exiting (a call from another thread-local destructor): pull
    /// without a run.
    #[inline(never)]
    fn next_claiming(
        &self,
        serial: u64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        LOCAL
            .try_with(|local| self.next_in(local, serial, buf, timeout))
            .unwrap_or_else(|_| self.claim_next(None, None, buf, timeout))
    }

    fn next_in(
        &self,
        local: &RefCell<Option<Box<Local>>>,
        serial: u64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        // Taken already: a call from within a call (a signal handler, which
        // the contract does not allow, or a panic hook). Pull without a run.
        let Ok(mut local) = local.try_borrow_mut() else {
            return self.claim_next(None, None, buf, timeout);
        };
        let local = local.get_or_insert_with(Local::new);
        if let Some(result) = local.runs.run_of(serial).and_then(|e| e.hand_out(buf)) {
            return result;
        }
        let Local { runs, home } = &mut **local;
        let entry = RUNS_ENABLED
            .load(Ordering::Relaxed)
            .then(|| runs.run_for(serial));
        self.claim_next(entry, Some(home), buf, timeout)
    }

    /// `next` when the thread's run for this handle is empty: claims a new
    /// run into `entry` (without one, just the nickname) and hands out its
    /// first nickname.
    fn claim_next(
        &self,
        mut entry: Option<&mut LocalRun>,
        home: Option<&mut Home>,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        let max = entry.as_ref().map_or(1, |e| e.claim);
        let mut len = 0;
        let claimed = self.pull_with(home, max, timeout, |i, payload| {
            if i == 0 {
                match copy_into(buf, payload.text()) {
                    Some(n) => {
                        len = n;
                        true
                    }
                    None => false,
                }
            } else {
                if let Some(entry) = entry.as_deref_mut() {
                    entry.run.store(i, payload);
                }
                true
            }
        })?;
        if let Some(entry) = entry {
            entry.run.filled(claimed.count);
            // A full claim: the shard has more, fetch them ahead.
            entry.ahead = if claimed.count == max {
                claimed.ahead
            } else {
                Ahead::NONE
            };
            entry.claim = (entry.claim * 2).min(RUN_MAX + 1);
        }
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
    /// how many were written. Hands out what the thread's run for this
    /// handle holds first, then claims the rest (without waiting, if the
    /// run gave any).
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
        let serial = self.serial.load(Ordering::Relaxed);
        let mut batch = |local: Option<&RefCell<Option<Box<Local>>>>| {
            let mut local = local.and_then(|l| l.try_borrow_mut().ok());
            let mut local = local
                .as_mut()
                .map(|l| &mut **l.get_or_insert_with(Local::new));
            let (mut count, mut used) = (0, 0);
            if let Some(entry) = local.as_mut().and_then(|l| l.runs.run_of(serial)) {
                while count < max {
                    let Some(nickname) = entry.run.peek() else {
                        break;
                    };
                    let end = used + nickname.len();
                    if end >= buf.len() {
                        break;
                    }
                    buf[used..end].copy_from_slice(nickname);
                    buf[end] = 0;
                    used = end + 1;
                    count += 1;
                    entry.run.advance();
                }
            }
            if count == max {
                return Ok(count);
            }
            let base = used;
            let wait = if count > 0 {
                Some(Duration::ZERO)
            } else {
                timeout
            };
            let home = local.as_mut().map(|l| &mut l.home);
            let claimed = self.pull_with(home, max - count, wait, |i, payload| {
                let nickname = payload.text();
                if i == 0 {
                    used = base; // A retried attempt starts over.
                }
                let end = used + nickname.len();
                if end >= buf.len() {
                    return false;
                }
                buf[used..end].copy_from_slice(nickname);
                buf[end] = 0;
                used = end + 1;
                true
            });
            match claimed {
                Ok(claim) => Ok(count + claim.count),
                // What the run gave is handed out whatever the claim found.
                Err(_) if count > 0 => Ok(count),
                // The caller's view: the first nickname plus its NUL did
                // not fit.
                Err(Error::BufferTooSmall { needed }) => {
                    Err(Error::BufferTooSmall { needed: needed + 1 })
                }
                Err(e) => Err(e),
            }
        };
        match LOCAL.try_with(|local| batch(Some(local))) {
            Ok(result) => result,
            // The thread is exiting: no run.
            Err(_) => batch(None),
        }
    }

    /// The core pull: claims up to `max` nicknames from one shard (the
    /// thread's home shard, else another), handing each to `sink` (see
    /// [`crate::ring::Ring::pull_with`] for the retry contract), waiting up
    /// to `timeout` for the first. Returns how many were claimed.
    #[inline]
    fn pull_with(
        &self,
        mut home: Option<&mut Home>,
        max: usize,
        timeout: Option<Duration>,
        mut sink: impl FnMut(usize, &Payload) -> bool,
    ) -> Result<Claim, Error> {
        {
            let mapping = self.current.load();
            let shards = mapping.shards();
            let at = home.as_deref_mut().map_or(0, |h| h.shard(shards, false));
            let (shard, pull) = pull_any(&&**mapping, at, max, &mut sink);
            if shard != at {
                // Home was empty: the thread may have moved to another CPU.
                if let Some(home) = home.as_deref_mut() {
                    home.claims_left = 0;
                }
            }
            if let Some(result) = finish(&mapping, shard, pull) {
                return result;
            }
        }
        let home = match home {
            Some(home) => home.shard(self.current.load().shards(), true),
            None => 0,
        };
        self.pull_slow(home, max, timeout, &mut sink)
    }

    #[cold]
    fn pull_slow(
        &self,
        home: usize,
        max: usize,
        timeout: Option<Duration>,
        sink: &mut dyn FnMut(usize, &Payload) -> bool,
    ) -> Result<Claim, Error> {
        // A deadline past what `Instant` can hold (`Duration::MAX`) is
        // no deadline: wait without limit rather than overflow.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut counted = false;
        loop {
            let mapping = self.current.load_full();
            let shards = &*mapping;
            // A reattached mapping may have fewer shards.
            let home = home & (shards.shards() - 1);
            let try_all = |sink: &mut dyn FnMut(usize, &Payload) -> bool| {
                let (shard, pull) = pull_any(&shards, home, max, sink);
                finish(shards, shard, pull)
            };
            let sweeps = (SPIN_VISITS / shards.shards()).max(MIN_SPIN_SWEEPS);
            for _ in 0..sweeps {
                if let Some(result) = try_all(&mut *sink) {
                    return result;
                }
                std::hint::spin_loop();
            }
            let ring = shards.shard(home);
            let counters = &ring.header().counters;
            if !counted {
                counters.empty_events.fetch_add(1, Ordering::Relaxed);
                counted = true;
            }
            if mapping.header().state.load(Ordering::Acquire) != STATE_LIVE
                || !mapping.daemon_alive()
            {
                // One more look: what the old daemon left is still good.
                if let Some(result) = try_all(&mut *sink) {
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
            // A producer may be asleep if a wake-up was lost (a consumer
            // killed between its claim and the wake); nudge them all.
            for shard in 0..shards.shards() {
                wake_producer(shards, shard);
            }
            // Sleep on the home shard: its producer wakes us when it
            // publishes there.
            let sleep = &ring.header().sleep;
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
            let result = try_all(&mut *sink);
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
                new.shard(0)
                    .header()
                    .counters
                    .reattachments
                    .fetch_add(1, Ordering::Relaxed);
                self.current.store(Arc::new(new));
                // Runs claimed from the old daemon are dropped from here on.
                self.serial.store(next_serial(), Ordering::Relaxed);
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

/// Turns the outcome of a pull from `shard` into a call result; `None`
/// means empty (keep trying).
#[inline]
fn finish(mapping: &Mapping, shard: usize, pull: Pull) -> Option<Result<Claim, Error>> {
    match pull {
        Pull::Claimed { start, count } => {
            let ring = mapping.shard(shard);
            if ring.crosses_wake_mark(start, count) {
                wake_producer(mapping, shard);
            }
            Some(Ok(Claim {
                count,
                ahead: ring.ahead(start.wrapping_add(count as u64)),
            }))
        }
        Pull::Empty => None,
        Pull::Refused { needed } => Some(Err(Error::BufferTooSmall { needed })),
        Pull::Corrupt => Some(Err(Error::Incompatible(
            "a slot of the segment holds an impossible length: the segment is corrupt; restart the daemon".into(),
        ))),
    }
}

/// Wakes the producer of `shard` if it sleeps because its shards were full.
#[inline]
fn wake_producer(mapping: &Mapping, shard: usize) {
    let ring = mapping.shard(shard);
    let sleep = &ring.header().sleep;
    // SYNC POINT (producer wake, consumer side): SeqCst, after our SeqCst
    // claim; pairs with `Producer::announce_sleep`.
    if sleep.producer_sleeping.load(Ordering::SeqCst) != 0
        && sleep.producer_sleeping.swap(0, Ordering::SeqCst) != 0
    {
        // The producer sleeps on one futex for all its shards.
        let futex_word = &mapping
            .shard(mapping.producer_shard(shard))
            .header()
            .sleep
            .producer_futex;
        futex_word.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(futex_word);
        ring.header()
            .counters
            .producer_wakeups
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads a mapping's statistics, summed over its shards (also for the
/// daemon's metrics endpoint).
#[doc(hidden)]
pub fn read_stats(mapping: &Mapping) -> Stats {
    let h = mapping.header();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let sum = |f: &dyn Fn(crate::ring::Ring<'_>) -> u64| -> u64 {
        (0..mapping.shards())
            .map(|i| f(mapping.shard(i)))
            .fold(0u64, u64::wrapping_add)
    };
    let counter = |f: fn(&crate::ring::Counters) -> &std::sync::atomic::AtomicU64| {
        sum(&|ring| load(f(&ring.header().counters)))
    };
    let now_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let started = load(&h.started_unix_ms);
    let flags = h.flags.load(Ordering::Relaxed);
    let geometry = mapping.geometry();
    Stats {
        name: mapping.name().to_owned(),
        capacity: u64::from(geometry.capacity),
        shards: u64::from(geometry.shards),
        producers: u64::from(geometry.producers),
        fill: sum(&|ring| ring.len()),
        produced: sum(&|ring| ring.tail()),
        consumed: sum(&|ring| ring.head()),
        empty_events: counter(|c| &c.empty_events),
        consumer_waits: counter(|c| &c.consumer_waits),
        consumer_wakeups: counter(|c| &c.consumer_wakeups),
        producer_sleeps: counter(|c| &c.producer_sleeps),
        producer_wakeups: counter(|c| &c.producer_wakeups),
        reattachments: counter(|c| &c.reattachments),
        reloads: counter(|c| &c.reloads),
        reload_failures: counter(|c| &c.reload_failures),
        waiters: sum(&|ring| {
            u64::from(
                ring.header()
                    .sleep
                    .consumer_sleepers
                    .load(Ordering::Relaxed),
            )
        }),
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
