//! The shared-memory segment: `/dev/shm/NAME`, a header page followed by the
//! shards. The daemon creates it; clients open and validate it.
//!
//! # Layout (version 2)
//!
//! ```text
//! 0                 SegmentHeader (one 4 KiB page)
//! 4096              shard 0: RingHeader (256 bytes), then shard_capacity slots
//! 4096 + stride     shard 1: …
//! ```
//!
//! with `stride = 256 + 64 × shard_capacity`. The header records the shard
//! count (a power of two up to [`MAX_SHARDS`]), the slots per shard and in
//! all (`capacity`), and how many producer threads fill them: shard `s` is
//! filled by producer `s % producers`, which sleeps on shard
//! `s % producers`'s producer futex. Version 1 had one ring and no shard
//! fields; a client of either version refuses the other's segments.
//!
//! # Creation and ownership
//!
//! The daemon builds the segment under a hidden temporary name with 64
//! random bits in it (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600; nobody can
//! guess the name to squat it beforehand), gives it to `--group`, strips any
//! ACL inherited from the directory, and only then widens it to the final
//! mode, so the file never grants the group anything while it belongs to
//! another group. It sizes it with `posix_fallocate` (so a too-small
//! /dev/shm fails now, not with SIGBUS later), takes an open-file-description
//! write lock on it, fills the header, and only then `link`s it to the
//! public name. `link` never replaces an existing name and never follows a
//! symlink, so clients never see a half-built segment and a planted symlink
//! is refused.
//!
//! The lock is the liveness oracle: the kernel drops it when the daemon dies,
//! however it dies. A second daemon finding the lock held refuses to start;
//! finding it free, it takes the stale segment over (only if it is a regular
//! file owned by the same user). Clients test the lock to tell a dead daemon
//! from an idle one; a process id can be reused, a lock cannot lie.
//!
//! # Trust
//!
//! Every open of a segment, by a client or a daemon, is `O_NONBLOCK`: a
//! file lease planted on the name (`F_SETLEASE`) makes the open fail at
//! once instead of waiting out the kernel's lease-break time.
//!
//! A client trusts a segment only if its owner is the client's own
//! (effective) user, root, or the user `$NICKPOOL_OWNER` names (a user name
//! or a uid): anyone else could have created the file at a free name and
//! granted the client access to it (a shared group, an extended ACL), to
//! serve it forged nicknames. The check is made on every open, the first
//! and each reattach; a handle moreover reattaches only to a segment of the
//! owner of the one it first opened. Clients also refuse a segment that
//! every user may write, whoever owns it.
//!
//! Every field of the segment is an atomic, so a hostile writer can change
//! values but never cause a data race. Clients validate the header once,
//! keep their own copies of the geometry, mask every index and bound every
//! length they read.
//!
//! One thing no client can check away: a user with write access who shrinks
//! the file (`ftruncate`) under a mapping makes the next access past the new
//! end raise SIGBUS in every process that maps it. Write access to a segment
//! is therefore trust: grant it (`--mode 0660 --group`) only to users
//! trusted not to crash each other. The daemon never shrinks a segment; a
//! takeover links a new file.

use crate::ring::{Ring, RingHeader, SLOT_SIZE, Shards, Slot};
use memmap2::{MmapOptions, MmapRaw};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// "NICKPOOL" as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"NICKPOOL");
/// Version of the segment layout. A client refuses any other. Version 2:
/// several shards (see the module doc).
pub const LAYOUT_VERSION: u32 = 2;
/// Size of the header region; the first shard starts here.
pub const HEADER_SIZE: usize = 4096;
/// Bytes of a shard's ring header; its slots follow it.
pub const RING_HEADER_SIZE: usize = std::mem::size_of::<RingHeader>();
/// Offset of the first shard's first slot.
pub const SLOTS_OFFSET: usize = HEADER_SIZE + RING_HEADER_SIZE;
/// Smallest and largest capacity, in slots of all shards together.
pub const MIN_CAPACITY: u32 = 4;
pub const MAX_CAPACITY: u32 = 1 << 24;
/// Fewest slots a shard may have (a wake mark falls every quarter).
pub const MIN_SHARD_CAPACITY: u32 = 4;
/// Most shards a segment may have.
pub const MAX_SHARDS: u32 = 64;
/// Default capacity: 65,536 slots, 4 MiB.
pub const DEFAULT_CAPACITY: u32 = 1 << 16;
/// Directory where POSIX shared memory lives on Linux.
pub const SHM_DIR: &str = "/dev/shm";
/// Default segment name.
pub const DEFAULT_NAME: &str = "/nickpool";
/// Longest segment name, leading slash included.
pub const MAX_NAME_LEN: usize = 200;

/// Segment states.
pub const STATE_LIVE: u32 = 1;
pub const STATE_SHUTTING_DOWN: u32 = 2;

const TEXT_LEN: usize = 256;

