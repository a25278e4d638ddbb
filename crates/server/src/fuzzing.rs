//! Entry points for the fuzzers (`fuzz/`) and the mutation test
//! (`tests/mutation.rs`), not part of the API: put an arbitrary byte image
//! where a segment lives, as if a live daemon held it, and drive the real
//! client (open, validate, pull, stats, and the C ABI) over it, checking
//! the client's promises as it goes.
//!
//! A promise broken is a panic, which is what a fuzzer reports. The
//! promises: every call returns (none waits beyond its short timeout), no
//! nickname is longer than a slot's payload or than the caller's buffer,
//! the C ABI NUL-terminates what it writes and reports lengths that match,
//! and, for an image nobody rewrites while it is read, every nickname is
//! the payload of one of the image's own slots (no byte from anywhere
//! else).

use crate::client::{Client, Error};
use crate::ffi::{self, nickpool_status};
use crate::ring::{Producer, SLOT_PAYLOAD, SLOT_SIZE, pull_any};
use crate::segment::{self, CreateOptions, Geometry, HEADER_SIZE, OwnedSegment};
use std::ffi::{CString, c_char};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// A byte image planted at a segment's path, with the open-file-description
/// lock a live daemon holds, so clients take it for a running daemon's
/// segment. Dropping it removes the file.
pub struct PlantedImage {
    path: PathBuf,
    file: File,
}

