//! Drawing an index in proportion to integer weights, from one uniform
//! 64-bit number: for the styles of a dictionary, and for the length
//! variants of a style under a cap.

/// Bits of a draw that index the guide table: 1,024 entries, so that with
/// up to a few hundred weights the walk after the lookup is almost always
/// empty.
const GUIDE_BITS: u32 = 10;

/// Cumulative weights with a guide table (a "guide table" or "indexed
/// search" sampler). Exact: index `i` comes up with probability
/// `weight[i] / total`, up to the bias of Lemire's multiply-shift, at most
/// total / 2^64.
#[derive(Debug, Clone)]
pub(crate) struct Picker {
    /// `cumulative[i]`: the weights of `0..=i`; zero weights repeat a value
    /// and are never drawn.
    pub(crate) cumulative: Vec<u64>,
    /// `guide[j]`: the first index a draw whose top [`GUIDE_BITS`] bits are
    /// `j` can land on.
    guide: Vec<u32>,
}

impl Picker {
    /// A picker over `weights`, which must add up to at least 1 and fit in
    /// 64 bits.
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Picker {
        let mut total = 0u64;
        let cumulative: Vec<u64> = weights
            .into_iter()
            .map(|w| {
                total = total.checked_add(w).expect("weights fit in 64 bits");
                total
            })
            .collect();
        assert!(total > 0, "at least one weight is positive");
        let mut guide = Vec::with_capacity(1 << GUIDE_BITS);
        let mut i = 0;
        for j in 0..1u64 << GUIDE_BITS {
            // The smallest combination number a draw with top bits j maps to.
            let r = ((u128::from(j) << (64 - GUIDE_BITS)) * u128::from(total)) >> 64;
            while u128::from(cumulative[i]) <= r {
                i += 1;
            }
            guide.push(i as u32);
        }
        Picker { cumulative, guide }
    }

    /// The sum of the weights.
    pub(crate) fn total(&self) -> u64 {
        *self.cumulative.last().expect("a picker has a weight")
    }

    /// The index the uniform draw `x` picks: `x` becomes a number below the
    /// total (multiply-shift), the guide table gives the first index it can
    /// fall in, and a short walk finds the one it does.
    #[inline(always)]
    pub(crate) fn pick(&self, x: u64) -> usize {
        let r = ((u128::from(x) * u128::from(self.total())) >> 64) as u64;
        let mut i = self.guide[(x >> (64 - GUIDE_BITS)) as usize] as usize;
        while self.cumulative[i] <= r {
            i += 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_draw_lands_where_a_search_says_and_zero_weights_never() {
        for weights in [
            vec![1u64],
            vec![3, 0, 5, 1],
            vec![1, 1_000_000_000_000, 0, 7],
            (1..300).map(|i| (i * i) % 97).collect(),
            vec![u64::MAX / 4, u64::MAX / 4, 0, u64::MAX / 4],
        ] {
            let p = Picker::new(weights.iter().copied());
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for k in 0..200_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Also the edges of every guide bucket.
                let x = if k % 4 == 0 { (k / 4 % 1024) << 54 } else { x };
                let r = ((u128::from(x) * u128::from(p.total())) >> 64) as u64;
                let expected = p.cumulative.iter().position(|&c| r < c).unwrap();
                let got = p.pick(x);
                assert_eq!(got, expected, "{weights:?} x={x:#x}");
                assert!(weights[got] > 0);
            }
        }
    }
}
