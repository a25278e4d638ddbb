//! A keyed pseudo-random permutation of `0..size` for any `size`: a
//! numeric Feistel network with cycle-walking.
//!
//! The domain is widened to `a * b` with `a = ceil(sqrt(size))` and
//! `b = ceil(size / a)`, so at most `a - 1` (about √size) extra values exist.
//! A value `x` is split as `x = hi * b + lo` (`hi < a`, `lo < b`), and each
//! round maps `(hi, lo)` to `(lo, (hi + F(lo)) mod a)`, which swaps the two
//! radices; after an even number of rounds the shape is `(a, b)` again. Each
//! round is a bijection whatever `F` is, so the network is one too. A result
//! that lands in the extra values is put through the network again
//! (cycle-walking) until it falls inside `0..size`; since the extra values
//! are a tiny fraction, that almost never takes a second pass.
//!
//! `F` is a keyed 64-bit mix (the SplitMix64 finalizer over the half xor a
//! round key), reduced to the modulus by a widening multiplication. Round
//! keys come from a 128-bit key through SipHash-1-3, with the domain size
//! mixed in, so one key gives unrelated permutations over different spaces.
//! This makes consecutive inputs look random; it is not meant as
//! cryptography.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

/// Feistel rounds (even, so the output has the input's shape). Four rounds
/// of a pseudo-random function make a pseudo-random permutation
/// (Luby–Rackoff).
pub const ROUNDS: usize = 4;

/// Largest domain supported: indices and their products stay in `u64`.
pub const MAX_SIZE: u64 = 1 << 62;

/// A keyed bijection of `0..size`.
#[derive(Debug, Clone)]
pub struct Permutation {
    size: u64,
    /// Radices: a value of the widened domain `0..a*b` is `hi * b + lo`.
    a: u64,
    b: u64,
    round_keys: [u64; ROUNDS],
}

impl Permutation {
    /// The permutation of `0..size` that `key` selects.
    ///
    /// # Panics
    /// If `size` is 0 or above 2^62.
    pub fn new(key: &[u8; 16], size: u64) -> Permutation {
        assert!(
            (1..=MAX_SIZE).contains(&size),
            "permutation size {size} is outside 1..=2^62"
        );
        let mut a = size.isqrt();
        if a * a < size {
            a += 1;
        }
        let b = size.div_ceil(a);
        debug_assert!(a * b >= size && a * b - size < a);
        let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        let mut round_keys = [0u64; ROUNDS];
        for (i, k) in round_keys.iter_mut().enumerate() {
            let mut h = SipHasher13::new_with_keys(k0, k1);
            h.write(b"nickpool feistel round");
            h.write(&size.to_le_bytes());
            h.write(&(i as u64).to_le_bytes());
            *k = h.finish();
        }
        Permutation {
            size,
            a,
            b,
            round_keys,
        }
    }

    /// The permutation of style `style`'s `size` ranks under `key`: each
    /// style of a space permutes its own ranks with a key of its own,
    /// derived from the space's key and the style's position (SipHash-2-4,
    /// 128 bits), so no two styles walk in step.
    ///
    /// # Panics
    /// Like [`Permutation::new`].
    pub fn for_style(key: &[u8; 16], style: usize, size: u64) -> Permutation {
        use siphasher::sip128::{Hasher128, SipHasher24};
        let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        let mut h = SipHasher24::new_with_keys(k0, k1);
        h.write(b"nickpool style key");
        h.write(&(style as u64).to_le_bytes());
        Permutation::new(&h.finish128().as_bytes(), size)
    }

    /// The size of the domain.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The image of `x`.
    ///
    /// # Panics
    /// If `x` is not below [`Permutation::size`].
    #[inline]
    pub fn permute(&self, x: u64) -> u64 {
        assert!(x < self.size, "{x} is outside the permutation's domain");
        let mut y = self.network(x);
        while y >= self.size {
            y = self.network(y);
        }
        y
    }

    /// The `x` with `permute(x) == y`.
    ///
    /// # Panics
    /// If `y` is not below [`Permutation::size`].
    pub fn invert(&self, y: u64) -> u64 {
        assert!(y < self.size, "{y} is outside the permutation's domain");
        let mut x = self.network_inverse(y);
        while x >= self.size {
            x = self.network_inverse(x);
        }
        x
    }

    /// One pass through the rounds, over `0..a*b`.
    #[inline]
    fn network(&self, x: u64) -> u64 {
        let (mut hi, mut lo) = (x / self.b, x % self.b);
        let (mut m_hi, mut m_lo) = (self.a, self.b);
        for &key in &self.round_keys {
            let mut t = hi + reduce(mix(lo ^ key), m_hi);
            if t >= m_hi {
                t -= m_hi;
            }
            hi = lo;
            lo = t;
            std::mem::swap(&mut m_hi, &mut m_lo);
        }
        hi * self.b + lo
    }