/// The header page. Written once by the daemon before the segment becomes
/// visible, except `state`, `heartbeat_ms` and the unique-mode gauges.
#[repr(C)]
pub struct SegmentHeader {
    pub magic: AtomicU64,
    pub layout_version: AtomicU32,
    /// Bytes before the ring header ([`HEADER_SIZE`]).
    pub header_size: AtomicU32,
    /// Bytes of the whole segment: [`segment_size`] of its shards.
    pub total_size: AtomicU64,
    /// Bytes per slot ([`SLOT_SIZE`]).
    pub slot_size: AtomicU32,
    /// Slots of all shards together: `shards * shard_capacity`.
    pub capacity: AtomicU32,
    pub daemon_pid: AtomicU32,
    /// [`STATE_LIVE`] or [`STATE_SHUTTING_DOWN`].
    pub state: AtomicU32,
    /// Daemon start, milliseconds since the Unix epoch.
    pub started_unix_ms: AtomicU64,
    /// Random number identifying this daemon instance.
    pub instance_id: AtomicU64,
    /// Bit 0: unique mode.
    pub flags: AtomicU32,
    /// Rings in the segment: a power of two from 1 to [`MAX_SHARDS`].
    pub shards: AtomicU32,
    /// Unique mode: indices used and total space (0 when not unique).
    pub unique_used: AtomicU64,
    pub unique_total: AtomicU64,
    /// Dictionary description, UTF-8, NUL-padded.
    pub dictionary: [AtomicU8; TEXT_LEN],
    /// Style selection, UTF-8, NUL-padded.
    pub style: [AtomicU8; 64],
    /// Slots per shard: a power of two, at least [`MIN_SHARD_CAPACITY`].
    pub shard_capacity: AtomicU32,
    /// Producer threads, from 1 to `shards`: shard `s` is filled by
    /// producer `s % producers`, which sleeps on the producer futex of shard
    /// `s % producers`.
    pub producers: AtomicU32,
    _pad: [u8; 184],
    /// Daemon heartbeat: CLOCK_MONOTONIC milliseconds, updated at least every
    /// `nickpool_server::daemon::HEARTBEAT`. On its own cache line, away from the
    /// fields clients read.
    pub heartbeat_ms: crate::ring::CacheLine<AtomicU64>,
}

/// Bit 0 of `flags`: the daemon runs in unique mode.
pub const FLAG_UNIQUE: u32 = 1;
/// Bit 1 of `flags`: unique mode has handed out its whole space.
pub const FLAG_EXHAUSTED: u32 = 2;

const _: () = {
    assert!(std::mem::size_of::<SegmentHeader>() <= HEADER_SIZE);
    assert!(std::mem::size_of::<Slot>() == SLOT_SIZE);
    assert!(SLOTS_OFFSET % 64 == 0);
};

/// Why a segment could not be opened or created.
#[derive(Debug)]
pub enum SegmentError {
    /// No segment by that name (or its daemon is gone).
    NotRunning(String),
    /// The file is not a segment this library understands.
    Incompatible(String),
    PermissionDenied(String),
    InvalidName(String),
    /// A live daemon holds the name.
    AlreadyRunning {
        name: String,
        pid: u32,
    },
    Io(String),
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentError::NotRunning(m)
            | SegmentError::Incompatible(m)
            | SegmentError::PermissionDenied(m)
            | SegmentError::InvalidName(m)
            | SegmentError::Io(m) => f.write_str(m),
            SegmentError::AlreadyRunning { name, pid } => write!(
                f,
                "segment {name} is held by a running daemon, pid {pid}; stop it or choose another --name"
            ),
        }
    }
}

impl std::error::Error for SegmentError {}

/// Checks a segment name: one leading slash, then 1 to 199 characters of
/// `A-Z a-z 0-9 . _ -`, not starting with a dot.
pub fn validate_name(name: &str) -> Result<(), SegmentError> {
    let bad = |why: &str| {
        Err(SegmentError::InvalidName(format!(
            "invalid segment name {name:?}: {why}; use a name like /nickpool"
        )))
    };
    let Some(rest) = name.strip_prefix('/') else {
        return bad("it must start with '/'");
    };
    if rest.is_empty() {
        return bad("it needs characters after the '/'");
    }
    if name.len() > MAX_NAME_LEN {
        return bad(&format!("it is longer than {MAX_NAME_LEN} bytes"));
    }
    if rest.starts_with('.') {
        return bad("it must not start with '.' after the slash");
    }
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(&format!("{c:?} is not allowed (only A-Z a-z 0-9 . _ -)"));
    }
    Ok(())
}

/// The name to use when none is given: `$NICKPOOL_NAME`, else `/nickpool`.
pub fn default_name() -> String {
    std::env::var("NICKPOOL_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAME.to_owned())
}

/// Path of the file behind a (validated) segment name.
pub fn shm_path(name: &str) -> PathBuf {
    PathBuf::from(format!("{SHM_DIR}{name}"))
}

/// Bytes from one shard's ring header to the next: the header and
/// `shard_capacity` slots.
pub fn shard_stride(shard_capacity: u32) -> usize {
    RING_HEADER_SIZE + shard_capacity as usize * SLOT_SIZE
}

/// Total bytes of a segment of `shards` shards of `shard_capacity` slots.
pub fn segment_size(shards: u32, shard_capacity: u32) -> usize {
    HEADER_SIZE + shards as usize * shard_stride(shard_capacity)
}

/// The largest segment file any valid header describes.
fn max_segment_size() -> usize {
    HEADER_SIZE + MAX_SHARDS as usize * RING_HEADER_SIZE + MAX_CAPACITY as usize * SLOT_SIZE
}

/// How a segment is divided, as validated when it was mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Slots of all shards.
    pub capacity: u32,
    pub shards: u32,
    pub shard_capacity: u32,
    pub producers: u32,
}

