//! The index space: every combination of the styles in use, numbered
//! style by style. Each style has its own ranks `0..size` (see
//! [`Dictionary::render_combination`]), its own permutation and its own
//! counter; a nickname is named by its style's position in the space and
//! its rank within the style. Under a length cap
//! ([`Dictionary::max_chars`]) a style's ranks number only its
//! combinations that fit, in the same order ([`CappedRanks`]).

use super::capped::CappedRanks;
use super::permutation::MAX_SIZE;
use crate::generator::{Count, Dictionary, Radix};
use siphasher::sip128::{Hasher128, SipHasher24};
use std::hash::Hasher;
use std::sync::Arc;

/// One style of a space.
#[derive(Debug, Clone)]
struct SpaceStyle {
    /// The style's index in the dictionary.
    style: usize,
    /// Its ranks: `0..size`.
    size: u64,
    /// Splits its uncapped ranks.
    radix: Radix,
    /// Under a length cap that some of its combinations exceed: its ranks
    /// among those that fit.
    capped: Option<CappedRanks>,
}

/// The styles unique mode draws from, each numbered on its own.
#[derive(Debug, Clone)]
pub struct IndexSpace {
    dict: Arc<Dictionary>,
    /// In dictionary order.
    styles: Vec<SpaceStyle>,
    fingerprint: [u8; 16],
}

impl IndexSpace {
    /// The space over the styles of `dict` (all of them when `style` is
    /// `None`).
    pub fn new(dict: Arc<Dictionary>, style: Option<usize>) -> Result<IndexSpace, String> {
        let indices: Vec<usize> = match style {
            Some(s) => vec![s],
            None => (0..dict.styles().len()).collect(),
        };
        let mut styles = Vec::with_capacity(indices.len());
        let mut total = 0u128;
        for &s in &indices {
            let style = &dict.styles()[s];
            let longest = style.longest_chars();
            let capped = match dict.max_chars() {
                Some(max_chars) if longest > max_chars => {
                    Some(CappedRanks::new(&dict, s, max_chars)?)
                }
                _ => None,
            };
            let size = capped
                .as_ref()
                .map_or(style.combinations(), |c| u128::from(c.size()));
            total += size;
            if total > u128::from(MAX_SIZE) {
                return Err(format!(
                    "the dictionary's space exceeds {MAX_SIZE} nicknames, more than unique mode can number; use fewer or narrower placeholders (such as {{digits:N}})"
                ));
            }
            styles.push(SpaceStyle {
                style: s,
                size: size as u64,
                radix: dict.radix(s),
                capped,
            });
        }
        if total == 0 {
            return Err(match dict.max_chars() {
                Some(n) => format!(
                    "no nickname of the style has at most {n} characters; raise --max-chars"
                ),
                None => "the dictionary has no nicknames to hand out".into(),
            });
        }
        let mut fingerprint = dict.content_fingerprint(&indices);
        if let Some(max_chars) = dict.max_chars() {
            // Another cap numbers the styles differently.
            let mut h = SipHasher24::new_with_keys(0, 0);
            h.write(b"nickpool length cap v1");
            h.write(&fingerprint);
            h.write(&(max_chars as u64).to_le_bytes());
            fingerprint = h.finish128().as_bytes();
        }
        Ok(IndexSpace {
            dict,
            styles,
            fingerprint,
        })
    }

    pub fn dictionary(&self) -> &Arc<Dictionary> {
        &self.dict
    }

    /// How many styles the space has.
    pub fn style_count(&self) -> usize {
        self.styles.len()
    }

    /// The name of style `k` of the space.
    pub fn style_name(&self, k: usize) -> &str {
        self.dict.styles()[self.styles[k].style].name()
    }

    /// The weight of style `k`: the dictionary's, or its size for `auto`.
    pub fn style_weight(&self, k: usize) -> u64 {
        self.dict.styles()[self.styles[k].style].weight()
    }

    /// The number of ranks of style `k`, blocked ones included.
    pub fn style_size(&self, k: usize) -> u64 {
        self.styles[k].size
    }

    /// Every style's size, in order.
    pub fn sizes(&self) -> Vec<u64> {
        self.styles.iter().map(|s| s.size).collect()
    }

    /// Number of indices over all styles, blocked combinations included.
    pub fn size(&self) -> u64 {
        self.styles.iter().map(|s| s.size).sum()
    }

    /// A fingerprint of what the styles can produce and how they are
    /// numbered (the length cap included).
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// How many ranks of style `k` are blocked (a blocked term forms
    /// across a join), if that can be counted exactly.
    pub fn blocked_in(&self, k: usize) -> Option<u64> {
        let style = &self.styles[k];
        match self.dict.count_style(style.style) {
            Count::Exact(n) => Some(style.size - n as u64),
            Count::AtMost(_) => None,
        }
    }

    /// How many indices are blocked over all styles, if that can be counted
    /// exactly.
    pub fn blocked(&self) -> Option<u64> {
        (0..self.styles.len()).map(|k| self.blocked_in(k)).sum()
    }

    /// Writes rank `rank` of style `k` into `out`; `None` if it is blocked.
    ///
    /// # Panics
    /// If `k` is not a style of the space, `rank` is not below its size,
    /// or `out` is shorter than the dictionary's longest nickname.
    #[inline]
    pub fn render(&self, k: usize, rank: u64, out: &mut [u8]) -> Option<usize> {
        let style = &self.styles[k];
        assert!(rank < style.size, "rank {rank} outside style {k}");
        let rank = match &style.capped {
            None => rank,
            Some(capped) => capped.uncapped(rank),
        };
        self.dict
            .render_combination_with(style.style, &style.radix, rank, out)
    }

