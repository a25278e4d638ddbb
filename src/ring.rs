//! The lock-free ring: one producer (the daemon), any number of consumers in
//! any number of processes. All atomics and `unsafe` of the hot path live
//! here; the module does no I/O and runs unchanged on heap memory (unit
//! tests, loom) and on the shared mapping (production).
//!
//! # Algorithm
//!
//! Positions are monotonic 64-bit counters; position `p` lives in slot
//! `p & mask`. The producer owns `tail` (the next position to publish),
//! consumers share `head` (the next position to claim).
//!
//! Each slot carries a seqlock `stamp`: `p + 1` once the nickname for
//! position `p` is published, [`WRITING`] while the producer rewrites the
//! slot, 0 before its first use.
//!
//! A pull is optimistic and claims with a single compare-exchange:
//! 1. read `head` = h; read slot `h & mask`'s stamp; it must be `h + 1`;
//! 2. copy the payload; re-read the stamp (seqlock check: unchanged, so the
//!    copy is whole);
//! 3. compare-exchange `head` from h to h + 1. Success means nobody else
//!    claimed h, and since the producer only rewrites slot `h & mask` after
//!    seeing `head > h`, the copy is exactly the published nickname.
//!
//! A consumer therefore holds nothing between instructions: killed at any
//! point, it has either not claimed (nothing changed) or claimed with its
//! last write. Nobody ever waits for it. A batch pull claims k consecutive
//! positions with the same single compare-exchange.
//!
//! # Shards
//!
//! One `head` shared by every consumer is one cache line every pull must
//! win: the more cores pull, the slower each pull. So a segment holds
//! several rings (shards), each exactly the ring above with its own
//! producer side. A consumer pulls from a home shard chosen by where it
//! runs and takes from the others only when its own is empty
//! ([`pull_any`]), so consumers on different cores rarely touch the same
//! line. A consumer may also claim a short run of consecutive positions in
//! its one compare-exchange and hand them out one by one from its own
//! memory ([`Run`]): the claim is the batch pull above, so a consumer that
//! dies holding a run loses at most that run and blocks nobody.
//!
//! # Layout
//!
//! Every slot is one 64-byte cache line. `head` and `tail` and the slow-path
//! words each sit on their own line. All types are `#[repr(C)]` with fixed
//! sizes, so the layout is the shared-memory format (see `segment.rs`).

use crate::primitive::{AtomicU32, AtomicU64, Ordering, fence, spin_hint};

/// Stamp value while the producer rewrites a slot.
pub const WRITING: u64 = u64::MAX;

/// Payload words per slot: 7 × 8 = 56 bytes (a length byte and up to 55
/// bytes of UTF-8). The loom model uses 2 words to keep its state space small.
#[cfg(not(loom))]
pub const DATA_WORDS: usize = 7;
#[cfg(loom)]
pub const DATA_WORDS: usize = 2;

/// Largest payload one slot holds, in bytes.
pub const SLOT_PAYLOAD: usize = DATA_WORDS * 8 - 1;

/// Size of a slot in bytes: one cache line.
pub const SLOT_SIZE: usize = 64;

/// A value alone on its cache line.
#[repr(C, align(64))]
pub struct CacheLine<T>(pub T);

impl<T> std::ops::Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// One ring slot.
#[repr(C, align(64))]
pub struct Slot {
    /// Seqlock stamp. Invariant: `p + 1` after position `p` is published,
    /// [`WRITING`] during a rewrite, 0 before first use. Only the producer
    /// stores it.
    stamp: AtomicU64,
    /// Byte 0 is the length, bytes 1.. the UTF-8 nickname (little-endian
    /// words). Atomic words so optimistic readers never race with plain
    /// writes; only the producer stores them.
    data: [AtomicU64; DATA_WORDS],
}

/// Words consumers and producer sleep and wake on (slow path only).
#[repr(C)]
pub struct SleepWords {
    /// Futex word consumers sleep on; the producer bumps it to wake them.
    pub consumer_futex: AtomicU32,
    /// Consumers sleeping or about to sleep on `consumer_futex`, for
    /// statistics. A consumer killed while asleep leaves it one too high;
    /// the producer repairs it when the ring has stayed full (nobody can be
    /// waiting for data then).
    pub consumer_sleepers: AtomicU32,
    /// Set to 1 by a consumer about to sleep; the producer swaps it to 0 and
    /// wakes the sleepers. One wake-up per request, however long the sleeper
    /// takes to run again; a request left by a killed consumer costs one
    /// spurious wake-up and is gone.
    pub consumer_wake_wanted: AtomicU32,
    /// Futex word the producer sleeps on; consumers bump it to wake it.
    pub producer_futex: AtomicU32,
    /// 1 while the producer sleeps (or is about to) because the ring is full.
    pub producer_sleeping: AtomicU32,
}

/// Counters for `nickpool stats`, bumped only on slow paths.
#[repr(C)]
pub struct Counters {
    /// Pull calls that found the ring empty after a short spin (about 200
    /// retries); emptiness that ends within the spin is not counted.
    pub empty_events: AtomicU64,
    /// Times a consumer went to sleep on the futex.
    pub consumer_waits: AtomicU64,
    /// Times the producer woke sleeping consumers.
    pub consumer_wakeups: AtomicU64,
    /// Times the producer slept because the ring was full.
    pub producer_sleeps: AtomicU64,
    /// Times a consumer woke the sleeping producer.
    pub producer_wakeups: AtomicU64,
    /// Clients that reattached to this segment after a daemon restart.
    pub reattachments: AtomicU64,
    /// Dictionary reloads (SIGHUP) that succeeded.
    pub reloads: AtomicU64,
    /// Reloads refused because the new dictionary was invalid.
    pub reload_failures: AtomicU64,
}

/// The ring's control block, followed in memory by `capacity` slots.
#[repr(C)]
pub struct RingHeader {
    /// Next position the producer publishes. Producer-owned; consumers read
    /// it only for statistics. Invariant: `head <= tail <= head + capacity`
    /// as observed by the producer.
    pub tail: CacheLine<AtomicU64>,
    /// Next position to be claimed. Advanced only by a consumer's successful
    /// compare-exchange; monotonic.
    pub head: CacheLine<AtomicU64>,
    pub sleep: CacheLine<SleepWords>,
    pub counters: CacheLine<Counters>,
}