impl Geometry {
    /// Checks a geometry: `shards` a power of two up to [`MAX_SHARDS`],
    /// `shard_capacity` a power of two of at least [`MIN_SHARD_CAPACITY`],
    /// their product within [`MIN_CAPACITY`]..=[`MAX_CAPACITY`], and from 1
    /// to `shards` producers. The error says which.
    pub fn new(shards: u32, shard_capacity: u32, producers: u32) -> Result<Geometry, String> {
        if !shards.is_power_of_two() || shards > MAX_SHARDS {
            return Err(format!(
                "{shards} shards: the shard count must be a power of two from 1 to {MAX_SHARDS}"
            ));
        }
        if !shard_capacity.is_power_of_two() || shard_capacity < MIN_SHARD_CAPACITY {
            return Err(format!(
                "{shard_capacity} slots per shard: each shard needs a power of two of at least {MIN_SHARD_CAPACITY} slots"
            ));
        }
        let capacity = u64::from(shards) * u64::from(shard_capacity);
        if !(u64::from(MIN_CAPACITY)..=u64::from(MAX_CAPACITY)).contains(&capacity) {
            return Err(format!(
                "{shards} shards of {shard_capacity} slots make {capacity} slots, more than {MAX_CAPACITY}"
            ));
        }
        if !(1..=shards).contains(&producers) {
            return Err(format!(
                "{producers} producers for {shards} shards: there must be from 1 to {shards} (each fills whole shards)"
            ));
        }
        Ok(Geometry {
            capacity: capacity as u32,
            shards,
            shard_capacity,
            producers,
        })
    }

    /// Bytes of a segment of this geometry.
    pub fn size(&self) -> usize {
        segment_size(self.shards, self.shard_capacity)
    }
}

/// A mapped segment: the file (kept open for the liveness test), the mapping,
/// and the geometry validated when it was mapped.
pub struct Mapping {
    file: File,
    map: MmapRaw,
    geometry: Geometry,
    instance_id: u64,
    /// User id owning the file when it was opened.
    owner: u32,
    name: String,
}

impl fmt::Debug for Mapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapping")
            .field("name", &self.name)
            .field("geometry", &self.geometry)
            .field("instance_id", &self.instance_id)
            .field("owner", &self.owner)
            .finish()
    }
}

impl Mapping {
    pub fn header(&self) -> &SegmentHeader {
        // SAFETY: the mapping is at least SLOTS_OFFSET bytes (checked when
        // mapped), page aligned, and lives as long as `self`. Every field of
        // `SegmentHeader` is an atomic or padding, valid for any bit pattern,
        // so concurrent writes by other processes are not data races.
        unsafe { &*(self.map.as_ptr() as *const SegmentHeader) }
    }

