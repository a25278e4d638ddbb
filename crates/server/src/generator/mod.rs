//! The nickname generator: dictionaries, styles, character sets, the safety
//! filter, and [`Generator::generate_into`], which writes one nickname
//! straight into a caller's buffer without allocating.

mod ambiguity;
mod charset;
mod dict;
mod index;
mod length;
mod plan;
mod safety;
mod spread;
mod weighted;

pub use charset::{Charset, Tgh};
pub use dict::{
    Count, DEFAULT_DICT, DEFAULT_DICT_NAME, DictError, Dictionary, LoadOptions, MAX_DIGITS,
    Problem, Style,
};
pub use index::Radix;
pub use length::{Fits, Lengths};
pub use safety::Safety;
pub use spread::{Spread, StyleSpread};

use dict::{Entry, Pool};
use plan::Plan;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// Where a generator's randomness comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// A fresh key from the operating system (`getrandom`).
    Os,
    /// A fixed seed: the same seed, dictionary and stream give the same
    /// sequence on any machine.
    Fixed(u64),
}

/// Which styles a generator draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Every style, in proportion to its weight.
    Weighted,
    /// One style only (an index into [`Dictionary::styles`]).
    Only(usize),
}

/// Draws nicknames from a dictionary.
///
/// Each generator owns a ChaCha8 stream. Generators made from one seed with
/// different `stream` numbers are independent; use one per thread.
pub struct Generator {
    dict: Arc<Dictionary>,
    draws: Draws,
    selection: Selection,
    redraws: u64,
}

impl Generator {
    /// A generator over `dict`, drawing from all styles by weight.
    ///
    /// `stream` selects one of 2^64 independent ChaCha streams of the seed.
    pub fn new(dict: Arc<Dictionary>, seed: Seed, stream: u64) -> Generator {
        let mut rng = match seed {
            Seed::Fixed(s) => ChaCha8Rng::seed_from_u64(s),
            Seed::Os => ChaCha8Rng::try_from_rng(&mut rand::rngs::SysRng)
                .expect("the operating system's random source is unavailable"),
        };
        rng.set_stream(stream);
        Generator {
            dict,
            draws: Draws::new(rng),
            selection: Selection::Weighted,
            redraws: 0,
        }
    }

    /// Restricts generation to `selection`.
    ///
    /// # Panics
    /// If `Selection::Only` names a style the dictionary does not have, or
    /// one with no nickname under its length cap
    /// ([`Dictionary::style_fits`]).
    pub fn with_selection(mut self, selection: Selection) -> Generator {
        if let Selection::Only(i) = selection {
            assert!(i < self.dict.styles.len(), "style index {i} out of range");
            assert!(
                self.dict.style_fits(i),
                "style {i} has nothing under the length cap"
            );
        }
        self.selection = selection;
        self.draws.ahead = None;
        self
    }

    /// Switches to another dictionary, keeping the random stream (used by the
    /// daemon's reload).
    ///
    /// # Panics
    /// If `Selection::Only` names a style `dict` does not have, or one with
    /// no nickname under its length cap.
    pub fn replace_dictionary(&mut self, dict: Arc<Dictionary>, selection: Selection) {
        if let Selection::Only(i) = selection {
            assert!(i < dict.styles.len(), "style index {i} out of range");
            assert!(
                dict.style_fits(i),
                "style {i} has nothing under the length cap"
            );
        }
        self.dict = dict;
        self.selection = selection;
        // Drawn for the old dictionary's styles.
        self.draws.ahead = None;
    }

    pub fn dictionary(&self) -> &Arc<Dictionary> {
        &self.dict
    }

    /// How many drawn nicknames the safety filter rejected so far.
    pub fn redraws(&self) -> u64 {
        self.redraws
    }

