//! Mutated segment images never crash a client: 30,000 deterministic
//! mutations of real segments (flipped header bits, absurd fields, garbage
//! slots, forged positions, truncated, empty and oversized files, and a
//! writer scribbling over the file while the client reads it) are planted
//! as live segments and fed to the real client, through the Rust API and
//! the C ABI.
//!
//! The client runs in child processes (this test binary re-run on its
//! ignored `mutation_worker` test), so a crash is a failure the parent
//! observes, with the image that caused it, not the death of the test
//! runner. The parent asserts that no child dies by a signal or fails, and
//! the workers assert the client's promises on every image (see
//! `nickpool_server::fuzzing`): no nickname longer than a slot allows or than the
//! buffer, every nickname the payload of one of the image's slots, NUL
//! terminators and lengths that match.
//!
//! `NICKPOOL_BLESS=1 cargo test --test mutation corpus` rewrites the seed
//! corpus of the segment fuzzer (fuzz/corpus/segment_image) from the same
//! base images.

mod common;

use common::Rng;
use nickpool::segment::{HEADER_SIZE, SLOTS_OFFSET, SegmentHeader, segment_size};
use nickpool_server::fuzzing::{PlantedImage, open_and_pull, sample_image};
use std::mem::offset_of;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Images tried, in chunks of one child process each.
const IMAGES: u64 = 30_000;
const CHUNK: u64 = 5_000;
/// Calls per image and entry point: more than any ring here holds.
const MAX_CALLS: usize = 200;
/// Where the worker of a chunk reads its range ("START..END").
const RANGE_VAR: &str = "NICKPOOL_MUTATION_RANGE";
/// Prefix of the names the images are planted under, per parent process.
const NAME_VAR: &str = "NICKPOOL_MUTATION_PREFIX";

/// The unmutated images: real segments of 4, 16 and 64 slots in one shard,
/// and of 2 and 4 shards, full, partly drained and wrapped around, with
/// nicknames of every length up to a slot's 55 bytes.
fn base_images() -> Vec<Vec<u8>> {
    let words = [
        "快乐的小猫",
        "月下听风",
        "阿星",
        "温柔的星辰#0",
        "x",
        "",
        "一二三四五六七八九十一二三四五六七八",  // 54 bytes
        "一二三四五六七八九十一二三四五六七八9", // 55 bytes
    ];
    let nicknames = |n: usize| -> Vec<&str> { (0..n).map(|i| words[i % words.len()]).collect() };
    [
        (1, 4, 4, 0),
        (1, 4, 3, 2),
        (1, 16, 16, 5),
        (1, 16, 9, 9),
        (1, 64, 60, 30),
        (2, 8, 16, 3),
        (4, 4, 14, 6),
    ]
    .into_iter()
    .map(|(shards, per_shard, count, consumed)| {
        sample_image(shards, per_shard, &nicknames(count), consumed).expect("a sample segment")
    })
    .collect()
}

/// Byte offset of a segment header field.
macro_rules! field {
    ($name:ident) => {
        offset_of!(SegmentHeader, $name)
    };
}

/// Ring header fields, by offset from the ring header (see ring.rs: tail,
/// head, sleep words, counters, each on its own 64-byte line).
const RING_TAIL: usize = HEADER_SIZE;
const RING_HEAD: usize = HEADER_SIZE + 64;
const RING_SLEEP: usize = HEADER_SIZE + 128;

fn put_u32(image: &mut [u8], at: usize, value: u32) {
    if let Some(bytes) = image.get_mut(at..at + 4) {
        bytes.copy_from_slice(&value.to_le_bytes());
    }
}

fn put_u64(image: &mut [u8], at: usize, value: u64) {
    if let Some(bytes) = image.get_mut(at..at + 8) {
        bytes.copy_from_slice(&value.to_le_bytes());
    }
}

fn get_u64(image: &[u8], at: usize) -> u64 {
    image
        .get(at..at + 8)
        .map_or(0, |bytes| u64::from_le_bytes(bytes.try_into().unwrap()))
}

