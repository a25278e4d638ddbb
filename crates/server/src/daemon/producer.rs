//! The producer threads: each fills its shards, wakes sleeping consumers,
//! sleeps when all its shards are full, and times each refill batch. The
//! main thread's loop beats the heartbeat, publishes gauges and reloads.

use super::{Control, HEARTBEAT, ServeError, ServeOptions, log};
use crate::futex;
use crate::generator::{DictSource, Dictionary, Generator, Seed, Selection};
use crate::metrics::RefillTimes;
use crate::ring::Producer;
use crate::segment::{Geometry, OwnedSegment, SegmentHeader, monotonic_ms, monotonic_ns};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Nicknames written into one shard per round before checking for
/// sleeping consumers.
const BATCH: u64 = 64;

/// Where the daemon's nicknames come from. The daemon is given one source
/// and [`split`](NicknameSource::split)s it once per producer thread; each
/// thread then uses its own.
pub trait NicknameSource: Send {
    /// Writes the next nickname for the `shard`-th of the shards this source
    /// was split for (an index into that list) at the start of `out` and
    /// returns its length, or `None` when there is none: exhausted for good,
    /// or stalled for now (see [`NicknameSource::is_exhausted`]).
    fn next_into(&mut self, shard: usize, out: &mut [u8]) -> Option<usize>;

    /// After `next_into` returned `None`: true if nothing will ever come
    /// (unique mode used up its space), false if the source is only stalled
    /// (unique mode cannot reserve its next block yet) and is asked again a
    /// little later.
    fn is_exhausted(&self) -> bool {
        true
    }

    /// A source for one producer thread that fills `shards` (segment shard
    /// indices), sharing what can be shared: the dictionary, and in unique
    /// mode the block reserver.
    fn split(&self, shards: &[usize]) -> Self
    where
        Self: Sized;

    /// Re-reads the dictionary. On success returns a description for the
    /// log; on failure the old dictionary stays and the error says why.
    fn reload(&mut self) -> Result<String, String>;

    /// Takes the dictionary of `reloaded`, a source of the same daemon
    /// whose [`reload`](NicknameSource::reload) just succeeded, without
    /// reading it again.
    fn adopt(&mut self, reloaded: &Self)
    where
        Self: Sized;

    /// Publishes gauges into the segment header (called by the main thread
    /// at every heartbeat, and by a producer thread when its shards are
    /// full or its source runs out).
    fn publish_gauges(&self, _header: &SegmentHeader) {}

    /// Unique mode: where the metrics endpoint reads the per-style gauges.
    fn unique_styles(&self) -> Option<Arc<dyn crate::metrics::UniqueStyles>> {
        None
    }
}

/// Random mode: nicknames drawn from a dictionary by ChaCha8 generators, one
/// stream per shard: shard `s` of `serve --seed N` serves the sequence of
/// `nickpool gen --seed N --stream s`, whichever thread fills it.
pub struct RandomSource {
    dict: Arc<Dictionary>,
    selection: Selection,
    seed: Seed,
    /// One generator per shard served, in the order of the shard list.
    generators: Vec<Generator>,
    source: DictSource,
    style: Option<String>,
}

impl RandomSource {
    /// Loads the dictionary; the source serves shard 0 until split.
    pub fn new(options: &ServeOptions) -> Result<RandomSource, ServeError> {
        let (dict, selection) = load(&options.source, options.style.as_deref())?;
        if options.test_tag && dict.max_len() + TAG_MAX > crate::MAX_NICKNAME_LEN {
            return Err(ServeError::Config(format!(
                "--test-tag needs nicknames of at most {} bytes",
                crate::MAX_NICKNAME_LEN - TAG_MAX
            )));
        }
        let dict = Arc::new(dict);
        Ok(RandomSource {
            generators: vec![
                Generator::new(Arc::clone(&dict), options.seed, 0).with_selection(selection),
            ],
            dict,
            selection,
            seed: options.seed,
            source: options.source.clone(),
            style: options.style.clone(),
        })
    }
}

/// Loads a dictionary and resolves the style selection against it.
fn load(
    source: &DictSource,
    style: Option<&str>,
) -> Result<(crate::generator::Dictionary, Selection), ServeError> {
    let dict = source
        .load()
        .map_err(|e| ServeError::Config(format!("{e}\nfix the dictionary, then start again")))?;
    let selection = match style {
        None => Selection::Weighted,
        Some(name) => Selection::Only(dict.style_index(name).ok_or_else(|| {
            let names: Vec<_> = dict.styles().iter().map(|s| s.name()).collect();
            ServeError::Config(format!(
                "unknown style '{name}'; the dictionary's styles are {}",
                names.join(", ")
            ))
        })?),
    };
    if let Selection::Only(i) = selection {
        dict.check_style_fits(i).map_err(ServeError::Config)?;
    }
    Ok((dict, selection))
}

impl NicknameSource for RandomSource {
    #[inline]
    fn next_into(&mut self, shard: usize, out: &mut [u8]) -> Option<usize> {
        Some(self.generators[shard].generate_into(out))
    }

