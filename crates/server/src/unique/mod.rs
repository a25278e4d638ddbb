//! Unique mode (`nickpool serve --unique`): never the same nickname twice,
//! across restarts and across machines, without storing what was issued.
//!
//! Every style of the dictionary numbers its combinations ([`IndexSpace`]);
//! each style has a keyed pseudo-random permutation of its ranks
//! ([`Permutation::for_style`]) and a counter of its own, so counting 0, 1,
//! 2, … in a style visits each of its ranks once in an order that looks
//! random. Each nickname picks its style by the dictionary's weights (the
//! styles' sizes for `auto`), like random mode; a style whose counter is
//! used up drops out and the others go on, and the space is exhausted when
//! every style is. The two-ways check of the dictionary guarantees that no
//! two styles (and no two ranks) spell the same string, so distinct
//! counters give distinct nicknames.
//!
//! Only the counters must survive, and they are reserved ahead in blocks: a
//! block is written durably to the state file ([`StateFile`]) — or leased
//! from Redis ([`Lease`]) — before any of its nicknames is published, so a
//! restart, even after kill -9, starts past everything that may have been
//! handed out. Counters of a block that were never used are skipped, as are
//! combinations where a blocked term forms across a join.
//!
//! A daemon's producer threads each draw from a source of their own
//! ([`UniqueSource::another`]); the sources share one block reserver, which
//! hands each of them disjoint blocks of every style and writes (or leases)
//! every block before its source uses it.
//!
//! Several daemons split one space without talking: node `I` of `N` uses
//! the counters `c ≡ I (mod N)` of every style (they must share the key),
//! or they lease blocks of per-style counters kept in Redis.

mod capped;
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
use crate::generator::{DictSource, Dictionary, Seed};
use crate::metrics::{StyleUsage, UniqueStyles};
use crate::ring::CacheLine;
use crate::segment::SegmentHeader;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Smallest and largest number of counters a source reserves in one round,
/// over all styles: each style gets a block in proportion to its weight
/// (at least one counter). The round size doubles while rounds come less
/// than a second apart and halves when one lasts over a minute, so a busy
/// daemon writes its state a few times a second, and a restart skips what
/// the sources held: under two rounds each, spread over the styles by
/// weight.
pub const MIN_BLOCK: u64 = 1024;
pub const MAX_BLOCK: u64 = 1 << 20;
const GROW_BELOW: Duration = Duration::from_secs(1);
const SHRINK_ABOVE: Duration = Duration::from_secs(60);

/// How often a failing reservation is logged again.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(30);

/// Where the counters live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// A local state file; `reset` discards what it holds.
    StateFile { path: PathBuf, reset: bool },
    /// Redis counters shared by a fleet.
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
    daemon::serve_with(options, source, total, control)
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
        Some(name) => {
            let i = dict.style_index(name).ok_or_else(|| {
                let names: Vec<_> = dict.styles().iter().map(|s| s.name()).collect();
                format!(
                    "unknown style '{name}'; the dictionary's styles are {}",
                    names.join(", ")
                )
            })?;
            dict.check_style_fits(i)?;
            Some(i)
        }
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

/// Hands disjoint blocks of each style's counters to every source of a
/// daemon (one source per producer thread). A block is durably in the
/// state file, or leased, before [`Shared::reserve`] returns it, so a
/// restart begins past every block any source may have used.
struct BlockReserver {
    reserver: Reserver,
    /// Per style: nothing is left, and every later reservation fails too.
    exhausted: Vec<bool>,
    failing_since: Option<Instant>,
    failure_logged: Option<Instant>,
}

/// What a reservation found for one style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reserved {
    /// Counters `start..end` of the style's share are now the caller's.
    Block { start: u64, end: u64 },
    /// The style's share (or lease) is used up, now and for good.
    Exhausted,
    /// The store failed; the caller asks again later.
    Failed,
}

/// One style as the sources of a daemon share it.
struct StyleShare {
    name: String,
    /// The style's ranks.
    size: u64,
    /// Counters this node may use: `0..share` (the size with a lease).
    share: u64,
    /// With a state file: the reserved mark (every counter below it was
    /// handed to a source, or skipped by a restart). With a lease: what the
    /// fleet had leased as of this daemon's last lease.
    mark: AtomicU64,
}

/// What the sources of one daemon share.
struct Shared {
    blocks: Mutex<BlockReserver>,
    /// Counter `c` of this node is global counter `node + nodes * c`.
    node: u64,
    nodes: u64,
    lease: bool,
    styles: Vec<StyleShare>,
    /// Each source's reserved but unused counters per style (see
    /// [`UniqueSource::used`]), one cell per style, each on a cache line of
    /// its own: the source's thread writes one at every nickname.
    unused: Mutex<Vec<Arc<[CacheLine<AtomicU64>]>>>,
    /// Counters whose combination was blocked, over all sources.
    skipped: AtomicU64,
    low_warned: AtomicBool,
    /// How many sources exist: the next one's random stream.
    sources: AtomicU64,
}

/// Draws the style of each nickname by weight, among the styles not used
/// up.
#[derive(Clone)]
struct StylePicker {
    rng: ChaCha8Rng,
    weights: Vec<u64>,
    /// `cumulative[k]`: the weights of styles `0..=k`.
    cumulative: Vec<u64>,
}

