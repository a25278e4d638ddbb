//! Whole-name safety: a blocklist matched against the entire generated
//! nickname (so terms that form across the join of two words are caught), and
//! an allowlist that shields innocent words containing a blocked term.
//!
//! The rule: a nickname is blocked when it contains an occurrence of a blocked
//! term that does not lie entirely inside an occurrence of an allowed term.
//! 奶 is blocked on its own, 奶茶 is allowed, so 草莓奶茶 passes while 大奶糖
//! (大奶 spans the join of 大 and 奶糖) does not.
//!
//! Matching uses the `aho-corasick` crate. The generator avoids running it on
//! every nickname: [`Safety::join_risk`] classifies each word by its first and
//! last character, and only a join where a blocked term could start on the
//! left and continue on the right needs the full check.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::collections::HashSet;

/// How many allowed occurrences one check can track without allocating. A
/// nickname is at most [`crate::MAX_NICKNAME_LEN`] bytes, so this is never
/// reached with sensible lists; if it is, the name is treated as blocked.
const MAX_ALLOW_SPANS: usize = 32;

/// Join-risk flags of one word (see [`Safety::join_risk`]).
pub(crate) const RISK_HEAD: u8 = 1;
pub(crate) const RISK_TAIL: u8 = 2;

/// A compiled blocklist and allowlist.
#[derive(Debug, Clone)]
pub struct Safety {
    block: Option<AhoCorasick>,
    allow: Option<AhoCorasick>,
    block_terms: usize,
    allow_terms: usize,
    /// Characters that occur in some blocked term at a position other than the
    /// first: a word starting with one may continue a term across a join.
    head_risk: CharSet,
    /// Characters that occur in some blocked term at a position other than the
    /// last: a word ending with one may start a term across a join.
    tail_risk: CharSet,
    /// Every two characters adjacent in some blocked term. A blocked
    /// occurrence that crosses a join holds the characters on either side
    /// of it, so a join whose pair is not here is safe.
    pairs: PairSet,
}

/// A set of character pairs: open addressing over 64-bit keys, small enough
/// to stay in the first-level cache, one multiply and (nearly always) one
/// load per lookup.
#[derive(Debug, Clone)]
struct PairSet {
    /// `(first << 32) | second`; 0 marks an empty slot (no pair is 0, as
    /// terms hold no NUL).
    slots: Vec<u64>,
}

impl PairSet {
    fn new(pairs: &HashSet<(char, char)>) -> PairSet {
        let capacity = (pairs.len() * 4).next_power_of_two().max(16);
        let mut set = PairSet {
            slots: vec![0; capacity],
        };
        for &(a, b) in pairs {
            let key = Self::key(a, b);
            let mut i = set.home(key);
            while set.slots[i] != 0 {
                i = (i + 1) & (capacity - 1);
            }
            set.slots[i] = key;
        }
        set
    }

    fn key(a: char, b: char) -> u64 {
        (u64::from(a) << 32) | u64::from(b)
    }

    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & (self.slots.len() - 1)
    }

    fn contains(&self, a: char, b: char) -> bool {
        let key = Self::key(a, b);
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                0 => return false,
                k if k == key => return true,
                _ => i = (i + 1) & (self.slots.len() - 1),
            }
        }
    }
}

/// A set of characters: a bitmap over the planes that hold the CJK
/// ideographs (a lookup is a shift and a load, which matters when a
/// dictionary of thousands of words is compiled), a hash set beyond.
#[derive(Debug, Clone, Default)]
struct CharSet {
    bits: Vec<u64>,
    others: HashSet<char>,
}

impl CharSet {
    /// Code points below this are in the bitmap (through CJK Extension B
    /// and its neighbours).
    const BITMAP_END: u32 = 0x3_0000;

    fn insert(&mut self, c: char) {
        let n = c as u32;
        if n < Self::BITMAP_END {
            if self.bits.is_empty() {
                self.bits = vec![0; (Self::BITMAP_END / 64) as usize];
            }
            self.bits[(n / 64) as usize] |= 1 << (n % 64);
        } else {
            self.others.insert(c);
        }
    }

    fn contains(&self, c: char) -> bool {
        let n = c as u32;
        if n < Self::BITMAP_END {
            self.bits
                .get((n / 64) as usize)
                .is_some_and(|w| w & (1 << (n % 64)) != 0)
        } else {
            self.others.contains(&c)
        }
    }
}

