//! How random draws spread over a dictionary's space, computed from the
//! draw distribution rather than sampled: each style's share of draws, the
//! expected share of distinct nicknames among n draws, and the lengths of
//! what is drawn. `nickpool gen --stats` prints these.

use super::Selection;
use super::dict::{Count, Dictionary};
use super::length::Lengths;

/// One style's part in the draws.
#[derive(Debug, Clone)]
pub struct StyleSpread {
    /// Index into [`Dictionary::styles`].
    pub style: usize,
    /// The share of draws that come from this style (0 to 1).
    pub share: f64,
    /// Its distinct nicknames (under the length cap, if any).
    pub count: Count,
    /// Its nicknames by length (ignoring the cap; see [`Lengths::up_to`]).
    pub lengths: Lengths,
}

/// The draw distribution of a dictionary (or of one style of it).
#[derive(Debug, Clone)]
pub struct Spread {
    pub styles: Vec<StyleSpread>,
    /// `lengths[n]`: the share of draws of `n` characters.
    pub lengths: Vec<f64>,
    /// Every count is exact (blocked combinations subtracted).
    pub exact: bool,
}

impl Spread {
    /// The draw distribution of `dict` under `selection`: styles in
    /// proportion to their weights, every nickname of a style equally
    /// likely (as [`super::Generator`] draws them).
    pub fn of(dict: &Dictionary, selection: Selection) -> Spread {
        let cap = dict.max_chars();
        let weight = |i: usize| match selection {
            Selection::Weighted => dict.styles()[i].weight() as f64,
            Selection::Only(only) => f64::from(u8::from(i == only)),
        };
        let total: f64 = (0..dict.styles().len()).map(weight).sum();
        let mut styles = Vec::new();
        let mut lengths = Vec::new();
        for i in 0..dict.styles().len() {
            if matches!(selection, Selection::Only(only) if only != i) {
                continue;
            }
            let style_lengths = dict.length_counts(i);
            let count = style_lengths.up_to(cap);
            let share = if total > 0.0 { weight(i) / total } else { 0.0 };
            let size = count.value() as f64;
            if size > 0.0 {
                let fits = cap.map_or(style_lengths.counts.len(), |m| {
                    (m + 1).min(style_lengths.counts.len())
                });
                if lengths.len() < fits {
                    lengths.resize(fits, 0.0);
                }
                for (n, &c) in style_lengths.counts[..fits].iter().enumerate() {
                    lengths[n] += share * c as f64 / size;
                }
            }
            styles.push(StyleSpread {
                style: i,
                share,
                count,
                lengths: style_lengths,
            });
        }
        while lengths.last() == Some(&0.0) {
            lengths.pop();
        }
        let exact = styles.iter().all(|s| matches!(s.count, Count::Exact(_)));
        Spread {
            styles,
            lengths,
            exact,
        }
    }

    /// The expected share of distinct nicknames among `draws` independent
    /// draws: the sum over styles of size · (1 − (1 − p)^draws), with p a
    /// nickname's probability (its style's share over the style's size),
    /// divided by `draws`.
    pub fn expected_distinct(&self, draws: u64) -> f64 {
        if draws == 0 {
            return 1.0;
        }
        let n = draws as f64;
        let expected: f64 = self
            .styles
            .iter()
            .filter(|s| s.count.value() > 0 && s.share > 0.0)
            .map(|s| {
                let size = s.count.value() as f64;
                let p = s.share / size;
                // (1 - p)^n without losing small p to rounding.
                size * -(n * (-p).ln_1p()).exp_m1()
            })
            .sum();
        expected / n
    }

    /// The share of draws of at most `max_chars` characters.
    pub fn share_up_to(&self, max_chars: usize) -> f64 {
        self.lengths.iter().take(max_chars + 1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::LoadOptions;

    fn load(text: &str) -> Dictionary {
        Dictionary::parse("t", text.as_bytes(), &LoadOptions::default()).unwrap()
    }

    #[test]
    fn shares_lengths_and_distinct_share_follow_the_weights() {
        // 4 nicknames of 2 characters (weight 3), 2 of 3 characters (1).
        let d = load(
            "[class a]\n春 x\n夏 x\n[class b]\n风 x\n雨 x\n[styles]\nab 3 {a}{b}\nde 1 小{a}的\n",
        );
        let s = Spread::of(&d, Selection::Weighted);
        assert_eq!(s.styles[0].share, 0.75);
        assert_eq!(s.styles[0].count, Count::Exact(4));
        assert_eq!(s.lengths, [0.0, 0.0, 0.75, 0.25]);
        assert_eq!(s.share_up_to(2), 0.75);
        // One draw is always distinct; many draws find all 6.
        assert!((s.expected_distinct(1) - 1.0).abs() < 1e-12);
        assert!((s.expected_distinct(100_000) * 100_000.0 - 6.0).abs() < 1e-6);
        // Two draws from 4 equally likely (share 3/4 each style) …: by hand,
        // P(same) = 4·(3/16)² + 2·(1/8)² = 0.171875.
        assert!((s.expected_distinct(2) - (1.0 - 0.171875 / 2.0)).abs() < 1e-12);
        let only = Spread::of(&d, Selection::Only(1));
        assert_eq!(only.styles.len(), 1);
        assert_eq!(only.styles[0].share, 1.0);
        assert_eq!(only.lengths, [0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn a_cap_moves_the_shares_and_lengths() {
        let mut d = load(
            "[class a]\n春 x\n夏天 x\n[class b]\n风 x\n雨 x\n[styles]\nab auto {a}{b}\nde auto {a}的\n",
        );
        d.limit_chars(2).unwrap();
        let s = Spread::of(&d, Selection::Weighted);
        // Only 春风, 春雨 (ab) fit; de's shortest, 春的, fits too.
        assert_eq!(s.styles[0].count, Count::Exact(2));
        assert_eq!(s.styles[1].count, Count::Exact(1));
        assert!((s.styles[0].share - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.share_up_to(2), 1.0);
    }
}
