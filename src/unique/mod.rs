//! Unique mode (`nickpool serve --unique`): never the same nickname twice,
//! across restarts and across machines, without storing what was issued.
//!
//! Every combination of the dictionary's styles has an index
//! ([`IndexSpace`]); a keyed pseudo-random permutation ([`Permutation`])
//! maps a counter to an index, so counting 0, 1, 2, … visits every index
//! once in an order that looks random. Only the counter must survive, and
//! it is reserved ahead in blocks: a block is written durably to the state
//! file ([`StateFile`]) — or leased from Redis ([`Lease`]) — before any of
//! its nicknames is published, so a restart, even after kill -9, starts
//! past everything that may have been handed out. Counters of a block that
//! were never used are skipped, as are combinations where a blocked term
//! forms across a join.
//!
//! A daemon's producer threads each draw from a source of their own
//! ([`UniqueSource::another`]); the sources share one block reserver, which
//! hands each of them disjoint blocks and writes (or leases) every block
//! before its source uses it.
//!
//! Several daemons split one space without talking: node `I` of `N` uses
//! the counters `c ≡ I (mod N)` (they must share the key), or they lease
//! blocks of one Redis counter.

mod lease;
mod permutation;
mod record;
mod space;
mod state;

pub use lease::{Lease, LeaseUrl};
pub use permutation::Permutation;
pub use record::{SpaceId, State, hex, parse_hex16};
pub use space::{IndexSpace, Parsed};
pub use state::StateFile;

use crate::daemon::{self, Control, NicknameSource, ServeError, ServeOptions, log};
use crate::generator::{DictSource, Dictionary};
use crate::ring::CacheLine;
use crate::segment::SegmentHeader;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Smallest and largest number of counters reserved at once. The block
/// doubles while blocks last under a second and halves when one lasts over
/// a minute: a restart skips at most about a second of demand (or one
/// small block), and a busy daemon writes its state a few times a second.
pub const MIN_BLOCK: u64 = 1024;
pub const MAX_BLOCK: u64 = 1 << 20;
const GROW_BELOW: Duration = Duration::from_secs(1);
const SHRINK_ABOVE: Duration = Duration::from_secs(60);

/// How often a failing reservation is logged again.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(30);

/// Where the counter lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// A local state file; `reset` discards what it holds.
    StateFile { path: PathBuf, reset: bool },
    /// A Redis counter shared by a fleet.
    Lease(LeaseUrl),
}

/// The unique-mode part of `nickpool serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueOptions {
    pub store: Store,
    /// This daemon's share: node `node` of `nodes` (0 of 1 alone).
    pub node: u64,
    pub nodes: u64,
    /// The permutation key for a new state file or lease; `None` draws one
    /// from the operating system.
    pub key: Option<[u8; 16]>,
}

/// Runs the daemon in unique mode until `control` asks it to stop.
pub fn serve(
    options: &ServeOptions,
    unique: &UniqueOptions,
    control: &Control,
) -> Result<(), ServeError> {
    let source = UniqueSource::open(options, unique).map_err(ServeError::Config)?;
    let total = source.total();
    daemon::serve_with(options, Box::new(source), total, control)
}

/// Loads the dictionary a daemon or `decode` names and resolves `--style`.
pub fn load_dictionary(
    source: &DictSource,
    style: Option<&str>,
) -> Result<(Dictionary, Option<usize>), String> {
    let dict = source
        .load()
        .map_err(|e| format!("{e}\nfix the dictionary, then start again"))?;
    let style = match style {
        None => None,
        Some(name) => Some(dict.style_index(name).ok_or_else(|| {
            let names: Vec<_> = dict.styles().iter().map(|s| s.name()).collect();
            format!(
                "unknown style '{name}'; the dictionary's styles are {}",
                names.join(", ")
            )
        })?),
    };
    Ok((dict, style))
}

/// A permutation key from the operating system.
pub fn random_key() -> [u8; 16] {
    use rand::TryRng;
    let mut key = [0u8; 16];
    rand::rngs::SysRng
        .try_fill_bytes(&mut key)
        .expect("the operating system's random source is unavailable");
    key
}

/// Where counter blocks come from.
enum Reserver {
    Local { file: StateFile, state: State },
    Lease { lease: Box<Lease> },
}