    /// Writes one nickname as UTF-8 at the start of `out` and returns its
    /// length in bytes. Never allocates.
    ///
    /// # Panics
    /// If `out` is shorter than [`Dictionary::max_len`] (at most
    /// [`crate::MAX_NICKNAME_LEN`]).
    #[inline]
    pub fn generate_into(&mut self, out: &mut [u8]) -> usize {
        let dict = &*self.dict;
        assert!(
            out.len() >= dict.max_len,
            "buffer of {} bytes is shorter than the dictionary's longest nickname ({} bytes)",
            out.len(),
            dict.max_len
        );
        // Most nicknames: a style with a plan ([`plan`]).
        if let Some(len) = planned(
            &mut self.draws,
            &mut self.redraws,
            self.selection,
            dict,
            out,
        ) {
            return len;
        }
        // The general path: any style, and the redraws of `auto` weights.
        let draws = &mut self.draws;
        let (mut style, mut pools) = first_draw(dict, self.selection, draws);
        loop {
            let (len, risky_join) = write_words(dict, pools, out, |_, n| draws.below(n));
            if risky_join && blocked_across(dict, &out[..len]) {
                self.redraws += 1;
                (style, pools) = redraw(dict, self.selection, style, draws);
                continue;
            }
            return len;
        }
    }

    /// Convenience: one nickname as a `String` (allocates).
    pub fn generate(&mut self) -> String {
        let mut buf = [0u8; crate::MAX_NICKNAME_LEN];
        let len = self.generate_into(&mut buf);
        String::from_utf8(buf[..len].to_vec()).expect("whole UTF-8 words")
    }
}

/// Uniform draws from `0..n`, several from each 64-bit output of the
/// ChaCha stream.
///
/// A draw multiplies the current 64-bit number `x` by `n`: the high half
/// of the product is the draw (Lemire's multiply-shift), the low half
/// becomes the next `x`. A chain of draws from one output is then exactly
/// one multiply-shift draw of the tuple from the product `N` of their
/// ranges, written in mixed radix, so its bias is at most N / 2^64, as for
/// a single draw. A chain is cut, and a fresh output taken, before `N`
/// would pass 2^[`plan::BUDGET_BITS`]: every outcome's probability stays
/// within a relative 2^-28 of exact, far below anything observable.
///
/// This is the general path's schedule, right for any dictionary. The fast
/// path ([`plan`]) splits outputs the same way on a fixed schedule per
/// style: with the default dictionary one output per nickname, style pick
/// included, where one per word was drawn before.
struct Draws {
    rng: ChaCha8Rng,
    x: u64,
    /// Bits of the 64 still unspent in `x`.
    room: u32,
    /// In the planned weighted mix: the next nickname's style, drawn at the
    /// end of the call before (its output taken then, in the same order),
    /// and the rest of that output for its words (those of the first
    /// output, [`Plan::second`]).
    ahead: Option<(u64, usize)>,
}

impl Draws {
    fn new(rng: ChaCha8Rng) -> Draws {
        Draws {
            rng,
            x: 0,
            room: 0,
            ahead: None,
        }
    }

    /// A uniform draw from `0..n` (`n` at least 1).
    #[inline(always)]
    fn below(&mut self, n: usize) -> usize {
        let bits = plan::range_bits(n as u64);
        if self.room < bits + (u64::BITS - plan::BUDGET_BITS) {
            self.x = self.rng.next_u64();
            self.room = u64::BITS;
        }
        self.room -= bits;
        split(&mut self.x, n)
    }

    /// A uniform 64-bit number for a draw by weight ([`weighted::Picker`]),
    /// which spends all of it.
    #[inline(always)]
    fn fresh(&mut self) -> u64 {
        self.room = 0;
        self.rng.next_u64()
    }
}

