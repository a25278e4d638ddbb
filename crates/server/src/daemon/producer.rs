//! The producer loop: fill the ring, wake sleeping consumers, sleep when
//! full, beat the heartbeat, reload on request, time each refill batch.

use super::{Control, HEARTBEAT, ServeError, ServeOptions, log};
use crate::futex;
use crate::generator::{DictSource, Generator, Selection};
use crate::metrics::RefillTimes;
use crate::ring::Producer;
use crate::segment::{OwnedSegment, monotonic_ms, monotonic_ns};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Nicknames written per round before checking for sleeping consumers.
const BATCH: u64 = 64;

/// Where the daemon's nicknames come from.
pub trait NicknameSource {
    /// Writes the next nickname at the start of `out` and returns its length,
    /// or `None` when there is none: exhausted for good, or stalled for now
    /// (see [`NicknameSource::is_exhausted`]).
    fn next_into(&mut self, out: &mut [u8]) -> Option<usize>;

    /// After `next_into` returned `None`: true if nothing will ever come
    /// (unique mode used up its space), false if the source is only stalled
    /// (unique mode cannot reserve its next block yet) and is asked again a
    /// little later.
    fn is_exhausted(&self) -> bool {
        true
    }

    /// Re-reads the dictionary. On success returns a description for the
    /// log; on failure the old dictionary stays and the error says why.
    fn reload(&mut self) -> Result<String, String>;

    /// Called after each batch with the segment header, to publish gauges.
    fn publish_gauges(&self, _header: &crate::segment::SegmentHeader) {}

    /// Unique mode: where the metrics endpoint reads the per-style gauges.
    fn unique_styles(&self) -> Option<Arc<dyn crate::metrics::UniqueStyles>> {
        None
    }
}

/// Random mode: nicknames drawn from a dictionary by a ChaCha8 generator.
pub struct RandomSource {
    generator: Generator,
    source: DictSource,
    style: Option<String>,
}

impl RandomSource {
    pub fn new(options: &ServeOptions) -> Result<RandomSource, ServeError> {
        let (dict, selection) = load(&options.source, options.style.as_deref())?;
        if options.test_tag && dict.max_len() + 21 > crate::MAX_NICKNAME_LEN {
            return Err(ServeError::Config(
                "--test-tag needs nicknames of at most 34 bytes".into(),
            ));
        }
        Ok(RandomSource {
            generator: Generator::new(Arc::new(dict), options.seed, 0).with_selection(selection),
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
    fn next_into(&mut self, out: &mut [u8]) -> Option<usize> {
        Some(self.generator.generate_into(out))
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
        self.generator.replace_dictionary(Arc::new(dict), selection);
        Ok(described)
    }
}

/// Keeps the ring full until `control` says stop, recording each refill
/// batch's time in `refill`.
pub(crate) fn run(
    segment: &OwnedSegment,
    source: &mut dyn NicknameSource,
    test_tag: bool,
    control: &Control,
    refill: &RefillTimes,
) {
    let header = segment.header();
    let ring = segment.ring();
    let sleep = &ring.header().sleep;
    let counters = &ring.header().counters;
    // SAFETY: this process holds the segment's lock, which makes it the only
    // daemon of this segment, and this is its only producer.
    let mut producer = unsafe { Producer::new(ring) };
    let mut last_beat = monotonic_ms();
    let mut full_beats = 0u32;
    let mut exhausted = false;
    let mut stalled = false;
    while !control.should_stop() {
        if control.take_reload() {
            match source.reload() {
                Ok(described) => {
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
        // The one clock read of the round: heartbeat, and start of the batch.
        let round_start_ns = monotonic_ns();
        let now = round_start_ns / 1_000_000;
        if now.saturating_sub(last_beat) >= HEARTBEAT.as_millis() as u64 {
            header.heartbeat_ms.store(now, Ordering::Relaxed);
            last_beat = now;
        }

        let free = if exhausted { 0 } else { producer.free_slots() };
        if free > 0 {
            let mut pushed = 0;
            for _ in 0..free.min(BATCH) {
                let position = producer.tail();
                let published = producer.push_with(|buf| {
                    let len = source.next_into(buf)?;
                    Some(if test_tag {
                        len + write_tag(&mut buf[len..], position)
                    } else {
                        len
                    })
                });
                if !published {
                    if source.is_exhausted() {
                        exhausted = true;
                        header
                            .flags
                            .fetch_or(crate::segment::FLAG_EXHAUSTED, Ordering::SeqCst);
                        log("the unique space is used up; clients now get NICKPOOL_EXHAUSTED");
                    } else {
                        stalled = true;
                    }
                    break;
                }
                pushed += 1;
            }
            // One more clock read per batch of up to 64: next to nothing.
            refill.record_batch(monotonic_ns().saturating_sub(round_start_ns), pushed);
            producer.flush_tail();
            source.publish_gauges(header);
            if producer.take_wake_request() {
                sleep.consumer_futex.fetch_add(1, Ordering::SeqCst);
                futex::wake_all(&sleep.consumer_futex);
                counters.consumer_wakeups.fetch_add(1, Ordering::Relaxed);
            }
            full_beats = 0;
            if std::mem::take(&mut stalled) {
                // The source says why; ask it again after a pause.
                std::thread::sleep(HEARTBEAT);
            }
            continue;
        }

        // Full (or exhausted): nobody can be waiting for data, so a sleeper
        // count that stays up is left by a consumer killed while asleep.
        if !exhausted && sleep.consumer_sleepers.load(Ordering::Relaxed) > 0 {
            full_beats += 1;
            if full_beats > 2 {
                sleep.consumer_sleepers.store(0, Ordering::Relaxed);
            }
        }
        if exhausted {
            // Wake waiters so they see the exhausted flag.
            if producer.take_wake_request() {
                sleep.consumer_futex.fetch_add(1, Ordering::SeqCst);
                futex::wake_all(&sleep.consumer_futex);
            }
            std::thread::sleep(HEARTBEAT);
            continue;
        }
        if let Some(seen) = producer.prepare_sleep() {
            counters.producer_sleeps.fetch_add(1, Ordering::Relaxed);
            futex::wait(&sleep.producer_futex, seen, HEARTBEAT);
            producer.end_sleep();
        }
    }
}

/// Appends `#<position>` and returns the bytes written.
fn write_tag(out: &mut [u8], position: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut n = position;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let tag = &digits[i..];
    out[0] = b'#';
    out[1..=tag.len()].copy_from_slice(tag);
    tag.len() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_decimal_positions() {
        let mut buf = [0u8; 21];
        let n = write_tag(&mut buf, 0);
        assert_eq!(&buf[..n], b"#0");
        let n = write_tag(&mut buf, u64::MAX);
        assert_eq!(&buf[..n], format!("#{}", u64::MAX).as_bytes());
    }
}