/// Values that break assumptions.
const ABSURD_U32: [u32; 14] = [
    0,
    1,
    2,
    3,
    5,
    63,
    64,
    4096,
    1 << 24,
    (1 << 24) + 1,
    1 << 25,
    1 << 31,
    u32::MAX - 1,
    u32::MAX,
];
const ABSURD_U64: [u64; 10] = [
    0,
    1,
    4096,
    4351,
    4352,
    1 << 32,
    1 << 40,
    i64::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
];

/// One mutation of one base image, chosen by the image number `i`.
struct Mutation {
    what: Vec<String>,
    image: Vec<u8>,
    /// A writer rewrites the file while the client reads it.
    scribble: bool,
}

fn mutation(i: u64, bases: &[Vec<u8>]) -> Mutation {
    let mut rng = Rng(i.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x6e69_636b);
    let base = rng.below(bases.len() as u64) as usize;
    let mut image = bases[base].clone();
    let mut what = vec![format!("image {i}: base {base}")];
    // One to three mutations, sometimes none (the base must work).
    let rounds = if i % 97 == 0 { 0 } else { 1 + rng.below(3) };
    for _ in 0..rounds {
        let kind = rng.below(12);
        match kind {
            0 => {
                // Flip bits where the header's fields live.
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(512) as usize;
                    let bit = rng.below(8);
                    if let Some(byte) = image.get_mut(at) {
                        *byte ^= 1 << bit;
                    }
                    what.push(format!("flip header byte {at} bit {bit}"));
                }
            }
            1 => {
                let (name, at) = rng.pick(&[
                    ("layout_version", field!(layout_version)),
                    ("header_size", field!(header_size)),
                    ("slot_size", field!(slot_size)),
                    ("capacity", field!(capacity)),
                    ("shards", field!(shards)),
                    ("shard_capacity", field!(shard_capacity)),
                    ("producers", field!(producers)),
                    ("daemon_pid", field!(daemon_pid)),
                    ("state", field!(state)),
                    ("flags", field!(flags)),
                ]);
                let value = rng.pick(&ABSURD_U32);
                put_u32(&mut image, at, value);
                what.push(format!("{name} = {value}"));
            }
            2 => {
                let (name, at) = rng.pick(&[
                    ("magic", field!(magic)),
                    ("total_size", field!(total_size)),
                    ("instance_id", field!(instance_id)),
                    ("unique_used", field!(unique_used)),
                    ("unique_total", field!(unique_total)),
                    ("heartbeat_ms", field!(heartbeat_ms)),
                ]);
                let value = rng.pick(&ABSURD_U64);
                put_u64(&mut image, at, value);
                what.push(format!("{name} = {value}"));
            }
            3 => {
                // A consistent header claiming shards the file may not
                // have: the client must check the file size.
                let shards = rng.pick(&[1u32, 2, 4, 64]);
                let per_shard = rng.pick(&[4u32, 8, 64, 1024, 1 << 18]);
                put_u32(&mut image, field!(shards), shards);
                put_u32(&mut image, field!(shard_capacity), per_shard);
                put_u32(&mut image, field!(capacity), shards * per_shard);
                put_u64(
                    &mut image,
                    field!(total_size),
                    segment_size(shards, per_shard) as u64,
                );
                what.push(format!(
                    "{shards} shards of {per_shard} slots with matching capacity and total size"
                ));
            }
            4 => {
                // Garbage over whole slots.
                let slots = (image.len().saturating_sub(SLOTS_OFFSET)) / 64;
                for _ in 0..1 + rng.below(8) {
                    if slots == 0 {
                        break;
                    }
                    let slot = rng.below(slots as u64) as usize;
                    let at = SLOTS_OFFSET + slot * 64;
                    for byte in &mut image[at..at + 64] {
                        *byte = rng.next() as u8;
                    }
                    what.push(format!("garbage slot {slot}"));
                }
            }
            5 => {
                // Published-looking slots (the stamp matches) with absurd
                // length bytes and random payloads.
                let head = get_u64(&image, RING_HEAD);
                let slots = ((image.len().saturating_sub(SLOTS_OFFSET)) / 64).max(1) as u64;
                for k in 0..1 + rng.below(4) {
                    let pos = head.wrapping_add(k);
                    let at = SLOTS_OFFSET + (pos % slots) as usize * 64;
                    if at + 64 > image.len() {
                        break;
                    }
                    put_u64(&mut image, at, pos.wrapping_add(1));
                    let len = rng.pick(&[0u8, 1, 54, 55, 56, 57, 63, 64, 127, 200, 255]);
                    image[at + 8] = len;
                    for byte in &mut image[at + 9..at + 64] {
                        *byte = rng.next() as u8;
                    }
                    what.push(format!("forged slot for position {pos}, length {len}"));
                }
            }
            6 => {
                // Positions anywhere, near the end of the counter included.
                let head = rng.pick(&ABSURD_U64);
                let tail = rng.pick(&[head, head.wrapping_add(1), head.wrapping_sub(1), 0]);
                put_u64(&mut image, RING_HEAD, head);
                put_u64(&mut image, RING_TAIL, tail);
                what.push(format!("head {head}, tail {tail}"));
                if rng.below(2) == 0 {
                    // And a slot published for that head.
                    let slots = ((image.len().saturating_sub(SLOTS_OFFSET)) / 64).max(1) as u64;
                    let at = SLOTS_OFFSET + (head % slots) as usize * 64;
                    if at + 64 <= image.len() {
                        put_u64(&mut image, at, head.wrapping_add(1));
                        what.push("stamp forged for it".into());
                    }
                }
            }
            7 => {
                // Futex and sleep words: wake requests, sleepers, anything.
                for k in 0..5 {
                    put_u32(&mut image, RING_SLEEP + 4 * k, rng.pick(&ABSURD_U32));
                }
                what.push("random sleep words".into());
            }
            8 => {
                let len = rng.pick(&[
                    0,
                    1,
                    7,
                    8,
                    100,
                    HEADER_SIZE - 1,
                    HEADER_SIZE,
                    SLOTS_OFFSET - 1,
                    SLOTS_OFFSET,
                    SLOTS_OFFSET + 63,
                    image.len().saturating_sub(1),
                    image.len().saturating_sub(64),
                ]);
                image.truncate(len);
                what.push(format!("truncated to {len} bytes"));
            }
            9 => {
                image.clear();
                what.push("empty file".into());
            }
            10 => {
                let extra = rng.pick(&[1usize, 64, 4096, 65536]);
                let fill = rng.next() as u8;
                image.extend(std::iter::repeat_n(fill, extra));
                what.push(format!("{extra} bytes of {fill:#x} appended"));
            }
            _ => {
                // Random bytes anywhere in the file.
                for _ in 0..1 + rng.below(32) {
                    if image.is_empty() {
                        break;
                    }
                    let at = rng.below(image.len() as u64) as usize;
                    image[at] = rng.next() as u8;
                }
                what.push("random bytes anywhere".into());
            }
        }
    }
    let scribble = i % 8 == 7;
    if scribble {
        what.push("scribbled over while read".into());
    }
    Mutation {
        what,
        image,
        scribble,
    }
}

