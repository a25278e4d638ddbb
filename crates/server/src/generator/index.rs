//! Combinations by number: the mixed-radix view of a style that unique mode
//! builds on. Combination `rank` of a style picks entry `rank % n0` of its
//! first pool, then `(rank / n0) % n1` of the second, and so on (the first
//! pool varies fastest), so ranks `0..combinations` name every combination
//! exactly once. Parsing a nickname back to its rank inverts this; in a
//! dictionary that passed the two-ways check a nickname has at most one
//! parse.

use super::dict::{Dictionary, Entry};
use super::safety::{RISK_HEAD, RISK_TAIL};
use siphasher::sip128::{Hasher128, SipHasher24};
use std::hash::Hasher;
use std::ops::ControlFlow;

/// A style's pool sizes with precomputed reciprocals, so that splitting a
/// rank into picks takes multiplications instead of divisions (Lemire's
/// fastmod/fastdiv, exact for 32-bit numerators). Build it once per style
/// with [`Dictionary::radix`].
#[derive(Debug, Clone)]
pub struct Radix {
    /// `(size, u64::MAX / size + 1)` per pool; the reciprocal of 1 is
    /// unused.
    pools: Vec<(u64, u64)>,
    /// Every rank of the style fits in 32 bits: the reciprocals apply.
    fits_u32: bool,
}

impl Dictionary {
    /// Writes combination `rank` of style `style` at the start of `out` and
    /// returns its length, or `None` when a blocked term forms across one of
    /// its joins (such a combination is never handed out). Never allocates.
    ///
    /// # Panics
    /// If `style` is out of range, `rank` is not below the style's
    /// [`combinations`](super::Style::combinations), or `out` is shorter
    /// than the style's longest nickname.
    pub fn render_combination(&self, style: usize, rank: u64, out: &mut [u8]) -> Option<usize> {
        let mut rest = rank;
        let result = self.render_picks(
            style,
            |n| {
                let pick = rest % n;
                rest /= n;
                pick
            },
            out,
        );
        assert_eq!(rest, 0, "rank {rank} is beyond the style's combinations");
        result
    }

    /// The precomputed division of style `style`'s ranks.
    pub fn radix(&self, style: usize) -> Radix {
        let pools = &self.styles[style].pools;
        Radix {
            pools: pools
                .iter()
                .map(|p| {
                    let n = p.entries.len() as u64;
                    (n, (u64::MAX / n).wrapping_add(1))
                })
                .collect(),
            fits_u32: self.styles[style].combinations() <= u128::from(u32::MAX),
        }
    }

    /// [`Dictionary::render_combination`] with `radix` (which must be
    /// `self.radix(style)`): the same nickname, faster.
    #[inline]
    pub fn render_combination_with(
        &self,
        style: usize,
        radix: &Radix,
        rank: u64,
        out: &mut [u8],
    ) -> Option<usize> {
        debug_assert_eq!(radix.pools.len(), self.styles[style].pools.len());
        if !radix.fits_u32 {
            return self.render_combination(style, rank, out);
        }
        assert!(
            rank <= u64::from(u32::MAX),
            "rank {rank} is beyond the style"
        );
        let mut rest = rank;
        let mut pools = radix.pools.iter();
        let result = self.render_picks(
            style,
            |_| {
                let &(n, reciprocal) = pools.next().expect("one radix per pool");
                if n == 1 {
                    return 0;
                }
                // fastmod and fastdiv for a 32-bit `rest` (Lemire, Kaser and
                // Kurz, "Faster remainder by direct computation", 2019).
                let low = reciprocal.wrapping_mul(rest);
                let pick = ((u128::from(low) * u128::from(n)) >> 64) as u64;
                rest = ((u128::from(reciprocal) * u128::from(rest)) >> 64) as u64;
                pick
            },
            out,
        );
        debug_assert_eq!(rest, 0, "rank {rank} is beyond the style's combinations");
        result
    }