/// The fast path ([`plan`]): a nickname from a style's plan, or `None`
/// when the selection has none (the general path then draws it).
#[inline(always)]
fn planned(
    draws: &mut Draws,
    redraws: &mut u64,
    selection: Selection,
    dict: &Dictionary,
    out: &mut [u8],
) -> Option<usize> {
    let rng = &mut draws.rng;
    // The general path must not go on from an output this one used.
    draws.room = 0;
    let mut x;
    let mut pipelined = false;
    let (style, mut plan) = match selection {
        Selection::Weighted if dict.mix_planned => match &dict.capped_units {
            None => {
                pipelined = true;
                let (rest, i) = match draws.ahead.take() {
                    Some(ahead) => ahead,
                    None => pick_planned_style(dict, rng),
                };
                x = rest;
                let plan = dict.plans[i].as_ref();
                (i, plan.expect("in the planned mix every style has a plan"))
            }
            Some(capped) => {
                let unit = capped.pick(rng.next_u64());
                x = rng.next_u64();
                let plan = unit.plan.as_ref();
                (
                    unit.style,
                    plan.expect("in the planned mix every unit has a plan"),
                )
            }
        },
        Selection::Only(i) => {
            let plan = planned_style(dict, i, rng)?;
            x = rng.next_u64();
            (i, plan)
        }
        Selection::Weighted => return None,
    };
    loop {
        let second = plan.second;
        let (len, risky_join) = write_words(dict, &plan.pools[..plan.words], out, |k, n| {
            if k == second {
                x = rng.next_u64();
            }
            split(&mut x, n)
        });
        if !(risky_join && blocked_across(dict, &out[..len])) {
            if pipelined {
                let ahead = pick_planned_style(dict, rng);
                prefetch_words(dict, ahead);
                draws.ahead = Some(ahead);
            }
            return Some(len);
        }
        *redraws += 1;
        if dict.auto_weights {
            // Each nickname equally likely: draw the style again too
            // (the general path does).
            return None;
        }
        // Within the same style, as the general path's `redraw` (which
        // takes over if this variant has no plan: only possible with one
        // style selected, and then it draws from that style too).
        plan = planned_style(dict, style, rng)?;
        x = rng.next_u64();
    }
}

/// Writes one word from each of `pools` into `out`, the word of pool `k`
/// at index `draw(k, pool size)`; returns the length in bytes and whether
/// a join of two of the words may hold a blocked term, so that only then
/// the full check runs. Both paths' inner loop.
#[inline(always)]
fn write_words(
    dict: &Dictionary,
    pools: &[Pool],
    out: &mut [u8],
    mut draw: impl FnMut(usize, usize) -> usize,
) -> (usize, bool) {
    let mut len = 0;
    let mut prev_tail = 0u8;
    let mut risky_join = false;
    for (k, pool) in pools.iter().enumerate() {
        let entry: Entry = pool.entries[draw(k, pool.entries.len())];
        risky_join |= dict.joins.risky(prev_tail, entry.join.head);
        prev_tail = entry.join.tail;
        copy_entry(&dict.arena, entry, out, len);
        len += entry.len as usize;
    }
    (len, risky_join)
}

/// The weighted mix's next style from a fresh output, and what is left of
/// the output for its words.
#[inline(always)]
fn pick_planned_style(dict: &Dictionary, rng: &mut ChaCha8Rng) -> (u64, usize) {
    let mut x = rng.next_u64();
    let i = usize::from(dict.style_table[split(&mut x, dict.style_table.len())]);
    (x, i)
}

/// Asks the processor to fetch the entries of the next nickname's words
/// (`ahead`; those its first output serves) while the caller handles this
/// one: in the weighted mix they are rarely in the first-level cache.
#[inline(always)]
fn prefetch_words(dict: &Dictionary, ahead: (u64, usize)) {
    let (mut x, style) = ahead;
    let plan = dict.plans[style]
        .as_ref()
        .expect("in the planned mix every style has a plan");
    for pool in &plan.pools[..plan.second] {
        let entry: *const Entry = &pool.entries[split(&mut x, pool.entries.len())];
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        // SAFETY: a prefetch is a hint: it never faults and has no effect the
        // program can observe (the address is an element of a live slice).
        unsafe {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(entry.cast());
        }
        let _ = entry;
    }
}

/// The plan to draw style `i`'s words from: its own, or under a length cap
/// one of its variants', picked from an output of its own; `None` when it
/// has none.
#[inline(always)]
fn planned_style<'d>(dict: &'d Dictionary, i: usize, rng: &mut ChaCha8Rng) -> Option<&'d Plan> {
    match &dict.styles[i].fits {
        None => dict.plans[i].as_ref(),
        Some(fits) => fits.plans[fits.picker.pick(rng.next_u64())].as_ref(),
    }
}

/// A uniform draw from `0..n` that spends `log2(n)` bits of `x`: the high
/// half of `x * n` is the draw, the low half the rest of `x` (see
/// [`Draws`]).
#[inline(always)]
fn split(x: &mut u64, n: usize) -> usize {
    let wide = u128::from(*x) * n as u128;
    *x = wide as u64;
    (wide >> 64) as usize
}