impl Safety {
    /// Compiles the lists. Empty terms are ignored.
    pub fn new<B, A>(block: B, allow: A) -> Safety
    where
        B: IntoIterator,
        B::Item: AsRef<str>,
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let block: Vec<String> = unique_terms(block);
        let allow: Vec<String> = unique_terms(allow);
        let mut head_risk = CharSet::default();
        let mut tail_risk = CharSet::default();
        let mut pairs = HashSet::new();
        for term in &block {
            let chars: Vec<char> = term.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                if i > 0 {
                    head_risk.insert(c);
                }
                if i + 1 < chars.len() {
                    tail_risk.insert(c);
                    pairs.insert((c, chars[i + 1]));
                }
            }
        }
        Safety {
            block_terms: block.len(),
            allow_terms: allow.len(),
            block: build_matcher(&block),
            allow: build_matcher(&allow),
            head_risk,
            tail_risk,
            pairs: PairSet::new(&pairs),
        }
    }

    /// A safety filter that blocks nothing.
    pub fn none() -> Safety {
        Safety::new(Vec::<String>::new(), Vec::<String>::new())
    }

    /// Number of distinct blocked and allowed terms.
    pub fn term_counts(&self) -> (usize, usize) {
        (self.block_terms, self.allow_terms)
    }

    /// True when `text` contains a blocked term that no allowed term covers.
    /// Never allocates.
    pub fn is_blocked(&self, text: &str) -> bool {
        let Some(block) = &self.block else {
            return false;
        };
        let mut allowed = [(0usize, 0usize); MAX_ALLOW_SPANS];
        let mut n_allowed = 0;
        let mut allow_checked = false;
        for hit in block.find_overlapping_iter(text) {
            if !allow_checked {
                // Collect allowed spans lazily: most texts have no blocked hit.
                allow_checked = true;
                if let Some(allow) = &self.allow {
                    for span in allow.find_overlapping_iter(text) {
                        if n_allowed == MAX_ALLOW_SPANS {
                            return true;
                        }
                        allowed[n_allowed] = (span.start(), span.end());
                        n_allowed += 1;
                    }
                }
            }
            let covered = allowed[..n_allowed]
                .iter()
                .any(|&(start, end)| start <= hit.start() && hit.end() <= end);
            if !covered {
                return true;
            }
        }
        false
    }

    /// Whether `text` may hold a blocked term: whether two of its
    /// characters next to each other are adjacent in some blocked term
    /// (every term of two or more characters has such a pair). When not,
    /// the full check can be skipped; a blocked term of one character is
    /// caught when the words are loaded, as a word that holds one is never
    /// used. Never allocates.
    pub(crate) fn may_hold_term(&self, text: &str) -> bool {
        let mut chars = text.chars();
        let Some(mut prev) = chars.next() else {
            return false;
        };
        chars.any(|c| {
            let pair = self.pairs.contains(prev, c);
            prev = c;
            pair
        })
    }

    /// The join-risk flags of a word: [`RISK_HEAD`] if its first character
    /// could continue a blocked term begun by the word before it,
    /// [`RISK_TAIL`] if its last character could begin a blocked term that
    /// the next word continues. A blocked occurrence that crosses a join
    /// always has a `RISK_TAIL` word on the left and a `RISK_HEAD` word on
    /// the right, so a join without both is safe without looking further.
    pub(crate) fn join_risk(&self, word: &str) -> u8 {
        let mut flags = 0;
        if word
            .chars()
            .next()
            .is_some_and(|c| self.head_risk.contains(c))
        {
            flags |= RISK_HEAD;
        }
        if word
            .chars()
            .last()
            .is_some_and(|c| self.tail_risk.contains(c))
        {
            flags |= RISK_TAIL;
        }
        flags
    }
}

fn unique_terms<I>(terms: I) -> Vec<String>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let mut seen = HashSet::new();
    terms
        .into_iter()
        .map(|t| t.as_ref().to_owned())
        .filter(|t| !t.is_empty() && seen.insert(t.clone()))
        .collect()
}

fn build_matcher(terms: &[String]) -> Option<AhoCorasick> {
    if terms.is_empty() {
        return None;
    }
    let matcher = AhoCorasick::builder()
        // Overlapping search needs standard semantics; a DFA keeps the rare
        // full check short.
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(terms)
        .expect("a few hundred short literal terms always compile");
    Some(matcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Safety {
        Safety::new(["奶", "大奶", "傻瓜"], ["奶茶", "奶糖", "牛奶"])
    }

    #[test]
    fn allowlist_shields_innocent_words() {
        let s = sample();
        assert!(!s.is_blocked("草莓奶茶"));
        assert!(!s.is_blocked("快乐的奶糖"));
        assert!(!s.is_blocked("小牛奶"));
        assert!(s.is_blocked("奶昔"));
    }

    #[test]
    fn terms_across_a_join_are_blocked_even_next_to_allowed_words() {
        let s = sample();
        // 大奶 is not inside 奶糖, so the allowlist does not excuse it.
        assert!(s.is_blocked("大奶糖"));
        assert!(s.is_blocked("小傻瓜"));
        assert!(!s.is_blocked("大西瓜"));
    }

    #[test]
    fn join_risk_flags_cover_every_crossing_position() {
        let s = sample();
        assert_eq!(s.join_risk("傻"), RISK_TAIL);
        assert_eq!(s.join_risk("瓜子"), RISK_HEAD);
        assert_eq!(s.join_risk("大"), RISK_TAIL);
        assert_eq!(s.join_risk("奶糖"), RISK_HEAD);
        assert_eq!(s.join_risk("星辰"), 0);
    }

    #[test]
    fn only_texts_with_two_adjacent_term_characters_may_hold_a_term() {
        let s = sample();
        // 大奶 is a term; 小傻 and 大大 are in none.
        assert!(s.may_hold_term("大奶糖"));
        assert!(s.may_hold_term("傻瓜"));
        assert!(s.may_hold_term("小傻瓜"));
        assert!(!s.may_hold_term("小傻"));
        // Flagged by the coarse join risk, but no pair of a term.
        assert_eq!(s.join_risk("大") & RISK_TAIL, RISK_TAIL);
        assert!(!s.may_hold_term("大大"));
        assert!(!s.may_hold_term(""));
        assert!(!Safety::none().may_hold_term("大奶"));
    }

    #[test]
    fn empty_lists_block_nothing() {
        assert!(!Safety::none().is_blocked("傻瓜"));
    }
}