    /// Writes the combination whose pick from each pool `pick(pool size)`
    /// returns, in pool order; `None` if it is blocked.
    #[inline(always)]
    fn render_picks(
        &self,
        style: usize,
        mut pick: impl FnMut(u64) -> u64,
        out: &mut [u8],
    ) -> Option<usize> {
        let style = &self.styles[style];
        assert!(
            out.len() >= style.max_len,
            "buffer of {} bytes is shorter than the style's longest nickname ({} bytes)",
            out.len(),
            style.max_len
        );
        let mut len = 0;
        let mut prev_risk = 0u8;
        let mut risky_join = false;
        for pool in &style.pools {
            let entry: Entry = pool.entries[pick(pool.entries.len() as u64) as usize];
            risky_join |= prev_risk & RISK_TAIL != 0 && entry.risk() & RISK_HEAD != 0;
            prev_risk = entry.risk();
            super::copy_entry(&self.arena, entry, out, len);
            len += entry.len as usize;
        }
        if risky_join {
            let text = std::str::from_utf8(&out[..len]).expect("whole UTF-8 words");
            if self.safety.is_blocked(text) {
                return None;
            }
        }
        Some(len)
    }

    /// Calls `f(rank, nickname)` for every nickname style `style` can
    /// produce, in rank order (unique mode's index order within the style),
    /// until `f` breaks: blocked combinations and, under a length cap,
    /// longer ones are skipped. Allocates only a few small buffers up
    /// front, whatever the size of the style.
    ///
    /// # Panics
    /// If `style` is out of range.
    pub fn for_each_nickname(
        &self,
        style: usize,
        mut f: impl FnMut(u64, &[u8]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let pools = &self.styles[style].pools;
        let max_chars = self.max_chars.unwrap_or(usize::MAX);
        let (first, rest) = pools.split_first().expect("a style has a placeholder");
        let first_len = first.entries.len() as u64;
        let shortest_first = first
            .entries
            .iter()
            .map(|e| usize::from(e.chars))
            .min()
            .unwrap_or(0);
        // The first pool varies fastest: the other pools' words (the tail)
        // are rendered once per round and every first word put before them.
        let mut picks = vec![0usize; rest.len()];
        let mut buf = [0u8; crate::MAX_NICKNAME_LEN + super::dict::COPY_BLOCK];
        let mut tail = [0u8; crate::MAX_NICKNAME_LEN];
        let mut base = 0u64;
        loop {
            let (mut tail_len, mut tail_chars) = (0, 0);
            let mut tail_head = 0u8;
            let mut prev_risk = 0u8;
            let mut tail_risky = false;
            for (k, pool) in rest.iter().enumerate() {
                let entry = pool.entries[picks[k]];
                if k == 0 {
                    tail_head = entry.risk();
                } else {
                    tail_risky |= prev_risk & RISK_TAIL != 0 && entry.risk() & RISK_HEAD != 0;
                }
                prev_risk = entry.risk();
                tail[tail_len..tail_len + entry.len as usize]
                    .copy_from_slice(self.entry_bytes(entry));
                tail_len += entry.len as usize;
                tail_chars += usize::from(entry.chars);
            }
            if tail_chars + shortest_first <= max_chars {
                for (i, &entry) in first.entries.iter().enumerate() {
                    if tail_chars + usize::from(entry.chars) > max_chars {
                        continue;
                    }
                    let head_len = entry.len as usize;
                    super::copy_entry(&self.arena, entry, &mut buf, 0);
                    buf[head_len..head_len + tail_len].copy_from_slice(&tail[..tail_len]);
                    let len = head_len + tail_len;
                    let risky = tail_risky
                        || (!rest.is_empty()
                            && entry.risk() & RISK_TAIL != 0
                            && tail_head & RISK_HEAD != 0);
                    if risky {
                        let text = std::str::from_utf8(&buf[..len]).expect("whole UTF-8 words");
                        if self.safety.is_blocked(text) {
                            continue;
                        }
                    }
                    f(base + i as u64, &buf[..len])?;
                }
            }
            base += first_len;
            // Odometer over the tail, its first pool fastest.
            let mut k = 0;
            loop {
                if k == rest.len() {
                    return ControlFlow::Continue(());
                }
                picks[k] += 1;
                if picks[k] < rest[k].entries.len() {
                    break;
                }
                picks[k] = 0;
                k += 1;
            }
        }
    }

    /// The words (with the template's text fused in) of combination `rank`
    /// of style `style`, in template order.
    ///
    /// # Panics
    /// Like [`Dictionary::render_combination`].
    pub fn combination_words(&self, style: usize, rank: u64) -> Vec<String> {
        let mut rest = rank;
        self.styles[style]
            .pools
            .iter()
            .map(|pool| {
                let n = pool.entries.len() as u64;
                let entry = pool.entries[(rest % n) as usize];
                rest /= n;
                String::from_utf8_lossy(self.entry_bytes(entry)).into_owned()
            })
            .collect()
    }

    /// The rank of `text` among the combinations of style `style`, if the
    /// style can spell it (blocked or not). In a dictionary with two ways to
    /// one string, the first parse found.
    pub fn parse_combination(&self, style: usize, text: &str) -> Option<u64> {
        let pools: Vec<&[Entry]> = self.styles[style]
            .pools
            .iter()
            .map(|p| &p.entries[..])
            .collect();
        self.parse_from(&pools, text.as_bytes())
    }

    /// Depth-first: every entry of the first pool that starts `text`, then
    /// the rest of `text` against the other pools.
    fn parse_from(&self, pools: &[&[Entry]], text: &[u8]) -> Option<u64> {
        let Some((first, others)) = pools.split_first() else {
            return text.is_empty().then_some(0);
        };
        for (i, &entry) in first.iter().enumerate() {
            let Some(rest) = text.strip_prefix(self.entry_bytes(entry)) else {
                continue;
            };
            if let Some(higher) = self.parse_from(others, rest) {
                return Some(higher * first.len() as u64 + i as u64);
            }
        }
        None
    }

    /// A fingerprint of what `styles` can produce, in that order: their
    /// pools and every fused word, in order. Names, weights and the
    /// blocklist do not enter (they do not move any combination's rank);
    /// anything that does changes it. Stable across runs, machines and
    /// versions: SipHash-2-4 (128 bits, zero key) over a fixed little-endian
    /// encoding.
    ///
    /// # Panics
    /// If a style index is out of range.
    pub fn content_fingerprint(&self, styles: &[usize]) -> [u8; 16] {
        let mut h = SipHasher24::new_with_keys(0, 0);
        h.write(b"nickpool dictionary content v1");
        h.write(&(styles.len() as u64).to_le_bytes());
        for &s in styles {
            let style = &self.styles[s];
            h.write(&(style.pools.len() as u64).to_le_bytes());
            for pool in &style.pools {
                h.write(&(pool.entries.len() as u64).to_le_bytes());
                for &entry in pool.entries.iter() {
                    h.write(&[entry.len]);
                    h.write(self.entry_bytes(entry));
                }
            }
        }
        h.finish128().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::LoadOptions;

    fn load(text: &str) -> Dictionary {
        Dictionary::parse("test.dict", text.as_bytes(), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const THREE_BY_TWO: &str = "\
[class a]
春 x
夏 x
秋 x
[class b]
风 x
雨 x
[styles]
ab 1 {a}的{b}
";

    fn render(d: &Dictionary, style: usize, rank: u64) -> Option<String> {
        let mut buf = [0u8; 64];
        d.render_combination(style, rank, &mut buf)
            .map(|len| String::from_utf8(buf[..len].to_vec()).unwrap())
    }

    #[test]
    fn ranks_name_every_combination_once_first_pool_fastest() {
        let d = load(THREE_BY_TWO);
        let all: Vec<String> = (0..6).map(|r| render(&d, 0, r).unwrap()).collect();
        assert_eq!(
            all,
            ["春的风", "夏的风", "秋的风", "春的雨", "夏的雨", "秋的雨"]
        );
        assert_eq!(d.combination_words(0, 4), ["夏的", "雨"]);
    }

    #[test]
    fn parsing_inverts_rendering() {
        let d = load(THREE_BY_TWO);
        for rank in 0..6 {
            let text = render(&d, 0, rank).unwrap();
            assert_eq!(d.parse_combination(0, &text), Some(rank));
        }
        assert_eq!(d.parse_combination(0, "春风"), None);
        assert_eq!(d.parse_combination(0, "春的风风"), None);
        assert_eq!(d.parse_combination(0, ""), None);
    }

    #[test]
    fn parsing_backtracks_over_shared_prefixes() {
        // 海 and 海风 both start 海风浪: only 海 + 风浪 completes.
        let d = load("[class a]\n海 x\n海风 x\n[class b]\n风浪 x\n云 x\n[styles]\nab 1 {a}{b}\n");
        let rank = d.parse_combination(0, "海风浪").unwrap();
        assert_eq!(render(&d, 0, rank).unwrap(), "海风浪");
        assert_eq!(d.combination_words(0, rank), ["海", "风浪"]);
    }

    #[test]
    fn blocked_combinations_render_as_none() {
        let d = load(
            "[class p]\n大 x\n小 x\n[class n]\n奶糖 f\n西瓜 f\n[styles]\npn 1 {p}{n}\n\
             [block]\n奶\n大奶\n[allow]\n奶糖\n",
        );
        let rendered: Vec<Option<String>> = (0..4).map(|r| render(&d, 0, r)).collect();
        assert_eq!(
            rendered,
            [
                None,
                Some("小奶糖".to_owned()),
                Some("大西瓜".to_owned()),
                Some("小西瓜".to_owned())
            ]
        );
        // Parsing still finds it: decode can say why it is never handed out.
        assert_eq!(d.parse_combination(0, "大奶糖"), Some(0));
    }

    #[test]
    fn the_fast_path_renders_what_the_plain_one_does() {
        let d = load(
            "[class a]\n星 x\n月 x\n云 x\n[class b]\n一 x\n[styles]\n\
             s 1 {a}{b}{digits:3}{a}{digits:1}\n",
        );
        let radix = d.radix(0);
        let total = d.styles()[0].combinations() as u64;
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        for rank in 0..total {
            let plain = d.render_combination(0, rank, &mut a);
            let fast = d.render_combination_with(0, &radix, rank, &mut b);
            assert_eq!(plain, fast);
            let len = plain.unwrap();
            assert_eq!(a[..len], b[..len], "rank {rank}");
        }
        // Reciprocals are exact for every 32-bit numerator and divisor.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x >> 40).max(2);
            let rest = x & u64::from(u32::MAX);
            let reciprocal = u64::MAX / n + 1;
            let low = reciprocal.wrapping_mul(rest);
            assert_eq!(((u128::from(low) * u128::from(n)) >> 64) as u64, rest % n);
            assert_eq!(
                ((u128::from(reciprocal) * u128::from(rest)) >> 64) as u64,
                rest / n
            );
        }
    }

    #[test]
    fn digits_placeholders_are_numbered_in_order() {
        let d = load("[class a]\n星 x\n月 x\n[styles]\nad 1 {a}{digits:2}\n");
        assert_eq!(d.styles()[0].combinations(), 200);
        assert_eq!(render(&d, 0, 0).unwrap(), "星00");
        assert_eq!(render(&d, 0, 1).unwrap(), "月00");
        assert_eq!(render(&d, 0, 199).unwrap(), "月99");
        assert_eq!(d.parse_combination(0, "月42"), Some(85));
    }

    const TAGGED: &str = "\
[class a]
春 season warm
夏 season warm hot
秋 season
[class b]
风 weather
雨 weather wet
雪 weather cold
[styles]
ab 1 {a:season,-hot}的{b:-cold}
";

    #[test]
    fn selections_are_what_ranks_parsing_and_the_fingerprint_see() {
        let d = load(TAGGED);
        assert_eq!(d.styles()[0].combinations(), 4);
        let all: Vec<String> = (0..4).map(|r| render(&d, 0, r).unwrap()).collect();
        assert_eq!(all, ["春的风", "秋的风", "春的雨", "秋的雨"]);
        for (rank, text) in all.iter().enumerate() {
            assert_eq!(d.parse_combination(0, text), Some(rank as u64));
        }
        // Words outside the selection are not ours.
        assert_eq!(d.parse_combination(0, "夏的风"), None);
        assert_eq!(d.parse_combination(0, "春的雪"), None);
        let fp = |d: &Dictionary| d.content_fingerprint(&[0]);
        // A tag that changes a selection changes the fingerprint ...
        assert_ne!(
            fp(&d),
            fp(&load(
                &TAGGED.replace("雨 weather wet", "雨 weather wet cold")
            ))
        );
        assert_ne!(
            fp(&d),
            fp(&load(&TAGGED.replace("秋 season", "秋 season hot")))
        );
        // ... and one that selects the same words does not.
        assert_eq!(
            fp(&d),
            fp(&load(&TAGGED.replace("风 weather", "风 weather dry")))
        );
    }

    #[test]
    fn the_two_ways_check_sees_only_the_selected_words() {
        // 蓝海 + 豚 and 蓝 + 海豚 collide only if 蓝海 is selected.
        let text =
            "[class a]\n蓝 c\n蓝海 c sea\n[class n]\n海豚 c\n豚 c\n[styles]\nan 1 {a:-sea}{n}\n";
        assert!(Dictionary::parse("t", text.as_bytes(), &LoadOptions::default()).is_ok());
        let both = text.replace("{a:-sea}", "{a:c}");
        let err = Dictionary::parse("t", both.as_bytes(), &LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("two ways"), "{err}");
    }

    #[test]
    fn the_fingerprint_follows_content_not_names_or_weights() {
        let base = load(THREE_BY_TWO);
        let renamed = load(&THREE_BY_TWO.replace("ab 1", "other 7"));
        let reworded = load(&THREE_BY_TWO.replace("秋 x", "冬 x"));
        let reordered = load(&THREE_BY_TWO.replace("春 x\n夏 x", "夏 x\n春 x"));
        let fp = |d: &Dictionary| d.content_fingerprint(&[0]);
        assert_eq!(fp(&base), fp(&renamed));
        assert_ne!(fp(&base), fp(&reworded));
        assert_ne!(fp(&base), fp(&reordered));
        assert_ne!(fp(&base), base.content_fingerprint(&[]));
        // Pinned: the fingerprint must not change between versions, or
        // every existing state file would be refused.
        let hex: String = fp(&base).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "24dd27971a0c5f5e78a4fa835768b416");
    }
}

#[cfg(test)]
mod enumeration_tests {
    use super::*;
    use crate::generator::LoadOptions;

    #[test]
    fn enumeration_lists_every_unblocked_combination_in_rank_order() {
        let text = "\
[class a]\n大 x\n小 x\n娇小 x\n[class n]\n奶糖 x\n西瓜 x\n三花猫 x\n[class c]\n一 x\n二十 x\n\
[styles]\nanc 1 {a}{n}{c}\nna 1 {n}的{a}\n[block]\n奶\n大奶\n小三\n[allow]\n奶糖\n";
        for cap in [None, Some(4), Some(5)] {
            let mut d = Dictionary::parse("t", text.as_bytes(), &LoadOptions::default()).unwrap();
            if let Some(cap) = cap {
                d.limit_chars(cap).unwrap();
            }
            for style in 0..d.styles().len() {
                let mut listed = Vec::new();
                let _ = d.for_each_nickname(style, |rank, bytes| {
                    listed.push((rank, String::from_utf8(bytes.to_vec()).unwrap()));
                    ControlFlow::Continue(())
                });
                let mut expected = Vec::new();
                let mut buf = [0u8; 64];
                for rank in 0..d.styles()[style].combinations() as u64 {
                    if let Some(len) = d.render_combination(style, rank, &mut buf) {
                        let s = String::from_utf8(buf[..len].to_vec()).unwrap();
                        if cap.is_none_or(|c| s.chars().count() <= c) {
                            expected.push((rank, s));
                        }
                    }
                }
                assert_eq!(listed, expected, "style {style}, cap {cap:?}");
                assert_eq!(
                    d.count_style(style),
                    crate::generator::Count::Exact(listed.len() as u128)
                );
            }
        }
        // It stops when asked.
        let d = Dictionary::parse("t", text.as_bytes(), &LoadOptions::default()).unwrap();
        let mut seen = 0;
        let flow = d.for_each_nickname(0, |_, _| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert!(flow.is_break());
        assert_eq!(seen, 3);
    }
}