/// Whether a blocked term forms in `nickname`, one of whose joins the join
/// classes marked. Out of line: the common path stays short.
#[inline(never)]
fn blocked_across(dict: &Dictionary, nickname: &[u8]) -> bool {
    let text = std::str::from_utf8(nickname).expect("whole UTF-8 words");
    dict.safety.is_blocked(text)
}

/// The style of the next nickname and the pools to draw its words from:
/// under a length cap one of the style's variants that fit, which with all
/// styles by weight is one pick among every style's variants.
#[inline(always)]
fn first_draw<'d>(
    dict: &'d Dictionary,
    selection: Selection,
    draws: &mut Draws,
) -> (&'d Style, &'d [Pool]) {
    if let (Some(capped), Selection::Weighted) = (&dict.capped_units, selection) {
        let unit = capped.pick(draws.fresh());
        return (&dict.styles[unit.style], &unit.pools);
    }
    let style = pick_style(dict, selection, draws);
    match &style.fits {
        None => (style, &style.pools),
        Some(fits) => (style, pick_variant(fits, draws)),
    }
}

/// The variant of a capped style to draw from, when one style is selected.
/// Out of line, so that the uncapped path keeps its short code.
#[inline(never)]
fn pick_variant<'d>(fits: &'d length::Fits, draws: &mut Draws) -> &'d [Pool] {
    fits.pick(draws.fresh())
}

/// What to draw after a blocked combination (rare, so out of line). Within
/// the same style, so that each style keeps exactly its weight's share
/// (under a cap, its variants drawn afresh); with `auto` weights (a style's
/// combinations, blocked ones included) the style is drawn again too, so
/// each nickname stays exactly equally likely.
#[cold]
#[inline(never)]
fn redraw<'d>(
    dict: &'d Dictionary,
    selection: Selection,
    style: &'d Style,
    draws: &mut Draws,
) -> (&'d Style, &'d [Pool]) {
    if dict.auto_weights {
        return first_draw(dict, selection, draws);
    }
    match &style.fits {
        None => (style, &style.pools),
        Some(fits) => (style, fits.pick(draws.fresh())),
    }
}

/// Draws the style of the next nickname: the selected one, or one by weight.
#[inline(always)]
fn pick_style<'d>(dict: &'d Dictionary, selection: Selection, draws: &mut Draws) -> &'d Style {
    match selection {
        Selection::Only(i) => &dict.styles[i],
        Selection::Weighted => {
            let i = if dict.style_table.is_empty() {
                // Weights too large for the table (such as `auto`).
                dict.picker.pick(draws.fresh())
            } else {
                usize::from(dict.style_table[draws.below(dict.style_table.len())])
            };
            &dict.styles[i]
        }
    }
}

/// Copies `entry`'s bytes from the arena to `out[at..]`. Short words are
/// copied as one fixed 16-byte block (the arena is padded for it) when `out`
/// has room; the bytes past the word are overwritten by the next word or
/// ignored.
#[inline(always)]
fn copy_entry(arena: &[u8], entry: Entry, out: &mut [u8], at: usize) {
    let from = entry.offset as usize;
    let len = entry.len as usize;
    if len <= dict::COPY_BLOCK && at + dict::COPY_BLOCK <= out.len() {
        let block: &[u8; dict::COPY_BLOCK] = arena[from..from + dict::COPY_BLOCK]
            .try_into()
            .expect("slice of COPY_BLOCK bytes");
        out[at..at + dict::COPY_BLOCK].copy_from_slice(block);
    } else {
        out[at..at + len].copy_from_slice(&arena[from..from + len]);
    }
}

/// Where a daemon or `nickpool gen` gets its nicknames from: a dictionary
/// file (or the embedded one), optionally the random-character mode, and an
/// optional extra blocklist. Loading again (on SIGHUP) re-reads every file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DictSource {
    /// A dictionary file; `None` means the embedded default.
    pub dict: Option<std::path::PathBuf>,
    /// Random characters from this set instead of the dictionary's styles
    /// (the dictionary still supplies the block and allow lists).
    pub charset: Option<Charset>,
    /// A file of extra blocked terms, one per line.
    pub blocklist: Option<std::path::PathBuf>,
    /// Only nicknames of at most this many characters
    /// ([`Dictionary::limit_chars`]).
    pub max_chars: Option<usize>,
}