    /// Shard `index`, with the geometry validated at mapping time (never
    /// re-read from shared memory).
    ///
    /// # Panics
    /// If `index` is not below the shard count.
    #[inline]
    pub fn shard(&self, index: usize) -> Ring<'_> {
        assert!(index < self.geometry.shards as usize, "shard {index}");
        let stride = shard_stride(self.geometry.shard_capacity);
        // SAFETY: the mapping covers segment_size(shards, shard_capacity)
        // bytes (checked when mapped) and index < shards, so this shard's
        // header and its shard_capacity slots lie inside it. HEADER_SIZE,
        // RING_HEADER_SIZE and the stride are multiples of 64, so they are
        // suitably aligned. Their fields are atomics, valid for any bit
        // pattern and safe to share.
        unsafe {
            let header = self.map.as_ptr().add(HEADER_SIZE + index * stride);
            let slots = std::slice::from_raw_parts(
                header.add(RING_HEADER_SIZE) as *const Slot,
                self.geometry.shard_capacity as usize,
            );
            Ring::new(&*(header as *const RingHeader), slots)
        }
    }

    /// How the segment is divided into shards.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Slots of all shards together.
    pub fn capacity(&self) -> u32 {
        self.geometry.capacity
    }

    /// Shard count.
    pub fn shards(&self) -> usize {
        self.geometry.shards as usize
    }

    /// The shard whose producer futex the producer of `shard` sleeps on.
    #[inline]
    pub fn producer_shard(&self, shard: usize) -> usize {
        shard % self.geometry.producers as usize
    }

    pub fn instance_id(&self) -> u64 {
        self.instance_id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user id that owned the segment file when it was opened.
    pub fn owner(&self) -> u32 {
        self.owner
    }

    /// True while a daemon holds this segment's lock (the daemon that
    /// created it; locks do not pass on).
    pub fn daemon_alive(&self) -> bool {
        lock_holder(&self.file).unwrap_or(false)
    }

    /// Opens and validates the segment `name` (already validated). Never
    /// blocks; refuses a file whose owner this process does not trust (its
    /// own user, root, or the user [`OWNER_ENV`] names).
    pub fn open(name: &str) -> Result<Mapping, SegmentError> {
        let path = shm_path(name);
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OPEN_FLAGS)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => return Err(open_error(name, &path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| SegmentError::Io(format!("cannot stat {}: {e}", path.display())))?;
        if !meta.file_type().is_file() {
            return Err(SegmentError::Incompatible(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        if let Err(why) = trusts_owner(meta.uid()) {
            return Err(untrusted_owner(&path, meta.uid(), &why, &acl_grants(&file)));
        }
        // A daemon never creates such a file (`--mode` refuses bits for
        // others); one that every user may write could have been planted,
        // or rewritten, by anyone: its nicknames cannot be trusted.
        if meta.mode() & 0o002 != 0 {
            return Err(SegmentError::PermissionDenied(format!(
                "{} is writable by every user (mode {:04o}), so anyone could forge its nicknames; \
                 nickpool refuses it. Remove it and serve with --mode 0600, or 0660 and --group GROUP",
                path.display(),
                meta.mode() & 0o7777
            )));
        }
        let size = meta.len();
        if size < SLOTS_OFFSET as u64 || size > max_segment_size() as u64 {
            return Err(SegmentError::Incompatible(format!(
                "{} has {size} bytes, which no nickpool segment has; remove it or choose another name",
                path.display()
            )));
        }
        let map = MmapOptions::new()
            .len(size as usize)
            .map_raw(&file)
            .map_err(|e| SegmentError::Io(format!("cannot map {}: {e}", path.display())))?;
        // SAFETY: the mapping is at least SLOTS_OFFSET bytes (checked
        // above), page aligned, and outlives this borrow; every field of
        // `SegmentHeader` is an atomic or padding, valid for any bit pattern.
        let header = unsafe { &*(map.as_ptr() as *const SegmentHeader) };
        let (geometry, instance_id) = validate(header, size, &path)?;
        Ok(Mapping {
            file,
            map,
            geometry,
            instance_id,
            owner: meta.uid(),
            name: name.to_owned(),
        })
    }
}

/// Flags of every open of an existing segment. `O_NONBLOCK`: a file lease
/// on it (which its owner may take) makes the open fail with EWOULDBLOCK
/// instead of waiting for the lease break (45 s by default).
const OPEN_FLAGS: libc::c_int = libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;

/// The environment variable naming the user (a name or a uid) whose
/// segments clients trust besides their own user's and root's.
pub const OWNER_ENV: &str = "NICKPOOL_OWNER";

/// Whether this process trusts a segment owned by `uid`: its own effective
/// user, root, or the user `$NICKPOOL_OWNER` names. `Err` says what
/// `$NICKPOOL_OWNER` holds, for the refusal. The environment is read only
/// when the owner is neither of the first two.
fn trusts_owner(uid: u32) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if uid == 0 || uid == unsafe { libc::geteuid() } {
        return Ok(());
    }
    let named = match std::env::var(OWNER_ENV) {
        Ok(named) if !named.is_empty() => named,
        Ok(_) | Err(std::env::VarError::NotPresent) => {
            return Err(format!("${OWNER_ENV} is not set"));
        }
        Err(std::env::VarError::NotUnicode(raw)) => {
            return Err(format!(
                "${OWNER_ENV}={raw:?} is neither a user name nor a uid"
            ));
        }
    };
    match uid_of(&named) {
        Some(trusted) if trusted == uid => Ok(()),
        Some(trusted) => Err(format!(
            "${OWNER_ENV}={named} names {}",
            user_label(trusted)
        )),
        None => Err(format!(
            "${OWNER_ENV}={named} names no user on this system (give the daemon's user name, or its uid)"
        )),
    }
}

/// The refusal of a segment owned by an untrusted user: who owns it, how
/// to trust that user, and what else it may be.
fn untrusted_owner(path: &std::path::Path, uid: u32, why: &str, acl: &str) -> SegmentError {
    // SAFETY: geteuid has no preconditions.
    let me = user_label(unsafe { libc::geteuid() });
    let owner = user_label(uid);
    let trust_as = user_name(uid).unwrap_or_else(|| uid.to_string());
    SegmentError::PermissionDenied(format!(
        "{} belongs to {owner}, and this process ({me}) trusts only segments of its own user, \
         root, or the user named by ${OWNER_ENV} ({why}){acl}. If {owner} runs your nickpool \
         daemon, set {OWNER_ENV}={trust_as} for this program; otherwise someone else put the \
         file there to serve forged nicknames: remove it and start the daemon",
        path.display()
    ))
}

/// A uid given as a number, or the uid of a user name.
fn uid_of(user: &str) -> Option<u32> {
    if !user.is_empty() && user.bytes().all(|b| b.is_ascii_digit()) {
        return user.parse().ok();
    }
    passwd_entries()
        .find(|(name, _)| name == user)
        .map(|(_, uid)| uid)
}

/// The name of user `uid`, if it has one.
fn user_name(uid: u32) -> Option<String> {
    passwd_entries()
        .find(|&(_, u)| u == uid)
        .map(|(name, _)| name)
}

/// "user NAME (uid N)", or "uid N" for a uid without a name.
fn user_label(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("user {name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// The (name, uid) pairs of /etc/passwd. Read directly rather than through
/// `getpwnam_r`: the C library must link statically without a warning, and
/// glibc's NSS cannot work in a static program. Users that only a directory
/// service (LDAP, sssd) knows are therefore named by uid
/// (`NICKPOOL_OWNER=1234`), which is what the README says to do anyway.
fn passwd_entries() -> impl Iterator<Item = (String, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            (!name.is_empty() && !name.starts_with(['#', '+', '-'])).then(|| (name.to_owned(), uid))
        })
        .collect::<Vec<_>>()
        .into_iter()
}

/// Which named users and groups an extended ACL on `file` lets in (with
/// their effective permissions), as a clause for a refusal; empty when it
/// has none. Such entries show only as the group bits of the mode ("0660+"
/// in `ls -l`), so the refusal of an untrusted owner spells them out.
fn acl_grants(file: &File) -> String {
    const ACL_USER: u16 = 0x02;
    const ACL_GROUP: u16 = 0x08;
    const ACL_MASK: u16 = 0x10;
    let mut buf = [0u8; 1024];
    // SAFETY: the name is NUL-terminated and `buf` is valid for writing
    // `buf.len()` bytes; the descriptor is open.
    let len = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            c"system.posix_acl_access".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    // Layout (linux/posix_acl_xattr.h): a 4-byte version, then 8-byte
    // entries {u16 tag, u16 perm, u32 id}, little-endian.
    let Some(entries) = usize::try_from(len).ok().and_then(|n| buf.get(4..n)) else {
        return String::new();
    };
    let entries: Vec<(u16, u16, u32)> = entries
        .chunks_exact(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect();
    let mask = entries
        .iter()
        .find(|e| e.0 == ACL_MASK)
        .map_or(0o7, |e| e.1);
    let named: Vec<String> = entries
        .iter()
        .filter(|e| e.0 == ACL_USER || e.0 == ACL_GROUP)
        .map(|&(tag, perm, id)| {
            let perm = perm & mask;
            let rw = match (perm & 0o4 != 0, perm & 0o2 != 0) {
                (true, true) => "rw",
                (true, false) => "r",
                (false, true) => "w",
                (false, false) => "nothing",
            };
            let who = if tag == ACL_USER { "uid" } else { "gid" };
            format!("{who} {id}: {rw}")
        })
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!(
            "; an extended ACL on it grants access beyond its mode ({})",
            named.join(", ")
        )
    }
}

/// Checks every header field against the file size; returns the geometry
/// and instance id.
fn validate(
    h: &SegmentHeader,
    file_size: u64,
    path: &std::path::Path,
) -> Result<(Geometry, u64), SegmentError> {
    let bad = |what: String| {
        Err(SegmentError::Incompatible(format!(
            "{} is not a usable nickpool segment: {what}",
            path.display()
        )))
    };
    if h.magic.load(Ordering::Relaxed) != MAGIC {
        return bad("wrong magic number; remove the file or choose another name".into());
    }
    let version = h.layout_version.load(Ordering::Relaxed);
    if version == 1 {
        return bad(format!(
            "it has layout version 1 (one ring, from a release before sharding), this library reads version {LAYOUT_VERSION}; \
             restart the daemon with this release's `nickpool serve`, or use the library of the daemon's release"
        ));
    }
    if version != LAYOUT_VERSION {
        return bad(format!(
            "layout version {version}, this library reads version {LAYOUT_VERSION}; use a client and daemon of the same release"
        ));
    }
    let header_size = h.header_size.load(Ordering::Relaxed);
    let slot_size = h.slot_size.load(Ordering::Relaxed);
    if header_size as usize != HEADER_SIZE || slot_size as usize != SLOT_SIZE {
        return bad(format!("header size {header_size} / slot size {slot_size}"));
    }
    let geometry = match Geometry::new(
        h.shards.load(Ordering::Relaxed),
        h.shard_capacity.load(Ordering::Relaxed),
        h.producers.load(Ordering::Relaxed),
    ) {
        Ok(g) => g,
        Err(why) => return bad(why),
    };
    let capacity = h.capacity.load(Ordering::Relaxed);
    if capacity != geometry.capacity {
        return bad(format!(
            "capacity {capacity} for {} shards of {} slots",
            geometry.shards, geometry.shard_capacity
        ));
    }
    let total = h.total_size.load(Ordering::Relaxed);
    if total != geometry.size() as u64 || total > file_size {
        return bad(format!(
            "total size {total} for {} shards of {} slots in a file of {file_size} bytes",
            geometry.shards, geometry.shard_capacity
        ));
    }
    let state = h.state.load(Ordering::Relaxed);
    if state != STATE_LIVE && state != STATE_SHUTTING_DOWN {
        return bad(format!("state {state}"));
    }
    Ok((geometry, h.instance_id.load(Ordering::Relaxed)))
}

impl<'a> Shards<'a> for &'a Mapping {
    #[inline]
    fn count(&self) -> usize {
        self.geometry.shards as usize
    }

    #[inline]
    fn shard(&self, index: usize) -> Ring<'a> {
        Mapping::shard(self, index)
    }
}

