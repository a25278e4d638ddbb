//! The C ABI, version 1: thin wrappers over [`crate::client::Client`].
//!
//! Every exported function converts its arguments, calls the client and
//! converts the result; nothing else. Its body sits inside
//! [`ffi_boundary!`], so a panic becomes `NICKPOOL_INTERNAL_ERROR` (or
//! nothing, for `nickpool_close`) instead of unwinding into C. Every pointer
//! is checked for NULL before use.
//!
//! The doc comments here are the C programmer's manual: cbindgen copies them
//! into `include/nickpool.h` (regenerate with
//! `NICKPOOL_BLESS=1 cargo test --test c_api header`). They are written for C
//! readers, so they name C types and avoid Rust links.

// The C names are the contract; Rust naming conventions do not apply here.
#![allow(non_camel_case_types)]
// Each exported function's doc states, argument by argument, what every
// pointer must be: that is its safety contract, written for the C reader
// who sees it in the header. A Rust `# Safety` heading would repeat it.
#![allow(clippy::missing_safety_doc)]

use crate::client::{Client, Error, Stats};
use crate::segment;
use std::cell::RefCell;
use std::ffi::{CStr, c_char};
use std::fmt;
use std::time::Duration;

/// The version of this C ABI. It changes only if an existing function,
/// type or status number changes meaning, which version 1 promises never to
/// do; additions keep the version. Compare with nickpool_abi_version() to
/// detect a header and library of different ABIs.
pub const NICKPOOL_ABI_VERSION: u32 = 1_u32;

/// The release of the library this header belongs to: MAJOR.MINOR.PATCH,
/// also as the string NICKPOOL_VERSION ("1.1.0"). MAJOR is the ABI
/// version; MINOR grows when functions are added (1.1 added
/// nickpool_last_error() and nickpool_version()); PATCH for fixes. Compare
/// with nickpool_version() to see which library was loaded. (Plain
/// integers without a suffix, so that NICKPOOL_VERSION can spell them.)
pub const NICKPOOL_VERSION_MAJOR: u32 = 1;
/// See NICKPOOL_VERSION_MAJOR.
pub const NICKPOOL_VERSION_MINOR: u32 = 1;
/// See NICKPOOL_VERSION_MAJOR.
pub const NICKPOOL_VERSION_PATCH: u32 = 0;

/// The crate's version numbers (`CARGO_PKG_VERSION_*`) as integers.
const fn parse_version_number(text: &str) -> u32 {
    let bytes = text.as_bytes();
    assert!(!bytes.is_empty());
    let mut value = 0_u32;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit());
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

// The header's version is the crate's (Cargo.toml), and its major number is
// the ABI version: bump them together.
const _: () = {
    assert!(NICKPOOL_VERSION_MAJOR == parse_version_number(env!("CARGO_PKG_VERSION_MAJOR")));
    assert!(NICKPOOL_VERSION_MINOR == parse_version_number(env!("CARGO_PKG_VERSION_MINOR")));
    assert!(NICKPOOL_VERSION_PATCH == parse_version_number(env!("CARGO_PKG_VERSION_PATCH")));
    assert!(NICKPOOL_VERSION_MAJOR == NICKPOOL_ABI_VERSION);
};

/// Pass as timeout_ms to wait without limit.
pub const NICKPOOL_WAIT_FOREVER: u32 = 0xFFFF_FFFF_u32;

/// The longest nickname in bytes of UTF-8, without its NUL. A buffer of
/// NICKPOOL_MAX_NICKNAME_LEN + 1 (56) bytes always holds one nickname and
/// its NUL.
pub const NICKPOOL_MAX_NICKNAME_LEN: usize = 55;

const _: () = assert!(NICKPOOL_MAX_NICKNAME_LEN == crate::MAX_NICKNAME_LEN);

/// Bytes one nickname and its NUL take at most.
const NICKNAME_BUF_LEN: usize = NICKPOOL_MAX_NICKNAME_LEN + 1;

/// The result of every fallible call. The numbers are fixed forever: a
/// status that is retired keeps its number, listed below as a comment, and
/// the number is never reused. Treat numbers you do not know as errors.
/// nickpool_status_str() describes any value in one fixed sentence;
/// nickpool_last_error() says in full why this thread's last call failed
/// (segment name, path, the system's error text, what to do).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nickpool_status {
    /// The call succeeded.
    NICKPOOL_OK = 0,
    /// No nickname became available within timeout_ms: the daemon is
    /// stopped or not keeping up. Nothing was consumed; try again.
    NICKPOOL_EMPTY = 1,
    /// The buffer cannot hold the next nickname and its NUL. Nothing was
    /// consumed: the nickname stays in the pool. See nickpool_next() for
    /// how the needed size is reported.
    NICKPOOL_BUFFER_TOO_SMALL = 2,
    /// nickpool_open(): no live daemon serves the name. Start one with
    /// `nickpool serve --name NAME`.
    NICKPOOL_NOT_RUNNING = 3,
    /// The segment has another layout version or is corrupt: the library and
    /// the daemon come from different releases, or the file is not a
    /// nickpool segment.
    NICKPOOL_INCOMPATIBLE = 4,
    /// The segment exists but this user may not open it; the daemon decides
    /// who may (`nickpool serve --mode 0660 --group GROUP`). Also returned
    /// for a segment that every user may write, which the library refuses
    /// (anyone could have planted it), and by a handle whose name has been
    /// taken by a segment of another user than the one it first opened.
    NICKPOOL_PERMISSION_DENIED = 5,
    /// The daemon this handle was attached to has stopped and no new daemon
    /// started on the name within the call's timeout_ms. The handle stays
    /// valid: once a daemon starts on the name again, the next call on the
    /// handle reattaches by itself.
    NICKPOOL_DAEMON_GONE = 6,
    /// Unique mode: every nickname of the daemon's space has been handed out.
    NICKPOOL_EXHAUSTED = 7,
    /// An argument is invalid: a NULL pointer, a zero length or count, or a
    /// segment name that is not "/" followed by 1 to 199 of
    /// A-Z a-z 0-9 . _ - (not starting with '.'), NUL-terminated.
    NICKPOOL_INVALID_ARGUMENT = 8,
    /// The operating system refused an operation (open, mmap, fcntl).
    NICKPOOL_IO_ERROR = 9,
    /// A bug in nickpool, caught at the library boundary before it could
    /// reach your program. The handle may still be used and closed. Please
    /// report it.
    NICKPOOL_INTERNAL_ERROR = 10,
    // Retired numbers (never reuse): none yet.
}