    /// The style and rank of `nickname`, with its words, if the space can
    /// spell it (blocked or not).
    pub fn parse(&self, nickname: &str) -> Option<Parsed> {
        self.styles.iter().enumerate().find_map(|(k, style)| {
            let uncapped = self.dict.parse_combination(style.style, nickname)?;
            let rank = match &style.capped {
                None => uncapped,
                Some(capped) => capped.capped(uncapped)?,
            };
            Some(Parsed {
                style: k,
                name: self.dict.styles()[style.style].name().to_owned(),
                rank,
                words: self.dict.combination_words(style.style, uncapped),
            })
        })
    }
}

/// A nickname read back as a style and rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The style's position in the space.
    pub style: usize,
    /// The style's name.
    pub name: String,
    /// The rank within the style.
    pub rank: u64,
    /// The words chosen, with the template's text fused in.
    pub words: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::LoadOptions;

    fn space(text: &str, style: Option<usize>) -> IndexSpace {
        let dict = Dictionary::parse("t.dict", text.as_bytes(), &LoadOptions::default()).unwrap();
        IndexSpace::new(Arc::new(dict), style).unwrap()
    }

    const TWO_STYLES: &str = "\
[class a]
春 x
夏 x
[class b]
风 x
雨 x
云 x
[styles]
ab 1 {a}{b}
ba 3 {b}的{a}
";

    #[test]
    fn each_style_is_numbered_on_its_own_and_parses_back() {
        let s = space(TWO_STYLES, None);
        assert_eq!((s.style_count(), s.size(), s.sizes()), (2, 12, vec![6, 6]));
        assert_eq!((s.style_name(1), s.style_weight(1)), ("ba", 3));
        let mut buf = [0u8; 64];
        let mut seen = std::collections::HashSet::new();
        for k in 0..2 {
            for rank in 0..6 {
                let len = s.render(k, rank, &mut buf).unwrap();
                let text = std::str::from_utf8(&buf[..len]).unwrap().to_owned();
                let parsed = s.parse(&text).unwrap();
                assert_eq!((parsed.style, parsed.rank), (k, rank), "{text}");
                assert!(seen.insert(text));
            }
        }
        let p = s.parse("雨的夏").unwrap();
        assert_eq!(
            (p.name.as_str(), p.words.clone()),
            ("ba", vec!["雨的".to_owned(), "夏".to_owned()])
        );
        assert_eq!(s.parse("春春"), None);
        assert_eq!(s.blocked(), Some(0));
    }

    #[test]
    fn one_style_is_its_own_space_with_its_own_fingerprint() {
        let all = space(TWO_STYLES, None);
        let second = space(TWO_STYLES, Some(1));
        assert_eq!((second.size(), second.style_name(0)), (6, "ba"));
        assert_ne!(all.fingerprint(), second.fingerprint());
        assert_eq!(second.parse("春风"), None, "style ab is not in this space");
    }

    #[test]
    fn under_a_length_cap_each_style_numbers_what_fits_in_its_order() {
        let text = "[class a]\n春 x\n夏天 x\n[class b]\n风 x\n雨水 x\n云 x\n[styles]\nab 1 {a}{b}\nba 2 {b}的{a}\n";
        let mut dict =
            Dictionary::parse("t.dict", text.as_bytes(), &LoadOptions::default()).unwrap();
        dict.limit_chars(3).unwrap();
        let s = IndexSpace::new(Arc::new(dict), None).unwrap();
        // ab: 春风 春雨水 夏天风 春云 夏天云; ba: 风的春 云的春.
        assert_eq!(s.sizes(), [5, 2]);
        let mut buf = [0u8; 64];
        let all: Vec<Vec<String>> = (0..2)
            .map(|k| {
                (0..s.style_size(k))
                    .map(|rank| {
                        let len = s.render(k, rank, &mut buf).unwrap();
                        let text = std::str::from_utf8(&buf[..len]).unwrap().to_owned();
                        let parsed = s.parse(&text).unwrap();
                        assert_eq!((parsed.style, parsed.rank), (k, rank), "{text}");
                        text
                    })
                    .collect()
            })
            .collect();
        assert_eq!(all[0], ["春风", "夏天风", "春雨水", "春云", "夏天云"]);
        assert_eq!(all[1], ["风的春", "云的春"]);
        assert_eq!(s.parse("夏天雨水"), None, "too long");
        assert_eq!(s.parse("雨水的春"), None, "too long");
        // Another cap is another numbering.
        let uncapped = space(text, None);
        assert_ne!(uncapped.fingerprint(), s.fingerprint());
    }

    #[test]
    fn a_space_beyond_the_permutation_limit_is_refused() {
        let text = format!(
            "[class a]\n星 x\n[styles]\nhuge 1 {{a}}{}\n",
            "{digits:4}".repeat(5)
        );
        let dict = Dictionary::parse("t.dict", text.as_bytes(), &LoadOptions::default()).unwrap();
        let err = IndexSpace::new(Arc::new(dict), None).unwrap_err();
        assert!(err.contains("exceeds"), "{err}");
    }
}