/// Hands disjoint blocks of counters to every source of a daemon (one
/// source per producer thread). A block is durably in the state file, or
/// leased, before [`BlockReserver::reserve`] returns it, so a restart
/// begins past every block any source may have used.
struct BlockReserver {
    reserver: Reserver,
    /// Nothing is left: every later reservation fails too.
    exhausted: bool,
    failing_since: Option<Instant>,
    failure_logged: Option<Instant>,
}

/// What a reservation found.
enum Reserved {
    /// Counters `start..end` of this node's share are now the caller's.
    Block { start: u64, end: u64 },
    /// The share (or the lease) is used up, now and for good.
    Exhausted,
    /// The store failed; the caller asks again later.
    Failed,
}

/// What the sources of one daemon share.
struct Shared {
    blocks: Mutex<BlockReserver>,
    /// Counter `c` of this node is global counter `node + nodes * c`.
    node: u64,
    nodes: u64,
    /// Counters this node may use: `0..share`.
    share: u64,
    lease: bool,
    size: u64,
    /// With a state file: the reserved mark (every counter below it was
    /// handed to a source, or skipped by a restart). With a lease: what the
    /// fleet had leased as of this daemon's last lease.
    mark: AtomicU64,
    /// Each source's reserved but unused counters (see
    /// [`UniqueSource::used`]), one cell per source, each on a cache line
    /// of its own: its thread writes it at every nickname.
    unused: Mutex<Vec<Arc<CacheLine<AtomicU64>>>>,
    /// Counters whose combination was blocked, over all sources.
    skipped: AtomicU64,
    low_warned: AtomicBool,
}

/// Unique mode's nickname source: counter → permutation → index → nickname.
///
/// One source serves one producer thread; [`UniqueSource::another`] makes
/// a source for a further thread. Sources of one daemon share the block
/// reserver, so each owns disjoint counter blocks, all reserved durably
/// before use.
pub struct UniqueSource {
    space: IndexSpace,
    permutation: Permutation,
    shared: Arc<Shared>,
    /// Next counter; the block `next..block_end` is this source's.
    next: u64,
    block_end: u64,
    block_size: u64,
    block_started: Option<Instant>,
    exhausted: bool,
    /// `block_end - next`, for the shared gauge.
    unused: Arc<CacheLine<AtomicU64>>,
    dict_source: DictSource,
    style: Option<String>,
}