impl StylePicker {
    fn new(weights: Vec<u64>, rng: ChaCha8Rng) -> StylePicker {
        let mut picker = StylePicker {
            rng,
            cumulative: Vec::with_capacity(weights.len()),
            weights,
        };
        picker.sum_up();
        picker
    }

    fn sum_up(&mut self) {
        let mut total = 0u64;
        self.cumulative.clear();
        for &w in &self.weights {
            total += w;
            self.cumulative.push(total);
        }
    }

    /// The next style, each in proportion to its weight; `None` when every
    /// style has dropped out.
    #[inline]
    fn pick(&mut self) -> Option<usize> {
        let total = *self.cumulative.last()?;
        if total == 0 {
            return None;
        }
        let r = ((u128::from(self.rng.next_u64()) * u128::from(total)) >> 64) as u64;
        // A handful of styles: count those that end at or below `r`,
        // without a branch to mispredict. A style of weight 0 ends where
        // the one before it does, so it is never drawn.
        Some(self.cumulative.iter().map(|&c| usize::from(c <= r)).sum())
    }

    /// Style `k` is used up: it is never drawn again.
    fn drop_out(&mut self, k: usize) {
        self.weights[k] = 0;
        self.sum_up();
    }
}

/// One style's counters held by a source: a few disjoint blocks, used in
/// order.
#[derive(Debug, Clone, Default)]
struct Cursor {
    /// Next counter; `next..end` is the block in use.
    next: u64,
    end: u64,
    /// Blocks reserved for later, oldest first.
    queued: std::collections::VecDeque<(u64, u64)>,
    /// Counters held in all: `end - next` plus the queued blocks.
    held: u64,
    /// The store has no more counters of this style for this node: what is
    /// held is the last.
    spent: bool,
}

impl Cursor {
    /// Moves to the next queued block; false when none is left.
    fn advance(&mut self) -> bool {
        match self.queued.pop_front() {
            Some((start, end)) => {
                (self.next, self.end) = (start, end);
                true
            }
            None => false,
        }
    }

    fn add(&mut self, start: u64, end: u64) {
        if self.next == self.end && self.queued.is_empty() {
            (self.next, self.end) = (start, end);
        } else {
            self.queued.push_back((start, end));
        }
        self.held += end - start;
    }
}

/// How a source's rounds are sized.
#[derive(Debug, Clone)]
struct Rounds {
    /// Counters per round, over all styles.
    size: u64,
    /// When the last successful round was reserved.
    started: Option<Instant>,
}

impl Rounds {
    /// The size of the next round: doubled when the last one came less
    /// than a second after the one before, halved when it lasted over a
    /// minute (once per round, not again on each retry).
    fn adapt(&mut self, now: Instant) -> u64 {
        if let Some(started) = self.started.take() {
            let lasted = now.duration_since(started);
            if lasted < GROW_BELOW {
                self.size = (self.size * 2).min(MAX_BLOCK);
            } else if lasted > SHRINK_ABOVE {
                self.size = (self.size / 2).max(MIN_BLOCK);
            }
        }
        self.size
    }
}

/// How a source's refill of one style went.
enum Refill {
    Ready,
    /// The store failed: nothing for now.
    Stalled,
    /// The style is used up and has dropped out.
    UsedUp,
}

/// Unique mode's nickname source: style by weight → the style's counter →
/// its permutation → rank → nickname.
///
/// One source serves one producer thread; [`UniqueSource::another`] makes
/// a source for a further thread. Sources of one daemon share the block
/// reserver, so each owns disjoint counter blocks of every style, all
/// reserved durably before use.
pub struct UniqueSource {
    space: IndexSpace,
    /// Per style; `None` for a style with no ranks.
    permutations: Arc<[Option<Permutation>]>,
    shared: Arc<Shared>,
    cursors: Vec<Cursor>,
    rounds: Rounds,
    picker: StylePicker,
    /// A style drawn whose nickname is still owed: its block could not be
    /// reserved yet, or its combination was blocked (redrawn within the
    /// style, as random mode does, unless the weights are `auto`).
    pending: Option<usize>,
    exhausted: bool,
    /// Counters held per style, for the shared gauges.
    unused: Arc<[CacheLine<AtomicU64>]>,
    seed: Seed,
    dict_source: DictSource,
    style: Option<String>,
}

