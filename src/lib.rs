//! nickpool serves Chinese nicknames (快乐的小猫, 温柔的星辰, 月下听风 …) to many
//! processes at memory speed. A daemon pre-generates nicknames into a
//! lock-free ring in POSIX shared memory; clients pull the next one with a few
//! atomic operations and one cache-line copy: no socket, no syscall, no lock.
//!
//! This crate is what a C program or a Rust client links: the ring, the
//! segment, the client and the C ABI, on libc, memmap2 and arc-swap only.
//! The daemon, the generator, unique mode, metrics, bench and the `nickpool`
//! command are the `nickpool-server` crate (crates/server), built on this one.
//!
//! - [`ring`]: the lock-free ring (all hot-path atomics live there).
//! - [`segment`]: creating, opening and validating the shared mapping.
//! - [`client`]: the Rust client; [`ffi`] wraps it for C.

mod primitive;
pub mod ring;

#[cfg(not(loom))]
pub mod client;
#[cfg(not(loom))]
pub mod ffi;
// Public for the daemon in nickpool-server only; not an API.
#[cfg(not(loom))]
#[doc(hidden)]
pub mod futex;
#[cfg(not(loom))]
pub mod segment;

#[cfg(not(loom))]
pub use client::{Client, Error, Stats};

/// The longest nickname, in bytes of UTF-8, that fits a ring slot. A buffer of
/// `MAX_NICKNAME_LEN + 1` bytes always holds a nickname and its NUL.
pub const MAX_NICKNAME_LEN: usize = 55;