fn open_error(name: &str, path: &std::path::Path, e: io::Error) -> SegmentError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => SegmentError::NotRunning(format!(
            "no daemon is serving {name} ({} does not exist); start one with `nickpool serve --name {name}`",
            path.display()
        )),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            // SAFETY: geteuid has no preconditions.
            let uid = unsafe { libc::geteuid() };
            let owner = std::fs::symlink_metadata(path)
                .map(|m| {
                    format!(
                        ", the segment belongs to uid {} with mode {:04o}",
                        m.uid(),
                        m.mode() & 0o7777
                    )
                })
                .unwrap_or_default();
            SegmentError::PermissionDenied(format!(
                "permission denied opening {} ({e}): this process runs as uid {uid}{owner}; \
                 run as the daemon's user or ask for `nickpool serve --mode 0660 --group GROUP`",
                path.display()
            ))
        }
        Some(libc::ELOOP) => SegmentError::Incompatible(format!(
            "{} is a symbolic link, not a segment; remove it",
            path.display()
        )),
        Some(libc::EISDIR) | Some(libc::ENXIO) => SegmentError::Incompatible(format!(
            "{} is not a regular file, not a segment; remove it",
            path.display()
        )),
        // Only a file's owner (or a process with CAP_LEASE) can lease it,
        // and no nickpool daemon does: name the owner.
        Some(libc::EWOULDBLOCK) => match std::fs::symlink_metadata(path) {
            Ok(meta) => match trusts_owner(meta.uid()) {
                Err(why) => untrusted_owner(path, meta.uid(), &why, ""),
                Ok(()) => SegmentError::Io(format!(
                    "{} belongs to {} and another process holds a file lease on it, so opening \
                     it would wait; no nickpool daemon takes leases: find the holder in \
                     /proc/locks (LEASE), stop it, and try again",
                    path.display(),
                    user_label(meta.uid())
                )),
            },
            Err(_) => SegmentError::NotRunning(format!(
                "no daemon is serving {name}; start one with `nickpool serve --name {name}`"
            )),
        },
        _ => SegmentError::Io(format!("cannot open {}: {e}", path.display())),
    }
}

