//! Support for measuring nickpool against what a user would use instead,
//! shared by `nickpool bench` and `benches/pull.rs`: the alternatives
//! ([`baseline`]) and a cycle-counter clock fine enough to time one pull
//! ([`timer`]), a daemon process to measure ([`DaemonProcess`]), and
//! placing threads on CPUs ([`affinity`]). Not part of the pooling API.

pub mod affinity;
pub mod baseline;
mod daemon;
pub mod timer;

pub use daemon::{DaemonProcess, open_when_full};