impl nickpool_status {
    /// The status with this number, if there is one.
    fn from_number(number: u32) -> Option<nickpool_status> {
        use nickpool_status::*;
        Some(match number {
            0 => NICKPOOL_OK,
            1 => NICKPOOL_EMPTY,
            2 => NICKPOOL_BUFFER_TOO_SMALL,
            3 => NICKPOOL_NOT_RUNNING,
            4 => NICKPOOL_INCOMPATIBLE,
            5 => NICKPOOL_PERMISSION_DENIED,
            6 => NICKPOOL_DAEMON_GONE,
            7 => NICKPOOL_EXHAUSTED,
            8 => NICKPOOL_INVALID_ARGUMENT,
            9 => NICKPOOL_IO_ERROR,
            10 => NICKPOOL_INTERNAL_ERROR,
            _ => return None,
        })
    }

    /// The status of a client error (the numbers live in `Error::status`).
    fn of(error: &Error) -> nickpool_status {
        nickpool_status::from_number(error.status())
            .unwrap_or(nickpool_status::NICKPOOL_INTERNAL_ERROR)
    }
}

/// A status number as C passes it in. Taking the raw number, rather than
/// the enum, means an out-of-range value from C is a value we handle, not
/// undefined behaviour. cbindgen spells it `nickpool_status` (see
/// cbindgen.toml), which in C is the same 32-bit unsigned type.
pub type nickpool_status_number = u32;

/// A handle on a daemon's segment, from nickpool_open(). Opaque.
///
/// Thread-safety: one handle may be used by any number of threads at once;
/// every function except nickpool_close() may run concurrently on it.
pub struct nickpool_client {
    client: Client,
}

/// The daemon's statistics, filled by nickpool_stats(). Like struct stat and
/// stat(), the struct and the function share a name, so C spells the type
/// `struct nickpool_stats`.
///
/// ABI evolution: later versions may append fields, never change or remove
/// one. So that a program built against this header keeps working with a
/// later library (which must not write past the program's struct), the
/// caller sets `size` to sizeof(struct nickpool_stats) before the call; the
/// library fills only what fits and sets `size` to the bytes it filled.
#[repr(C)]
#[derive(Debug, Clone)]
pub struct nickpool_stats {
    /// In: sizeof(struct nickpool_stats), the bytes the library may write.
    /// Out: the bytes it filled.
    pub size: usize,
    /// Slots in the ring.
    pub capacity: u64,
    /// Nicknames waiting in the ring now.
    pub fill: u64,
    /// Nicknames published since the daemon started.
    pub produced: u64,
    /// Nicknames handed out since the daemon started.
    pub consumed: u64,
    /// Pull calls that found the ring empty.
    pub empty_events: u64,
    /// Times a client went to sleep waiting for a nickname.
    pub consumer_waits: u64,
    /// Times the daemon woke sleeping clients.
    pub consumer_wakeups: u64,
    /// Times the daemon slept because the ring was full.
    pub producer_sleeps: u64,
    /// Times a client woke the sleeping daemon.
    pub producer_wakeups: u64,
    /// Handles that reattached to this daemon after a restart.
    pub reattachments: u64,
    /// Dictionary reloads (SIGHUP) that succeeded.
    pub reloads: u64,
    /// Dictionary reloads refused because the new dictionary was invalid.
    pub reload_failures: u64,
    /// Clients asleep waiting for nicknames now.
    pub waiters: u64,
    /// Process id of the daemon.
    pub daemon_pid: u64,
    /// Daemon start, milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// Milliseconds since the daemon started.
    pub uptime_ms: u64,
    /// Milliseconds since the daemon's last heartbeat (normally below 200).
    pub heartbeat_age_ms: u64,
    /// 1 if the daemon runs in unique mode, else 0.
    pub unique: u64,
    /// Unique mode: nicknames of the space used so far (0 otherwise).
    pub unique_used: u64,
    /// Unique mode: size of the space (0 otherwise).
    pub unique_total: u64,
    /// The segment name, NUL-terminated UTF-8.
    pub name: [c_char; 256],
    /// The daemon's dictionary, NUL-terminated UTF-8 (cut at 255 bytes).
    pub dictionary: [c_char; 256],
    /// The daemon's style selection, NUL-terminated UTF-8 (cut at 63 bytes).
    pub style: [c_char; 64],
}

/// The smallest `size` nickpool_stats() accepts: the struct of ABI
/// version 1. Later versions keep this number and accept larger sizes.
const STATS_V1_SIZE: usize = std::mem::size_of::<nickpool_stats>();

thread_local! {
    /// This thread's last failure, for nickpool_last_error(): the message's
    /// UTF-8 and a NUL, or nothing before the first failure. The buffer is
    /// reused, so a failing call allocates only when its message is longer
    /// than any before it on this thread.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Records `message` as this thread's last error (what nickpool_last_error()
/// returns until the next failure).
fn set_last_error(message: fmt::Arguments<'_>) {
    use std::io::Write;
    // Fails only while the thread is exiting (its thread-locals are gone)
    // or inside nickpool_last_error itself; the message is then dropped.
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut text) = cell.try_borrow_mut() {
            text.clear();
            let _ = text.write_fmt(message);
            // A NUL inside would cut the C string short; none is expected.
            for byte in text.iter_mut().filter(|b| **b == 0) {
                *byte = b' ';
            }
            text.push(0);
        }
    });
}

/// Returns `status` (a failure) after recording `message` as this thread's
/// last error.
fn fail(status: nickpool_status, message: fmt::Arguments<'_>) -> nickpool_status {
    set_last_error(message);
    status
}

/// A client error as a status, recording its message: the same text
/// `nickpool pull` prints for it (both come from `Error`'s Display).
fn fail_with(error: &Error) -> nickpool_status {
    fail(nickpool_status::of(error), format_args!("{error}"))
}