/// Whether some process holds a write lock on `file` (F_OFD_GETLK).
fn lock_holder(file: &File) -> io::Result<bool> {
    let mut lock = whole_file_lock(libc::F_WRLCK);
    // SAFETY: `lock` is a valid flock struct for the call's duration and the
    // descriptor is open.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

fn whole_file_lock(kind: libc::c_int) -> libc::flock {
    // SAFETY: flock is a plain C struct; all-zero is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // The whole file.
    lock
}

/// Takes the daemon's lock on `file`; false if another process holds it.
fn try_lock(file: &File) -> io::Result<bool> {
    let lock = whole_file_lock(libc::F_WRLCK);
    // SAFETY: `lock` is a valid flock struct and the descriptor is open.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(e),
    }
}

/// Options for creating a segment.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Shards, slots per shard and producer threads.
    pub geometry: Geometry,
    /// File mode, e.g. 0o600 (default) or 0o660 to share with a group.
    pub mode: u32,
    /// Group to give the segment to (with a group-readable `mode`).
    pub group: Option<u32>,
    pub dictionary: String,
    pub style: String,
    pub unique_total: u64,
}

/// A segment owned by this (daemon) process. Dropping it marks the segment
/// shutting down and removes its name.
pub struct OwnedSegment {
    mapping: Mapping,
    path: PathBuf,
    /// (device, inode) of our file, to unlink only our own segment.
    identity: (u64, u64),
    /// Log lines about what creation did (e.g. a stale segment taken over).
    pub notes: Vec<String>,
}

impl OwnedSegment {
    /// Creates and publishes segment `name`, taking over a stale one.
    pub fn create(name: &str, options: &CreateOptions) -> Result<OwnedSegment, SegmentError> {
        validate_name(name)?;
        let geometry = options.geometry;
        // Checked again: the fields are public.
        Geometry::new(geometry.shards, geometry.shard_capacity, geometry.producers)
            .map_err(SegmentError::InvalidName)?;
        let capacity = geometry.capacity;
        if options.mode & !0o660 != 0 || options.mode & 0o600 != 0o600 {
            return Err(SegmentError::PermissionDenied(format!(
                "mode {:04o} is not allowed for a segment: the owner needs read and write, \
                 the group may have them, other users must have nothing (use 0600 or 0660)",
                options.mode
            )));
        }
        let path = shm_path(name);
        let (file, temp) = create_temp(name)?;
        // From here on, remove the temporary file on every failure.
        let cleanup = TempFile(temp.clone());
        let io_err = |what: &str, e: io::Error| SegmentError::Io(format!("{what}: {e}"));
        // The file is 0600 (or narrower, by the umask) and ours: only our
        // user can open it. Give it to the group first, drop any ACL it
        // inherited, and only then open it to the group with the final
        // mode: no other group's member ever gets a descriptor.
        if let Some(gid) = options.group {
            // SAFETY: plain syscall on an open descriptor; -1 keeps the owner.
            if unsafe { libc::fchown(file.as_raw_fd(), u32::MAX, gid) } != 0 {
                return Err(SegmentError::PermissionDenied(format!(
                    "cannot give the segment to group {gid}: {}; the daemon's user must be a member",
                    io::Error::last_os_error()
                )));
            }
        }
        drop_inherited_acl(&file)?;
        // Exactly the mode asked for, whatever the umask.
        file.set_permissions(std::fs::Permissions::from_mode(options.mode))
            .map_err(|e| io_err("cannot set the segment's mode", e))?;
        if !try_lock(&file).map_err(|e| io_err("cannot lock the new segment", e))? {
            return Err(SegmentError::Io(
                "the new segment is locked by another process".into(),
            ));
        }
        let size = geometry.size();
        // SAFETY: plain syscall on an open descriptor.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
        if rc != 0 {
            let e = io::Error::from_raw_os_error(rc);
            return Err(SegmentError::Io(format!(
                "cannot allocate {size} bytes in {SHM_DIR} for capacity {capacity}: {e}; \
                 free space in {SHM_DIR} (df -h {SHM_DIR}), enlarge it, or use a smaller --capacity"
            )));
        }
        let map = MmapOptions::new()
            .len(size)
            .map_raw(&file)
            .map_err(|e| io_err("cannot map the new segment", e))?;
        let instance_id = random_u64();
        // SAFETY: geteuid has no preconditions.
        let owner = unsafe { libc::geteuid() };
        let mapping = Mapping {
            file,
            map,
            geometry,
            instance_id,
            owner,
            name: name.to_owned(),
        };
        init_header(mapping.header(), options, instance_id);
        let meta = mapping
            .file
            .metadata()
            .map_err(|e| io_err("cannot stat the new segment", e))?;
        let identity = (meta.dev(), meta.ino());

        let mut notes = Vec::new();
        publish(&temp, &path, name, &mut notes)?;
        drop(cleanup);
        Ok(OwnedSegment {
            mapping,
            path,
            identity,
            notes,
        })
    }

    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    pub fn header(&self) -> &SegmentHeader {
        self.mapping.header()
    }

    pub fn shard(&self, index: usize) -> Ring<'_> {
        self.mapping.shard(index)
    }

    /// Marks the segment shutting down and removes its name if it is still
    /// ours. Clients see the state and stop waiting on it. Returns whether
    /// this call removed the name (false if it was already gone or now
    /// belongs to another daemon). Idempotent.
    pub fn shut_down(&self) -> bool {
        self.header()
            .state
            .store(STATE_SHUTTING_DOWN, Ordering::SeqCst);
        // Wake sleeping consumers so they notice now.
        for index in 0..self.mapping.shards() {
            let sleep = &self.shard(index).header().sleep;
            sleep.consumer_futex.fetch_add(1, Ordering::SeqCst);
            crate::futex::wake_all(&sleep.consumer_futex);
        }
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.identity => {
                std::fs::remove_file(&self.path).is_ok()
            }
            _ => false,
        }
    }
}