impl UniqueSource {
    /// Loads the dictionary, opens (or creates) the state file or the
    /// lease, and checks that they belong together. Logs what it found.
    pub fn open(options: &ServeOptions, unique: &UniqueOptions) -> Result<UniqueSource, String> {
        let (dict, style) = load_dictionary(&options.source, options.style.as_deref())?;
        if options.test_tag && dict.max_len() + 24 > crate::MAX_NICKNAME_LEN {
            return Err("--test-tag needs nicknames of at most 31 bytes".into());
        }
        let space = IndexSpace::new(Arc::new(dict), style)?;
        let size = space.size();
        let styles = space.style_count();
        if unique.nodes == 0 || unique.node >= unique.nodes {
            return Err(format!(
                "--node-id {} --nodes {}: the node id must be below the number of nodes",
                unique.node, unique.nodes
            ));
        }
        let proposed = SpaceId {
            key: unique.key.unwrap_or_else(random_key),
            fingerprint: space.fingerprint(),
            sizes: space.sizes(),
        };
        let fp = hex(&proposed.fingerprint);
        let (reserver, id, marks) = match &unique.store {
            Store::StateFile { path, reset } => {
                let file = StateFile::lock(path)?;
                let existing = if *reset {
                    log(format_args!(
                        "--reset-state: starting {} afresh with new permutations; nicknames handed out under its old state may repeat",
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
                            "unique: state {} loaded: node {} of {}, {} counters reserved so far over {styles} styles",
                            path.display(),
                            state.node,
                            state.nodes,
                            state.reserved.iter().sum::<u64>()
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
                            space: proposed.clone(),
                            node: unique.node,
                            nodes: unique.nodes,
                            reserved: vec![0; styles],
                        };
                        file.save(&state).map_err(|e| {
                            format!("cannot write state file {}: {e}", path.display())
                        })?;
                        log(format_args!(
                            "unique: created state {} for dictionary {fp} ({size} indices in {styles} styles), node {} of {}",
                            path.display(),
                            unique.node,
                            unique.nodes
                        ));
                        state
                    }
                };
                let id = state.space.clone();
                let marks = state.reserved.clone();
                (Reserver::Local { file, state }, id, marks)
            }
            Store::Lease(url) => {
                if unique.nodes != 1 {
                    return Err(
                        "--lease shares counters among all its daemons; --node-id and --nodes do not apply".into(),
                    );
                }
                let mut lease = Lease::connect(url)?;
                let id = lease.agree(&proposed, unique.key.is_some())?;
                let leased = lease.leased(styles)?;
                log(format_args!(
                    "unique: lease {} for dictionary {fp} ({size} indices in {styles} styles), {} counters leased by the fleet so far",
                    url.display(),
                    leased.iter().sum::<u64>()
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
        let shares: Vec<u64> = (0..styles)
            .map(|k| {
                let size = space.style_size(k);
                if node < size {
                    (size - node - 1) / nodes + 1
                } else {
                    0
                }
            })
            .collect();
        if shares.iter().all(|&s| s == 0) {
            return Err(format!(
                "the space of {size} nicknames is too small for {nodes} nodes: node {node} would get none"
            ));
        }
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
                exhausted: vec![false; styles],
                failing_since: None,
                failure_logged: None,
            }),
            node,
            nodes,
            lease,
            styles: (0..styles)
                .map(|k| StyleShare {
                    name: space.style_name(k).to_owned(),
                    size: space.style_size(k),
                    share: if lease {
                        space.style_size(k)
                    } else {
                        shares[k]
                    },
                    mark: AtomicU64::new(marks[k]),
                })
                .collect(),
            unused: Mutex::new(Vec::new()),
            skipped: AtomicU64::new(0),
            low_warned: AtomicBool::new(false),
            sources: AtomicU64::new(0),
        });
        let permutations: Arc<[Option<Permutation>]> = (0..styles)
            .map(|k| {
                let size = space.style_size(k);
                (size > 0).then(|| Permutation::for_style(&id.key, k, size))
            })
            .collect();
        Ok(UniqueSource::with_shared(
            space,
            permutations,
            shared,
            options.seed,
            options.source.clone(),
            options.style.clone(),
        ))
    }

    fn with_shared(
        space: IndexSpace,
        permutations: Arc<[Option<Permutation>]>,
        shared: Arc<Shared>,
        seed: Seed,
        dict_source: DictSource,
        style: Option<String>,
    ) -> UniqueSource {
        let styles = space.style_count();
        let unused: Arc<[CacheLine<AtomicU64>]> =
            (0..styles).map(|_| CacheLine(AtomicU64::new(0))).collect();
        lock(&shared.unused).push(Arc::clone(&unused));
        let stream = shared.sources.fetch_add(1, Ordering::Relaxed);
        let mut rng = match seed {
            Seed::Fixed(s) => ChaCha8Rng::seed_from_u64(s),
            Seed::Os => ChaCha8Rng::try_from_rng(&mut rand::rngs::SysRng)
                .expect("the operating system's random source is unavailable"),
        };
        rng.set_stream(stream);
        // A style with no counters for this node never comes up.
        let weights = (0..styles)
            .map(|k| {
                if shared.styles[k].share == 0 {
                    0
                } else {
                    space.style_weight(k)
                }
            })
            .collect();
        UniqueSource {
            picker: StylePicker::new(weights, rng),
            space,
            permutations,
            shared,
            cursors: vec![Cursor::default(); styles],
            rounds: Rounds {
                size: MIN_BLOCK,
                started: None,
            },
            pending: None,
            exhausted: false,
            unused,
            seed,
            dict_source,
            style,
        }
    }

    /// A source for a further producer thread: the same dictionary,
    /// permutations and store, its own counter blocks (disjoint from every
    /// other source's) and its own random stream for picking styles.
    pub fn another(&self) -> UniqueSource {
        UniqueSource::with_shared(
            self.space.clone(),
            Arc::clone(&self.permutations),
            Arc::clone(&self.shared),
            self.seed,
            self.dict_source.clone(),
            self.style.clone(),
        )
    }

    /// The space this source counts through: the node's share of every
    /// style with a state file, the whole space with a lease.
    pub fn total(&self) -> u64 {
        self.shared.styles.iter().map(|s| s.share).sum()
    }

    /// Counters used by every source of this daemon, over all styles: this
    /// node's with a state file (those skipped by restarts included; those
    /// reserved by a source and not used yet excluded), the whole fleet's
    /// leases with a lease.
    pub fn used(&self) -> u64 {
        self.shared.used_per_style().iter().sum()
    }

