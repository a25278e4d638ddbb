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
//! every nickname: a blocked term that forms across a join holds the last
//! character of the word on the left next to the first of the word on the
//! right. [`JoinClasses`] gives each such character of a dictionary a small
//! id and keeps a bit per pair of ids that are adjacent in some blocked
//! term, so the generator knows with one lookup per join whether the full
//! check is needed: with the default lists for 3 nicknames in 10,000 of
//! the weighted mix and at most 1 % of any one style, where the coarse
//! flags asked for it for up to a fifth. [`Safety::join_risk`], the coarser per-word flags, serves the
//! exact counts and unique mode's enumeration.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::collections::{HashMap, HashSet};

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

/// Join classes of one dictionary: a small id for every character that
/// begins a word and could continue a blocked term across a join (a head),
/// or ends one and could begin such a term (a tail), and a bit table of
/// which tail and head are adjacent in some blocked term. The generator
/// then needs one table lookup per join to know whether a blocked term can
/// form there, where the risk flags alone ([`Safety::join_risk`]) only say
/// that one could form at some join of the same two characters' kinds.
///
/// Id 0 is "no risk"; [`JoinClass::OVERFLOW`] stands for every character
/// beyond the first 254 of its kind and joins as risky with every other
/// nonzero id, so the table never misses a join the flags would catch.
#[derive(Clone)]
pub(crate) struct JoinClasses {
    /// Bit `tail << 8 | head`: a blocked term may cross that join.
    table: Box<[u64]>,
}

/// Assigns join-class ids while a dictionary's words are fused (see
/// [`JoinClasses`]).
#[derive(Debug, Default)]
pub(crate) struct JoinClassifier {
    heads: Vec<char>,
    tails: Vec<char>,
    head_ids: HashMap<char, u8>,
    tail_ids: HashMap<char, u8>,
}

/// The join-class ids of one word (see [`JoinClasses`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JoinClass {
    pub(crate) head: u8,
    pub(crate) tail: u8,
}

impl JoinClass {
    /// The id of every character past the first 254 of its kind.
    pub(crate) const OVERFLOW: u8 = u8::MAX;
}

impl JoinClassifier {
    /// The ids of `word`'s first and last characters, assigning new ones as
    /// needed. A character that [`Safety::join_risk`] does not flag gets 0.
    pub(crate) fn classify(&mut self, safety: &Safety, word: &str) -> JoinClass {
        let risk = safety.join_risk(word);
        let id = |chars: &mut Vec<char>, ids: &mut HashMap<char, u8>, c| {
            *ids.entry(c).or_insert_with(|| {
                if chars.len() < usize::from(JoinClass::OVERFLOW) - 1 {
                    chars.push(c);
                    chars.len() as u8
                } else {
                    JoinClass::OVERFLOW
                }
            })
        };
        let mut class = JoinClass::default();
        if risk & RISK_HEAD != 0 {
            let c = word.chars().next().expect("a flagged word has a character");
            class.head = id(&mut self.heads, &mut self.head_ids, c);
        }
        if risk & RISK_TAIL != 0 {
            let c = word.chars().last().expect("a flagged word has a character");
            class.tail = id(&mut self.tails, &mut self.tail_ids, c);
        }
        class
    }

    /// The table for every id assigned so far.
    pub(crate) fn finish(&self, safety: &Safety) -> JoinClasses {
        let mut table = vec![0u64; 256 * 256 / 64].into_boxed_slice();
        let mut set = |tail: usize, head: usize| table[(tail << 8 | head) / 64] |= 1 << (head % 64);
        for (t, &tail) in self.tails.iter().enumerate() {
            for (h, &head) in self.heads.iter().enumerate() {
                if safety.pairs.contains(tail, head) {
                    set(t + 1, h + 1);
                }
            }
        }
        // The overflow ids join as risky with every nonzero id.
        let overflow = usize::from(JoinClass::OVERFLOW);
        for id in 1..=overflow {
            set(overflow, id);
            set(id, overflow);
        }
        JoinClasses { table }
    }
}

impl JoinClasses {
    /// Whether a blocked term may cross the join between a word of tail
    /// class `tail` and one of head class `head`. Branch-free: one shift and
    /// one load, 0 for either id means false.
    #[inline(always)]
    pub(crate) fn risky(&self, tail: u8, head: u8) -> bool {
        let bit = usize::from(tail) << 8 | usize::from(head);
        self.table[bit / 64] >> (bit % 64) & 1 != 0
    }
}

impl std::fmt::Debug for JoinClasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let risky: u32 = self.table.iter().map(|w| w.count_ones()).sum();
        f.debug_struct("JoinClasses")
            .field("risky_pairs", &risky)
            .finish()
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
        // Overlapping search needs standard semantics. A contiguous NFA, not
        // a DFA: the full check is rare (only where a join class says a
        // term may cross), and the DFA took a third of the embedded
        // dictionary's load time to build.
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::ContiguousNFA))
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
    fn join_classes_mark_exactly_the_joins_a_term_can_cross() {
        let s = Safety::new(["大奶", "傻瓜", "小三"], Vec::<&str>::new());
        let mut c = JoinClassifier::default();
        let big = c.classify(&s, "强大"); // 大 may begin 大奶
        let silly = c.classify(&s, "小傻"); // 傻 may begin 傻瓜
        let milk = c.classify(&s, "奶糖"); // 奶 may end 大奶
        let melon = c.classify(&s, "瓜子"); // 瓜 may end 傻瓜
        let star = c.classify(&s, "星辰");
        assert_eq!(star, JoinClass::default());
        let joins = c.finish(&s);
        assert!(joins.risky(big.tail, milk.head)); // 强大|奶糖
        assert!(joins.risky(silly.tail, melon.head)); // 小傻|瓜子
        // Both sides flagged by the coarse risk, but no term crosses.
        assert!(!joins.risky(big.tail, melon.head)); // 强大|瓜子
        assert!(!joins.risky(silly.tail, milk.head)); // 小傻|奶糖
        assert!(!joins.risky(0, milk.head));
        assert!(!joins.risky(big.tail, 0));
    }

    #[test]
    fn characters_past_the_id_space_join_as_risky() {
        // 300 two-character terms X甲: every X may begin a term.
        let xs: Vec<char> = (0..300)
            .map(|i| char::from_u32(0x4e00 + i).unwrap())
            .collect();
        let terms: Vec<String> = xs.iter().map(|x| format!("{x}甲")).collect();
        let s = Safety::new(&terms, Vec::<&str>::new());
        let mut c = JoinClassifier::default();
        let tails: Vec<JoinClass> = xs.iter().map(|x| c.classify(&s, &x.to_string())).collect();
        let head = c.classify(&s, "甲乙");
        let other = c.classify(&s, &format!("{}乙", xs[0]));
        let joins = c.finish(&s);
        assert_eq!(tails[299].tail, JoinClass::OVERFLOW);
        for t in &tails {
            assert!(joins.risky(t.tail, head.head), "every X|甲 join is risky");
        }
        // xs[0] is head-flagged (it is second in no term) only if some
        // term continues with it: none does.
        assert_eq!(other.head, 0);
    }

    #[test]
    fn empty_lists_block_nothing() {
        assert!(!Safety::none().is_blocked("傻瓜"));
    }
}
