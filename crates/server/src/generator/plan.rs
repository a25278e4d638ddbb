//! The generator's fast path: a style's pools laid out for a fixed
//! schedule of random draws, so that drawing a nickname takes no branch
//! that depends on which style came up.
//!
//! [`super::Draws`] takes a fresh 64-bit output whenever the draws so far
//! have spent its budget, which is exact for any dictionary but, when
//! styles of different sizes alternate, a branch the processor cannot
//! predict (measured: a fifth of the weighted mix's cost). A [`Plan`]
//! fixes the schedule instead, per style: one output for the style pick
//! and as many words as fit the budget (with the default dictionary, all
//! of them for every style), a second for the rest. A style gets a
//! plan only when each output's draws stay within the same budget as
//! [`super::Draws`] (their ranges multiply to at most 2^[`BUDGET_BITS`]),
//! so the fast path is exactly as uniform as the general one; other styles
//! (more than four words, very large classes) take the general path. In
//! the weighted mix the branch to the second output goes with the word
//! loop's end, which the processor mispredicts anyway when styles of
//! different lengths alternate.

use super::dict::{Entry, Pool};
use super::safety::JoinClass;
use std::sync::Arc;

/// Words of a style a plan can hold.
pub(crate) const PLAN_WORDS: usize = 4;

/// The largest product of ranges drawn from one 64-bit output, in bits:
/// every outcome's probability stays within a relative 2^-28 of exact.
pub(crate) const BUDGET_BITS: u32 = 36;

/// Bits of range a uniform draw from `0..n` spends: ceil(log2(n)).
#[inline(always)]
pub(crate) fn range_bits(n: u64) -> u32 {
    u64::BITS - n.saturating_sub(1).leading_zeros()
}

/// A style's pools, held in place (no pointer to follow) and filled up to
/// [`PLAN_WORDS`] with a pool that is never drawn from.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) pools: [Pool; PLAN_WORDS],
    /// How many of the pools are real words.
    pub(crate) words: usize,
    /// The first word the second output serves (`words` when the first
    /// output serves them all).
    pub(crate) second: usize,
}

impl Plan {
    /// The plan for `pools`, when they fit one: at most [`PLAN_WORDS`]; the
    /// first output serves a style pick of `lead_bits` and as many words as
    /// the budget allows, the second output the rest, within the budget.
    pub(crate) fn new(pools: &[Pool], lead_bits: u32, empty: &Pool) -> Option<Plan> {
        if pools.len() > PLAN_WORDS {
            return None;
        }
        let bits: Vec<u32> = pools
            .iter()
            .map(|p| range_bits(p.entries.len() as u64))
            .collect();
        let mut spent = lead_bits;
        let mut second = pools.len();
        for (k, &b) in bits.iter().enumerate() {
            if spent + b > BUDGET_BITS {
                second = k;
                break;
            }
            spent += b;
        }
        if second == 0 || bits[second..].iter().sum::<u32>() > BUDGET_BITS {
            return None;
        }
        Some(Plan {
            pools: std::array::from_fn(|k| pools.get(k).unwrap_or(empty).clone()),
            words: pools.len(),
            second,
        })
    }

    /// The pool that fills the places of a plan past its words (never
    /// drawn from).
    pub(crate) fn empty_pool() -> Pool {
        Pool {
            entries: Arc::from([Entry {
                offset: 0,
                len: 0,
                chars: 0,
                join: JoinClass::default(),
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bits_is_the_ceiling_of_log2() {
        assert_eq!(range_bits(1), 0);
        assert_eq!(range_bits(2), 1);
        assert_eq!(range_bits(3), 2);
        assert_eq!(range_bits(4), 2);
        assert_eq!(range_bits(5), 3);
        assert_eq!(range_bits(4096), 12);
        assert_eq!(range_bits(4097), 13);
        assert_eq!(range_bits(u64::MAX), 64);
    }
}