    fn split(&self, shards: &[usize]) -> RandomSource {
        RandomSource {
            dict: Arc::clone(&self.dict),
            selection: self.selection,
            seed: self.seed,
            generators: shards
                .iter()
                .map(|&shard| {
                    Generator::new(Arc::clone(&self.dict), self.seed, shard as u64)
                        .with_selection(self.selection)
                })
                .collect(),
            source: self.source.clone(),
            style: self.style.clone(),
        }
    }

    fn reload(&mut self) -> Result<String, String> {
        let (dict, selection) =
            load(&self.source, self.style.as_deref()).map_err(|e| e.to_string())?;
        let described = format!(
            "{}: {} words, {} styles",
            dict.name(),
            dict.word_count(),
            dict.styles().len()
        );
        self.dict = Arc::new(dict);
        self.selection = selection;
        for generator in &mut self.generators {
            generator.replace_dictionary(Arc::clone(&self.dict), selection);
        }
        Ok(described)
    }

    fn adopt(&mut self, reloaded: &RandomSource) {
        self.dict = Arc::clone(&reloaded.dict);
        self.selection = reloaded.selection;
        for generator in &mut self.generators {
            generator.replace_dictionary(Arc::clone(&self.dict), self.selection);
        }
    }
}

/// The shards producer `index` fills: `index`, `index + producers`, …
pub(crate) fn shards_of(geometry: Geometry, index: usize) -> Vec<usize> {
    (index..geometry.shards as usize)
        .step_by(geometry.producers as usize)
        .collect()
}

/// What the producer threads and the main thread share.
pub(crate) struct Team<'a> {
    segment: &'a OwnedSegment,
    control: &'a Control,
    test_tag: bool,
    /// Producers whose source is used up for good.
    exhausted: AtomicU32,
}

impl<'a> Team<'a> {
    pub(crate) fn new(segment: &'a OwnedSegment, control: &'a Control, test_tag: bool) -> Team<'a> {
        Team {
            segment,
            control,
            test_tag,
            exhausted: AtomicU32::new(0),
        }
    }
}

/// Locks a producer's source. A producer that panicked stops the daemon, so
/// a poisoned source is never produced from again; the main thread may
/// still read its gauges.
fn lock<S>(source: &Mutex<S>) -> MutexGuard<'_, S> {
    source
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Stops the whole daemon if a producer thread panics, rather than serve
/// with some shards no longer filled.
struct StopOnPanic<'a>(&'a Control);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.request_stop();
        }
    }
}

/// The main thread's loop until `team.control` says stop: heartbeat,
/// reloads, gauges; then wakes the producers so they stop at once.
pub(crate) fn control_loop<S: NicknameSource>(team: &Team<'_>, sources: &[Mutex<S>]) {
    let segment = team.segment;
    let header = segment.header();
    let counters = &segment.shard(0).header().counters;
    loop {
        header.heartbeat_ms.store(monotonic_ms(), Ordering::Relaxed);
        if team.control.should_stop() {
            break;
        }
        if team.control.take_reload() {
            let mut first = lock(&sources[0]);
            match first.reload() {
                Ok(described) => {
                    for other in &sources[1..] {
                        lock(other).adopt(&first);
                    }
                    counters.reloads.fetch_add(1, Ordering::Relaxed);
                    log(format_args!("reloaded dictionary {described}"));
                }
                Err(e) => {
                    counters.reload_failures.fetch_add(1, Ordering::Relaxed);
                    log(format_args!(
                        "reload refused, still serving the previous dictionary:\n{e}"
                    ));
                }
            }
        }
        lock(&sources[0]).publish_gauges(header);
        std::thread::sleep(HEARTBEAT);
    }
    let mapping = segment.mapping();
    for index in 0..mapping.geometry().producers as usize {
        let futex_word = &mapping.shard(index).header().sleep.producer_futex;
        futex_word.fetch_add(1, Ordering::SeqCst);
        futex::wake_all(futex_word);
    }
}

/// Wakes the consumers sleeping on shard `ring`'s futex.
fn wake_consumers(ring: crate::ring::Ring<'_>) {
    let sleep = &ring.header().sleep;
    sleep.consumer_futex.fetch_add(1, Ordering::SeqCst);
    futex::wake_all(&sleep.consumer_futex);
    ring.header()
        .counters
        .consumer_wakeups
        .fetch_add(1, Ordering::Relaxed);
}