impl RingHeader {
    /// A zeroed header: an empty ring at position 0.
    pub fn new() -> RingHeader {
        RingHeader {
            tail: CacheLine(AtomicU64::new(0)),
            head: CacheLine(AtomicU64::new(0)),
            sleep: CacheLine(SleepWords {
                consumer_futex: AtomicU32::new(0),
                consumer_sleepers: AtomicU32::new(0),
                consumer_wake_wanted: AtomicU32::new(0),
                producer_futex: AtomicU32::new(0),
                producer_sleeping: AtomicU32::new(0),
            }),
            counters: CacheLine(Counters {
                empty_events: AtomicU64::new(0),
                consumer_waits: AtomicU64::new(0),
                consumer_wakeups: AtomicU64::new(0),
                producer_sleeps: AtomicU64::new(0),
                producer_wakeups: AtomicU64::new(0),
                reattachments: AtomicU64::new(0),
                reloads: AtomicU64::new(0),
                reload_failures: AtomicU64::new(0),
            }),
        }
    }
}

impl Default for RingHeader {
    fn default() -> Self {
        RingHeader::new()
    }
}

impl Slot {
    pub fn new() -> Slot {
        Slot {
            stamp: AtomicU64::new(0),
            data: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Default for Slot {
    fn default() -> Self {
        Slot::new()
    }
}

/// A copy of one slot's payload, taken optimistically.
#[derive(Clone, Copy)]
pub struct Payload {
    words: [u64; DATA_WORDS],
}

impl Payload {
    /// The payload as bytes: `[len, utf8...]`.
    #[inline]
    fn bytes(&self) -> &[u8; DATA_WORDS * 8] {
        // SAFETY: `[u64; N]` and `[u8; N * 8]` have the same size, `u8` has no
        // alignment requirement and every bit pattern is a valid `u8`.
        unsafe { &*(self.words.as_ptr() as *const [u8; DATA_WORDS * 8]) }
    }

    /// The nickname, or `None` if the length byte is out of bounds (a
    /// corrupted or hostile segment).
    #[inline]
    pub fn nickname(&self) -> Option<&[u8]> {
        let bytes = self.bytes();
        let len = bytes[0] as usize;
        bytes.get(1..1 + len)
    }

    /// The nickname of a payload whose length [`Ring::pull_payloads_with`]
    /// checked (empty if it was out of bounds after all).
    #[inline]
    pub fn text(&self) -> &[u8] {
        self.nickname().unwrap_or_default()
    }
}

/// Outcome of one pull attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// `count >= 1` nicknames claimed, positions `start..start + count`;
    /// they were passed to the sink.
    Claimed { start: u64, count: usize },
    /// Nothing published at `head`; or `head` kept moving under the attempt
    /// for [`PULL_RETRY_BUDGET`] retries in a row (the caller retries or
    /// waits as for an empty ring, within its own deadline).
    Empty,
    /// The sink refused the first nickname (it needs `needed` bytes); nothing
    /// was claimed.
    Refused { needed: usize },
    /// A slot's length byte is out of bounds: the segment is corrupt.
    Corrupt,
}

/// Retries one [`Ring::pull_with`] makes after losing a race before it
/// returns [`Pull::Empty`]. Each retry means `head` moved, which consumers
/// do only by claiming (progress for someone); a writer of the segment that
/// keeps moving it could otherwise hold a caller past its timeout.
pub const PULL_RETRY_BUDGET: u32 = 1024;

/// A view of a ring in memory: the header and its slots. The same code runs
/// over a heap allocation and over the shared mapping.
#[derive(Clone, Copy)]
pub struct Ring<'a> {
    header: &'a RingHeader,
    slots: &'a [Slot],
    /// `slots.len() - 1`; the capacity is a power of two.
    mask: u64,
}

impl<'a> Ring<'a> {
    /// A view over `header` and `slots`.
    ///
    /// # Panics
    /// If `slots.len()` is not a power of two of at least 2.
    pub fn new(header: &'a RingHeader, slots: &'a [Slot]) -> Ring<'a> {
        assert!(
            slots.len() >= 2 && slots.len().is_power_of_two(),
            "ring capacity must be a power of two >= 2"
        );
        Ring {
            header,
            slots,
            mask: slots.len() as u64 - 1,
        }
    }