impl DictSource {
    /// Loads and validates everything this source names.
    pub fn load(&self) -> Result<Dictionary, DictError> {
        let mut options = LoadOptions::default();
        if let Some(path) = &self.blocklist {
            options.extra_block = read_blocklist(path)?;
        }
        let dict = match &self.dict {
            Some(path) => Dictionary::from_file(path, &options)?,
            None => {
                options.trusted = true;
                Dictionary::embedded_with(&options)?
            }
        };
        let mut dict = match self.charset {
            Some(charset) => Dictionary::for_charset(charset, dict.safety().clone()),
            None => dict,
        };
        if let Some(max_chars) = self.max_chars {
            dict.limit_chars(max_chars).map_err(|message| DictError {
                source: dict.name().to_owned(),
                problems: vec![Problem { line: 0, message }],
            })?;
        }
        Ok(dict)
    }

    /// A short description for logs and stats.
    pub fn describe(&self) -> String {
        let mut s = match &self.dict {
            Some(p) => p.display().to_string(),
            None => DEFAULT_DICT_NAME.to_owned(),
        };
        if let Some(c) = self.charset {
            s = format!("charset {c} (lists from {s})");
        }
        if let Some(b) = &self.blocklist {
            s.push_str(&format!(" + blocklist {}", b.display()));
        }
        if let Some(n) = self.max_chars {
            s.push_str(&format!(", at most {n} characters"));
        }
        s
    }
}