/// What an exported function returns when its body panicked; `message` is
/// the panic's.
trait OnPanic {
    fn on_panic(message: &str) -> Self;
}

impl OnPanic for nickpool_status {
    fn on_panic(message: &str) -> Self {
        fail(
            nickpool_status::NICKPOOL_INTERNAL_ERROR,
            format_args!(
                "internal error in nickpool, caught at the library boundary: {message}; \
                 the handle may still be used and closed; please report it"
            ),
        )
    }
}

impl OnPanic for () {
    fn on_panic(_: &str) -> Self {}
}

impl OnPanic for u32 {
    fn on_panic(_: &str) -> Self {
        0
    }
}

impl OnPanic for *const c_char {
    fn on_panic(_: &str) -> Self {
        c"internal error in nickpool (NICKPOOL_INTERNAL_ERROR)".as_ptr()
    }
}

/// The text of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}

/// The panic boundary: every exported function's body runs inside it. A
/// panic is caught and the function returns `OnPanic::on_panic` for its
/// return type (NICKPOOL_INTERNAL_ERROR, with the panic's message as the
/// thread's last error, for a status), so no unwinding ever reaches C
/// (which would abort the process). `AssertUnwindSafe` is sound here: the
/// only state a body shares beyond its call is the `Client`, which no panic
/// can leave inconsistent (atomics, an `ArcSwap`, a mutex that tolerates
/// poisoning), and this thread's last error, which is rewritten whole, so
/// the handle stays usable after NICKPOOL_INTERNAL_ERROR.
///
/// Test builds can arm a panic at the top of the next body on this thread,
/// to prove that every function's boundary holds.
macro_rules! ffi_boundary {
    ($body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| {
            #[cfg(test)]
            tests::panic_if_armed();
            $body
        })) {
            Ok(value) => value,
            Err(payload) => OnPanic::on_panic(panic_message(&*payload)),
        }
    };
}

/// Returns `NICKPOOL_INVALID_ARGUMENT` from the enclosing body, naming the
/// function and the argument in the thread's last error, if one of the
/// pointers is NULL.
macro_rules! require_non_null {
    ($function:literal: $($ptr:ident),+) => {
        $(
            if $ptr.is_null() {
                return invalid_argument(format_args!(
                    "{}: {} is NULL; pass a valid pointer (see nickpool.h)",
                    $function,
                    stringify!($ptr)
                ));
            }
        )+
    };
}

/// NICKPOOL_INVALID_ARGUMENT, saying which argument and why.
fn invalid_argument(message: fmt::Arguments<'_>) -> nickpool_status {
    fail(nickpool_status::NICKPOOL_INVALID_ARGUMENT, message)
}

/// Writes `value` through `ptr` unless it is NULL.
///
/// # Safety
/// `ptr` is NULL or valid and aligned for a write of `T`.
unsafe fn write_if_non_null<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: non-NULL, and the caller promises it is valid for a write.
        unsafe { ptr.write(value) };
    }
}

/// The client behind a handle.
///
/// # Safety
/// `handle` is non-NULL and came from nickpool_open() and has not been
/// closed; the returned borrow ends before nickpool_close() runs (the
/// documented contract of every function taking a handle).
unsafe fn borrow_client<'a>(handle: *const nickpool_client) -> &'a Client {
    // SAFETY: see the function's contract.
    unsafe { &(*handle).client }
}

/// The caller's buffer as bytes, at most `limit` of them (never more than
/// a call can write, and never a length Rust cannot index).
///
/// # Safety
/// `buf` is non-NULL and valid for writes of `buf_len` bytes, not otherwise
/// accessed during the call, and `buf_len > 0`.
unsafe fn out_bytes<'a>(buf: *mut c_char, buf_len: usize, limit: usize) -> &'a mut [u8] {
    let len = buf_len.min(limit).min(isize::MAX as usize);
    // SAFETY: `len <= buf_len`, for which the caller promises exclusive,
    // writable memory; `u8` has no alignment requirement. The bytes are
    // only written before they are read.
    unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) }
}

/// `timeout_ms` as the client takes it.
fn timeout(timeout_ms: u32) -> Option<Duration> {
    (timeout_ms != NICKPOOL_WAIT_FOREVER).then(|| Duration::from_millis(u64::from(timeout_ms)))
}

/// Copies `text` into a fixed C string field, cut at a character boundary,
/// NUL-terminated and NUL-padded.
fn copy_text(field: &mut [c_char], text: &str) {
    let mut end = text.len().min(field.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (cell, &byte) in field.iter_mut().zip(&text.as_bytes()[..end]) {
        *cell = byte as c_char;
    }
    field[end..].fill(0);
}

impl From<&Stats> for nickpool_stats {
    fn from(s: &Stats) -> nickpool_stats {
        let mut out = nickpool_stats {
            size: STATS_V1_SIZE,
            capacity: s.capacity,
            fill: s.fill,
            produced: s.produced,
            consumed: s.consumed,
            empty_events: s.empty_events,
            consumer_waits: s.consumer_waits,
            consumer_wakeups: s.consumer_wakeups,
            producer_sleeps: s.producer_sleeps,
            producer_wakeups: s.producer_wakeups,
            reattachments: s.reattachments,
            reloads: s.reloads,
            reload_failures: s.reload_failures,
            waiters: s.waiters,
            daemon_pid: u64::from(s.daemon_pid),
            started_unix_ms: s.started_unix_ms,
            uptime_ms: s.uptime_ms,
            heartbeat_age_ms: s.heartbeat_age_ms,
            unique: u64::from(s.unique),
            unique_used: s.unique_used,
            unique_total: s.unique_total,
            name: [0; 256],
            dictionary: [0; 256],
            style: [0; 64],
        };
        copy_text(&mut out.name, &s.name);
        copy_text(&mut out.dictionary, &s.dictionary);
        copy_text(&mut out.style, &s.style);
        out
    }
}

/// The ABI version of the loaded library: NICKPOOL_ABI_VERSION (1) for
/// every library implementing this header. Never fails; thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn nickpool_abi_version() -> u32 {
    ffi_boundary!({ NICKPOOL_ABI_VERSION })
}

