//! The index space: every combination of the styles in use, numbered.
//! Index `i` falls in the style whose range holds it (styles in dictionary
//! order), and `i` minus the style's first index is the combination's rank
//! within the style (see [`Dictionary::render_combination`]).

use super::permutation::MAX_SIZE;
use crate::generator::{Count, Dictionary, Radix};
use std::sync::Arc;

/// The styles unique mode draws from, numbered end to end.
#[derive(Debug, Clone)]
pub struct IndexSpace {
    dict: Arc<Dictionary>,
    /// Style indices into the dictionary, in order.
    styles: Vec<usize>,
    /// `starts[k]` is the first index of `styles[k]`; one more entry holds
    /// the size.
    starts: Vec<u64>,
    /// `radices[k]` splits the ranks of `styles[k]`.
    radices: Vec<Radix>,
    fingerprint: [u8; 16],
}

impl IndexSpace {
    /// The space over `styles` of `dict` (all styles when `None`).
    pub fn new(dict: Arc<Dictionary>, style: Option<usize>) -> Result<IndexSpace, String> {
        let styles: Vec<usize> = match style {
            Some(s) => vec![s],
            None => (0..dict.styles().len()).collect(),
        };
        let mut starts = Vec::with_capacity(styles.len() + 1);
        let mut size = 0u128;
        for &s in &styles {
            starts.push(size as u64);
            size += dict.styles()[s].combinations();
            if size > u128::from(MAX_SIZE) {
                return Err(format!(
                    "the dictionary's space exceeds {MAX_SIZE} nicknames, more than unique mode can number; use fewer or narrower placeholders (such as {{digits:N}})"
                ));
            }
        }
        starts.push(size as u64);
        if size == 0 {
            return Err("the dictionary has no nicknames to hand out".into());
        }
        let fingerprint = dict.content_fingerprint(&styles);
        let radices = styles.iter().map(|&s| dict.radix(s)).collect();
        Ok(IndexSpace {
            dict,
            styles,
            starts,
            radices,
            fingerprint,
        })
    }

    pub fn dictionary(&self) -> &Arc<Dictionary> {
        &self.dict
    }

    /// Number of indices, blocked combinations included.
    pub fn size(&self) -> u64 {
        *self.starts.last().expect("at least the size")
    }

    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// How many indices are blocked (a blocked term forms across a join),
    /// if that can be counted exactly.
    pub fn blocked(&self) -> Option<u64> {
        let mut blocked = 0u64;
        for &s in &self.styles {
            match self.dict.count_style(s) {
                Count::Exact(n) => {
                    blocked += (self.dict.styles()[s].combinations() - n) as u64;
                }
                Count::AtMost(_) => return None,
            }
        }
        Some(blocked)
    }

    /// Which of our styles holds `index`, as a position in `styles`.
    #[inline]
    fn locate(&self, index: u64) -> usize {
        debug_assert!(index < self.size());
        // A handful of styles: count the starts at or below `index`, without
        // a branch to mispredict.
        self.starts[1..self.styles.len()]
            .iter()
            .map(|&start| usize::from(start <= index))
            .sum()
    }

    /// Writes nickname `index` into `out`; `None` if it is blocked.
    ///
    /// # Panics
    /// If `index` is not below [`IndexSpace::size`], or `out` is shorter
    /// than the dictionary's longest nickname.
    #[inline]
    pub fn render(&self, index: u64, out: &mut [u8]) -> Option<usize> {
        assert!(index < self.size(), "index {index} outside the space");
        let k = self.locate(index);
        self.dict.render_combination_with(
            self.styles[k],
            &self.radices[k],
            index - self.starts[k],
            out,
        )
    }

    /// The index of `nickname`, with its style and words, if the space can
    /// spell it (blocked or not).
    pub fn parse(&self, nickname: &str) -> Option<Parsed> {
        self.styles.iter().enumerate().find_map(|(k, &s)| {
            let rank = self.dict.parse_combination(s, nickname)?;
            Some(Parsed {
                index: self.starts[k] + rank,
                style: self.dict.styles()[s].name().to_owned(),
                words: self.dict.combination_words(s, rank),
            })
        })
    }
}

/// A nickname read back as an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub index: u64,
    pub style: String,
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
ba 1 {b}的{a}
";

    #[test]
    fn styles_are_numbered_end_to_end_and_parse_back() {
        let s = space(TWO_STYLES, None);
        assert_eq!(s.size(), 12);
        let mut buf = [0u8; 64];
        let mut seen = std::collections::HashSet::new();
        for i in 0..12 {
            let len = s.render(i, &mut buf).unwrap();
            let text = std::str::from_utf8(&buf[..len]).unwrap().to_owned();
            let parsed = s.parse(&text).unwrap();
            assert_eq!(parsed.index, i, "{text}");
            assert!(seen.insert(text));
        }
        let p = s.parse("雨的夏").unwrap();
        assert_eq!(
            (p.style.as_str(), p.words.clone()),
            ("ba", vec!["雨的".to_owned(), "夏".to_owned()])
        );
        assert_eq!(s.parse("春春"), None);
        assert_eq!(s.blocked(), Some(0));
    }

    #[test]
    fn one_style_is_its_own_space_with_its_own_fingerprint() {
        let all = space(TWO_STYLES, None);
        let second = space(TWO_STYLES, Some(1));
        assert_eq!(second.size(), 6);
        assert_ne!(all.fingerprint(), second.fingerprint());
        assert_eq!(second.parse("春风"), None, "style ab is not in this space");
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