impl PlantedImage {
    /// Writes `image` to the path of segment `name` (which must not exist)
    /// with mode 0600, and locks it as a daemon does.
    pub fn plant(name: &str, image: &[u8]) -> io::Result<PlantedImage> {
        segment::validate_name(name).map_err(|e| io::Error::other(e.to_string()))?;
        let path = segment::shm_path(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        let planted = PlantedImage {
            path,
            file: file.try_clone()?,
        };
        file.write_all(image)?;
        // SAFETY: flock is a plain C struct; all-zero is a valid value.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: `lock` is a valid flock struct and the descriptor is open.
        if unsafe { libc::fcntl(planted.file.as_raw_fd(), libc::F_OFD_SETLK, &lock) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(planted)
    }

    /// The planted file (e.g. to rewrite it while a client reads it).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for PlantedImage {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What [`open_and_pull`] saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The Rust client opened the segment.
    pub opened: bool,
    /// Nicknames pulled, through every entry point.
    pub nicknames: usize,
    /// Calls made after opening.
    pub calls: usize,
    /// The error that ended the pulling (or refused the open), if any.
    pub error: Option<Error>,
}

/// Opens segment `name` with the Rust client and through the C ABI, and
/// pulls with both in turn, at most `max_calls` calls each, until the ring
/// is empty or a call fails: `next` with a roomy and a tiny buffer,
/// `next_batch` and `stats`, and their C counterparts, never waiting.
/// Panics if the client breaks a promise (see the module doc). With
/// `image`, every nickname must also be the payload of one of its slots.
pub fn open_and_pull(name: &str, max_calls: usize, image: Option<&[u8]>) -> Outcome {
    let check = |nickname: &[u8], room: usize, whole: bool| {
        assert!(
            nickname.len() <= SLOT_PAYLOAD && nickname.len() <= room,
            "a nickname of {} bytes from a slot of {SLOT_PAYLOAD} into a buffer of {room}",
            nickname.len()
        );
        if let Some(image) = image {
            assert!(
                is_slot_payload(image, nickname, whole),
                "{nickname:?} is not the payload of any slot of the image"
            );
        }
    };
    let mut outcome = Outcome::default();
    let client = match Client::open(Some(name)) {
        Ok(client) => Some(client),
        Err(e) => {
            outcome.error = Some(e);
            None
        }
    };
    outcome.opened = client.is_some();
    let c_handle = CHandle::open(name);
    let (mut rust_done, mut c_done) = (client.is_none(), c_handle.is_none());
    for call in 0..max_calls {
        if rust_done && c_done {
            break;
        }
        if let (false, Some(client)) = (rust_done, &client) {
            outcome.calls += 1;
            match rust_call(client, call, &check) {
                Ok(n) => outcome.nicknames += n,
                Err(e) => {
                    outcome.error = Some(e);
                    rust_done = true;
                }
            }
        }
        if let (false, Some(handle)) = (c_done, &c_handle) {
            outcome.calls += 1;
            match handle.call(call, &check) {
                Some(n) => outcome.nicknames += n,
                None => c_done = true,
            }
        }
    }
    outcome
}

/// One call on the Rust client, chosen by `call`: how many nicknames it
/// pulled, or the error (other than BufferTooSmall, which pulls nothing).
fn rust_call(
    client: &Client,
    call: usize,
    check: &dyn Fn(&[u8], usize, bool),
) -> Result<usize, Error> {
    let zero = Some(Duration::ZERO);
    match call % 4 {
        0 => {
            let mut buf = [0u8; SLOT_PAYLOAD + 1];
            let len = client.next(&mut buf, zero)?;
            check(&buf[..len], buf.len(), true);
            Ok(1)
        }
        1 => {
            let mut tiny = [0u8; 4];
            match client.next(&mut tiny, zero) {
                Ok(len) => {
                    check(&tiny[..len], tiny.len(), true);
                    Ok(1)
                }
                Err(Error::BufferTooSmall { needed }) => {
                    assert!(
                        needed > tiny.len() && needed <= SLOT_PAYLOAD,
                        "needed {needed}"
                    );
                    Ok(0)
                }
                Err(e) => Err(e),
            }
        }
        2 => {
            let mut buf = [0u8; 3 * (SLOT_PAYLOAD + 1)];
            let count = client.next_batch(&mut buf, 3, zero)?;
            assert!((1..=3).contains(&count), "a batch of {count} for at most 3");
            for_each_string(&buf, count, |nickname| check(nickname, buf.len(), false));
            Ok(count)
        }
        _ => {
            let stats = client.stats()?;
            assert!(stats.fill <= stats.capacity, "{stats:?}");
            assert!(stats.capacity.is_power_of_two(), "{stats:?}");
            Ok(0)
        }
    }
}

/// Calls `f` on each of the first `count` NUL-terminated strings of `buf`;
/// panics if there are fewer.
fn for_each_string(buf: &[u8], count: usize, mut f: impl FnMut(&[u8])) {
    let mut rest = buf;
    for _ in 0..count {
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .expect("each nickname of a batch is NUL-terminated");
        f(&rest[..end]);
        rest = &rest[end + 1..];
    }
}

/// A handle of the C ABI, used as a C program uses it.
struct CHandle(*mut ffi::nickpool_client);

impl CHandle {
    fn open(name: &str) -> Option<CHandle> {
        let name = CString::new(name).expect("a valid name has no NUL");
        let mut handle = std::ptr::null_mut();
        // SAFETY: a NUL-terminated name and a valid out-pointer.
        let status = unsafe { ffi::nickpool_open(name.as_ptr(), &mut handle) };
        if status == nickpool_status::NICKPOOL_OK {
            Some(CHandle(handle))
        } else {
            assert!(handle.is_null(), "{status:?} with a handle");
            None
        }
    }

    /// nickpool_next or nickpool_next_batch (by `call`): how many
    /// nicknames, or `None` once a call fails.
    fn call(&self, call: usize, check: &dyn Fn(&[u8], usize, bool)) -> Option<usize> {
        let mut buf = [0x55 as c_char; 2 * (SLOT_PAYLOAD + 1)];
        let mut out = usize::MAX;
        let batch = call % 2 == 1;
        // SAFETY: a live handle, a buffer of the given length, a valid
        // out-pointer.
        let status = unsafe {
            if batch {
                ffi::nickpool_next_batch(self.0, buf.as_mut_ptr(), buf.len(), 2, &mut out, 0)
            } else {
                ffi::nickpool_next(self.0, buf.as_mut_ptr(), buf.len(), &mut out, 0)
            }
        };
        let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
        match status {
            nickpool_status::NICKPOOL_OK if batch => {
                assert!((1..=2).contains(&out), "a batch of {out} for at most 2");
                for_each_string(&bytes, out, |nickname| check(nickname, bytes.len(), false));
                Some(out)
            }
            nickpool_status::NICKPOOL_OK => {
                assert!(out <= SLOT_PAYLOAD, "out_len {out}");
                assert_eq!(bytes[out], 0, "no NUL after the nickname");
                check(&bytes[..out], bytes.len(), true);
                Some(1)
            }
            status => {
                assert_eq!(out, 0, "{status:?} with a count or length");
                assert_eq!(bytes[0], 0, "{status:?} without the empty string");
                None
            }
        }
    }
}

impl Drop for CHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from nickpool_open and is closed once.
        unsafe { ffi::nickpool_close(self.0) };
    }
}