impl UniqueSource {
    /// Loads the dictionary, opens (or creates) the state file or the
    /// lease, and checks that they belong together. Logs what it found.
    pub fn open(options: &ServeOptions, unique: &UniqueOptions) -> Result<UniqueSource, String> {
        let (dict, style) = load_dictionary(&options.source, options.style.as_deref())?;
        if options.test_tag && dict.max_len() + 21 > crate::MAX_NICKNAME_LEN {
            return Err("--test-tag needs nicknames of at most 34 bytes".into());
        }
        let space = IndexSpace::new(Arc::new(dict), style)?;
        let size = space.size();
        if unique.nodes == 0 || unique.node >= unique.nodes {
            return Err(format!(
                "--node-id {} --nodes {}: the node id must be below the number of nodes",
                unique.node, unique.nodes
            ));
        }
        let proposed = SpaceId {
            key: unique.key.unwrap_or_else(random_key),
            fingerprint: space.fingerprint(),
            size,
        };
        let fp = hex(&proposed.fingerprint);
        let (reserver, id, mark) = match &unique.store {
            Store::StateFile { path, reset } => {
                let file = StateFile::lock(path)?;
                let existing = if *reset {
                    log(format_args!(
                        "--reset-state: starting {} afresh with a new permutation; nicknames handed out under its old state may repeat",
                        path.display()
                    ));
                    None
                } else {
                    file.load()?
                };
                let state = match existing {
                    Some(state) => {
                        check_state(&state, &proposed, unique, file.path())?;
                        log(format_args!(
                            "unique: state {} loaded: node {} of {}, {} counters reserved so far",
                            path.display(),
                            state.node,
                            state.nodes,
                            state.reserved
                        ));
                        state
                    }
                    None => {
                        if unique.nodes > 1 && unique.key.is_none() {
                            return Err(format!(
                                "--nodes {}: every node must permute with the same key, or they would collide; pass the same --key HEX (32 hex digits, e.g. from `openssl rand -hex 16`) to every node when its state file is created",
                                unique.nodes
                            ));
                        }
                        let state = State {
                            space: proposed,
                            node: unique.node,
                            nodes: unique.nodes,
                            reserved: 0,
                        };
                        file.save(&state).map_err(|e| {
                            format!("cannot write state file {}: {e}", path.display())
                        })?;
                        log(format_args!(
                            "unique: created state {} for dictionary {fp} ({size} indices), node {} of {}",
                            path.display(),
                            unique.node,
                            unique.nodes
                        ));
                        state
                    }
                };
                let id = state.space;
                let mark = state.reserved;
                (Reserver::Local { file, state }, id, mark)
            }
            Store::Lease(url) => {
                if unique.nodes != 1 {
                    return Err(
                        "--lease shares one counter among all its daemons; --node-id and --nodes do not apply".into(),
                    );
                }
                let mut lease = Lease::connect(url)?;
                let id = lease.agree(&proposed, unique.key.is_some())?;
                let leased = lease.leased()?;
                log(format_args!(
                    "unique: lease {} for dictionary {fp} ({size} indices), {leased} counters leased by the fleet so far",
                    url.display()
                ));
                (
                    Reserver::Lease {
                        lease: Box::new(lease),
                    },
                    id,
                    leased,
                )
            }
        };
        let (node, nodes) = match reserver {
            Reserver::Local { ref state, .. } => (state.node, state.nodes),
            Reserver::Lease { .. } => (0, 1),
        };
        let share = if node < size {
            (size - node - 1) / nodes + 1
        } else {
            return Err(format!(
                "the space of {size} nicknames is too small for {nodes} nodes: node {node} would get none"
            ));
        };
        // Counting the blocked combinations checks every risky join: a
        // moment's work that need not delay serving.
        let counted = space.clone();
        let _ = std::thread::Builder::new()
            .name("count-blocked".into())
            .spawn(move || match counted.blocked() {
                Some(blocked) => log(format_args!(
                    "unique: {size} indices, {blocked} of them blocked (a blocked term forms across a join) and skipped: {} nicknames at most",
                    size - blocked
                )),
                None => log(format_args!(
                    "unique: {size} indices; some may be blocked across a join and skipped (too many to count)"
                )),
            });
        let lease = matches!(reserver, Reserver::Lease { .. });
        let shared = Arc::new(Shared {
            blocks: Mutex::new(BlockReserver {
                reserver,
                exhausted: false,
                failing_since: None,
                failure_logged: None,
            }),
            node,
            nodes,
            share,
            lease,
            size,
            mark: AtomicU64::new(mark),
            unused: Mutex::new(Vec::new()),
            skipped: AtomicU64::new(0),
            low_warned: AtomicBool::new(false),
        });
        Ok(UniqueSource::with_shared(
            space,
            Permutation::new(&id.key, size),
            shared,
            options.source.clone(),
            options.style.clone(),
        ))
    }

    fn with_shared(
        space: IndexSpace,
        permutation: Permutation,
        shared: Arc<Shared>,
        dict_source: DictSource,
        style: Option<String>,
    ) -> UniqueSource {
        let unused = Arc::new(CacheLine(AtomicU64::new(0)));
        lock(&shared.unused).push(Arc::clone(&unused));
        UniqueSource {
            space,
            permutation,
            shared,
            next: 0,
            block_end: 0,
            block_size: MIN_BLOCK,
            block_started: None,
            exhausted: false,
            unused,
            dict_source,
            style,
        }
    }

    /// A source for a further producer thread: the same dictionary,
    /// permutation and store, its own counter blocks (disjoint from every
    /// other source's).
    pub fn another(&self) -> UniqueSource {
        UniqueSource::with_shared(
            self.space.clone(),
            self.permutation.clone(),
            Arc::clone(&self.shared),
            self.dict_source.clone(),
            self.style.clone(),
        )
    }

    /// The space this source counts through: the node's share with a state
    /// file, the whole space with a lease.
    pub fn total(&self) -> u64 {
        if self.shared.lease {
            self.shared.size
        } else {
            self.shared.share
        }
    }