impl Drop for OwnedSegment {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Creates the temporary file a new segment is built in: mode 0600, under
/// a name with 64 random bits (`.NAME.PID.RANDOM.tmp`), so nobody can
/// create it beforehand to stop the daemon (a guessable name in the sticky
/// /dev/shm could be neither removed nor reused). Retries a name taken
/// all the same.
fn create_temp(name: &str) -> Result<(File, PathBuf), SegmentError> {
    const TRIES: usize = 8;
    let pid = std::process::id();
    for _ in 0..TRIES {
        let temp = PathBuf::from(format!(
            "{SHM_DIR}/.{}.{pid}.{:016x}.tmp",
            &name[1..],
            random_u64()
        ));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)
        {
            Ok(file) => return Ok((file, temp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::EACCES) | Some(libc::EPERM) => {
                        SegmentError::PermissionDenied(format!(
                            "cannot create {}: {e}; check the permissions of {SHM_DIR}",
                            temp.display()
                        ))
                    }
                    _ => SegmentError::Io(format!("cannot create {}: {e}", temp.display())),
                });
            }
        }
    }
    Err(SegmentError::Io(format!(
        "cannot create a temporary file in {SHM_DIR}: {TRIES} random names were all taken; \
         is the system's random source working?"
    )))
}

/// Removes an access ACL the new file inherited from a default ACL on
/// /dev/shm, so that the segment's mode alone says who may open it (the
/// final `fchmod` would otherwise turn the ACL's named entries on).
fn drop_inherited_acl(file: &File) -> Result<(), SegmentError> {
    let acl = c"system.posix_acl_access";
    // SAFETY: a size query (NULL buffer, length 0) on an open descriptor
    // with a NUL-terminated name.
    let rc = unsafe { libc::fgetxattr(file.as_raw_fd(), acl.as_ptr(), std::ptr::null_mut(), 0) };
    if rc < 0 {
        // ENODATA: no ACL; EOPNOTSUPP: a file system without ACLs.
        return Ok(());
    }
    // SAFETY: an open descriptor and a NUL-terminated name.
    if unsafe { libc::fremovexattr(file.as_raw_fd(), acl.as_ptr()) } != 0 {
        return Err(SegmentError::Io(format!(
            "the new segment inherited an ACL from {SHM_DIR} (see `getfacl {SHM_DIR}`) \
             and removing it failed: {}; remove the directory's default ACL",
            io::Error::last_os_error()
        )));
    }
    Ok(())
}

fn init_header(h: &SegmentHeader, options: &CreateOptions, instance_id: u64) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let geometry = options.geometry;
    h.layout_version.store(LAYOUT_VERSION, Ordering::Relaxed);
    h.header_size.store(HEADER_SIZE as u32, Ordering::Relaxed);
    h.total_size
        .store(geometry.size() as u64, Ordering::Relaxed);
    h.slot_size.store(SLOT_SIZE as u32, Ordering::Relaxed);
    h.capacity.store(geometry.capacity, Ordering::Relaxed);
    h.shards.store(geometry.shards, Ordering::Relaxed);
    h.shard_capacity
        .store(geometry.shard_capacity, Ordering::Relaxed);
    h.producers.store(geometry.producers, Ordering::Relaxed);
    h.daemon_pid.store(std::process::id(), Ordering::Relaxed);
    h.started_unix_ms.store(now_ms, Ordering::Relaxed);
    h.instance_id.store(instance_id, Ordering::Relaxed);
    h.heartbeat_ms.store(monotonic_ms(), Ordering::Relaxed);
    if options.unique_total > 0 {
        h.flags.store(FLAG_UNIQUE, Ordering::Relaxed);
        h.unique_total
            .store(options.unique_total, Ordering::Relaxed);
    }
    write_text(&h.dictionary, &options.dictionary);
    write_text(&h.style, &options.style);
    h.state.store(STATE_LIVE, Ordering::Relaxed);
    // The magic goes last: a header with the magic is complete. (Clients
    // only see the segment after `link`, which orders after these stores.)
    h.magic.store(MAGIC, Ordering::Release);
}