/// Opens the segment `name` and checks that a live daemon serves it.
///
/// name: a NUL-terminated segment name such as "/nickpool": "/" followed
///   by 1 to 199 of A-Z a-z 0-9 . _ - (not starting with '.'). Borrowed
///   for the call only (copied). NULL means the default: $NICKPOOL_NAME
///   if set and non-empty (it must then be a valid name), else
///   "/nickpool". The empty string is invalid.
/// out_client: where to store the new handle. On NICKPOOL_OK the caller
///   owns *out_client and must release it with nickpool_close(); on every
///   other status *out_client is set to NULL (if out_client is not NULL).
///
/// Returns:
///   NICKPOOL_OK                 *out_client is a new handle.
///   NICKPOOL_NOT_RUNNING        no live daemon serves the name.
///   NICKPOOL_INCOMPATIBLE       the segment is of another layout version,
///                               or not a nickpool segment.
///   NICKPOOL_PERMISSION_DENIED  this user may not open the segment;
///                               every user may write it (refused); or
///                               its owner is not trusted: only this
///                               process's user, root, and the user that
///                               $NICKPOOL_OWNER names (a user name or a
///                               uid) are.
///   NICKPOOL_INVALID_ARGUMENT   out_client is NULL, or the name is
///                               invalid (bad characters, longer than 200
///                               bytes, not UTF-8, or empty).
///   NICKPOOL_IO_ERROR           the system refused to open or map it.
///
/// Every status but NICKPOOL_OK sets this thread's nickpool_last_error(),
/// e.g. "no daemon is serving /nickpool (/dev/shm/nickpool does not exist);
/// start one with `nickpool serve --name /nickpool`"; NICKPOOL_OK leaves it
/// unchanged. It never waits: a daemon that is not running yet gives
/// NICKPOOL_NOT_RUNNING at once (retry, or keep a handle, which waits for
/// restarts in nickpool_next()).
///
/// Thread-safety: may be called from any thread. Handles are independent.
///
/// Fork: a handle belongs to the process that opened it. After fork(),
/// open a new handle in the child. A child may use or close an inherited
/// handle only if no other thread of the parent was inside a nickpool
/// call on that handle at the moment of fork (e.g. a single-threaded
/// parent). Either way every nickname goes to exactly one caller across
/// all processes: the child never hands out the nicknames its parent's
/// threads had claimed ahead (see nickpool_next()).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nickpool_open(
    name: *const c_char,
    out_client: *mut *mut nickpool_client,
) -> nickpool_status {
    ffi_boundary!({
        // SAFETY: out_client is NULL or valid for a write (documented).
        unsafe { write_if_non_null(out_client, std::ptr::null_mut()) };
        require_non_null!("nickpool_open": out_client);
        let name = if name.is_null() {
            None
        } else {
            // SAFETY: name is a NUL-terminated string (documented);
            // strnlen reads no further than its NUL or the bound.
            let len = unsafe { libc::strnlen(name, segment::MAX_NAME_LEN + 1) };
            if len > segment::MAX_NAME_LEN {
                return invalid_argument(format_args!(
                    "nickpool_open: name is longer than {} bytes; use a name like /nickpool",
                    segment::MAX_NAME_LEN
                ));
            }
            // SAFETY: strnlen found `len` readable bytes before the NUL.
            let bytes = unsafe { std::slice::from_raw_parts(name.cast::<u8>(), len) };
            match std::str::from_utf8(bytes) {
                Ok(name) => Some(name),
                Err(_) => {
                    return invalid_argument(format_args!(
                        "nickpool_open: name is not UTF-8 (only A-Z a-z 0-9 . _ - after the '/' \
                         are allowed); use a name like /nickpool"
                    ));
                }
            }
        };
        match Client::open(name) {
            Ok(client) => {
                let handle = Box::into_raw(Box::new(nickpool_client { client }));
                // SAFETY: out_client is non-NULL (checked) and valid for a
                // write (documented).
                unsafe { out_client.write(handle) };
                nickpool_status::NICKPOOL_OK
            }
            Err(e) => fail_with(&e),
        }
    })
}

