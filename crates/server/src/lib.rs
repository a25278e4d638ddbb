//! The nickpool daemon and everything around it, on top of the `nickpool`
//! client library (ring, segment, client, C ABI), which this crate
//! re-exports so one path reaches both:
//!
//! - [`generator`]: dictionaries, styles, character sets and the
//!   allocation-free [`generator::Generator::generate_into`].
//! - [`daemon`]: the producer behind `nickpool serve`.
//! - [`metrics`]: Prometheus metrics for `serve --metrics` and `stats
//!   --prometheus`.
//! - [`bench`](mod@bench): the alternatives and the clock `nickpool bench` and the
//!   criterion benches measure with.
//! - [`unique`]: unique mode's permutation, state file and Redis lease.
//!
//! The `nickpool` command (src/main.rs) is a thin layer over these.

#[doc(hidden)]
pub use nickpool::futex;
pub use nickpool::{Client, Error, MAX_NICKNAME_LEN, Stats, client, ffi, ring, segment};

pub mod bench;
pub mod daemon;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod generator;
pub mod metrics;
pub mod unique;