    pub fn header(&self) -> &'a RingHeader {
        self.header
    }

    pub fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }

    #[inline]
    fn slot(&self, pos: u64) -> &'a Slot {
        let index = (pos & self.mask) as usize;
        debug_assert!(index < self.slots.len());
        &self.slots[index]
    }

    /// Nicknames published and not yet claimed, as of now (statistics; the
    /// two loads are not one snapshot).
    pub fn len(&self) -> u64 {
        let head = self.header.head.load(Ordering::Relaxed);
        let tail = self.header.tail.load(Ordering::Relaxed);
        tail.saturating_sub(head).min(self.capacity())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Claims up to `max` consecutive nicknames in one atomic step.
    ///
    /// `sink(i, nickname)` receives the i-th nickname of the attempt and
    /// returns whether it takes it; the first refusal ends the batch. An
    /// attempt may be retried (another consumer won the race), in which case
    /// the sink sees indices from 0 again: it must overwrite, not append.
    /// Only a returned `Claimed { count: n, .. }` makes items `0..n` of the last attempt
    /// the caller's. After [`PULL_RETRY_BUDGET`] lost races it gives up
    /// with `Empty`.
    #[inline]
    pub fn pull_with(&self, max: usize, mut sink: impl FnMut(usize, &[u8]) -> bool) -> Pull {
        self.pull_payloads_with(max, |i, payload| sink(i, payload.text()))
    }

    /// [`Ring::pull_with`] with the sink given each slot's whole payload
    /// (whose length byte has been checked), to copy it as it is.
    #[inline]
    pub fn pull_payloads_with(
        &self,
        max: usize,
        mut sink: impl FnMut(usize, &Payload) -> bool,
    ) -> Pull {
        debug_assert!(max >= 1);
        let mut head = self.header.head.load(Ordering::Relaxed);
        let mut retries = 0u32;
        'attempt: loop {
            if retries > PULL_RETRY_BUDGET {
                return Pull::Empty;
            }
            retries += 1;
            let mut taken = 0usize;
            let mut refused = None;
            while taken < max {
                // Wrapping: `head` comes from shared memory, and a hostile
                // writer may set it anywhere, even next to u64::MAX.
                let pos = head.wrapping_add(taken as u64);
                let slot = self.slot(pos);
                // SYNC POINT (publish, acquire side): pairs with the release
                // store of the stamp in `Producer::publish`; a stamp of
                // `pos + 1` makes that position's payload visible.
                let stamp = slot.stamp.load(Ordering::Acquire);
                if stamp != pos.wrapping_add(1) {
                    break;
                }
                let payload = Payload {
                    words: std::array::from_fn(|i| slot.data[i].load(Ordering::Relaxed)),
                };
                // SYNC POINT (seqlock, acquire side): pairs with the release
                // fence in `Producer::publish` after it marks the slot
                // WRITING. If any payload load above saw a rewrite, the
                // stamp load below sees WRITING or a later stamp.
                fence(Ordering::Acquire);
                if slot.stamp.load(Ordering::Relaxed) != stamp {
                    // Torn: the slot was rewritten under us, so `head` has
                    // moved past it. Start over from the current head.
                    head = self.header.head.load(Ordering::Relaxed);
                    spin_hint();
                    continue 'attempt;
                }
                let Some(nickname) = payload.nickname() else {
                    return Pull::Corrupt;
                };
                let needed = nickname.len();
                if !sink(taken, &payload) {
                    refused = Some(needed);
                    break;
                }
                taken += 1;
            }
            if taken == 0 {
                // The position we looked at may have been claimed while we
                // looked (and its slot reused); only an unchanged head means
                // empty or refused.
                let now = self.header.head.load(Ordering::Relaxed);
                if now != head {
                    head = now;
                    spin_hint();
                    continue 'attempt;
                }
                return match refused {
                    Some(needed) => Pull::Refused { needed },
                    None => Pull::Empty,
                };
            }
            // SYNC POINT (claim, release side): pairs with the acquire load
            // of `head` in `Producer::free_slots`; the producer rewrites these
            // slots only after seeing this store, so our copies happened
            // before its writes. SeqCst also orders the claim before the
            // load of `producer_sleeping` in `crosses_wake_mark` callers
            // (see `Producer::announce_sleep`).
            match self.header.head.compare_exchange_weak(
                head,
                head.wrapping_add(taken as u64),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Pull::Claimed {
                        start: head,
                        count: taken,
                    };
                }
                Err(now) => {
                    head = now;
                    spin_hint();
                }
            }
        }
    }

    /// Whether a claim of positions `start..start + n` crossed a wake mark
    /// (one every quarter of the ring). The consumer whose claim crosses one
    /// wakes the producer if it sleeps (see [`Producer::announce_sleep`]), so
    /// a full ring is refilled after each quarter is drained.
    #[inline]
    pub fn crosses_wake_mark(&self, start: u64, n: usize) -> bool {
        let quarter_shift = (self.capacity() / 4).max(1).trailing_zeros();
        (start >> quarter_shift) != (start.wrapping_add(n as u64) >> quarter_shift)
    }

    /// The slots from position `pos` on, to fetch ahead (see [`Ahead`]).
    #[inline]
    pub fn ahead(&self, pos: u64) -> Ahead {
        Ahead {
            base: self.slots.as_ptr() as usize,
            mask: self.mask,
            next: pos,
        }
    }

    /// Current head (for tests and statistics).
    pub fn head(&self) -> u64 {
        self.header.head.load(Ordering::Relaxed)
    }

    /// Current tail (for tests and statistics).
    pub fn tail(&self) -> u64 {
        self.header.tail.load(Ordering::Relaxed)
    }
}

/// Several rings that consumers treat as one pool (see the module doc):
/// the segment's shards, or rings on the heap in tests.
pub trait Shards<'a> {
    /// How many shards; at least 1.
    fn count(&self) -> usize;
    /// Shard `index` (below [`Shards::count`]).
    fn shard(&self, index: usize) -> Ring<'a>;
}

/// Claims up to `max` nicknames in one atomic step from one shard: `home`
/// if it has any published, else the first of `home + 1`, `home + 2`, …
/// (wrapping around) that has. Returns the shard and the outcome of the
/// pull there; [`Pull::Empty`] means every shard was empty when looked at.
/// A refusal or a corrupt slot ends the sweep. `sink` follows the contract
/// of [`Ring::pull_payloads_with`]; it may be called by several shards'
/// attempts, each starting again from index 0.
#[inline]
pub fn pull_any<'a>(
    shards: &impl Shards<'a>,
    home: usize,
    max: usize,
    mut sink: impl FnMut(usize, &Payload) -> bool,
) -> (usize, Pull) {
    let count = shards.count();
    debug_assert!(home < count, "home shard {home} of {count}");
    let mut index = home;
    for _ in 0..count {
        let pull = shards.shard(index).pull_payloads_with(max, &mut sink);
        if pull != Pull::Empty {
            return (index, pull);
        }
        index += 1;
        if index == count {
            index = 0;
        }
    }
    (home, Pull::Empty)
}

/// Where a consumer's next claim from a ring most likely starts: right
/// after its last one, when no other consumer pulls from that ring. While
/// it hands out its run, the consumer asks the CPU to fetch those slots'
/// cache lines, one per nickname handed out, so the next claim finds them
/// close by. Only an address: it keeps nothing alive and reads nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ahead {
    /// Address of slot 0 (0: nothing to fetch), the ring's index mask, and
    /// the first position.
    base: usize,
    mask: u64,
    next: u64,
}

impl Ahead {
    /// Nothing to fetch.
    pub const NONE: Ahead = Ahead {
        base: 0,
        mask: 0,
        next: 0,
    };

    /// Hints the CPU to fetch the cache line of position `next + k`.
    #[inline]
    pub fn prefetch(&self, k: usize) {
        if self.base == 0 {
            return;
        }
        let index = (self.next.wrapping_add(k as u64) & self.mask) as usize;
        let _address = self.base.wrapping_add(index.wrapping_mul(SLOT_SIZE));
        #[cfg(all(target_arch = "x86_64", not(miri), not(loom)))]
        // SAFETY: a prefetch is a hint: it never faults and has no effect
        // the program can observe, whatever the address holds (the ring may
        // have been unmapped since `Ring::ahead`).
        unsafe {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(_address as *const i8);
        }
    }
}

/// Most nicknames a [`Run`] holds (besides the one its claim hands out at
/// once): a claim takes at most `RUN_MAX + 1` = 32 positions. Larger runs
/// mean fewer claims (each one compare-exchange and a burst of slot
/// copies); smaller ones less to lose when a consumer dies. 32 keeps a
/// claim's cost under a quarter of an 8-call group on a 2-core machine.
pub const RUN_MAX: usize = 31;