    /// Each style's name, counters used ([`UniqueSource::used`]) and
    /// counters in all ([`UniqueSource::total`]), in the space's order.
    pub fn style_usage(&self) -> Vec<StyleUsage> {
        self.shared.usage()
    }

    /// Counters whose combination was blocked and skipped so far, by every
    /// source.
    pub fn skipped(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// Serves `space`, a reload of this source's space that numbers every
    /// nickname the same way, with its weights: they move no nickname, so
    /// they apply at once to the styles not used up.
    fn take_space(&mut self, space: IndexSpace) {
        debug_assert_eq!(space.sizes(), self.space.sizes());
        for (k, weight) in self.picker.weights.iter_mut().enumerate() {
            if *weight > 0 {
                *weight = space.style_weight(k).max(1);
            }
        }
        self.picker.sum_up();
        self.space = space;
    }

    /// A round of reservations, when style `k` has nothing left: every
    /// style of this source that holds less than its block of the round
    /// (the round size shared out by weight) gets one more block, all in
    /// one write of the state file (or one round trip to the lease).
    #[cold]
    fn refill(&mut self, k: usize) -> Refill {
        let now = Instant::now();
        let size = u128::from(self.rounds.adapt(now));
        let weights = &self.picker.weights;
        let total = u128::from(weights.iter().sum::<u64>()).max(1);
        let wanted: Vec<(usize, u64)> = self
            .cursors
            .iter()
            .enumerate()
            .filter(|&(j, cursor)| !cursor.spent && weights[j] > 0)
            .filter_map(|(j, cursor)| {
                let block = (size * u128::from(weights[j])).div_ceil(total).max(1) as u64;
                (cursor.held < block).then_some((j, block))
            })
            .collect();
        debug_assert!(wanted.iter().any(|&(j, _)| j == k));
        let results = self.shared.reserve(&wanted, now);
        let mut reserved = false;
        for (&(j, _), result) in wanted.iter().zip(results) {
            let cursor = &mut self.cursors[j];
            match result {
                Reserved::Block { start, end } => {
                    cursor.add(start, end);
                    self.unused[j].store(cursor.held, Ordering::Relaxed);
                    reserved = true;
                }
                Reserved::Exhausted => {
                    cursor.spent = true;
                    if cursor.held == 0 {
                        self.picker.drop_out(j);
                    }
                }
                Reserved::Failed => {}
            }
        }
        if reserved {
            self.rounds.started = Some(now);
        }
        let cursor = &self.cursors[k];
        if cursor.held > 0 {
            Refill::Ready
        } else if cursor.spent {
            Refill::UsedUp
        } else {
            Refill::Stalled
        }
    }
}

impl Shared {
    /// Per style: counters used, as [`UniqueSource::used`] counts them.
    fn used_per_style(&self) -> Vec<u64> {
        let unused = lock(&self.unused);
        self.styles
            .iter()
            .enumerate()
            .map(|(k, style)| {
                let mark = style.mark.load(Ordering::Relaxed);
                if self.lease {
                    return mark.min(style.size);
                }
                let held: u64 = unused.iter().map(|u| u[k].load(Ordering::Relaxed)).sum();
                mark.saturating_sub(held)
            })
            .collect()
    }

    fn usage(&self) -> Vec<StyleUsage> {
        self.styles
            .iter()
            .zip(self.used_per_style())
            .map(|(style, used)| StyleUsage {
                style: style.name.clone(),
                used,
                space: style.share,
            })
            .collect()
    }

