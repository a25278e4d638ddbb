//! Support for measuring nickpool against what a user would use instead,
//! shared by `nickpool bench` and `benches/pull.rs`: the alternatives
//! ([`baseline`]) and a cycle-counter clock fine enough to time one pull
//! ([`timer`]). Not part of the pooling API.

pub mod baseline;
pub mod timer;