/// Nicknames a consumer claimed together, handed out one at a time from its
/// own memory.
///
/// A run is filled by one [`Ring::pull_with`] (or [`pull_any`]) of up to
/// `RUN_MAX + 1`: item 0 goes straight to the caller, items 1.. into the
/// run ([`Run::store`]). The compare-exchange that claims them makes the
/// copies the claimer's alone, so handing them out later touches no shared
/// memory, and the producer may reuse their slots at once.
pub struct Run {
    /// Copies of the slots' payloads (length checked); `next..end` are held.
    items: [Payload; RUN_MAX],
    next: usize,
    end: usize,
}

impl Run {
    /// An empty run.
    pub const fn new() -> Run {
        Run {
            items: [Payload {
                words: [0; DATA_WORDS],
            }; RUN_MAX],
            next: 0,
            end: 0,
        }
    }

    /// Nicknames held.
    pub fn len(&self) -> usize {
        self.end - self.next
    }

    pub fn is_empty(&self) -> bool {
        self.next == self.end
    }

    /// Forgets what the run holds (those nicknames are lost, never handed
    /// out twice).
    pub fn clear(&mut self) {
        self.next = 0;
        self.end = 0;
    }

    /// The sink of a claim ([`Ring::pull_payloads_with`], [`pull_any`]) for
    /// item `i >= 1` (item `i - 1` of the run): keeps a copy of `payload`,
    /// overwriting what an earlier attempt stored there. Call on an empty
    /// run, then [`Run::filled`] with the count the claim returned.
    ///
    /// # Panics
    /// If `i` is 0 or above [`RUN_MAX`].
    #[inline]
    pub fn store(&mut self, i: usize, payload: &Payload) {
        debug_assert!(self.is_empty());
        self.items[i - 1] = *payload;
    }

    /// Records a claim of `claimed` nicknames: item 0 went to the caller,
    /// items `1..claimed` are held.
    #[inline]
    pub fn filled(&mut self, claimed: usize) {
        debug_assert!((1..=RUN_MAX + 1).contains(&claimed));
        self.next = 0;
        self.end = claimed - 1;
    }

    /// The next nickname held, without handing it out.
    #[inline]
    pub fn peek(&self) -> Option<&[u8]> {
        if self.is_empty() {
            return None;
        }
        debug_assert!(self.next < RUN_MAX);
        Some(self.items[self.next].text())
    }

    /// Hands out the nickname [`Run::peek`] showed; returns how many the
    /// run has handed out since it was filled.
    #[inline]
    pub fn advance(&mut self) -> usize {
        debug_assert!(!self.is_empty());
        self.next += 1;
        self.next
    }
}

impl Default for Run {
    fn default() -> Self {
        Run::new()
    }
}

/// The producer's side of a ring. There must be at most one per ring at a
/// time (the daemon holds the segment lock); creating it is therefore
/// `unsafe`.
pub struct Producer<'a> {
    ring: Ring<'a>,
    /// Next position to publish (mirrors `header.tail`).
    tail: u64,
    /// Last value of `head` the producer read; positions below
    /// `cached_head + capacity` are free to write.
    cached_head: u64,
}

impl<'a> Producer<'a> {
    /// The producer for `ring`, continuing from its current tail.
    ///
    /// # Safety
    /// No other `Producer` for the same ring may exist at the same time, in
    /// this or any other process: slot writes are not synchronised between
    /// producers.
    pub unsafe fn new(ring: Ring<'a>) -> Producer<'a> {
        let tail = ring.header.tail.load(Ordering::Relaxed);
        let cached_head = ring.header.head.load(Ordering::Acquire);
        Producer {
            ring,
            tail,
            cached_head,
        }
    }

    pub fn ring(&self) -> Ring<'a> {
        self.ring
    }

    /// Slots free for writing; re-reads `head` only when the cached view
    /// says the ring is full.
    #[inline]
    pub fn free_slots(&mut self) -> u64 {
        let cap = self.ring.capacity();
        if self.tail.wrapping_sub(self.cached_head) >= cap {
            // SYNC POINT (claim, acquire side): pairs with the SeqCst
            // compare-exchange of `head` in `Ring::pull_with`; after this
            // load, consumers' copies of positions below it are complete.
            self.cached_head = self.ring.header.head.load(Ordering::SeqCst);
        }
        // Saturating: a `head` outside `tail - capacity..=tail` was written
        // by someone else with access to the segment; the producer then
        // sees a full ring and writes nothing rather than panicking.
        cap.saturating_sub(self.tail.wrapping_sub(self.cached_head))
    }

    /// Writes one nickname into the next free position and publishes it.
    /// `write(buf)` fills `buf` ([`SLOT_PAYLOAD`] bytes) and returns the
    /// length, or `None` to publish nothing. Returns whether it published.
    ///
    /// # Panics
    /// If there is no free slot (check [`Producer::free_slots`]) or `write`
    /// returns a length above [`SLOT_PAYLOAD`].
    #[inline]
    pub fn push_with(&mut self, write: impl FnOnce(&mut [u8]) -> Option<usize>) -> bool {
        assert!(
            self.tail.wrapping_sub(self.cached_head) < self.ring.capacity(),
            "push into a full ring"
        );
        let mut words = [0u64; DATA_WORDS];
        // SAFETY: `[u64; N]` and `[u8; N * 8]` have the same size and `u8`
        // has no alignment requirement; every byte pattern is a valid u64.
        let bytes = unsafe { &mut *(words.as_mut_ptr() as *mut [u8; DATA_WORDS * 8]) };
        let Some(len) = write(&mut bytes[1..]) else {
            return false;
        };
        assert!(
            len <= SLOT_PAYLOAD,
            "nickname of {len} bytes exceeds the slot"
        );
        bytes[0] = len as u8;
        self.publish(&words);
        true
    }

    #[inline]
    fn publish(&mut self, words: &[u64; DATA_WORDS]) {
        let pos = self.tail;
        let slot = self.ring.slot(pos);
        slot.stamp.store(WRITING, Ordering::Relaxed);
        // SYNC POINT (seqlock, release side): pairs with the acquire fence in
        // `Ring::pull_with`. A reader that sees any of the data stores below
        // then sees WRITING (or later) when it re-reads the stamp.
        fence(Ordering::Release);
        for (cell, &word) in slot.data.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        // SYNC POINT (publish, release side): pairs with the acquire load of
        // the stamp in `Ring::pull_with`.
        slot.stamp.store(pos + 1, Ordering::Release);
        self.tail = pos + 1;
    }