    /// Reserves, for each `(style, size)` of `wanted`, the next block of up
    /// to `size` counters of that style, in one write of the state file
    /// (or one round trip to the lease server). Returns one result per
    /// request, in order.
    fn reserve(&self, wanted: &[(usize, u64)], now: Instant) -> Vec<Reserved> {
        let mut guard = lock(&self.blocks);
        let blocks = &mut *guard;
        let mut results = vec![Reserved::Exhausted; wanted.len()];
        let open: Vec<usize> = (0..wanted.len())
            .filter(|&i| !blocks.exhausted[wanted[i].0])
            .collect();
        if open.is_empty() {
            return results;
        }
        let outcome: Result<(), String> = match &mut blocks.reserver {
            Reserver::Local { file, state } => {
                let before = state.reserved.clone();
                let mut changed = false;
                for &i in &open {
                    let (k, size) = wanted[i];
                    let share = self.styles[k].share;
                    let start = state.reserved[k];
                    if start < share {
                        let end = (start + size).min(share);
                        state.reserved[k] = end;
                        results[i] = Reserved::Block { start, end };
                        changed = true;
                    }
                }
                if !changed {
                    Ok(())
                } else {
                    // SYNC POINT (crash safety): the blocks are on disk
                    // before any of their counters is used.
                    match file.save(state) {
                        Ok(()) => {
                            for (style, &mark) in self.styles.iter().zip(&state.reserved) {
                                style.mark.store(mark, Ordering::Relaxed);
                            }
                            Ok(())
                        }
                        Err(e) => {
                            state.reserved = before;
                            Err(format!(
                                "cannot save state file {}: {e}",
                                file.path().display()
                            ))
                        }
                    }
                }
            }
            Reserver::Lease { lease } => {
                let requests: Vec<(usize, u64)> = open.iter().map(|&i| wanted[i]).collect();
                lease.take(&requests).map(|ends| {
                    for (&i, end) in open.iter().zip(ends) {
                        let (k, size) = wanted[i];
                        let style = &self.styles[k];
                        style.mark.fetch_max(end, Ordering::Relaxed);
                        let start = end - size;
                        if start < style.share {
                            results[i] = Reserved::Block {
                                start,
                                end: end.min(style.share),
                            };
                        }
                    }
                })
            }
        };
        if let Err(e) = outcome {
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
            for &i in &open {
                results[i] = Reserved::Failed;
            }
            return results;
        }
        if results.iter().any(|r| matches!(r, Reserved::Block { .. })) {
            if let Some(since) = blocks.failing_since.take() {
                log(format_args!(
                    "unique: reserving works again after {:.1} s",
                    since.elapsed().as_secs_f64()
                ));
                blocks.failure_logged = None;
            }
        }
        for &i in &open {
            let k = wanted[i].0;
            if results[i] == Reserved::Exhausted {
                blocks.exhausted[k] = true;
                let left = blocks
                    .exhausted
                    .iter()
                    .zip(&self.styles)
                    .filter(|&(&done, s)| !done && s.share > 0)
                    .count();
                log(format_args!(
                    "unique: style '{}' is used up (all {} counters of this {} reserved); {}",
                    self.styles[k].name,
                    self.styles[k].share,
                    if self.lease { "lease" } else { "node's share" },
                    if left == 0 {
                        format!(
                            "no style is left ({} combinations skipped as blocked since start)",
                            self.skipped.load(Ordering::Relaxed)
                        )
                    } else {
                        format!("the others go on ({left} styles left)")
                    }
                ));
            }
        }
        results
    }
}

impl UniqueStyles for Shared {
    fn usage(&self) -> Vec<StyleUsage> {
        Shared::usage(self)
    }
}

/// Locks a mutex of the shared state; a thread that panicked while holding
/// it left consistent data (every update is one assignment, or undone on
/// failure), so poisoning is ignored.
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
    let fresh_start = "or start once with --reset-state to begin new permutations (nicknames handed out before may then repeat)";
    if (state.space.fingerprint, &state.space.sizes) != (proposed.fingerprint, &proposed.sizes) {
        return Err(format!(
            "state file {} was made for another dictionary (fingerprint {}, {} indices in {} styles) than this one (fingerprint {}, {} indices in {} styles); its counters mean nothing for this dictionary and could repeat nicknames. Start with the dictionary, blocklist, --style and --max-chars it was made with, {fresh_start}",
            path.display(),
            hex(&state.space.fingerprint),
            state.space.size(),
            state.space.sizes.len(),
            hex(&proposed.fingerprint),
            proposed.size(),
            proposed.sizes.len()
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
    fn next_into(&mut self, _shard: usize, out: &mut [u8]) -> Option<usize> {
        loop {
            let k = match self.pending.take() {
                Some(k) => k,
                None => match self.picker.pick() {
                    Some(k) => k,
                    None => {
                        self.exhausted = true;
                        return None;
                    }
                },
            };
            let cursor = &mut self.cursors[k];
            if cursor.held == 0 {
                match self.refill(k) {
                    Refill::Ready => {}
                    Refill::Stalled => {
                        self.pending = Some(k);
                        return None;
                    }
                    Refill::UsedUp => continue,
                }
            }
            let cursor = &mut self.cursors[k];
            if cursor.next == cursor.end {
                let advanced = cursor.advance();
                debug_assert!(advanced, "a cursor that holds counters has a block");
            }
            let counter = cursor.next;
            cursor.next += 1;
            cursor.held -= 1;
            self.unused[k].store(cursor.held, Ordering::Relaxed);
            if cursor.held == 0 && cursor.spent {
                self.picker.drop_out(k);
            }
            let permutation = self.permutations[k]
                .as_ref()
                .expect("a style with counters has ranks");
            let rank = permutation.permute(self.shared.node + self.shared.nodes * counter);
            match self.space.render(k, rank, out) {
                Some(len) => return Some(len),
                None => {
                    self.shared.skipped.fetch_add(1, Ordering::Relaxed);
                    if !self.space.dictionary().auto_weights() {
                        self.pending = Some(k);
                    }
                }
            }
        }
    }

    fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    /// Every shard of a thread draws from the same counter blocks.
    fn split(&self, _shards: &[usize]) -> UniqueSource {
        self.another()
    }

    fn adopt(&mut self, reloaded: &UniqueSource) {
        self.take_space(reloaded.space.clone());
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
        if (space.fingerprint(), space.sizes()) != (self.space.fingerprint(), self.space.sizes()) {
            return Err(format!(
                "unique mode: the reloaded dictionary numbers its nicknames differently (fingerprint {}, {} indices, instead of {}, {}), so serving it could repeat nicknames; keep the file as it was, or restart with --reset-state to switch (nicknames handed out before may then repeat)",
                hex(&space.fingerprint()),
                space.size(),
                hex(&self.space.fingerprint()),
                self.space.size()
            ));
        }
        self.take_space(space);
        Ok(format!(
            "{described} (same nicknames; its weights, block and allow lists now apply)"
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

    fn unique_styles(&self) -> Option<Arc<dyn UniqueStyles>> {
        Some(Arc::clone(&self.shared) as Arc<dyn UniqueStyles>)
    }
}

/// What `nickpool decode` needs to invert the permutation.
#[derive(Debug, Clone)]
pub enum DecodeKey {
    /// A daemon's state file (read, not locked: its daemon may run).
    StateFile(PathBuf),
    /// The permutation key and the number of nodes.
    Key { key: [u8; 16], nodes: u64 },
    /// A lease's metadata and counters.
    Lease(LeaseUrl),
}

/// A nickname read back to its style, rank, counter and node.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Its style (position and name), rank within the style and words.
    pub parsed: Parsed,
    /// The style's ranks, and the whole space's indices.
    pub style_size: u64,
    pub size: u64,
    /// The style's global counter that its permutation maps to this rank.
    pub counter: u64,
    /// Node `counter % nodes` of `nodes`, and that node's own counter of
    /// the style.
    pub node: u64,
    pub nodes: u64,
    pub node_counter: u64,
    /// A blocked term forms across a join: never handed out.
    pub blocked: bool,
    /// Whether the counter lies below the style's mark in the state or
    /// lease (`None` with a bare key, or a state file of another node).
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

/// Maps `nickname` back to its style, rank and counter under `key`.
pub fn decode(
    nickname: &str,
    source: &DictSource,
    style: Option<&str>,
    key: &DecodeKey,
) -> Result<Decoded, DecodeError> {
    let (dict, style_index) = load_dictionary(source, style).map_err(DecodeError::Setup)?;
    let space = IndexSpace::new(Arc::new(dict), style_index).map_err(DecodeError::Setup)?;
    /// The marks of the state or lease, and the node whose they are.
    enum Marks {
        None,
        Node(u64, Vec<u64>),
        Fleet(Vec<u64>),
    }
    let (id, nodes, marks) = match key {
        DecodeKey::StateFile(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                DecodeError::Setup(format!("cannot read state file {}: {e}", path.display()))
            })?;
            if record::written_by_v1(&bytes) {
                return Err(DecodeError::Setup(format!(
                    "state file {} was written by an earlier nickpool (one counter for all styles); decode its nicknames with that version",
                    path.display()
                )));
            }
            let state = State::decode(&bytes).map_err(|e| {
                DecodeError::Setup(format!("state file {} is corrupted: {e}", path.display()))
            })?;
            (
                state.space,
                state.nodes,
                Marks::Node(state.node, state.reserved),
            )
        }
        DecodeKey::Key { key, nodes } => (
            SpaceId {
                key: *key,
                fingerprint: space.fingerprint(),
                sizes: space.sizes(),
            },
            *nodes,
            Marks::None,
        ),
        DecodeKey::Lease(url) => {
            let mut lease = Lease::connect(url).map_err(DecodeError::Setup)?;
            let id = lease.space().map_err(DecodeError::Setup)?.ok_or_else(|| {
                DecodeError::Setup(format!(
                    "lease {} has no metadata yet: no daemon has used it",
                    url.display()
                ))
            })?;
            let leased = lease.leased(id.sizes.len()).map_err(DecodeError::Setup)?;
            (id, 1, Marks::Fleet(leased))
        }
    };
    if (id.fingerprint, &id.sizes) != (space.fingerprint(), &space.sizes()) {
        return Err(DecodeError::Setup(format!(
            "the state or lease was made for another dictionary (fingerprint {}, {} indices) than this one (fingerprint {}, {} indices); pass the --dict, --blocklist, --style and --max-chars the daemon runs with",
            hex(&id.fingerprint),
            id.size(),
            hex(&space.fingerprint()),
            space.size()
        )));
    }
    let Some(parsed) = space.parse(nickname) else {
        return Err(DecodeError::NotOurs(format!(
            "'{nickname}' is not one of ours: no style of the dictionary spells it{}",
            space
                .dictionary()
                .max_chars()
                .map(|n| format!(" in at most {n} characters"))
                .unwrap_or_default()
        )));
    };
    let k = parsed.style;
    let mut buf = [0u8; crate::MAX_NICKNAME_LEN];
    let blocked = space.render(k, parsed.rank, &mut buf).is_none();
    let style_size = space.style_size(k);
    let counter = Permutation::for_style(&id.key, k, style_size).invert(parsed.rank);
    let (node, node_counter) = (counter % nodes, counter / nodes);
    // A state file knows only its own node's marks.
    let reserved = match marks {
        Marks::None => None,
        Marks::Node(mark_node, marks) => (node == mark_node).then(|| node_counter < marks[k]),
        Marks::Fleet(marks) => Some(counter < marks[k]),
    };
    Ok(Decoded {
        parsed,
        style_size,
        size: space.size(),
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
        let len = source.next_into(0, &mut buf)?;
        Some(String::from_utf8(buf[..len].to_vec()).unwrap())
    }

    /// A fresh directory for one test, removed on drop.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(tag: &str) -> TestDir {
            let dir = std::env::temp_dir().join(format!("nickpool-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TestDir(dir)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn state_file(path: PathBuf) -> UniqueOptions {
        UniqueOptions {
            store: Store::StateFile { path, reset: false },
            node: 0,
            nodes: 1,
            key: Some([3; 16]),
        }
    }

    /// The first character of a nickname: the style in the dictionaries
    /// below.
    fn head(nickname: &str) -> char {
        nickname.chars().next().unwrap()
    }

    #[test]
    fn styles_come_up_by_weight_and_each_walks_its_own_permutation() {
        let dir = TestDir::new("weights");
        let dict = dir.0.join("d.dict");
        // 100,000 each, weights 1 : 3 : 6.
        std::fs::write(
            &dict,
            "[styles]\na 1 甲{digits:4}{digits:1}\nb 3 乙{digits:4}{digits:1}\nc 6 丙{digits:4}{digits:1}\n",
        )
        .unwrap();
        let mut options = options(&dict);
        options.seed = Seed::Fixed(11);
        let mut source = UniqueSource::open(&options, &state_file(dir.0.join("s"))).unwrap();
        let mut counts = std::collections::HashMap::<char, u64>::new();
        let mut seen = std::collections::HashSet::new();
        let mut firsts = std::collections::HashMap::new();
        const PULLS: u64 = 100_000;
        for _ in 0..PULLS {
            let nickname = next(&mut source).unwrap();
            *counts.entry(head(&nickname)).or_default() += 1;
            firsts
                .entry(head(&nickname))
                .or_insert_with(|| nickname.clone());
            assert!(seen.insert(nickname));
        }
        for (style, weight) in [('甲', 1.0), ('乙', 3.0), ('丙', 6.0)] {
            let share = counts[&style] as f64 / PULLS as f64;
            assert!(
                (share - weight / 10.0).abs() < 0.01,
                "{style}: {share} of draws for weight {weight} of 10"
            );
        }
        // Each style starts where its own permutation does: not at the
        // same rank as the others.
        let ranks: std::collections::HashSet<&str> = firsts.values().map(|n| &n[3..]).collect();
        assert_eq!(ranks.len(), 3, "{firsts:?}");
        let usage = source.style_usage();
        assert_eq!(
            usage
                .iter()
                .map(|u| (u.style.as_str(), u.space))
                .collect::<Vec<_>>(),
            [("a", 100_000), ("b", 100_000), ("c", 100_000)]
        );
        for (u, style) in usage.iter().zip(['甲', '乙', '丙']) {
            assert_eq!(u.used, counts[&style], "{}", u.style);
        }
        assert_eq!(source.used(), PULLS);
    }

    #[test]
    fn a_used_up_style_drops_out_and_the_others_go_on_in_their_proportions() {
        let dir = TestDir::new("dropout");
        let dict = dir.0.join("d.dict");
        // 100 small, 10,000 middle and 20,000 big; weights 2 : 3 : 5.
        std::fs::write(
            &dict,
            "[class a]\n一 x\n二 x\n[styles]\nsmall 2 小{digits:2}\nmiddle 3 中{digits:4}\nbig 5 大{digits:4}{a}\n",
        )
        .unwrap();
        let mut options = options(&dict);
        options.seed = Seed::Fixed(3);
        let mut source = UniqueSource::open(&options, &state_file(dir.0.join("s"))).unwrap();
        assert_eq!(source.total(), 30_100);
        let mut seen = std::collections::HashSet::new();
        let mut order = Vec::new();
        while let Some(nickname) = next(&mut source) {
            order.push(head(&nickname));
            assert!(seen.insert(nickname.clone()), "{nickname} twice");
        }
        assert!(source.is_exhausted(), "only when every style is used up");
        assert_eq!(seen.len(), 30_100);
        assert_eq!(source.used(), 30_100);
        // The small style runs out first (after about 500 nicknames); in
        // the next 5,000 the others keep their 3 : 5.
        let last_small = order.iter().rposition(|&c| c == '小').unwrap();
        assert!((300..800).contains(&last_small), "{last_small}");
        let after = &order[last_small + 1..last_small + 5001];
        let middle = after.iter().filter(|&&c| c == '中').count() as f64 / 5000.0;
        assert!((middle - 3.0 / 8.0).abs() < 0.03, "{middle}");
        // Then the middle style (10,000 at 3 of 8 of the draws) runs out,
        // and the big one goes on alone.
        let last_middle = order.iter().rposition(|&c| c == '中').unwrap();
        assert!(order[last_middle + 1..].iter().all(|&c| c == '大'));
        assert!(last_middle < 30_100 - 1000, "{last_middle}");
        // A restart finds every style used up at once.
        drop(source);
        let mut restarted = UniqueSource::open(&options, &state_file(dir.0.join("s"))).unwrap();
        assert_eq!(next(&mut restarted), None);
        assert!(restarted.is_exhausted());
    }

    #[test]
    fn a_reload_applies_new_weights_to_the_same_nicknames() {
        let dir = TestDir::new("reweigh");
        let dict = dir.0.join("d.dict");
        let text = "[styles]\na 1 甲{digits:4}\nb 1 乙{digits:4}\n";
        std::fs::write(&dict, text).unwrap();
        let mut options = options(&dict);
        options.seed = Seed::Fixed(5);
        let mut source = UniqueSource::open(&options, &state_file(dir.0.join("s"))).unwrap();
        let share_of_a = |source: &mut UniqueSource| {
            let drawn = (0..4000).filter(|_| head(&next(source).unwrap()) == '甲');
            drawn.count() as f64 / 4000.0
        };
        assert!((share_of_a(&mut source) - 0.5).abs() < 0.04);
        std::fs::write(&dict, text.replace("a 1", "a 9")).unwrap();
        let said = source.reload().unwrap();
        assert!(said.contains("its weights"), "{said}");
        assert!((share_of_a(&mut source) - 0.9).abs() < 0.03);
    }

    #[test]
    fn a_round_reserves_by_weight_so_a_restart_skips_little_of_any_style() {
        let dir = TestDir::new("rounds");
        let dict = dir.0.join("d.dict");
        // One big style drawn 90 times in 100, ten styles of 100 drawn once
        // in 100 each.
        let mut text = String::from("[styles]\nbig 90 大{digits:4}{digits:1}\n");
        for (i, c) in "甲乙丙丁戊己庚辛壬癸".chars().enumerate() {
            text.push_str(&format!("small{i} 1 {c}{{digits:2}}\n"));
        }
        std::fs::write(&dict, text).unwrap();
        let reserved = || {
            State::decode(&std::fs::read(dir.0.join("s")).unwrap())
                .unwrap()
                .reserved
        };
        let mut source = UniqueSource::open(&options(&dict), &state_file(dir.0.join("s"))).unwrap();
        next(&mut source).unwrap();
        // One round of 1024, shared out by weight: 922 and 11 each.
        assert_eq!(reserved(), [vec![922], vec![11; 10]].concat());
        assert_eq!(source.used(), 1);
        // A restart skips what was held, little of each style.
        drop(source);
        let mut restarted =
            UniqueSource::open(&options(&dict), &state_file(dir.0.join("s"))).unwrap();
        assert_eq!(restarted.used(), 922 + 110);
        // Rounds grow while they come fast, and every style keeps its
        // share of them until the small ones are used up.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50_000 {
            assert!(seen.insert(next(&mut restarted).unwrap()));
        }
        let marks = reserved();
        assert!(marks[1..].iter().all(|&m| m == 100), "{marks:?}");
        assert!(marks[0] > 45_000, "{marks:?}");
    }

    #[test]
    fn two_styles_that_spell_one_nickname_are_refused() {
        // Each style counts on its own, so distinct styles must never
        // produce one string: 春 + 风 (style x) is 春风 (style y).
        let dir = TestDir::new("two-styles");
        let dict = dir.0.join("d.dict");
        std::fs::write(
            &dict,
            "[class a]\n春 x\n秋 x\n[class b]\n风 x\n[styles]\nx 1 {a}{b}\ny 1 春{b}\n",
        )
        .unwrap();
        let err = UniqueSource::open(&options(&dict), &state_file(dir.0.join("s")))
            .err()
            .unwrap();
        assert!(err.contains("'春风' can be produced two ways"), "{err}");
        assert!(
            err.contains("style 'x'") && err.contains("style 'y'"),
            "{err}"
        );
        assert!(!dir.0.join("s").exists());
    }

    #[test]
    fn blocked_combinations_are_skipped_within_their_style() {
        let dir = TestDir::new("blocked");
        let dict = dir.0.join("d.dict");
        // 大奶 forms across the join in one of 4 combinations.
        std::fs::write(
            &dict,
            "[class p]\n大 x\n小 x\n[class n]\n奶糖 x\n西瓜 x\n[styles]\npn 1 {p}{n}\n\
             [block]\n奶\n大奶\n[allow]\n奶糖\n",
        )
        .unwrap();
        let mut source = UniqueSource::open(&options(&dict), &state_file(dir.0.join("s"))).unwrap();
        let mut all: Vec<String> = std::iter::from_fn(|| next(&mut source)).collect();
        all.sort();
        assert_eq!(all, ["大西瓜", "小奶糖", "小西瓜"]);
        assert!(source.is_exhausted());
        assert_eq!((source.skipped(), source.used()), (1, 4));
    }

    #[test]
    fn a_failed_reservation_stalls_and_recovers_without_repeats() {
        let tmp = TestDir::new("stall");
        let dir = tmp.0.clone();
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
        assert_eq!(State::decode(&saved).unwrap().reserved, [3 * MIN_BLOCK]);
    }

    #[test]
    fn partitioned_sources_cover_the_space_between_them() {
        let tmp = TestDir::new("cover");
        let dir = tmp.0.clone();
        let dict = dir.join("d.dict");
        // 1000 + 100 + 2 nicknames over 3 nodes: 334 + 34 + 1 for node 0,
        // 333 + 33 + 1 for node 1, 333 + 33 for node 2.
        std::fs::write(
            &dict,
            "[class a]\n星 x\n月 x\n[styles]\nn 1 星{digits:3}\nm 5 月{digits:2}\na 1 {a}\n",
        )
        .unwrap();
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
            assert_eq!(count, [369, 367, 366][node as usize]);
            assert_eq!((source.used(), source.total()), (count, count));
        }
        assert_eq!(all.len(), 1102);
    }

    #[test]
    fn sources_of_several_threads_never_overlap_and_a_restart_skips_their_blocks() {
        let tmp = TestDir::new("threads");
        let dir = tmp.0.clone();
        let dict = dir.join("d.dict");
        // 星0000 … 星9999 and 月000 … 月999, drawn 1 : 1.
        std::fs::write(
            &dict,
            "[styles]\nstar 1 星{digits:4}\nmoon 1 月{digits:3}\n",
        )
        .unwrap();
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
        let reserved: u64 = State::decode(&std::fs::read(dir.join("s")).unwrap())
            .unwrap()
            .reserved
            .iter()
            .sum();
        assert!(reserved > 4300, "{reserved}");
        drop(first);

        // A restart (even after kill -9: every block was on disk before it
        // was used) continues past every block of every thread, and the
        // star style goes on after the moon style is used up.
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
        assert_eq!(more, 11_000 - reserved);
        assert!(
            seen.iter().any(|n| n.starts_with('星')) && seen.iter().any(|n| n.starts_with('月'))
        );
    }
}