/// Reads a user's blocklist: one term per line, `#` starts a comment.
pub fn read_blocklist(path: &std::path::Path) -> Result<Vec<String>, DictError> {
    let source = path.display().to_string();
    let fail = |line, message| DictError {
        source: source.clone(),
        problems: vec![Problem { line, message }],
    };
    let bytes =
        std::fs::read(path).map_err(|e| fail(0, format!("cannot read the blocklist: {e}")))?;
    let mut terms = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(line).map_err(|_| {
            fail(
                i + 1,
                "invalid UTF-8; save the blocklist as UTF-8".to_owned(),
            )
        })?;
        let term = line.split('#').next().unwrap_or("").trim();
        if !term.is_empty() {
            terms.push(term.to_owned());
        }
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Styles of two to five words (the last has no plan), weights 3:2:1:1,
    /// nouns of one to three characters (so that a cap of 5 cuts styles
    /// three and four), and two terms that form across joins: 大|奶糖 and
    /// 西瓜|唱歌.
    const DICT: &str = "\
[class a]
大 x
小 x
老 x
[class n]
奶糖 x
西瓜 x
星辰 x
月亮 x
花朵 x
花 x
向日葵 x
[class v]
唱歌 x
跳舞 x
[class m]
一 x
二 x
三 x
四 x
五 x
六 x
七 x
[styles]
two 3 {a}{n}
three 2 {a}{n}{v}
four 1 {m}{a}{n}{v}
five 1 {m}{a}{n}{v}{m}
[block]
奶
大奶
瓜唱
[allow]
奶糖
";

    fn load(max_chars: Option<usize>) -> Dictionary {
        let mut d = Dictionary::parse("t.dict", DICT.as_bytes(), &LoadOptions::default())
            .expect("the test dictionary loads");
        if let Some(n) = max_chars {
            d.limit_chars(n).expect("some nicknames fit");
        }
        d
    }

    /// The same dictionary with the fast path switched off.
    fn general_only(mut d: Dictionary) -> Dictionary {
        d.plans.iter_mut().for_each(|p| *p = None);
        for style in &mut d.styles {
            if let Some(fits) = &mut style.fits {
                fits.plans.iter_mut().for_each(|p| *p = None);
            }
        }
        d.mix_planned = false;
        d
    }

    /// Every nickname of style `i`: each word combination that is not
    /// blocked and fits the cap.
    fn space(d: &Dictionary, i: usize, max_chars: usize) -> Vec<String> {
        let mut names = vec![String::new()];
        for pool in &d.styles[i].pools {
            names = names
                .iter()
                .flat_map(|n| {
                    pool.entries.iter().map(move |&e| {
                        let word = std::str::from_utf8(d.entry_bytes(e)).unwrap();
                        format!("{n}{word}")
                    })
                })
                .collect();
        }
        names.retain(|n| !d.safety.is_blocked(n) && n.chars().count() <= max_chars);
        names
    }

    /// Draws `n` nicknames and checks that each nickname of each style
    /// came up as often as its style's share over its style's size
    /// predicts (within six standard deviations), and nothing else did.
    fn check_uniform(d: Dictionary, selection: Selection, max_chars: usize, n: usize) {
        let d = Arc::new(d);
        let mut g = Generator::new(Arc::clone(&d), Seed::Fixed(5), 0).with_selection(selection);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for _ in 0..n {
            *counts.entry(g.generate()).or_default() += 1;
        }
        let styles: Vec<usize> = match selection {
            Selection::Only(i) => vec![i],
            Selection::Weighted => (0..d.styles.len()).collect(),
        };
        let fitting: Vec<Vec<String>> = styles.iter().map(|&i| space(&d, i, max_chars)).collect();
        let weight = |k: usize| {
            if fitting[k].is_empty() {
                0.0
            } else {
                d.styles[styles[k]].weight as f64
            }
        };
        let total: f64 = (0..styles.len()).map(weight).sum();
        let mut seen = 0;
        for (k, names) in fitting.iter().enumerate() {
            let expected = n as f64 * weight(k) / total / names.len() as f64;
            for name in names {
                let got = counts.get(name).copied().unwrap_or(0) as f64;
                seen += got as usize;
                assert!(
                    (got - expected).abs() <= 6.0 * expected.sqrt(),
                    "{name}: {got} draws, {expected:.0} expected ({selection:?}, cap {max_chars})"
                );
            }
        }
        assert_eq!(seen, n, "only nicknames of the space come out");
    }

    #[test]
    fn a_style_drawn_ahead_does_not_outlive_a_reload() {
        // Without the five-word style, so that the mix is planned.
        let mut d = load(None);
        d.styles[3].weight = 0;
        d.index_weights();
        let mut ahead = Generator::new(Arc::new(d), Seed::Fixed(3), 0);
        ahead.generate();
        // A reload to a dictionary of one style: the style drawn ahead
        // belonged to the old one.
        let one = Arc::new(
            Dictionary::parse(
                "one.dict",
                "[class a]\n甲 x\n乙 x\n[styles]\nonly 1 {a}{a}\n".as_bytes(),
                &LoadOptions::default(),
            )
            .unwrap(),
        );
        assert!(ahead.draws.ahead.is_some());
        ahead.replace_dictionary(Arc::clone(&one), Selection::Weighted);
        for _ in 0..100 {
            let n = ahead.generate();
            assert!(
                ["甲甲", "甲乙", "乙甲", "乙乙"].contains(&n.as_str()),
                "{n}"
            );
        }
    }

    #[test]
    fn the_fast_path_has_plans_for_short_styles_only() {
        let d = load(None);
        let planned: Vec<bool> = d.plans.iter().map(Option::is_some).collect();
        assert_eq!(planned, [true, true, true, false]);
        assert!(
            !d.mix_planned,
            "a five-word style sends the mix the general way"
        );
        let mut short = load(None);
        short.styles[3].weight = 0;
        short.index_weights();
        assert!(short.mix_planned);
        let capped = load(Some(5));
        assert!(
            capped.mix_planned,
            "the five-word style does not fit 5 characters"
        );
        assert!(
            capped.styles[1].fits.is_some(),
            "some of style three fit, some not"
        );
        assert!(
            capped.styles[2].fits.is_some(),
            "some of style four fit, some not"
        );
    }

    #[test]
    fn both_paths_draw_every_nickname_equally_often_and_never_a_blocked_one() {
        for max_chars in [None, Some(5)] {
            let cap = max_chars.unwrap_or(usize::MAX);
            let mut mix = load(max_chars);
            if max_chars.is_none() {
                // Without the five-word style, so that the mix is planned.
                mix.styles[3].weight = 0;
                mix.index_weights();
            }
            assert!(mix.mix_planned);
            check_uniform(mix.clone(), Selection::Weighted, cap, 200_000);
            check_uniform(general_only(mix), Selection::Weighted, cap, 200_000);
            for i in 0..4 {
                let d = load(max_chars);
                if !d.style_fits(i) {
                    continue;
                }
                check_uniform(d.clone(), Selection::Only(i), cap, 40_000);
                check_uniform(general_only(d), Selection::Only(i), cap, 40_000);
            }
        }
    }
}