/// Closes a handle and releases everything it holds. Passing NULL does
/// nothing.
///
/// client: consumed. It must come from nickpool_open() and not have been
///   closed. It must not be used afterwards, and no other thread may be
///   inside a call on it: close is the handle's last call.
///
/// Never fails.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nickpool_close(client: *mut nickpool_client) {
    ffi_boundary!({
        if !client.is_null() {
            // SAFETY: a non-NULL handle came from Box::into_raw in
            // nickpool_open and is closed only once, with no call running
            // on it (documented).
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

/// Pulls the next nickname into buf as NUL-terminated UTF-8.
///
/// client: borrowed; a handle from nickpool_open().
/// buf, buf_len: caller-owned buffer of buf_len bytes, written, never
///   read. NICKPOOL_MAX_NICKNAME_LEN + 1 (56) bytes always suffice. On
///   every status other than NICKPOOL_OK, buf holds the empty string.
/// out_len: on NICKPOOL_OK, the nickname's length in bytes, NOT counting
///   the NUL (as strlen(buf) would return). On NICKPOOL_BUFFER_TOO_SMALL,
///   the buffer size needed, COUNTING the NUL: call again with a buffer of
///   at least *out_len bytes. On every other status, 0.
/// timeout_ms: how long to wait for a nickname when the ring is empty,
///   and for a new daemon while none serves the name: 0 never waits,
///   NICKPOOL_WAIT_FOREVER waits without limit.
///
/// Waiting: on an empty ring the call spins briefly, then sleeps on a futex
/// in the segment until the daemon publishes (it does not burn a core).
/// While no daemon serves the name (it was stopped, killed or is being
/// restarted) the call sleeps in slices of 20 ms and looks for a new
/// daemon after each; once one serves the name the handle reattaches and
/// the call pulls from it. A call with NICKPOOL_WAIT_FOREVER therefore
/// rides through a daemon restart and returns the new daemon's nickname.
///
/// Returns:
///   NICKPOOL_OK                 buf holds the nickname; it was handed to
///                               this call only.
///   NICKPOOL_EMPTY              none became available within timeout_ms.
///   NICKPOOL_BUFFER_TOO_SMALL   the next nickname and its NUL need
///                               *out_len bytes; nothing was consumed.
///   NICKPOOL_DAEMON_GONE        the daemon has stopped and no new one
///                               started on the name within timeout_ms
///                               (at once for 0); the handle reattaches by
///                               itself once one does. After a daemon
///                               dies, the handle first hands out the
///                               nicknames still in its ring (each exactly
///                               once), then waits for a new daemon.
///   NICKPOOL_EXHAUSTED          unique mode has handed out every nickname.
///   NICKPOOL_INCOMPATIBLE       the segment turned out corrupt, or a new
///                               daemon on the name has another layout.
///   NICKPOOL_PERMISSION_DENIED  a new daemon's segment may not be opened,
///                               its owner is not trusted (see
///                               nickpool_open, $NICKPOOL_OWNER), or it
///                               belongs to another user than the segment
///                               this handle first opened.
///   NICKPOOL_INVALID_ARGUMENT   client, buf or out_len is NULL, or
///                               buf_len is 0.
///   NICKPOOL_IO_ERROR           reattaching to a new daemon failed.
///
/// Every status but NICKPOOL_OK sets this thread's nickpool_last_error() to
/// the full reason (which argument is invalid; the buffer size and the size
/// needed; which daemon is gone and what to do); NICKPOOL_OK leaves it
/// unchanged.
///
/// Thread-safety: any number of threads may call this on one handle at
/// once; each nickname goes to exactly one caller. Not async-signal-safe.
///
/// Claims ahead: a thread claims up to 32 nicknames at once (1, 2, 4, …
/// as it keeps calling) and hands them to its following calls on the same
/// handle without touching shared memory. A thread that exits, or a
/// process that exits or is killed, loses what it had claimed and not yet
/// returned: at most 32 nicknames per thread and handle, never handed out
/// to anyone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nickpool_next(
    client: *mut nickpool_client,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
    timeout_ms: u32,
) -> nickpool_status {
    ffi_boundary!({
        // SAFETY: out_len is NULL or valid for a write; buf is NULL or
        // valid for buf_len bytes of writes (documented).
        unsafe {
            write_if_non_null(out_len, 0);
            if buf_len > 0 {
                write_if_non_null(buf, 0);
            }
        }
        require_non_null!("nickpool_next": client, buf, out_len);
        if buf_len == 0 {
            return invalid_argument(format_args!(
                "nickpool_next: buf_len is 0; pass the size of buf, \
                 NICKPOOL_MAX_NICKNAME_LEN + 1 (56) bytes always suffice"
            ));
        }
        // SAFETY: client and buf are non-NULL (checked) and valid as
        // documented; buf_len > 0 (checked).
        let (client, buf) = unsafe {
            (
                borrow_client(client),
                out_bytes(buf, buf_len, NICKNAME_BUF_LEN),
            )
        };
        // Keep the last byte for the NUL.
        let text_len = buf.len() - 1;
        let (status, len) = match client.next(&mut buf[..text_len], timeout(timeout_ms)) {
            Ok(len) => {
                buf[len] = 0;
                (nickpool_status::NICKPOOL_OK, len)
            }
            Err(Error::BufferTooSmall { needed }) => {
                buf[0] = 0; // An attempt that lost a race may have copied.
                let status = fail(
                    nickpool_status::NICKPOOL_BUFFER_TOO_SMALL,
                    format_args!(
                        "nickpool_next: buf_len is {buf_len} bytes, the next nickname needs {} \
                         with its NUL; nothing was consumed: call again with a buffer of at \
                         least {} bytes (NICKPOOL_MAX_NICKNAME_LEN + 1 = 56 always suffice)",
                        needed + 1,
                        needed + 1
                    ),
                );
                (status, needed + 1)
            }
            Err(e) => {
                buf[0] = 0;
                (fail_with(&e), 0)
            }
        };
        // SAFETY: out_len is non-NULL (checked) and valid (documented).
        unsafe { out_len.write(len) };
        status
    })
}

/// Claims up to max_count nicknames in one atomic step and writes them into
/// buf back to back, each NUL-terminated. Claims only what fits: a nickname
/// that would not fit with its NUL stays in the pool for the next call.
///
/// client: borrowed; a handle from nickpool_open().
/// buf, buf_len: caller-owned buffer of buf_len bytes, written, never read.
///   max_count * (NICKPOOL_MAX_NICKNAME_LEN + 1) bytes always hold
///   max_count nicknames. On every status other than NICKPOOL_OK, buf
///   holds the empty string.
/// max_count: the most nicknames to claim; at least 1.
/// out_count: on NICKPOOL_OK, how many nicknames were written, from 1 to
///   max_count: buf then holds exactly *out_count NUL-terminated strings
///   (walk them with p += strlen(p) + 1). The call does not wait for more
///   than one: it returns what the ring holds, up to max_count. On every
///   other status, 0.
/// timeout_ms: how long to wait for the first nickname when the ring is
///   empty, and for a new daemon while none serves the name: 0 never
///   waits, NICKPOOL_WAIT_FOREVER waits without limit. Waits as
///   nickpool_next() does, through daemon restarts too.
///
/// Returns: as nickpool_next(), except
///   NICKPOOL_BUFFER_TOO_SMALL   not even the first nickname and its NUL
///                               fit; nothing was consumed.
///   NICKPOOL_INVALID_ARGUMENT   client, buf or out_count is NULL, or
///                               buf_len or max_count is 0.
///
/// Thread-safety: as nickpool_next().
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nickpool_next_batch(
    client: *mut nickpool_client,
    buf: *mut c_char,
    buf_len: usize,
    max_count: usize,
    out_count: *mut usize,
    timeout_ms: u32,
) -> nickpool_status {
    ffi_boundary!({
        // SAFETY: out_count is NULL or valid for a write; buf is NULL or
        // valid for buf_len bytes of writes (documented).
        unsafe {
            write_if_non_null(out_count, 0);
            if buf_len > 0 {
                write_if_non_null(buf, 0);
            }
        }
        require_non_null!("nickpool_next_batch": client, buf, out_count);
        if buf_len == 0 {
            return invalid_argument(format_args!(
                "nickpool_next_batch: buf_len is 0; pass the size of buf, \
                 max_count * (NICKPOOL_MAX_NICKNAME_LEN + 1) bytes always suffice"
            ));
        }
        if max_count == 0 {
            return invalid_argument(format_args!(
                "nickpool_next_batch: max_count is 0; ask for at least 1 nickname"
            ));
        }
        let limit = max_count.saturating_mul(NICKNAME_BUF_LEN);
        // SAFETY: client and buf are non-NULL (checked) and valid as
        // documented; buf_len > 0 (checked).
        let (client, buf) = unsafe { (borrow_client(client), out_bytes(buf, buf_len, limit)) };
        let (status, count) = match client.next_batch(buf, max_count, timeout(timeout_ms)) {
            Ok(count) => (nickpool_status::NICKPOOL_OK, count),
            Err(Error::BufferTooSmall { needed }) => {
                buf[0] = 0;
                let status = fail(
                    nickpool_status::NICKPOOL_BUFFER_TOO_SMALL,
                    format_args!(
                        "nickpool_next_batch: buf_len is {buf_len} bytes, the first nickname needs \
                         {needed} with its NUL; nothing was consumed: call again with a larger \
                         buffer (max_count * 56 bytes always suffice)"
                    ),
                );
                (status, 0)
            }
            Err(e) => {
                buf[0] = 0;
                (fail_with(&e), 0)
            }
        };
        // SAFETY: out_count is non-NULL (checked) and valid (documented).
        unsafe { out_count.write(count) };
        status
    })
}

/// Reads the daemon's statistics (what `nickpool stats` shows).
///
/// client: borrowed; a handle from nickpool_open().
/// out: caller-owned. Before the call set out->size to
///   sizeof(struct nickpool_stats), e.g.
///   `struct nickpool_stats st = { .size = sizeof st };`. On NICKPOOL_OK the
///   library has filled out->size bytes (every field of this header's
///   struct) and set out->size to that number. On other statuses *out is
///   unchanged.
///
/// Returns:
///   NICKPOOL_OK                 *out is filled.
///   NICKPOOL_DAEMON_GONE        the daemon has stopped and no new one
///                               serves the name now (the handle
///                               reattaches by itself once one does; this
///                               call does not wait).
///   NICKPOOL_INCOMPATIBLE, NICKPOOL_PERMISSION_DENIED, NICKPOOL_IO_ERROR
///                               reattaching to a new daemon failed.
///   NICKPOOL_INVALID_ARGUMENT   client or out is NULL, or out->size is
///                               smaller than the version 1 struct.
///
/// Every status but NICKPOOL_OK sets this thread's nickpool_last_error();
/// NICKPOOL_OK leaves it unchanged.
///
/// Thread-safety: as nickpool_next(). The counters are read one by one
/// while the daemon runs, so they are not one snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nickpool_stats(
    client: *mut nickpool_client,
    out: *mut nickpool_stats,
) -> nickpool_status {
    ffi_boundary!({
        require_non_null!("nickpool_stats": client, out);
        // SAFETY: out is non-NULL (checked) and points to a struct whose
        // first field, size, the caller has set (documented); every
        // version of the struct starts with it.
        let size = unsafe { std::ptr::addr_of!((*out).size).read() };
        if size < STATS_V1_SIZE {
            return invalid_argument(format_args!(
                "nickpool_stats: out->size is {size}, less than the {STATS_V1_SIZE} bytes of \
                 struct nickpool_stats; set out->size = sizeof(struct nickpool_stats) first"
            ));
        }
        // SAFETY: client is non-NULL (checked) and valid (documented).
        let client = unsafe { borrow_client(client) };
        match client.stats() {
            Ok(stats) => {
                // SAFETY: out is valid for `size >= STATS_V1_SIZE` bytes of
                // writes (the caller's promise), so for one nickpool_stats.
                unsafe { out.write(nickpool_stats::from(&stats)) };
                nickpool_status::NICKPOOL_OK
            }
            Err(e) => fail_with(&e),
        }
    })
}

/// A static, NUL-terminated English description of a status, naming the
/// status, e.g. "no nickname became available within the timeout
/// (NICKPOOL_EMPTY)". Any number is accepted; an unknown one gets a
/// description saying so. For why a particular call failed (which segment,
/// which file, the system's error) use nickpool_last_error().
///
/// Returns: never NULL; the string is static: do not free or modify it.
/// Thread-safety: may be called from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn nickpool_status_str(status: nickpool_status_number) -> *const c_char {
    ffi_boundary!({
        use nickpool_status::*;
        let text = match nickpool_status::from_number(status) {
            Some(NICKPOOL_OK) => c"success (NICKPOOL_OK)",
            Some(NICKPOOL_EMPTY) => {
                c"no nickname became available within the timeout (NICKPOOL_EMPTY)"
            }
            Some(NICKPOOL_BUFFER_TOO_SMALL) => {
                c"the buffer is too small for the next nickname; nothing was consumed (NICKPOOL_BUFFER_TOO_SMALL)"
            }
            Some(NICKPOOL_NOT_RUNNING) => {
                c"no daemon serves this name; start one with `nickpool serve --name NAME` (NICKPOOL_NOT_RUNNING)"
            }
            Some(NICKPOOL_INCOMPATIBLE) => {
                c"the segment has another layout version or is corrupt; use a library and daemon of the same release (NICKPOOL_INCOMPATIBLE)"
            }
            Some(NICKPOOL_PERMISSION_DENIED) => {
                c"permission denied opening the segment, or its owner is not trusted; run as the daemon's user, or serve with `--mode 0660 --group GROUP` and set NICKPOOL_OWNER to the daemon's user (NICKPOOL_PERMISSION_DENIED)"
            }
            Some(NICKPOOL_DAEMON_GONE) => {
                c"the daemon is gone; the handle reattaches when a new daemon starts on the name (NICKPOOL_DAEMON_GONE)"
            }
            Some(NICKPOOL_EXHAUSTED) => {
                c"every nickname of the unique space has been handed out (NICKPOOL_EXHAUSTED)"
            }
            Some(NICKPOOL_INVALID_ARGUMENT) => {
                c"invalid argument: a NULL pointer, a zero length or count, or an invalid segment name (NICKPOOL_INVALID_ARGUMENT)"
            }
            Some(NICKPOOL_IO_ERROR) => {
                c"the operating system refused an operation on the segment (NICKPOOL_IO_ERROR)"
            }
            Some(NICKPOOL_INTERNAL_ERROR) => {
                c"internal error in nickpool; please report it (NICKPOOL_INTERNAL_ERROR)"
            }
            None => c"unknown nickpool status (a newer library's number?)",
        };
        text.as_ptr()
    })
}

