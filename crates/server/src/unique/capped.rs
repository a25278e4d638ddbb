//! A style's ranks under a length cap (`--max-chars N`): its combinations
//! of at most `N` characters, numbered `0..size` in the order of their
//! ranks without the cap (the order of `nickpool gen --all`).
//!
//! Without the cap, rank `r` picks entry `r % n0` of the first pool, then
//! `(r / n0) % n1` of the second, and so on, so ranks order combinations by
//! their last pool's entry first. Under the cap the same order holds among
//! the combinations that fit. Let `F_k[b]` be the number of combinations of
//! the first `k` pools with at most `b` characters. Going from the last
//! pool down with a budget `b` (at first `N`), entry `e` of pool `k` is
//! followed by `F_k[b - chars(e)]` combinations that fit; so capped rank
//! `t` picks the entry where the running sum of those counts passes `t`,
//! takes the sum before it off `t` and `chars(e)` off the budget, and goes
//! on. The running sums for each pool and reachable budget are tabled
//! once, so a rank costs one binary search per pool, and inverting is one
//! lookup per pool.

use crate::generator::Dictionary;

/// The capped ranks of one style (see the module documentation).
#[derive(Debug, Clone)]
pub(super) struct CappedRanks {
    /// Per pool: each entry's length in characters.
    chars: Vec<Vec<u8>>,
    /// Per pool: the product of the sizes of the pools before it (the
    /// uncapped rank's place value).
    strides: Vec<u64>,
    /// `sums[k][b]`: for pool `k` with `b` characters left, the running
    /// sums over its entries of `F_k[b - chars(e)]` (0 where the entry does
    /// not fit), with one more at the end: the total. Empty where `b`
    /// cannot be the budget of pool `k`.
    sums: Vec<Vec<Vec<u64>>>,
    max_chars: usize,
    size: u64,
}

impl CappedRanks {
    /// The combinations of style `style` of `dict` with at most
    /// `max_chars` characters. Refused when the style's combinations (or
    /// the capped ones) do not fit in 64 bits.
    pub(super) fn new(
        dict: &Dictionary,
        style: usize,
        max_chars: usize,
    ) -> Result<CappedRanks, String> {
        let style = &dict.styles()[style];
        if style.combinations() > u128::from(u64::MAX) {
            return Err(format!(
                "style '{}' has more combinations than unique mode can number; narrow its placeholders",
                style.name()
            ));
        }
        let chars: Vec<Vec<u8>> = style
            .pools
            .iter()
            .map(|p| p.entries.iter().map(|e| e.chars).collect())
            .collect();
        let m = chars.len();
        let mut strides = Vec::with_capacity(m);
        let mut stride = 1u64;
        for pool in &chars {
            strides.push(stride);
            stride = stride.saturating_mul(pool.len() as u64);
        }
        // fits[k][b] = F_k[b]: combinations of pools 0..k within b.
        let mut fits: Vec<Vec<u128>> = vec![vec![1; max_chars + 1]];
        for pool in &chars {
            let below = fits.last().expect("F_0");
            let next: Vec<u128> = (0..=max_chars)
                .map(|b| {
                    pool.iter()
                        .filter(|&&c| usize::from(c) <= b)
                        .map(|&c| below[b - usize::from(c)])
                        .sum()
                })
                .collect();
            fits.push(next);
        }
        let size = fits[m][max_chars];
        let size = u64::try_from(size).map_err(|_| {
            format!(
                "style '{}' has more combinations of at most {max_chars} characters than unique mode can number",
                style.name()
            )
        })?;
        // The budgets each pool can meet, from the last pool down.
        let mut reachable = vec![vec![false; max_chars + 1]; m];
        if m > 0 {
            reachable[m - 1][max_chars] = true;
        }
        for k in (1..m).rev() {
            for b in 0..=max_chars {
                if reachable[k][b] {
                    for &c in &chars[k] {
                        if let Some(rest) = b.checked_sub(usize::from(c)) {
                            reachable[k - 1][rest] = true;
                        }
                    }
                }
            }
        }
        let sums = (0..m)
            .map(|k| {
                (0..=max_chars)
                    .map(|b| {
                        if !reachable[k][b] {
                            return Vec::new();
                        }
                        let mut sum = 0u64;
                        let mut running = Vec::with_capacity(chars[k].len() + 1);
                        running.push(0);
                        for &c in &chars[k] {
                            if let Some(rest) = b.checked_sub(usize::from(c)) {
                                // At most `size`, so within 64 bits.
                                sum += fits[k][rest] as u64;
                            }
                            running.push(sum);
                        }
                        running
                    })
                    .collect()
            })
            .collect();
        Ok(CappedRanks {
            chars,
            strides,
            sums,
            max_chars,
            size,
        })
    }