    /// Makes the new tail visible to statistics readers. Called after a
    /// batch of pushes; consumers do not depend on it.
    pub fn flush_tail(&self) {
        self.ring.header.tail.store(self.tail, Ordering::Release);
    }

    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// Announces that the producer is about to sleep because this ring is
    /// full; returns false if a consumer claimed something meanwhile
    /// (refill instead of sleeping).
    ///
    /// The producer first reads the futex word it will sleep on (one word,
    /// however many rings it fills), then announces on each of its rings,
    /// and sleeps only if every announcement returned true; either way it
    /// calls [`Producer::end_sleep`] on each ring afterwards.
    ///
    /// Protocol: the producer stores `producer_sleeping = 1`, then re-reads
    /// `head` (both SeqCst); a consumer claims with a SeqCst
    /// compare-exchange, then reads `producer_sleeping` (SeqCst) when its
    /// claim crossed a wake mark, and if set, clears it and bumps the
    /// producer's futex word. In the single total order either the producer
    /// sees the claim, or the consumer sees the flag; its bump comes after
    /// the producer read the futex word, so the sleep ends at once.
    pub fn announce_sleep(&mut self) -> bool {
        let sleep = &self.ring.header.sleep;
        sleep.producer_sleeping.store(1, Ordering::SeqCst);
        let head = self.ring.header.head.load(Ordering::SeqCst);
        if head != self.cached_head {
            sleep.producer_sleeping.store(0, Ordering::Relaxed);
            self.cached_head = head;
            return false;
        }
        true
    }

    /// Ends a sleep (whether woken or timed out).
    pub fn end_sleep(&self) {
        self.ring
            .header
            .sleep
            .producer_sleeping
            .store(0, Ordering::Relaxed);
    }

    /// Whether a consumer asked to be woken (and clears the request). Call
    /// after publishing; if true, bump `consumer_futex` and wake sleepers.
    ///
    /// Protocol: the producer publishes (stamp store), then a SeqCst fence,
    /// then takes `consumer_wake_wanted`, and if it was set bumps
    /// `consumer_futex` (SeqCst) and wakes. A consumer reads `consumer_futex`
    /// (SeqCst), then stores `consumer_wake_wanted = 1`, then a SeqCst
    /// fence, then re-reads the stamp before sleeping on the value it read.
    /// Either the producer sees the request or the consumer sees the data;
    /// and a bump answering the request comes after the consumer's read of
    /// the futex word, so its sleep returns at once.
    #[inline]
    pub fn take_wake_request(&self) -> bool {
        // SYNC POINT (consumer wake, producer side): pairs with the SeqCst
        // fence in the consumer's wait path (`client.rs`).
        fence(Ordering::SeqCst);
        let wanted = &self.ring.header.sleep.consumer_wake_wanted;
        wanted.load(Ordering::Relaxed) != 0 && wanted.swap(0, Ordering::SeqCst) != 0
    }
}

/// A ring on the heap, for tests and in-process use.
pub struct HeapRing {
    header: Box<RingHeader>,
    slots: Box<[Slot]>,
}

impl HeapRing {
    /// An empty ring of `capacity` slots (a power of two >= 2).
    pub fn new(capacity: usize) -> HeapRing {
        HeapRing {
            header: Box::new(RingHeader::new()),
            slots: (0..capacity).map(|_| Slot::new()).collect(),
        }
    }

    pub fn ring(&self) -> Ring<'_> {
        Ring::new(&self.header, &self.slots)
    }
}