    fn network_inverse(&self, y: u64) -> u64 {
        // After an even number of rounds the shape is (a, b) again.
        let (mut hi, mut lo) = (y / self.b, y % self.b);
        let (mut m_hi, mut m_lo) = (self.a, self.b);
        for &key in self.round_keys.iter().rev() {
            // Undo: (hi, lo) came from (lo_prev... ) with hi = lo_prev and
            // lo = (hi_prev + F(lo_prev)) mod m_prev_hi, where the previous
            // shape was (m_lo, m_hi).
            std::mem::swap(&mut m_hi, &mut m_lo);
            let f = reduce(mix(hi ^ key), m_hi);
            let prev_hi = if lo >= f { lo - f } else { lo + m_hi - f };
            lo = hi;
            hi = prev_hi;
        }
        hi * self.b + lo
    }
}

/// The SplitMix64 finalizer: a fast bijective 64-bit mix.
#[inline(always)]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a 64-bit hash to `0..m` by its high bits (Lemire's reduction).
#[inline(always)]
fn reduce(hash: u64, m: u64) -> u64 {
    ((u128::from(hash) * u128::from(m)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn bijective_on_every_small_domain() {
        for size in 1..=600u64 {
            for key in [KEY, [0u8; 16], [0xff; 16]] {
                let p = Permutation::new(&key, size);
                let mut seen = vec![false; size as usize];
                for x in 0..size {
                    let y = p.permute(x);
                    assert!(y < size, "size {size}: {x} -> {y} out of range");
                    assert!(!seen[y as usize], "size {size}: {y} reached twice");
                    seen[y as usize] = true;
                    assert_eq!(p.invert(y), x, "size {size}: invert({y})");
                }
            }
        }
    }

    #[test]
    fn bijective_on_awkward_sizes() {
        // Primes, squares, one past a square, and sizes where a*b overshoots
        // by almost a: cycle-walking must stay in range and stay a bijection.
        for size in [997u64, 1024, 1025, 4095, 4096, 4097, 65_521, 65_537, 99_991] {
            let p = Permutation::new(&KEY, size);
            assert!(p.a * p.b >= size);
            let mut seen = vec![false; size as usize];
            for x in 0..size {
                let y = p.permute(x);
                assert!(!std::mem::replace(&mut seen[y as usize], true), "{size}");
            }
            assert!(seen.iter().all(|&s| s), "size {size} not covered");
        }
    }

    #[test]
    fn inverse_on_large_domains() {
        for size in [18_812_345u64, (1 << 40) + 12_345, MAX_SIZE] {
            let p = Permutation::new(&KEY, size);
            for x in (0..2000u64).chain((size - 2000)..size) {
                let y = p.permute(x);
                assert!(y < size);
                assert_eq!(p.invert(y), x);
            }
        }
    }

    #[test]
    fn keys_and_sizes_select_different_permutations() {
        let p = Permutation::new(&KEY, 1_000_000);
        let q = Permutation::new(&[7u8; 16], 1_000_000);
        let r = Permutation::new(&KEY, 1_000_001);
        let first = |p: &Permutation| (0..16).map(|x| p.permute(x)).collect::<Vec<_>>();
        assert_ne!(first(&p), first(&q));
        assert_ne!(first(&p), first(&r));
        assert_eq!(first(&p), first(&Permutation::new(&KEY, 1_000_000)));
    }

    #[test]
    fn styles_get_permutations_of_their_own() {
        let a = Permutation::for_style(&KEY, 0, 1_000_000);
        let b = Permutation::for_style(&KEY, 1, 1_000_000);
        let first = |p: &Permutation| (0..16).map(|x| p.permute(x)).collect::<Vec<_>>();
        assert_ne!(first(&a), first(&b));
        assert_ne!(first(&a), first(&Permutation::new(&KEY, 1_000_000)));
        assert_eq!(
            first(&a),
            first(&Permutation::for_style(&KEY, 0, 1_000_000))
        );
        // Pinned: a state file's counters mean these permutations.
        assert_eq!(
            first(&Permutation::for_style(&KEY, 2, 1000))[..4],
            [203, 191, 685, 949]
        );
    }

    #[test]
    fn consecutive_inputs_scatter() {
        // Consecutive counters land all over the domain: no two of the first
        // thousand in the same 1/64th more than a few dozen times, and the
        // mean is near the middle.
        let size = 18_812_345u64;
        let p = Permutation::new(&KEY, size);
        let mut buckets = [0u32; 64];
        let mut sum = 0u128;
        for x in 0..1000 {
            let y = p.permute(x);
            buckets[(y * 64 / size) as usize] += 1;
            sum += u128::from(y);
        }
        assert!(buckets.iter().all(|&n| n < 40), "{buckets:?}");
        let mean = (sum / 1000) as u64;
        assert!(mean.abs_diff(size / 2) < size / 10, "mean {mean}");
        // Neighbours are not neighbours.
        let close = (0..999)
            .filter(|&x| p.permute(x).abs_diff(p.permute(x + 1)) < size / 1000)
            .count();
        assert!(close < 10, "{close} neighbouring pairs stayed close");
    }
}