/// Whether `nickname` is the payload (length byte, then bytes) of one of
/// the 64-byte lines of `image` after its header page (every shard's slots
/// are among them), or, unless `whole`, part of one: a forged payload may
/// hold NUL bytes, which split it where a batch's nicknames are separated
/// by NULs.
fn is_slot_payload(image: &[u8], nickname: &[u8], whole: bool) -> bool {
    image
        .get(HEADER_SIZE..)
        .unwrap_or_default()
        .chunks_exact(SLOT_SIZE)
        .any(|slot| {
            // Stamp (8 bytes), length byte, UTF-8 bytes.
            let len = usize::from(slot[8]);
            let Some(payload) = slot.get(9..9 + len) else {
                return false;
            };
            if whole {
                payload == nickname
            } else {
                nickname.is_empty() || payload.windows(nickname.len()).any(|w| w == nickname)
            }
        })
}

/// The image of a real segment of `shards` shards of `shard_capacity`
/// slots, made by the daemon's own code: `nicknames` published in turn into
/// shard 0, 1, …, the first `consumed` of them already pulled (from shard
/// 0 on, as a consumer at home there takes them). The fields that differ
/// from run to run (pid, instance, clocks) are set to fixed values, so the
/// same arguments give the same bytes.
pub fn sample_image(
    shards: u32,
    shard_capacity: u32,
    nicknames: &[&str],
    consumed: usize,
) -> io::Result<Vec<u8>> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "/nickpool-sample-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let geometry = Geometry::new(shards, shard_capacity, 1).map_err(io::Error::other)?;
    let options = CreateOptions {
        geometry,
        mode: 0o600,
        group: None,
        dictionary: "sample".into(),
        style: "sample".into(),
        unique_total: 0,
    };
    let segment =
        OwnedSegment::create(&name, &options).map_err(|e| io::Error::other(e.to_string()))?;
    let mut producers: Vec<Producer<'_>> = (0..shards as usize)
        // SAFETY: this process just created the segment and holds its lock:
        // the only producer of each shard.
        .map(|shard| unsafe { Producer::new(segment.shard(shard)) })
        .collect();
    for (i, nickname) in nicknames.iter().enumerate() {
        let producer = &mut producers[i % shards as usize];
        if producer.free_slots() == 0 {
            return Err(io::Error::other(format!(
                "{i} nicknames fill {shards} shards of {shard_capacity} slots"
            )));
        }
        producer.push_with(|buf| {
            buf[..nickname.len()].copy_from_slice(nickname.as_bytes());
            Some(nickname.len())
        });
    }
    for producer in &producers {
        producer.flush_tail();
    }
    for _ in 0..consumed {
        pull_any(&segment.mapping(), 0, 1, |_, _| true);
    }
    let h = segment.header();
    h.daemon_pid.store(1, Ordering::Relaxed);
    h.instance_id.store(0x5eed, Ordering::Relaxed);
    h.started_unix_ms
        .store(1_700_000_000_000, Ordering::Relaxed);
    h.heartbeat_ms.store(1, Ordering::Relaxed);
    std::fs::read(segment::shm_path(&name))
}