impl<'a> Shards<'a> for &'a [HeapRing] {
    fn count(&self) -> usize {
        self.len()
    }

    fn shard(&self, index: usize) -> Ring<'a> {
        self[index].ring()
    }
}

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<Slot>() == SLOT_SIZE);
    assert!(std::mem::align_of::<Slot>() == 64);
    assert!(std::mem::size_of::<RingHeader>() == 4 * 64);
    assert!(SLOT_PAYLOAD == crate::MAX_NICKNAME_LEN);
};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn push_str(p: &mut Producer<'_>, s: &str) {
        assert!(p.push_with(|buf| {
            buf[..s.len()].copy_from_slice(s.as_bytes());
            Some(s.len())
        }));
    }

    fn pull_one(ring: Ring<'_>) -> Option<String> {
        let mut out = None;
        match ring.pull_with(1, |_, b| {
            out = Some(String::from_utf8(b.to_vec()).unwrap());
            true
        }) {
            Pull::Claimed { count: 1, .. } => out,
            Pull::Empty => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn fifo_with_wrap_around() {
        let heap = HeapRing::new(4);
        let ring = heap.ring();
        // SAFETY: the only producer of this ring.
        let mut p = unsafe { Producer::new(ring) };
        let rounds = if cfg!(miri) { 3 } else { 10 };
        for round in 0..rounds {
            assert_eq!(p.free_slots(), 4);
            for i in 0..4 {
                push_str(&mut p, &format!("名{round}-{i}"));
            }
            assert_eq!(p.free_slots(), 0);
            for i in 0..4 {
                assert_eq!(pull_one(ring).as_deref(), Some(&*format!("名{round}-{i}")));
            }
            assert_eq!(pull_one(ring), None);
        }
        assert_eq!(ring.head(), 4 * rounds);
    }

    #[test]
    fn refused_nickname_is_not_consumed() {
        let heap = HeapRing::new(2);
        let ring = heap.ring();
        // SAFETY: the only producer of this ring.
        let mut p = unsafe { Producer::new(ring) };
        push_str(&mut p, "快乐的小猫");
        assert_eq!(
            ring.pull_with(1, |_, _| false),
            Pull::Refused {
                needed: "快乐的小猫".len()
            }
        );
        assert_eq!(pull_one(ring).as_deref(), Some("快乐的小猫"));
    }

    #[test]
    fn batch_claims_what_is_published_and_accepted() {
        let heap = HeapRing::new(8);
        let ring = heap.ring();
        // SAFETY: the only producer of this ring.
        let mut p = unsafe { Producer::new(ring) };
        for i in 0..5 {
            push_str(&mut p, &format!("n{i}"));
        }
        let mut got = vec![String::new(); 8];
        let r = ring.pull_with(8, |i, b| {
            got[i] = String::from_utf8(b.to_vec()).unwrap();
            true
        });
        assert_eq!(r, Pull::Claimed { start: 0, count: 5 });
        assert_eq!(&got[..5], ["n0", "n1", "n2", "n3", "n4"]);
        for i in 5..8 {
            push_str(&mut p, &format!("n{i}"));
        }
        // The sink takes only two: the batch claims exactly two.
        let r = ring.pull_with(8, |i, _| i < 2);
        assert_eq!(r, Pull::Claimed { start: 5, count: 2 });
        assert_eq!(pull_one(ring).as_deref(), Some("n7"));
    }

    #[test]
    fn corrupt_length_is_reported_not_read() {
        let heap = HeapRing::new(2);
        let ring = heap.ring();
        // SAFETY: the only producer of this ring.
        let mut p = unsafe { Producer::new(ring) };
        push_str(&mut p, "好");
        // Forge a length byte beyond the payload, as a hostile writer could.
        heap.slots[0].data[0].store(0xff, Ordering::Relaxed);
        assert_eq!(ring.pull_with(1, |_, _| true), Pull::Corrupt);
    }

    /// `head` lives in shared memory: a writer with access to the segment
    /// may set it anywhere. Next to u64::MAX the arithmetic wraps instead of
    /// panicking, a forged stamp there is claimed like any other, and a
    /// producer facing an impossible head writes nothing.
    #[test]
    fn a_forged_head_near_the_counter_end_neither_panics_nor_breaks_bounds() {
        let heap = HeapRing::new(4);
        let ring = heap.ring();
        heap.header.head.store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(ring.pull_with(4, |_, _| true), Pull::Empty);
        // Forge published stamps for positions u64::MAX - 1 and u64::MAX.
        for pos in [u64::MAX - 1, u64::MAX] {
            let slot = ring.slot(pos);
            slot.data[0].store(u64::from(b'x') << 8 | 1, Ordering::Relaxed);
            slot.stamp.store(pos.wrapping_add(1), Ordering::Release);
        }
        let mut got = Vec::new();
        assert_eq!(
            ring.pull_with(4, |i, b| {
                // A retried attempt (a spurious compare-exchange failure)
                // starts again from index 0: overwrite, never append.
                got.truncate(i);
                got.push(b.to_vec());
                true
            }),
            Pull::Claimed {
                start: u64::MAX - 1,
                count: 2
            }
        );
        assert_eq!(got, [b"x".to_vec(), b"x".to_vec()]);
        assert_eq!(ring.head(), 0);
        assert!(ring.crosses_wake_mark(u64::MAX, 1));

        // A producer at tail 0: head u64::MAX - 1 is two behind it (modulo
        // 2^64), head 5 is ahead of it, which no consumer can cause: the
        // producer sees a full ring instead of underflowing.
        heap.header.head.store(u64::MAX - 1, Ordering::Relaxed);
        {
            // SAFETY: the only producer of this ring.
            let mut p = unsafe { Producer::new(ring) };
            assert_eq!(p.free_slots(), 2);
        }
        heap.header.head.store(5, Ordering::Relaxed);
        // SAFETY: the only producer of this ring (the previous one is gone).
        let mut p = unsafe { Producer::new(ring) };
        assert_eq!(p.free_slots(), 0);
    }

    /// A writer of the segment that moves `head` under every attempt (here
    /// from inside the sink, the worst possible moment: after the copy,
    /// before the claim) cannot keep a pull retrying forever: it gives up
    /// with Empty after its retry budget, so the caller's deadline applies.
    #[test]
    fn a_head_moved_under_every_attempt_ends_the_pull_within_its_budget() {
        let heap = HeapRing::new(4);
        let ring = heap.ring();
        // SAFETY: the only producer of this ring.
        let mut p = unsafe { Producer::new(ring) };
        push_str(&mut p, "好");
        // The hostile writer gives up after this many moves; a pull without
        // a budget claims only then.
        const MOVES: u64 = 10 * PULL_RETRY_BUDGET as u64;
        let mut attempts = 0u64;
        let outcome = ring.pull_with(1, |_, _| {
            attempts += 1;
            if attempts <= MOVES {
                // Move head a whole lap, to the same slot, and forge that
                // slot's stamp for the new position: the next attempt finds
                // a published nickname again, and its claim fails again.
                let now = heap.header.head.fetch_add(4, Ordering::Relaxed) + 4;
                heap.slots[(now & 3) as usize]
                    .stamp
                    .store(now + 1, Ordering::Release);
            }
            true
        });
        assert_eq!(outcome, Pull::Empty);
        assert_eq!(attempts, u64::from(PULL_RETRY_BUDGET) + 1);
    }

    #[test]
    fn wake_marks_fall_every_quarter() {
        let heap = HeapRing::new(16);
        let ring = heap.ring();
        assert!(!ring.crosses_wake_mark(0, 3));
        assert!(ring.crosses_wake_mark(3, 1));
        assert!(ring.crosses_wake_mark(2, 10));
        assert!(!ring.crosses_wake_mark(4, 3));
    }

    #[test]
    fn concurrent_consumers_get_each_item_once_and_whole() {
        use std::sync::Arc;
        // Miri interprets every instruction: a short run there, a long one
        // on hardware.
        const N: u64 = if cfg!(miri) { 300 } else { 200_000 };
        let heap = Arc::new(HeapRing::new(64));
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let heap = Arc::clone(&heap);
                std::thread::spawn(move || {
                    let ring = heap.ring();
                    let mut seen = Vec::new();
                    while ring.head() < N {
                        let mut batch = [0u64; 4];
                        if let Pull::Claimed { count: n, .. } = ring.pull_with(4, |i, b| {
                            // Every nickname is "<n>:<n>"; a torn copy would
                            // mix two numbers.
                            let s = std::str::from_utf8(b).unwrap();
                            let (a, c) = s.split_once(':').unwrap();
                            assert_eq!(a, c, "torn read: {s}");
                            batch[i] = a.parse().unwrap();
                            true
                        }) {
                            seen.extend_from_slice(&batch[..n]);
                        }
                    }
                    seen
                })
            })
            .collect();
        let ring = heap.ring();
        // SAFETY: the only producer of this ring.
        let mut p = unsafe { Producer::new(ring) };
        let mut next = 0u64;
        while next < N {
            if p.free_slots() == 0 {
                std::thread::yield_now();
                continue;
            }
            push_str(&mut p, &format!("{next}:{next}"));
            next += 1;
        }
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all.len() as u64, N);
        assert!(all.iter().enumerate().all(|(i, &v)| v == i as u64));
    }

    #[test]
    fn an_empty_home_shard_takes_from_the_others() {
        let heaps: Vec<HeapRing> = (0..4).map(|_| HeapRing::new(4)).collect();
        let shards = &heaps[..];
        // SAFETY: the only producer of shard 2.
        let mut p = unsafe { Producer::new(heaps[2].ring()) };
        push_str(&mut p, "甲");
        push_str(&mut p, "乙");
        let mut got = String::new();
        fn take(got: &mut String) -> impl FnMut(usize, &Payload) -> bool + '_ {
            move |_, p| {
                *got = String::from_utf8(p.text().to_vec()).unwrap();
                true
            }
        }
        // Home 3 is empty; the sweep wraps around to 0, 1, then finds 2.
        assert_eq!(
            pull_any(&shards, 3, 1, take(&mut got)),
            (2, Pull::Claimed { start: 0, count: 1 })
        );
        assert_eq!(got, "甲");
        // A refusal ends the sweep and consumes nothing.
        assert_eq!(
            pull_any(&shards, 0, 1, |_, _| false),
            (
                2,
                Pull::Refused {
                    needed: "乙".len()
                }
            )
        );
        assert_eq!(
            pull_any(&shards, 2, 1, take(&mut got)),
            (2, Pull::Claimed { start: 1, count: 1 })
        );
        assert_eq!(got, "乙");
        assert_eq!(pull_any(&shards, 1, 4, |_, _| true), (1, Pull::Empty));
    }

    #[test]
    fn a_run_hands_out_one_claim_in_order_and_the_producer_may_reuse_its_slots() {
        let heap = HeapRing::new(8);
        let ring = heap.ring();
        // SAFETY: the only producer of this ring.
        let mut p = unsafe { Producer::new(ring) };
        for i in 0..6 {
            push_str(&mut p, &format!("n{i}"));
        }
        let mut run = Run::new();
        // The caller's buffer refuses the first nickname: nothing claimed.
        assert_eq!(
            ring.pull_with(RUN_MAX + 1, |i, _| i != 0),
            Pull::Refused { needed: 2 }
        );
        let mut first = String::new();
        let pull = ring.pull_payloads_with(RUN_MAX + 1, |i, p| {
            if i == 0 {
                first = String::from_utf8(p.text().to_vec()).unwrap();
            } else {
                run.store(i, p);
            }
            true
        });
        assert_eq!(pull, Pull::Claimed { start: 0, count: 6 });
        run.filled(6);
        assert_eq!((first.as_str(), run.len()), ("n0", 5));
        // The ring is drained: the producer rewrites every slot while the
        // run still holds five of their nicknames.
        for i in 0..8 {
            assert!(p.free_slots() > 0);
            push_str(&mut p, &format!("m{i}"));
        }
        for i in 1..6 {
            assert_eq!(run.peek(), Some(format!("n{i}").as_bytes()));
            run.advance();
        }
        assert!(run.is_empty() && run.peek().is_none());
        assert_eq!(pull_one(ring).as_deref(), Some("m0"));
    }

    #[test]
    fn consumers_with_runs_over_shards_get_each_item_once_and_whole() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;
        const SHARDS: usize = 4;
        const N: u64 = if cfg!(miri) { 200 } else { 100_000 };
        let heaps: Arc<Vec<HeapRing>> = Arc::new((0..SHARDS).map(|_| HeapRing::new(16)).collect());
        // Nicknames claimed by all consumers: they stop at N.
        let claimed = Arc::new(AtomicU64::new(0));
        let consumers: Vec<_> = (0..3)
            .map(|home| {
                let heaps = Arc::clone(&heaps);
                let claimed = Arc::clone(&claimed);
                std::thread::spawn(move || {
                    let shards = &heaps[..];
                    let mut run = Run::new();
                    let mut seen = Vec::new();
                    let parse = |b: &[u8]| -> u64 {
                        // Every nickname is "<n>:<n>"; a torn copy would
                        // mix two numbers.
                        let s = std::str::from_utf8(b).unwrap();
                        let (a, c) = s.split_once(':').unwrap();
                        assert_eq!(a, c, "torn read: {s}");
                        a.parse().unwrap()
                    };
                    loop {
                        if let Some(b) = run.peek() {
                            seen.push(parse(b));
                            run.advance();
                            continue;
                        }
                        if claimed.load(Ordering::Relaxed) >= N {
                            break;
                        }
                        let mut first = 0;
                        match pull_any(&shards, home, RUN_MAX + 1, |i, p| {
                            if i == 0 {
                                first = parse(p.text());
                            } else {
                                run.store(i, p);
                            }
                            true
                        }) {
                            (_, Pull::Claimed { count, .. }) => {
                                run.filled(count);
                                seen.push(first);
                                claimed.fetch_add(count as u64, Ordering::Relaxed);
                            }
                            (_, Pull::Empty) => std::thread::yield_now(),
                            (_, other) => panic!("{other:?}"),
                        }
                    }
                    seen
                })
            })
            .collect();
        // One producer fills every shard in turn.
        let mut producers: Vec<Producer<'_>> = heaps
            .iter()
            // SAFETY: the only producer of each ring.
            .map(|h| unsafe { Producer::new(h.ring()) })
            .collect();
        let mut next = 0u64;
        while next < N {
            let mut pushed = false;
            for p in &mut producers {
                if next < N && p.free_slots() > 0 {
                    push_str(p, &format!("{next}:{next}"));
                    next += 1;
                    pushed = true;
                }
            }
            if !pushed {
                std::thread::yield_now();
            }
        }
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all.len() as u64, N);
        assert!(all.iter().enumerate().all(|(i, &v)| v == i as u64));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn push(p: &mut Producer<'_>, v: u8) {
        // A payload whose every byte is `v`: a torn copy would mix values.
        assert!(p.push_with(|buf| {
            buf[..SLOT_PAYLOAD].fill(v);
            Some(SLOT_PAYLOAD)
        }));
    }

    /// Pulls up to `max` items in `tries` attempts, checking each is whole.
    fn pull(ring: Ring<'_>, max: usize, tries: usize) -> Vec<u8> {
        let mut got = Vec::new();
        for _ in 0..tries {
            let mut batch = [0u8; 4];
            if let Pull::Claimed { count: n, .. } = ring.pull_with(max, |i, b| {
                assert_eq!(b.len(), SLOT_PAYLOAD);
                assert!(b.iter().all(|&x| x == b[0]), "torn read");
                batch[i] = b[0];
                true
            }) {
                got.extend_from_slice(&batch[..n]);
            }
            thread::yield_now();
        }
        got
    }

    fn check(produced: u8, mut got: Vec<u8>) {
        got.sort_unstable();
        let before = got.len();
        got.dedup();
        assert_eq!(before, got.len(), "an item was delivered twice");
        assert!(got.iter().all(|&v| v >= 1 && v <= produced));
    }

    /// One producer, two single-item consumers, wrap-around at capacity 2.
    #[test]
    fn one_producer_two_consumers_wrap() {
        loom::model(|| {
            let heap = Arc::new(HeapRing::new(2));
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let heap = Arc::clone(&heap);
                    thread::spawn(move || pull(heap.ring(), 1, 2))
                })
                .collect();
            // SAFETY: the only producer of this ring.
            let mut p = unsafe { Producer::new(heap.ring()) };
            let mut produced = 0u8;
            for _ in 0..3 {
                if p.free_slots() > 0 {
                    produced += 1;
                    push(&mut p, produced);
                }
            }
            let got: Vec<u8> = consumers
                .into_iter()
                .flat_map(|c| c.join().unwrap())
                .collect();
            check(produced, got);
        });
    }

    /// Two consumers racing batch claims over a ring of 4.
    #[test]
    fn concurrent_batch_claims() {
        loom::model(|| {
            let heap = Arc::new(HeapRing::new(4));
            // SAFETY: the only producer of this ring.
            let mut p = unsafe { Producer::new(heap.ring()) };
            for v in 1..=3 {
                push(&mut p, v);
            }
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let heap = Arc::clone(&heap);
                    thread::spawn(move || pull(heap.ring(), 3, 1))
                })
                .collect();
            push(&mut p, 4);
            let got: Vec<u8> = consumers
                .into_iter()
                .flat_map(|c| c.join().unwrap())
                .collect();
            check(4, got);
        });
    }

    /// The producer reuses a slot while a consumer may still be copying it.
    #[test]
    fn slot_reuse_never_tears() {
        loom::model(|| {
            let heap = Arc::new(HeapRing::new(2));
            // SAFETY: the only producer of this ring.
            let mut p = unsafe { Producer::new(heap.ring()) };
            push(&mut p, 1);
            push(&mut p, 2);
            let c1 = {
                let heap = Arc::clone(&heap);
                thread::spawn(move || pull(heap.ring(), 1, 1))
            };
            let c2 = {
                let heap = Arc::clone(&heap);
                thread::spawn(move || pull(heap.ring(), 2, 1))
            };
            let mut produced = 2;
            if p.free_slots() > 0 {
                produced += 1;
                push(&mut p, produced);
            }
            let mut got = c1.join().unwrap();
            got.extend(c2.join().unwrap());
            check(produced, got);
        });
    }

    /// Two shards; each consumer starts from its own, and takes from the
    /// other when its own is empty. Every item is delivered once, and what
    /// nobody took is still there for a last sweep.
    #[test]
    fn shard_stealing() {
        loom::model(|| {
            let heaps: Arc<Vec<HeapRing>> = Arc::new(vec![HeapRing::new(2), HeapRing::new(2)]);
            let sweep = |heaps: &[HeapRing], home: usize, max: usize| -> Vec<u8> {
                let mut batch = [0u8; 2];
                match pull_any(&heaps, home, max, |i, p| {
                    let b = p.text();
                    assert!(b.iter().all(|&x| x == b[0]), "torn read");
                    batch[i] = b[0];
                    true
                }) {
                    (_, Pull::Claimed { count, .. }) => batch[..count].to_vec(),
                    (_, Pull::Empty) => Vec::new(),
                    (_, other) => panic!("{other:?}"),
                }
            };
            let consumers: Vec<_> = [(0usize, 2usize), (1, 1)]
                .into_iter()
                .map(|(home, max)| {
                    let heaps = Arc::clone(&heaps);
                    thread::spawn(move || sweep(&heaps, home, max))
                })
                .collect();
            // The producer fills shard 0 only: the consumer of shard 1 can
            // get something only by taking from shard 0.
            // SAFETY: the only producer of shard 0.
            let mut p = unsafe { Producer::new(heaps[0].ring()) };
            push(&mut p, 1);
            push(&mut p, 2);
            let mut got: Vec<u8> = consumers
                .into_iter()
                .flat_map(|c| c.join().unwrap())
                .collect();
            loop {
                let rest = sweep(&heaps, 1, 2);
                if rest.is_empty() {
                    break;
                }
                got.extend(rest);
            }
            got.sort_unstable();
            assert_eq!(got, [1, 2], "every item exactly once");
        });
    }

    /// A consumer claims a run and hands it out from its own memory while a
    /// second consumer pulls and the producer refills the slots the run
    /// came from: every item once, whole, and none lost.
    #[test]
    fn bulk_claims() {
        loom::model(|| {
            let heap = Arc::new(HeapRing::new(4));
            // SAFETY: the only producer of this ring.
            let mut p = unsafe { Producer::new(heap.ring()) };
            for v in 1..=3 {
                push(&mut p, v);
            }
            let with_run = {
                let heap = Arc::clone(&heap);
                thread::spawn(move || {
                    let mut run = Run::new();
                    let mut got = Vec::new();
                    let mut first = 0;
                    if let Pull::Claimed { count, .. } =
                        heap.ring().pull_payloads_with(3, |i, p| {
                            let b = p.text();
                            assert!(b.iter().all(|&x| x == b[0]), "torn read");
                            if i == 0 {
                                first = b[0];
                            } else {
                                run.store(i, p);
                            }
                            true
                        })
                    {
                        run.filled(count);
                        got.push(first);
                    }
                    // Handed out one by one, possibly after the producer
                    // rewrote their slots.
                    thread::yield_now();
                    while let Some(b) = run.peek() {
                        assert!(b.iter().all(|&x| x == b[0]), "torn run item");
                        got.push(b[0]);
                        run.advance();
                    }
                    got
                })
            };
            let single = {
                let heap = Arc::clone(&heap);
                thread::spawn(move || pull(heap.ring(), 1, 1))
            };
            let mut produced = 3;
            for _ in 0..2 {
                if p.free_slots() > 0 {
                    produced += 1;
                    push(&mut p, produced);
                }
            }
            let mut got = with_run.join().unwrap();
            got.extend(single.join().unwrap());
            got.extend(pull(heap.ring(), 4, 1));
            got.sort_unstable();
            let all: Vec<u8> = (1..=produced).collect();
            assert_eq!(got, all, "every item exactly once");
        });
    }
}