/// Producer thread `index`: keeps its shards full until the daemon stops,
/// drawing from `source` and recording each refill batch's time in
/// `refill`.
pub(crate) fn run<S: NicknameSource>(
    team: &Team<'_>,
    index: usize,
    source: &Mutex<S>,
    refill: &RefillTimes,
) {
    let _stop_on_panic = StopOnPanic(team.control);
    let mapping = team.segment.mapping();
    let geometry = mapping.geometry();
    let header = team.segment.header();
    let shards = shards_of(geometry, index);
    let mut producers: Vec<Producer<'_>> = shards
        .iter()
        // SAFETY: this process holds the segment's lock, which makes it the
        // only daemon of this segment, and shard `s` is filled only by
        // producer `s % producers`: this thread.
        .map(|&shard| unsafe { Producer::new(mapping.shard(shard)) })
        .collect();
    // The futex this thread sleeps on; consumers of any of its shards bump
    // it (`Mapping::producer_shard`).
    let lead = mapping.shard(index);
    let lead_sleep = &lead.header().sleep;
    let mut full_rounds = 0u32;
    let mut exhausted = false;
    // Pushed since the gauges were last published from this thread.
    let mut unpublished = false;
    while !team.control.should_stop() {
        let mut pushed_any = false;
        let mut stalled = false;
        if !exhausted {
            let mut source = lock(source);
            for (j, producer) in producers.iter_mut().enumerate() {
                let free = producer.free_slots();
                if free == 0 {
                    continue;
                }
                let batch_start = monotonic_ns();
                let mut pushed = 0;
                for _ in 0..free.min(BATCH) {
                    let position = producer.tail();
                    let published = producer.push_with(|buf| {
                        let len = source.next_into(j, buf)?;
                        Some(if team.test_tag {
                            len + write_tag(&mut buf[len..], shards[j], position)
                        } else {
                            len
                        })
                    });
                    if !published {
                        if source.is_exhausted() {
                            exhausted = true;
                        } else {
                            stalled = true;
                        }
                        break;
                    }
                    pushed += 1;
                }
                refill.record_batch(monotonic_ns().saturating_sub(batch_start), pushed);
                producer.flush_tail();
                if producer.take_wake_request() {
                    wake_consumers(producer.ring());
                }
                pushed_any |= pushed > 0;
                if exhausted || stalled {
                    break;
                }
            }
            if exhausted {
                source.publish_gauges(header);
                let done = team.exhausted.fetch_add(1, Ordering::SeqCst) + 1;
                if done == geometry.producers {
                    header
                        .flags
                        .fetch_or(crate::segment::FLAG_EXHAUSTED, Ordering::SeqCst);
                    log("the unique space is used up; clients now get NICKPOOL_EXHAUSTED");
                }
            }
        }
        if stalled {
            // The source says why; ask it again after a pause.
            std::thread::sleep(HEARTBEAT);
            continue;
        }
        if pushed_any {
            full_rounds = 0;
            unpublished = true;
            continue;
        }
        if exhausted {
            // Wake waiters so they see the exhausted flag (or take from
            // shards of producers that still have some).
            for producer in &producers {
                if producer.take_wake_request() {
                    wake_consumers(producer.ring());
                }
            }
            std::thread::sleep(HEARTBEAT);
            continue;
        }
        // Every shard of this thread is full: nobody can be waiting for data
        // on them, so a sleeper count that stays up is left by a consumer
        // killed while asleep.
        let stale = producers.iter().any(|p| {
            p.ring()
                .header()
                .sleep
                .consumer_sleepers
                .load(Ordering::Relaxed)
                > 0
        });
        if stale {
            full_rounds += 1;
            if full_rounds > 2 {
                for producer in &producers {
                    producer
                        .ring()
                        .header()
                        .sleep
                        .consumer_sleepers
                        .store(0, Ordering::Relaxed);
                }
            }
        }
        // Caught up: the gauges say exactly what was produced (under load
        // the main thread publishes them at every heartbeat).
        if std::mem::take(&mut unpublished) {
            lock(source).publish_gauges(header);
        }
        let seen = lead_sleep.producer_futex.load(Ordering::SeqCst);
        let mut announced = 0;
        for producer in &mut producers {
            if !producer.announce_sleep() {
                break;
            }
            announced += 1;
        }
        if announced == producers.len() {
            lead.header()
                .counters
                .producer_sleeps
                .fetch_add(1, Ordering::Relaxed);
            futex::wait(&lead_sleep.producer_futex, seen, HEARTBEAT);
        }
        for producer in &producers {
            producer.end_sleep();
        }
    }
}

/// The longest `--test-tag` suffix: `#`, a shard (up to 2 digits), `.`, a
/// position (up to 20 digits).
const TAG_MAX: usize = 24;

/// Appends `#<shard>.<position>` and returns the bytes written.
fn write_tag(out: &mut [u8], shard: usize, position: u64) -> usize {
    let mut n = 0;
    out[n] = b'#';
    n += 1;
    n += write_decimal(&mut out[n..], shard as u64);
    out[n] = b'.';
    n += 1;
    n += write_decimal(&mut out[n..], position);
    n
}

/// Writes `value` in decimal and returns the bytes written.
fn write_decimal(out: &mut [u8], value: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut n = value;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = &digits[i..];
    out[..digits.len()].copy_from_slice(digits);
    digits.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_shards_and_decimal_positions() {
        let mut buf = [0u8; TAG_MAX];
        let n = write_tag(&mut buf, 0, 0);
        assert_eq!(&buf[..n], b"#0.0");
        let n = write_tag(&mut buf, 63, u64::MAX);
        assert_eq!(n, TAG_MAX);
        assert_eq!(&buf[..n], format!("#63.{}", u64::MAX).as_bytes());
    }
}
