//! nickpool serves Chinese nicknames (快乐的小猫, 温柔的星辰, 月下听风 …) to many
//! processes at memory speed. A daemon pre-generates nicknames into a
//! lock-free ring in POSIX shared memory; clients pull the next one with a few
//! atomic operations and one cache-line copy: no socket, no syscall, no lock.
//!
//! - [`generator`]: dictionaries, styles, character sets and the
//!   allocation-free [`generator::Generator::generate_into`].
//! - [`ring`]: the lock-free ring (all hot-path atomics live there).
//! - [`segment`]: creating, opening and validating the shared mapping.
//! - [`daemon`]: the producer behind `nickpool serve`.
//! - [`client`]: the Rust client; `ffi` wraps it for C.
//! - [`metrics`]: Prometheus metrics for `serve --metrics` and `stats
//!   --prometheus`.
//! - [`bench`]: the alternatives and the clock `nickpool bench` and the
//!   criterion benches measure with.
//! - [`unique`]: unique mode's permutation, state file and Redis lease.

pub mod generator;
mod primitive;
pub mod ring;

#[cfg(not(loom))]
pub mod bench;
#[cfg(not(loom))]
pub mod client;
#[cfg(not(loom))]
pub mod daemon;
#[cfg(not(loom))]
pub mod ffi;
#[cfg(not(loom))]
mod futex;
#[cfg(not(loom))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(not(loom))]
pub mod metrics;
#[cfg(not(loom))]
pub mod segment;
#[cfg(not(loom))]
pub mod unique;

#[cfg(not(loom))]
pub use client::{Client, Error, Stats};

/// The longest nickname, in bytes of UTF-8, that fits a ring slot. A buffer of
/// `MAX_NICKNAME_LEN + 1` bytes always holds a nickname and its NUL.
pub const MAX_NICKNAME_LEN: usize = 55;