/// Why the last nickpool call on this thread that failed did: the full
/// message, NUL-terminated UTF-8, naming the segment, the file in
/// /dev/shm, the system's error text and what to do, e.g.
///
///   permission denied opening /dev/shm/nickpool (Permission denied (os
///   error 13)): this process runs as uid 1001, the segment belongs to uid
///   998 with mode 0600; run as the daemon's user or ask for `nickpool serve
///   --mode 0660 --group GROUP`
///
/// It is the same text `nickpool pull` prints for that failure.
///
/// When it is set: by every call of nickpool_open(), nickpool_next(),
/// nickpool_next_batch() and nickpool_stats() that returns a status other
/// than NICKPOOL_OK (NICKPOOL_EMPTY and NICKPOOL_BUFFER_TOO_SMALL
/// included), on the thread that made the call. A call that returns
/// NICKPOOL_OK leaves it unchanged, like errno: read it right after the
/// failing call. Functions that return no status (nickpool_close(),
/// nickpool_abi_version(), nickpool_status_str(), nickpool_version(), this
/// one) never change it.
///
/// Returns: never NULL; the empty string while no call on this thread has
/// failed. The string belongs to the library and to this thread: do not
/// free or modify it. It stays valid until the next nickpool call on this
/// thread that fails (which overwrites it) or until the thread exits;
/// copy it to keep it longer or to hand it to another thread.
///
/// Thread-safety: each thread has its own last error; reading it never
/// fails and does not disturb other threads.
#[unsafe(no_mangle)]
pub extern "C" fn nickpool_last_error() -> *const c_char {
    ffi_boundary!({
        LAST_ERROR
            .try_with(|cell| match cell.try_borrow() {
                // The buffer ends in its NUL (set_last_error). The pointer
                // stays valid until the buffer is written again, by the
                // next failure on this thread, or freed at thread exit.
                Ok(text) if !text.is_empty() => text.as_ptr().cast::<c_char>(),
                _ => c"".as_ptr(),
            })
            .unwrap_or(c"".as_ptr())
    })
}