    /// How many combinations fit, blocked ones included.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// The uncapped rank of capped rank `rank`.
    ///
    /// # Panics
    /// If `rank` is not below [`CappedRanks::size`].
    #[inline]
    pub(super) fn uncapped(&self, mut rank: u64) -> u64 {
        assert!(rank < self.size, "capped rank {rank} beyond {}", self.size);
        let mut budget = self.max_chars;
        let mut uncapped = 0;
        for k in (0..self.chars.len()).rev() {
            let sums = &self.sums[k][budget];
            debug_assert!(!sums.is_empty(), "budget {budget} reachable at pool {k}");
            // The entry whose running sum passes `rank`: the last one that
            // starts at or below it (an entry that does not fit adds
            // nothing, so it never is).
            let entry = sums.partition_point(|&s| s <= rank) - 1;
            rank -= sums[entry];
            budget -= usize::from(self.chars[k][entry]);
            uncapped += entry as u64 * self.strides[k];
        }
        debug_assert_eq!(rank, 0);
        uncapped
    }

    /// The capped rank of uncapped rank `uncapped`, or `None` if that
    /// combination has more than `max_chars` characters.
    pub(super) fn capped(&self, uncapped: u64) -> Option<u64> {
        let picks: Vec<usize> = self
            .chars
            .iter()
            .zip(&self.strides)
            .map(|(pool, &stride)| ((uncapped / stride) % pool.len() as u64) as usize)
            .collect();
        let mut budget = self.max_chars;
        let mut rank = 0;
        for k in (0..self.chars.len()).rev() {
            let entry = picks[k];
            rank += self.sums[k][budget][entry];
            budget = budget.checked_sub(usize::from(self.chars[k][entry]))?;
        }
        Some(rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::LoadOptions;

    fn load(text: &str) -> Dictionary {
        Dictionary::parse("t.dict", text.as_bytes(), &LoadOptions::default()).unwrap()
    }

    /// Pools of mixed lengths, the first pool varying fastest.
    const MIXED: &str = "\
[class a]
春 x
夏天 x
秋高气 x
冬 x
[class b]
风 x
雨水 x
[class c]
一 x
二十 x
三百六 x
[styles]
abc 1 {a}的{b}{c}
";

    #[test]
    fn capped_ranks_are_the_fitting_ranks_in_order_and_invert() {
        let d = load(MIXED);
        let total = d.styles()[0].combinations() as u64;
        let mut buf = [0u8; 64];
        for max_chars in 0..=12 {
            let expected: Vec<u64> = (0..total)
                .filter(|&r| {
                    let len = d.render_combination(0, r, &mut buf).unwrap();
                    std::str::from_utf8(&buf[..len]).unwrap().chars().count() <= max_chars
                })
                .collect();
            let capped = CappedRanks::new(&d, 0, max_chars).unwrap();
            assert_eq!(capped.size(), expected.len() as u64, "cap {max_chars}");
            for (i, &r) in expected.iter().enumerate() {
                assert_eq!(capped.uncapped(i as u64), r, "cap {max_chars}, rank {i}");
                assert_eq!(capped.capped(r), Some(i as u64), "cap {max_chars}");
            }
            for r in (0..total).filter(|r| !expected.contains(r)) {
                assert_eq!(capped.capped(r), None, "cap {max_chars}, rank {r}");
            }
        }
    }

    #[test]
    fn the_size_agrees_with_the_length_counts() {
        let d = load(MIXED);
        for max_chars in [4, 5, 6, 7] {
            let capped = CappedRanks::new(&d, 0, max_chars).unwrap();
            let mut limited = load(MIXED);
            limited.limit_chars(max_chars).unwrap();
            let fits = limited.styles()[0].fits().map_or(0, |f| f.combinations());
            assert_eq!(capped.size(), fits, "cap {max_chars}");
        }
    }
}