/// Rewrites random bytes of the header and ring (never the file's length)
/// until `stop`.
fn scribble(planted: &PlantedImage, len: usize, seed: u64, stop: &AtomicBool) {
    let mut rng = Rng(seed);
    while !stop.load(Ordering::Relaxed) && len > 0 {
        let at = rng.below(len as u64);
        let value = rng.pick(&ABSURD_U64).to_le_bytes();
        let n = value.len().min(len - at as usize);
        let _ = planted.file().write_at(&value[..n], at);
    }
}

/// Images per outcome, for the summary line.
#[derive(Default)]
struct Tally {
    images: u64,
    opened: u64,
    refused: u64,
    nicknames: usize,
}

/// Plants and pulls images `range`, printing "image N" before each so the
/// parent can name the one that crashed a child.
fn run_images(range: std::ops::Range<u64>, prefix: &str) -> Tally {
    let bases = base_images();
    let mut tally = Tally::default();
    for i in range {
        let m = mutation(i, &bases);
        println!("{}", m.what.join("; "));
        let name = format!("{prefix}-{i}");
        let planted = PlantedImage::plant(&name, &m.image).expect("plant the image");
        let outcome = if m.scribble {
            let stop = AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| scribble(&planted, m.image.len(), i, &stop));
                let outcome = open_and_pull(&name, MAX_CALLS, None);
                stop.store(true, Ordering::Relaxed);
                outcome
            })
        } else {
            open_and_pull(&name, MAX_CALLS, Some(&m.image))
        };
        drop(planted);
        tally.images += 1;
        tally.nicknames += outcome.nicknames;
        if outcome.opened {
            tally.opened += 1;
        } else {
            tally.refused += 1;
        }
    }
    tally
}