    /// Counters used by every source of this daemon: this node's with a
    /// state file (those skipped by restarts included; those reserved by a
    /// source and not used yet excluded), the whole fleet's leases with a
    /// lease.
    pub fn used(&self) -> u64 {
        let mark = self.shared.mark.load(Ordering::Relaxed);
        if self.shared.lease {
            return mark.min(self.shared.size);
        }
        let unused: u64 = lock(&self.shared.unused)
            .iter()
            .map(|u| u.load(Ordering::Relaxed))
            .sum();
        mark.saturating_sub(unused)
    }

    /// Counters whose combination was blocked and skipped so far, by every
    /// source.
    pub fn skipped(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// Takes the next block for this source. False when exhausted or when
    /// the store failed (then the producer asks again a little later).
    #[cold]
    fn refill(&mut self) -> bool {
        if self.exhausted {
            return false;
        }
        let now = Instant::now();
        // Adapt once per used-up block (not again on each retry).
        if let Some(started) = self.block_started.take() {
            let lasted = now.duration_since(started);
            if lasted < GROW_BELOW {
                self.block_size = (self.block_size * 2).min(MAX_BLOCK);
            } else if lasted > SHRINK_ABOVE {
                self.block_size = (self.block_size / 2).max(MIN_BLOCK);
            }
        }
        match self.shared.reserve(self.block_size, now) {
            Reserved::Block { start, end } => {
                self.next = start;
                self.block_end = end;
                self.block_started = Some(now);
                self.unused.store(end - start, Ordering::Relaxed);
                true
            }
            Reserved::Exhausted => {
                self.exhausted = true;
                self.next = self.block_end;
                self.unused.store(0, Ordering::Relaxed);
                false
            }
            Reserved::Failed => false,
        }
    }
}

impl Shared {
    /// Reserves the next block of up to `size` counters, for any source.
    fn reserve(&self, size: u64, now: Instant) -> Reserved {
        let mut blocks = lock(&self.blocks);
        if blocks.exhausted {
            return Reserved::Exhausted;
        }
        let result = match &mut blocks.reserver {
            Reserver::Local { file, state } => {
                if state.reserved >= self.share {
                    Ok(None)
                } else {
                    let start = state.reserved;
                    let end = (start + size).min(self.share);
                    state.reserved = end;
                    // SYNC POINT (crash safety): the block is on disk before
                    // any of its counters is used.
                    match file.save(state) {
                        Ok(()) => {
                            self.mark.store(end, Ordering::Relaxed);
                            Ok(Some((start, end)))
                        }
                        Err(e) => {
                            state.reserved = start;
                            Err(format!(
                                "cannot save state file {}: {e}",
                                file.path().display()
                            ))
                        }
                    }
                }
            }
            Reserver::Lease { lease } => match lease.take(size) {
                Ok(end) => {
                    self.mark.fetch_max(end, Ordering::Relaxed);
                    let start = end - size;
                    if start >= self.share {
                        Ok(None)
                    } else {
                        Ok(Some((start, end.min(self.share))))
                    }
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(Some((start, end))) => {
                if let Some(since) = blocks.failing_since.take() {
                    log(format_args!(
                        "unique: reserving works again after {:.1} s",
                        since.elapsed().as_secs_f64()
                    ));
                    blocks.failure_logged = None;
                }
                Reserved::Block { start, end }
            }
            Ok(None) => {
                blocks.exhausted = true;
                log(format_args!(
                    "unique: all {} counters of this {} are used ({} combinations skipped as blocked since start)",
                    self.share,
                    if self.lease { "lease" } else { "node's share" },
                    self.skipped.load(Ordering::Relaxed)
                ));
                Reserved::Exhausted
            }
            Err(e) => {
                let since = *blocks.failing_since.get_or_insert(now);
                let due = blocks
                    .failure_logged
                    .is_none_or(|at| now.duration_since(at) >= FAILURE_LOG_EVERY);
                if due {
                    log(format_args!(
                        "unique: cannot reserve the next block ({} s so far; nothing new is handed out until it works, retrying): {e}",
                        since.elapsed().as_secs()
                    ));
                    blocks.failure_logged = Some(now);
                }
                Reserved::Failed
            }
        }
    }
}

/// Locks a mutex of the shared state; a thread that panicked while holding
/// it left consistent data (every update is one assignment), so poisoning
/// is ignored.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Refuses a state file that does not belong to this dictionary, node or
/// key.
fn check_state(
    state: &State,
    proposed: &SpaceId,
    unique: &UniqueOptions,
    path: &std::path::Path,
) -> Result<(), String> {
    let fresh_start = "or start once with --reset-state to begin a new permutation (nicknames handed out before may then repeat)";
    if (state.space.fingerprint, state.space.size) != (proposed.fingerprint, proposed.size) {
        return Err(format!(
            "state file {} was made for another dictionary (fingerprint {}, {} indices) than this one (fingerprint {}, {} indices); its counter means nothing for this dictionary and could repeat nicknames. Start with the dictionary, blocklist and --style it was made with, {fresh_start}",
            path.display(),
            hex(&state.space.fingerprint),
            state.space.size,
            hex(&proposed.fingerprint),
            proposed.size
        ));
    }
    if (state.node, state.nodes) != (unique.node, unique.nodes) {
        return Err(format!(
            "state file {} belongs to node {} of {}, but this daemon was started as node {} of {}; a changed partition could repeat nicknames. Start with --node-id {} --nodes {}, {fresh_start}",
            path.display(),
            state.node,
            state.nodes,
            unique.node,
            unique.nodes,
            state.node,
            state.nodes
        ));
    }
    if unique.key.is_some_and(|k| k != state.space.key) {
        return Err(format!(
            "state file {} holds another permutation key than --key; drop --key (the file's key is used), {fresh_start}",
            path.display()
        ));
    }
    Ok(())
}

impl NicknameSource for UniqueSource {
    #[inline]
    fn next_into(&mut self, out: &mut [u8]) -> Option<usize> {
        loop {
            if self.next == self.block_end && !self.refill() {
                return None;
            }
            let counter = self.next;
            self.next += 1;
            self.unused
                .store(self.block_end - self.next, Ordering::Relaxed);
            let index = self
                .permutation
                .permute(self.shared.node + self.shared.nodes * counter);
            match self.space.render(index, out) {
                Some(len) => return Some(len),
                None => {
                    self.shared.skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    fn reload(&mut self) -> Result<String, String> {
        let (dict, style) = load_dictionary(&self.dict_source, self.style.as_deref())?;
        let described = format!(
            "{}: {} words, {} styles",
            dict.name(),
            dict.word_count(),
            dict.styles().len()
        );
        let space = IndexSpace::new(Arc::new(dict), style)?;
        if (space.fingerprint(), space.size()) != (self.space.fingerprint(), self.space.size()) {
            return Err(format!(
                "unique mode: the reloaded dictionary numbers its nicknames differently (fingerprint {}, {} indices, instead of {}, {}), so serving it could repeat nicknames; keep the file as it was, or restart with --reset-state to switch (nicknames handed out before may then repeat)",
                hex(&space.fingerprint()),
                space.size(),
                hex(&self.space.fingerprint()),
                self.space.size()
            ));
        }
        self.space = space;
        Ok(format!(
            "{described} (same nicknames; its block and allow lists now apply)"
        ))
    }

    fn publish_gauges(&self, header: &SegmentHeader) {
        let (used, total) = (self.used(), self.total());
        header.unique_used.store(used, Ordering::Relaxed);
        let remaining = total.saturating_sub(used);
        if u128::from(remaining) * 100 < u128::from(total)
            && !self.shared.low_warned.swap(true, Ordering::Relaxed)
        {
            log(format_args!(
                "WARNING: unique space below 1%: {remaining} of {total} left; extend the dictionary (more words, or a style with {{digits:N}}) and move to it with --reset-state before it runs out"
            ));
        }
    }
}

/// What `nickpool decode` needs to invert the permutation.
#[derive(Debug, Clone)]
pub enum DecodeKey {
    /// A daemon's state file (read, not locked: its daemon may run).
    StateFile(PathBuf),
    /// The permutation key and the number of nodes.
    Key { key: [u8; 16], nodes: u64 },
    /// A lease's metadata and counter.
    Lease(LeaseUrl),
}

/// A nickname read back to its index, counter and node.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub parsed: Parsed,
    pub size: u64,
    /// The global counter the permutation maps to this index.
    pub counter: u64,
    /// Node `counter % nodes` of `nodes`, and that node's own counter.
    pub node: u64,
    pub nodes: u64,
    pub node_counter: u64,
    /// A blocked term forms across a join: never handed out.
    pub blocked: bool,
    /// Whether the counter lies below what the state or lease has reserved
    /// (`None` with a bare key, or a state file of another node).
    pub reserved: Option<bool>,
}

/// Why `decode` found nothing.
#[derive(Debug)]
pub enum DecodeError {
    /// The nickname cannot be built from the dictionary.
    NotOurs(String),
    /// The dictionary, state or key could not be used.
    Setup(String),
}

/// Maps `nickname` back to its index and counter under `key`.
pub fn decode(
    nickname: &str,
    source: &DictSource,
    style: Option<&str>,
    key: &DecodeKey,
) -> Result<Decoded, DecodeError> {
    let (dict, style_index) = load_dictionary(source, style).map_err(DecodeError::Setup)?;
    let space = IndexSpace::new(Arc::new(dict), style_index).map_err(DecodeError::Setup)?;
    let (id, nodes, reserved_mark) = match key {
        DecodeKey::StateFile(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                DecodeError::Setup(format!("cannot read state file {}: {e}", path.display()))
            })?;
            let state = State::decode(&bytes).map_err(|e| {
                DecodeError::Setup(format!("state file {} is corrupted: {e}", path.display()))
            })?;
            (state.space, state.nodes, Some((state.node, state.reserved)))
        }
        DecodeKey::Key { key, nodes } => (
            SpaceId {
                key: *key,
                fingerprint: space.fingerprint(),
                size: space.size(),
            },
            *nodes,
            None,
        ),
        DecodeKey::Lease(url) => {
            let mut lease = Lease::connect(url).map_err(DecodeError::Setup)?;
            let id = lease.space().map_err(DecodeError::Setup)?.ok_or_else(|| {
                DecodeError::Setup(format!(
                    "lease {} has no metadata yet: no daemon has used it",
                    url.display()
                ))
            })?;
            let leased = lease.leased().map_err(DecodeError::Setup)?;
            (id, 1, Some((0, leased)))
        }
    };
    if (id.fingerprint, id.size) != (space.fingerprint(), space.size()) {
        return Err(DecodeError::Setup(format!(
            "the state or lease was made for another dictionary (fingerprint {}, {} indices) than this one (fingerprint {}, {} indices); pass the --dict, --blocklist and --style the daemon runs with",
            hex(&id.fingerprint),
            id.size,
            hex(&space.fingerprint()),
            space.size()
        )));
    }
    let Some(parsed) = space.parse(nickname) else {
        return Err(DecodeError::NotOurs(format!(
            "'{nickname}' is not one of ours: no style of the dictionary spells it"
        )));
    };
    let mut buf = [0u8; crate::MAX_NICKNAME_LEN];
    let blocked = space.render(parsed.index, &mut buf).is_none();
    let counter = Permutation::new(&id.key, id.size).invert(parsed.index);
    let (node, node_counter) = (counter % nodes, counter / nodes);
    // A state file knows only its own node's mark.
    let reserved = reserved_mark.and_then(|(mark_node, mark)| match key {
        DecodeKey::Lease(_) => Some(counter < mark),
        _ => (node == mark_node).then_some(node_counter < mark),
    });
    Ok(Decoded {
        parsed,
        size: id.size,
        counter,
        node,
        nodes,
        node_counter,
        blocked,
        reserved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dict: &std::path::Path) -> ServeOptions {
        ServeOptions {
            capacity: 4,
            source: DictSource {
                dict: Some(dict.to_owned()),
                ..DictSource::default()
            },
            ..ServeOptions::new("/unused")
        }
    }

    fn next(source: &mut UniqueSource) -> Option<String> {
        let mut buf = [0u8; 64];
        let len = source.next_into(&mut buf)?;
        Some(String::from_utf8(buf[..len].to_vec()).unwrap())
    }

    #[test]
    fn a_failed_reservation_stalls_and_recovers_without_repeats() {
        let dir = std::env::temp_dir().join(format!("nickpool-stall-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dict = dir.join("d.dict");
        // 星0000 … 星9999.
        std::fs::write(&dict, "[class a]\n星 x\n[styles]\nn 1 {a}{digits:4}\n").unwrap();
        let state_dir = dir.join("state");
        std::fs::create_dir_all(&state_dir).unwrap();
        let unique = UniqueOptions {
            store: Store::StateFile {
                path: state_dir.join("s"),
                reset: false,
            },
            node: 0,
            nodes: 1,
            key: None,
        };
        let mut source = UniqueSource::open(&options(&dict), &unique).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MIN_BLOCK {
            assert!(seen.insert(next(&mut source).unwrap()));
        }
        // The state's directory is gone: the next block cannot be written,
        // so nothing is handed out, and the source is stalled, not done.
        std::fs::remove_dir_all(&state_dir).unwrap();
        assert_eq!(next(&mut source), None);
        assert!(!source.is_exhausted());
        assert_eq!(source.used(), MIN_BLOCK);
        assert_eq!(next(&mut source), None, "still stalled on a retry");
        std::fs::create_dir_all(&state_dir).unwrap();
        let resumed = next(&mut source).unwrap();
        assert!(seen.insert(resumed));
        let saved = std::fs::read(state_dir.join("s")).unwrap();
        // The first block lasted under a second: the next one is twice as
        // large, however many retries it took.
        assert_eq!(State::decode(&saved).unwrap().reserved, 3 * MIN_BLOCK);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn partitioned_sources_cover_the_space_between_them() {
        let dir = std::env::temp_dir().join(format!("nickpool-cover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dict = dir.join("d.dict");
        // 1000 nicknames over 3 nodes: 334 + 333 + 333.
        std::fs::write(&dict, "[class a]\n星 x\n[styles]\nn 1 {a}{digits:3}\n").unwrap();
        let mut all = std::collections::HashSet::new();
        for node in 0..3 {
            let unique = UniqueOptions {
                store: Store::StateFile {
                    path: dir.join(format!("s{node}")),
                    reset: false,
                },
                node,
                nodes: 3,
                key: Some([9; 16]),
            };
            let mut source = UniqueSource::open(&options(&dict), &unique).unwrap();
            let mut count = 0;
            while let Some(nickname) = next(&mut source) {
                assert!(all.insert(nickname), "node {node} repeats another");
                count += 1;
            }
            assert!(source.is_exhausted());
            assert_eq!(count, if node == 0 { 334 } else { 333 });
            assert_eq!((source.used(), source.total()), (count, count));
        }
        assert_eq!(all.len(), 1000);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sources_of_several_threads_never_overlap_and_a_restart_skips_their_blocks() {
        let dir = std::env::temp_dir().join(format!("nickpool-threads-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dict = dir.join("d.dict");
        // 星0000 … 星9999.
        std::fs::write(&dict, "[class a]\n星 x\n[styles]\nn 1 {a}{digits:4}\n").unwrap();
        let unique = UniqueOptions {
            store: Store::StateFile {
                path: dir.join("s"),
                reset: false,
            },
            node: 0,
            nodes: 1,
            key: None,
        };
        let first = UniqueSource::open(&options(&dict), &unique).unwrap();
        let sources = vec![first.another(), first.another(), first.another()];
        // Three producer threads draw at once, each from its own source.
        let drawn: Vec<Vec<String>> = std::thread::scope(|s| {
            let threads: Vec<_> = sources
                .into_iter()
                .zip([1500, 700, 2100])
                .map(|(mut source, n)| {
                    s.spawn(move || (0..n).map(|_| next(&mut source).unwrap()).collect())
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let mut seen = std::collections::HashSet::new();
        for nickname in drawn.iter().flatten() {
            assert!(seen.insert(nickname.clone()), "{nickname} drawn twice");
        }
        assert_eq!(seen.len(), 4300);
        // Used counts what was drawn, not the rest of the sources' blocks.
        assert_eq!(first.used(), 4300);
        let reserved = State::decode(&std::fs::read(dir.join("s")).unwrap())
            .unwrap()
            .reserved;
        assert!(reserved > 4300, "{reserved}");
        drop(first);

        // A restart (even after kill -9: every block was on disk before it
        // was used) continues past every block of every thread.
        let mut restarted = UniqueSource::open(&options(&dict), &unique).unwrap();
        assert_eq!(restarted.used(), reserved);
        let mut more = 0;
        while let Some(nickname) = next(&mut restarted) {
            assert!(
                seen.insert(nickname.clone()),
                "{nickname} again after a restart"
            );
            more += 1;
        }
        assert!(restarted.is_exhausted());
        assert_eq!(more, 10_000 - reserved);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
