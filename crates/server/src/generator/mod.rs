//! The nickname generator: dictionaries, styles, character sets, the safety
//! filter, and [`Generator::generate_into`], which writes one nickname
//! straight into a caller's buffer without allocating.

mod ambiguity;
mod charset;
mod dict;
mod index;
mod length;
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
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safety::{RISK_HEAD, RISK_TAIL};
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
    rng: ChaCha8Rng,
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
            rng,
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
        let (mut style, mut pools) = first_draw(dict, self.selection, &mut self.rng);
        loop {
            let mut len = 0;
            let mut prev_risk = 0u8;
            let mut risky_join = false;
            for pool in pools {
                let entry: Entry =
                    pool.entries[below(&mut self.rng, pool.entries.len() as u64) as usize];
                risky_join |= prev_risk & RISK_TAIL != 0 && entry.risk & RISK_HEAD != 0;
                prev_risk = entry.risk;
                copy_entry(&dict.arena, entry, out, len);
                len += entry.len as usize;
            }
            // Only a join where a blocked term could form needs the full
            // check, and only if the nickname holds two characters that
            // are adjacent in some blocked term.
            if risky_join && blocked_across(dict, &out[..len]) {
                self.redraws += 1;
                (style, pools) = redraw(dict, self.selection, style, &mut self.rng);
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

/// Whether a blocked term forms in `nickname`, one of whose joins the risk
/// flags marked. Out of line: the common path stays short.
#[inline(never)]
fn blocked_across(dict: &Dictionary, nickname: &[u8]) -> bool {
    let text = std::str::from_utf8(nickname).expect("whole UTF-8 words");
    dict.safety.may_hold_term(text) && dict.safety.is_blocked(text)
}

/// The style of the next nickname and the pools to draw its words from:
/// under a length cap one of the style's variants that fit, which with all
/// styles by weight is one pick among every style's variants.
#[inline(always)]
fn first_draw<'d>(
    dict: &'d Dictionary,
    selection: Selection,
    rng: &mut ChaCha8Rng,
) -> (&'d Style, &'d [Pool]) {
    if let (Some(capped), Selection::Weighted) = (&dict.capped_units, selection) {
        let unit = capped.pick(rng.next_u64());
        return (&dict.styles[unit.style], &unit.pools);
    }
    let style = pick_style(dict, selection, rng);
    match &style.fits {
        None => (style, &style.pools),
        Some(fits) => (style, pick_variant(fits, rng)),
    }
}

/// The variant of a capped style to draw from, when one style is selected.
/// Out of line, so that the uncapped path keeps its short code.
#[inline(never)]
fn pick_variant<'d>(fits: &'d length::Fits, rng: &mut ChaCha8Rng) -> &'d [Pool] {
    fits.pick(rng.next_u64())
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
    rng: &mut ChaCha8Rng,
) -> (&'d Style, &'d [Pool]) {
    if dict.auto_weights {
        return first_draw(dict, selection, rng);
    }
    match &style.fits {
        None => (style, &style.pools),
        Some(fits) => (style, fits.pick(rng.next_u64())),
    }
}

/// Draws the style of the next nickname: the selected one, or one by weight.
#[inline(always)]
fn pick_style<'d>(dict: &'d Dictionary, selection: Selection, rng: &mut ChaCha8Rng) -> &'d Style {
    match selection {
        Selection::Only(i) => &dict.styles[i],
        Selection::Weighted => {
            let x = rng.next_u64();
            let i = if dict.style_table.is_empty() {
                // Weights too large for the table (such as `auto`).
                dict.picker.pick(x)
            } else {
                let r = (u128::from(x) * dict.style_table.len() as u128) >> 64;
                usize::from(dict.style_table[r as usize])
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

/// A uniform draw from `0..n` by widening multiplication (Lemire). The bias,
/// at most n / 2^64, is far below anything observable.
#[inline]
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
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