/// The worker: runs the range in `NICKPOOL_MUTATION_RANGE` (all images
/// when run by hand) and prints a summary line.
#[test]
#[ignore = "run by mutated_segments_never_crash_the_client, in a child process"]
fn mutation_worker() {
    let range = std::env::var(RANGE_VAR).ok().map_or(0..IMAGES, |r| {
        let (start, end) = r.split_once("..").expect("START..END");
        start.parse().unwrap()..end.parse().unwrap()
    });
    let prefix = std::env::var(NAME_VAR)
        .unwrap_or_else(|_| format!("/nptest-mutation-{}", std::process::id()));
    let tally = run_images(range.clone(), &prefix);
    println!(
        "summary {}..{}: {} images, {} opened, {} refused, {} nicknames",
        range.start, range.end, tally.images, tally.opened, tally.refused, tally.nicknames
    );
}

#[test]
fn mutated_segments_never_crash_the_client() {
    let started = Instant::now();
    let prefix = format!("/nptest-mutation-{}", std::process::id());
    let (mut images, mut opened, mut refused, mut nicknames) = (0u64, 0u64, 0u64, 0u64);
    let mut start = 0;
    while start < IMAGES {
        let end = (start + CHUNK).min(IMAGES);
        let range = format!("{start}..{end}");
        let out = common::run_test_in_child(
            "mutation_worker",
            &[(RANGE_VAR, &range), (NAME_VAR, &prefix)],
        );
        common::remove_segments_with_prefix(&prefix);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The first line also carries libtest's "test NAME ... ".
        let last_image = stdout
            .lines()
            .filter_map(|l| l.find("image ").map(|at| &l[at..]))
            .next_back()
            .unwrap_or("(none)");
        {
            use std::os::unix::process::ExitStatusExt;
            assert!(
                out.status.signal().is_none(),
                "a client died by signal {:?} on {last_image}",
                out.status.signal()
            );
        }
        assert!(
            out.status.success(),
            "the client broke a promise on {last_image}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("summary {range}: ")))
            .unwrap_or_else(|| panic!("no summary from the worker of {range}:\n{stdout}"));
        let numbers: Vec<u64> = summary
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        images += numbers[0];
        opened += numbers[1];
        refused += numbers[2];
        nicknames += numbers[3];
        start = end;
    }
    assert_eq!(images, IMAGES);
    // The mix is what it claims: many images open and serve, many are
    // refused.
    assert!(
        opened > IMAGES / 5 && refused > IMAGES / 5,
        "{opened} opened, {refused} refused"
    );
    assert!(nicknames > IMAGES, "{nicknames} nicknames");
    println!(
        "{images} mutated images in {:?}: {opened} opened, {refused} refused, {nicknames} nicknames pulled",
        started.elapsed()
    );
}

/// The seed corpus of the segment fuzzer is the base images (so a layout
/// change shows up here); `NICKPOOL_BLESS=1` rewrites it.
#[test]
fn corpus_is_up_to_date() {
    let dir = common::c::root().join("fuzz/corpus/segment_image");
    let bases = base_images();
    if std::env::var_os("NICKPOOL_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).unwrap();
        for (k, image) in bases.iter().enumerate() {
            std::fs::write(dir.join(format!("base-{k}")), image).unwrap();
        }
        return;
    }
    for (k, image) in bases.iter().enumerate() {
        let path = dir.join(format!("base-{k}"));
        let stored = std::fs::read(&path).unwrap_or_default();
        assert!(
            &stored == image,
            "{} is out of date; run `NICKPOOL_BLESS=1 cargo test --test mutation corpus` and commit it",
            path.display()
        );
    }
}