/// The loaded library's release as "MAJOR.MINOR.PATCH", e.g. "1.1.0". The
/// header's NICKPOOL_VERSION_MAJOR / _MINOR / _PATCH name the release it
/// came with: a program can check at start that the library is at least
/// as new as the header it was built with. (With the shared library the
/// symbol versions already ensure that a program using a 1.1 function does
/// not start with a 1.0 library.)
///
/// Returns: never NULL; the string is static: do not free or modify it.
/// Thread-safety: may be called from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn nickpool_version() -> *const c_char {
    ffi_boundary!({ VERSION_TEXT.as_ptr() })
}

/// The crate's version, NUL-terminated, for nickpool_version().
const VERSION_TEXT: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(text) => text,
        Err(_) => panic!("the crate version contains a NUL"),
    };

// ELF symbol versions of the exported functions (see build.rs, which
// defines the nodes and enables this where the linker supports it): each
// function keeps the node of the release that added it, forever. "@@@ …,
// remove" defines only the versioned name, so the static library and Rust
// programs (which link the same objects) still see one plain definition.
#[cfg(all(nickpool_symbol_versions, not(miri)))]
std::arch::global_asm!(
    ".symver nickpool_abi_version, nickpool_abi_version@@@NICKPOOL_1.0, remove",
    ".symver nickpool_open, nickpool_open@@@NICKPOOL_1.0, remove",
    ".symver nickpool_close, nickpool_close@@@NICKPOOL_1.0, remove",
    ".symver nickpool_next, nickpool_next@@@NICKPOOL_1.0, remove",
    ".symver nickpool_next_batch, nickpool_next_batch@@@NICKPOOL_1.0, remove",
    ".symver nickpool_stats, nickpool_stats@@@NICKPOOL_1.0, remove",
    ".symver nickpool_status_str, nickpool_status_str@@@NICKPOOL_1.0, remove",
    ".symver nickpool_last_error, nickpool_last_error@@@NICKPOOL_1.1, remove",
    ".symver nickpool_version, nickpool_version@@@NICKPOOL_1.1, remove",
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::ptr::{null, null_mut};

    thread_local! {
        static ARMED: Cell<bool> = const { Cell::new(false) };
    }

    /// Panics once if armed on this thread (called by `ffi_boundary!`).
    pub(super) fn panic_if_armed() {
        if ARMED.with(|armed| armed.replace(false)) {
            panic!("test panic inside an exported function");
        }
    }

    fn arm() {
        ARMED.with(|armed| armed.set(true));
    }

    #[test]
    fn status_numbers_match_the_client_errors() {
        use nickpool_status::*;
        let pairs = [
            (Error::Empty, NICKPOOL_EMPTY),
            (
                Error::BufferTooSmall { needed: 1 },
                NICKPOOL_BUFFER_TOO_SMALL,
            ),
            (Error::NotRunning(String::new()), NICKPOOL_NOT_RUNNING),
            (Error::Incompatible(String::new()), NICKPOOL_INCOMPATIBLE),
            (
                Error::PermissionDenied(String::new()),
                NICKPOOL_PERMISSION_DENIED,
            ),
            (Error::DaemonGone(String::new()), NICKPOOL_DAEMON_GONE),
            (Error::Exhausted, NICKPOOL_EXHAUSTED),
            (
                Error::InvalidArgument(String::new()),
                NICKPOOL_INVALID_ARGUMENT,
            ),
            (Error::Io(String::new()), NICKPOOL_IO_ERROR),
        ];
        for (error, status) in pairs {
            assert_eq!(nickpool_status::of(&error), status, "{error:?}");
        }
        for n in 0..=10 {
            assert_eq!(nickpool_status::from_number(n).unwrap() as u32, n);
        }
        assert_eq!(nickpool_status::from_number(11), None);
    }

    #[test]
    fn every_status_has_its_own_description() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..=11 {
            // SAFETY: nickpool_status_str returns a static C string.
            let text = unsafe { std::ffi::CStr::from_ptr(nickpool_status_str(n)) };
            let text = text.to_str().unwrap();
            if let Some(status) = nickpool_status::from_number(n) {
                assert!(text.ends_with(&format!("({status:?})")), "{text}");
            }
            assert!(seen.insert(text), "{n}: {text} repeated");
        }
        assert!(!nickpool_status_str(u32::MAX).is_null());
    }

    /// A panic forced inside each exported function comes back as
    /// NICKPOOL_INTERNAL_ERROR (or nothing, for close), never as unwinding.
    #[test]
    fn a_panic_inside_any_exported_function_is_caught() {
        use nickpool_status::NICKPOOL_INTERNAL_ERROR;
        let mut buf = [1 as c_char; 8];
        let mut n = 7usize;
        let mut handle = null_mut();
        // SAFETY: every pointer is valid or NULL as each function allows;
        // the bodies panic before using them.
        unsafe {
            arm();
            assert_eq!(nickpool_open(null(), &mut handle), NICKPOOL_INTERNAL_ERROR);
            arm();
            assert_eq!(
                nickpool_next(null_mut(), buf.as_mut_ptr(), buf.len(), &mut n, 0),
                NICKPOOL_INTERNAL_ERROR
            );
            arm();
            assert_eq!(
                nickpool_next_batch(null_mut(), buf.as_mut_ptr(), buf.len(), 1, &mut n, 0),
                NICKPOOL_INTERNAL_ERROR
            );
            arm();
            assert_eq!(
                nickpool_stats(null_mut(), null_mut()),
                NICKPOOL_INTERNAL_ERROR
            );
            arm();
            nickpool_close(null_mut());
            arm();
            assert_eq!(nickpool_abi_version(), 0);
            arm();
            let text = std::ffi::CStr::from_ptr(nickpool_status_str(0));
            assert!(text.to_str().unwrap().contains("NICKPOOL_INTERNAL_ERROR"));
            arm();
            let text = std::ffi::CStr::from_ptr(nickpool_version());
            assert!(text.to_str().unwrap().contains("NICKPOOL_INTERNAL_ERROR"));
            arm();
            let text = std::ffi::CStr::from_ptr(nickpool_last_error());
            assert!(text.to_str().unwrap().contains("NICKPOOL_INTERNAL_ERROR"));
        }
        // Disarmed again: the functions work normally afterwards.
        assert_eq!(nickpool_abi_version(), 1);
        assert!(handle.is_null());
    }

    fn last_error() -> String {
        // SAFETY: nickpool_last_error returns a NUL-terminated string valid
        // until the next failure on this thread; it is copied at once.
        unsafe { CStr::from_ptr(nickpool_last_error()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Each test runs on its own thread, so its last error starts empty.
    #[test]
    fn last_error_is_empty_until_a_call_fails_and_then_names_the_argument() {
        assert_eq!(last_error(), "");
        let mut buf = [0 as c_char; 8];
        let mut n = 0usize;
        // SAFETY: valid pointers except the NULL ones under test.
        unsafe {
            assert_eq!(
                nickpool_next(null_mut(), buf.as_mut_ptr(), buf.len(), &mut n, 0),
                nickpool_status::NICKPOOL_INVALID_ARGUMENT
            );
            assert_eq!(
                last_error(),
                "nickpool_next: client is NULL; pass a valid pointer (see nickpool.h)"
            );
            assert_eq!(
                nickpool_open(c"/x".as_ptr(), null_mut()),
                nickpool_status::NICKPOOL_INVALID_ARGUMENT
            );
            assert!(last_error().starts_with("nickpool_open: out_client is NULL"));
            let mut handle = null_mut();
            assert_eq!(
                nickpool_open(c"no-slash".as_ptr(), &mut handle),
                nickpool_status::NICKPOOL_INVALID_ARGUMENT
            );
            assert!(last_error().contains("invalid segment name \"no-slash\""));
            // Functions without a status leave it alone.
            nickpool_close(null_mut());
            nickpool_status_str(3);
            nickpool_version();
            assert!(last_error().contains("no-slash"));
        }
        // Another thread has its own.
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
        assert!(last_error().contains("no-slash"));
    }

    #[test]
    fn a_caught_panic_leaves_its_message_as_the_last_error() {
        arm();
        // SAFETY: the body panics before it uses the pointers.
        let status = unsafe { nickpool_stats(null_mut(), null_mut()) };
        assert_eq!(status, nickpool_status::NICKPOOL_INTERNAL_ERROR);
        let text = last_error();
        assert!(text.starts_with("internal error in nickpool"), "{text}");
        assert!(
            text.contains("test panic inside an exported function"),
            "{text}"
        );
    }

    #[test]
    fn version_matches_the_crate_and_the_header_constants() {
        // SAFETY: nickpool_version returns a static C string.
        let text = unsafe { CStr::from_ptr(nickpool_version()) };
        assert_eq!(text.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        assert_eq!(
            text.to_str().unwrap(),
            format!("{NICKPOOL_VERSION_MAJOR}.{NICKPOOL_VERSION_MINOR}.{NICKPOOL_VERSION_PATCH}")
        );
    }

    #[test]
    fn text_fields_are_cut_at_character_boundaries() {
        let mut field = [7 as c_char; 8];
        copy_text(&mut field, "快乐的"); // 9 bytes: only 2 characters fit.
        let bytes: Vec<u8> = field.iter().map(|&c| c as u8).collect();
        assert_eq!(&bytes[..6], "快乐".as_bytes());
        assert!(bytes[6..].iter().all(|&b| b == 0));
    }

    #[test]
    fn stats_size_comes_first_in_every_version() {
        // nickpool_stats reads `size` before knowing which version of the
        // struct the caller has; that needs it at offset 0.
        assert_eq!(std::mem::offset_of!(nickpool_stats, size), 0);
        assert!(STATS_V1_SIZE >= std::mem::size_of::<usize>() + 20 * 8 + 256 + 256 + 64);
    }
}