/// Links the finished temporary file to the public name, taking over a
/// stale segment if one is in the way.
fn publish(
    temp: &std::path::Path,
    path: &std::path::Path,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<(), SegmentError> {
    for _ in 0..5 {
        match std::fs::hard_link(temp, path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(SegmentError::Io(format!(
                    "cannot publish segment {}: {e}",
                    path.display()
                )));
            }
        }
        // Something holds the name. Take it over only if it is a dead
        // daemon's segment: a regular file of ours whose lock is free.
        let existing = match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OPEN_FLAGS)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::ELOOP) => SegmentError::Io(format!(
                        "{} is a symbolic link; refusing to touch it. Remove it if you did not create it on purpose",
                        path.display()
                    )),
                    Some(libc::EACCES) | Some(libc::EPERM) => {
                        SegmentError::PermissionDenied(format!(
                            "{} exists and cannot be opened ({e}); it belongs to someone else: choose another --name",
                            path.display()
                        ))
                    }
                    Some(libc::EISDIR) | Some(libc::ENXIO) => SegmentError::Io(format!(
                        "{} exists and is not a regular file, so not a segment ({e}); \
                         refusing to touch it: remove it or choose another --name",
                        path.display()
                    )),
                    // A lease: only its owner (or CAP_LEASE) can take one.
                    Some(libc::EWOULDBLOCK) => SegmentError::Io(format!(
                        "{} exists and another process holds a file lease on it{}; \
                         no nickpool daemon takes leases, so it is not a stale segment: \
                         remove it or choose another --name",
                        path.display(),
                        std::fs::symlink_metadata(path)
                            .map(|m| format!(" (the file belongs to {})", user_label(m.uid())))
                            .unwrap_or_default()
                    )),
                    _ => SegmentError::Io(format!(
                        "{} exists and cannot be opened ({e}); refusing to touch it: \
                         remove it or choose another --name",
                        path.display()
                    )),
                });
            }
        };
        let meta = existing
            .metadata()
            .map_err(|e| SegmentError::Io(format!("cannot stat {}: {e}", path.display())))?;
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if !meta.file_type().is_file() {
            return Err(SegmentError::Io(format!(
                "{} exists and is not a regular file, so not a segment; refusing to touch it: \
                 remove it or choose another --name",
                path.display()
            )));
        }
        if meta.uid() != euid {
            return Err(SegmentError::PermissionDenied(format!(
                "{} exists and is not a segment of this user (owner uid {}); choose another --name",
                path.display(),
                meta.uid()
            )));
        }
        // Take the stale segment's lock, not just test it, and hold it until
        // the name is removed: of two daemons taking over at once, the
        // second then finds the lock held and stops, so only one unlinks
        // the stale file and publishes (a bare test let both go ahead, and
        // the loser could unlink the winner's fresh segment).
        if !try_lock(&existing).unwrap_or(false) {
            let pid = read_pid(&existing).unwrap_or(0);
            return Err(SegmentError::AlreadyRunning {
                name: name.to_owned(),
                pid,
            });
        }
        let pid = read_pid(&existing);
        notes.push(match pid {
            Some(pid) => format!("took over stale segment {name} (daemon pid {pid} is gone)"),
            None => format!("replaced {name}, which was not a complete segment"),
        });
        // Unlink only what we examined: if the name now points elsewhere,
        // another daemon won the race and the next link attempt says so.
        if let Ok(now) = std::fs::symlink_metadata(path) {
            if (now.dev(), now.ino()) == (meta.dev(), meta.ino()) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    Err(SegmentError::Io(format!(
        "could not publish {}: the name keeps changing; is another daemon starting?",
        path.display()
    )))
}

/// The daemon pid recorded in a segment file, if it has a valid header.
fn read_pid(file: &File) -> Option<u32> {
    let size = file.metadata().ok()?.len();
    if size < HEADER_SIZE as u64 {
        return None;
    }
    let map = MmapOptions::new()
        .len(HEADER_SIZE)
        .map_raw_read_only(file)
        .ok()?;
    // SAFETY: the mapping is HEADER_SIZE bytes, page aligned; the header's
    // fields are atomics valid for any bit pattern.
    let h = unsafe { &*(map.as_ptr() as *const SegmentHeader) };
    (h.magic.load(Ordering::Acquire) == MAGIC).then(|| h.daemon_pid.load(Ordering::Relaxed))
}

fn write_text(field: &[AtomicU8], text: &str) {
    let mut end = text.len().min(field.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (cell, &b) in field.iter().zip(text.as_bytes()[..end].iter()) {
        cell.store(b, Ordering::Relaxed);
    }
}

/// Reads a NUL-padded text field (lossily: a hostile writer may put anything).
pub fn read_text(field: &[AtomicU8]) -> String {
    let bytes: Vec<u8> = field
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// CLOCK_MONOTONIC in milliseconds (comparable across processes).
pub fn monotonic_ms() -> u64 {
    monotonic_ns() / 1_000_000
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `bytes.len()` bytes to `bytes`.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n == bytes.len() as isize {
        u64::from_ne_bytes(bytes)
    } else {
        monotonic_ns() ^ u64::from(std::process::id()) << 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(validate_name("/nickpool").is_ok());
        assert!(validate_name("/a.b_c-1").is_ok());
        for bad in [
            "", "/", "nickpool", "//x", "/a/b", "/.hidden", "/sp ace", "/名字",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_name(&format!("/{}", "x".repeat(MAX_NAME_LEN))).is_err());
        assert!(validate_name(&format!("/{}", "x".repeat(MAX_NAME_LEN - 1))).is_ok());
    }

    #[test]
    fn header_fits_its_page() {
        assert!(std::mem::size_of::<SegmentHeader>() <= HEADER_SIZE);
        assert_eq!(SLOTS_OFFSET, 4096 + 256);
        // The magic and version stay where version 1 had them, so each
        // release recognises the other's segments and refuses them.
        assert_eq!(std::mem::offset_of!(SegmentHeader, layout_version), 8);
    }

    #[test]
    fn geometries_are_validated() {
        let g = Geometry::new(4, 16, 2).unwrap();
        assert_eq!((g.capacity, g.size()), (64, 4096 + 4 * (256 + 16 * 64)));
        assert_eq!(Geometry::new(1, 4, 1).unwrap().capacity, 4);
        for (shards, per_shard, producers) in [
            (0, 16, 1),
            (3, 16, 1),
            (128, 16, 1),
            (2, 2, 1),
            (2, 12, 1),
            (64, 1 << 20, 1),
            (4, 16, 0),
            (4, 16, 5),
        ] {
            assert!(
                Geometry::new(shards, per_shard, producers).is_err(),
                "{shards} × {per_shard}, {producers} producers accepted"
            );
        }
    }
}
