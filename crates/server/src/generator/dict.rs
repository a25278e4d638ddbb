//! Dictionaries: the text format, its validation, and the compiled form the
//! generator draws from.
//!
//! ```text
//! # comment
//! [class adj]              # a word class: one word per line, then its tags
//! 快乐  mood warm
//! 火红  colour
//! [class noun]
//! 小猫  animal
//! 白鸽  animal bird colored
//! [styles]                 # NAME  WEIGHT  TEMPLATE
//! adj-de-noun  30  {adj:mood}的{noun}
//! adj-noun     10  {adj:colour}{noun:animal|sky,-colored}
//! [block]                  # terms never allowed anywhere in a nickname
//! 傻瓜
//! [allow]                  # innocent words that contain a blocked term
//! 奶茶
//! ```
//!
//! A placeholder selects words by tag: clauses joined by ',' must all hold,
//! a clause holds when one of its '|' alternatives does, and `-TAG` holds
//! for a word without TAG. Selections are resolved here, at compile time,
//! into plain word lists (the pools), so everything downstream — the
//! generator, the counts, the two-ways check, unique mode's numbering and
//! the fingerprint — sees only the selected words. Weights are numbers, or
//! `auto` for every style (each nickname of the space equally likely).
//!
//! Besides the classes, a template may use the built-in placeholder
//! `{digits:N}` (N from 1 to [`MAX_DIGITS`]): every N-digit number with
//! leading zeros, "00" to "99" for `{digits:2}`. It multiplies a style's
//! space, which unique mode can use up.
//!
//! Compiling fuses each template's literal text into its neighbouring words
//! ("{adj}的{noun}" becomes the pools "快乐的, 温柔的, …" and "小猫, …"), so
//! generating a nickname is one random draw and one copy per pool.

use super::ambiguity;
use super::charset::Charset;
use super::length::{CappedUnits, Fits};
use super::plan::{Plan, range_bits};
use super::safety::{JoinClass, JoinClasses, JoinClassifier, RISK_HEAD, RISK_TAIL, Safety};
use super::weighted::Picker;
use crate::MAX_NICKNAME_LEN;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The embedded default dictionary.
pub const DEFAULT_DICT: &str = include_str!("default.dict");

/// Name under which the embedded dictionary is reported.
pub const DEFAULT_DICT_NAME: &str = "default (embedded)";

/// Largest number of combinations a style with weight `auto` may have (the
/// weights of all styles must add up within 64 bits).
const AUTO_WEIGHT_MAX: u64 = 1 << 48;

/// Largest total style weight served by a direct lookup table.
const STYLE_TABLE_MAX: u64 = 4096;

/// Words up to this many bytes are copied as one fixed-size block.
pub(crate) const COPY_BLOCK: usize = 16;

/// Widest built-in `{digits:N}` placeholder (10^N words in its pool).
pub const MAX_DIGITS: usize = 4;

/// Name of the built-in numeric placeholder; no class may take it.
const DIGITS: &str = "digits";

/// One problem found while loading a dictionary, with its line (1-based; 0
/// when it concerns the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

/// Why a dictionary was refused: every problem found, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictError {
    pub source: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for DictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if p.line == 0 {
                write!(f, "{}: {}", self.source, p.message)?;
            } else {
                write!(f, "{}:{}: {}", self.source, p.line, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for DictError {}

/// How many distinct nicknames a style or dictionary can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Computed exactly, blocked combinations subtracted.
    Exact(u128),
    /// Too many combinations to check every join; blocked combinations that
    /// form across joins are not subtracted.
    AtMost(u128),
}

impl Count {
    pub fn value(self) -> u128 {
        match self {
            Count::Exact(n) | Count::AtMost(n) => n,
        }
    }
}

impl std::ops::Add for Count {
    type Output = Count;

    fn add(self, other: Count) -> Count {
        match (self, other) {
            (Count::Exact(a), Count::Exact(b)) => Count::Exact(a + b),
            (a, b) => Count::AtMost(a.value() + b.value()),
        }
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::Exact(n) => write!(f, "{n}"),
            Count::AtMost(n) => write!(f, "at most {n}"),
        }
    }
}

/// One fused word of a pool: a span of the arena, its length in
/// characters and the join classes of its first and last characters
/// ([`JoinClasses`]). Eight bytes, so that a pool of a thousand words
/// stays in the first-level cache.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) offset: u32,
    pub(crate) len: u8,
    pub(crate) chars: u8,
    pub(crate) join: JoinClass,
}

impl Entry {
    fn new(offset: usize, text: &str, join: JoinClass) -> Entry {
        Entry {
            offset: offset as u32,
            len: text.len() as u8,
            chars: text.chars().count() as u8,
            join,
        }
    }

    /// The join-risk flags ([`Safety::join_risk`]) of the word.
    pub(crate) fn risk(self) -> u8 {
        let mut flags = 0;
        if self.join.head != 0 {
            flags |= RISK_HEAD;
        }
        if self.join.tail != 0 {
            flags |= RISK_TAIL;
        }
        flags
    }
}

/// The words one placeholder of a style can become, with the template's
/// literal text already fused in.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    /// Shared between the styles (and length variants) that use the same
    /// words, so that they occupy the cache once.
    pub(crate) entries: Arc<[Entry]>,
}

/// A compiled style.
#[derive(Debug, Clone)]
pub struct Style {
    pub(crate) name: String,
    /// How often the style is drawn against the others: the number written
    /// in the file, or the style's combinations for `auto`.
    pub(crate) weight: u64,
    pub(crate) template: String,
    pub(crate) pools: Vec<Pool>,
    /// Under a length cap ([`Dictionary::limit_chars`]) that some but not
    /// all of the style's combinations fit: those that do, which the
    /// generator draws from instead of `pools`.
    pub(crate) fits: Option<Box<Fits>>,
    /// Under a length cap, nothing fits: the weight is 0.
    pub(crate) left_out: bool,
    pub(crate) max_len: usize,
    pub(crate) line: usize,
}

impl Style {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The style's weight: as written, or its number of combinations when
    /// the dictionary's weights are `auto`.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    /// Longest nickname this style can produce, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Number of word combinations, blocked ones included (and, under a
    /// length cap, long ones too: see [`Dictionary::count_style`]).
    pub fn combinations(&self) -> u128 {
        self.pools.iter().map(|p| p.entries.len() as u128).product()
    }

    /// Under a length cap, the combinations that fit; `None` without a cap,
    /// when all fit (draw from the pools as without a cap) or when none does
    /// ([`Dictionary::style_fits`]).
    pub fn fits(&self) -> Option<&Fits> {
        self.fits.as_deref()
    }
}

/// A compiled dictionary: styles over fused word pools, plus its safety lists.
#[derive(Debug, Clone)]
pub struct Dictionary {
    pub(crate) name: String,
    pub(crate) styles: Vec<Style>,
    /// Draws a style by weight (when the table below is empty).
    pub(crate) picker: Picker,
    /// Style index per unit of weight (empty when the weights sum to more
    /// than [`STYLE_TABLE_MAX`]).
    pub(crate) style_table: Vec<u16>,
    pub(crate) arena: Vec<u8>,
    pub(crate) safety: Safety,
    /// Which joins of two words a blocked term may cross.
    pub(crate) joins: JoinClasses,
    pub(crate) max_len: usize,
    pub(crate) word_count: usize,
    pub(crate) warnings: Vec<Problem>,
    /// Every style's weight is `auto`: each nickname of the space is equally
    /// likely.
    pub(crate) auto_weights: bool,
    /// The length cap in characters ([`Dictionary::limit_chars`]).
    pub(crate) max_chars: Option<usize>,
    /// Under a cap: the styles' length variants as one set of weighted
    /// units, for drawing from all styles.
    pub(crate) capped_units: Option<Box<CappedUnits>>,
    /// Per style, its fast-path layout when it has one ([`Plan`]).
    pub(crate) plans: Vec<Option<Plan>>,
    /// The weighted mix takes the fast path: every style that can be drawn
    /// has a plan and the style table is in use, or under a length cap
    /// every unit of `capped_units` and every variant has one.
    pub(crate) mix_planned: bool,
}

/// Options for loading a dictionary.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Extra blocked terms (a user's own blocklist), added to the file's.
    pub extra_block: Vec<String>,
    /// Skip the two-ways check (used only for the embedded dictionary, whose
    /// check runs in the test suite).
    pub trusted: bool,
}

impl Dictionary {
    /// The embedded default dictionary.
    pub fn embedded() -> Dictionary {
        Dictionary::embedded_with(&LoadOptions {
            trusted: true,
            ..LoadOptions::default()
        })
        .expect("the embedded dictionary is validated by the test suite")
    }

    /// The embedded default dictionary with extra options.
    pub fn embedded_with(options: &LoadOptions) -> Result<Dictionary, DictError> {
        Dictionary::parse(DEFAULT_DICT_NAME, DEFAULT_DICT.as_bytes(), options)
    }

    /// Loads and validates a dictionary file.
    pub fn from_file(path: &Path, options: &LoadOptions) -> Result<Dictionary, DictError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| DictError {
            source: name.clone(),
            problems: vec![Problem {
                line: 0,
                message: format!("cannot read the dictionary file: {e}"),
            }],
        })?;
        Dictionary::parse(&name, &bytes, options)
    }

    /// Parses and validates dictionary text. `source` names it in messages.
    pub fn parse(
        source: &str,
        bytes: &[u8],
        options: &LoadOptions,
    ) -> Result<Dictionary, DictError> {
        let fail = |problems: Vec<Problem>| DictError {
            source: source.to_owned(),
            problems,
        };
        let raw = RawDict::parse(bytes).map_err(fail)?;
        let safety = Safety::new(
            raw.block
                .iter()
                .map(|(t, _)| t.as_str())
                .chain(options.extra_block.iter().map(String::as_str)),
            raw.allow.iter().map(|(t, _)| t.as_str()),
        );
        let dict = compile(source, &raw, safety).map_err(fail)?;
        if !options.trusted {
            if let Some(message) = ambiguity::find_two_ways(&dict) {
                return Err(fail(vec![Problem { line: 0, message }]));
            }
        }
        Ok(dict)
    }

    /// A dictionary for the random-character mode: nicknames of 2, 3 or 4
    /// characters (equally likely) drawn from `charset`, without its taboo
    /// characters (listed in `charset-taboo.txt`) and filtered by the given
    /// safety lists (characters blocked on their own are removed).
    pub fn for_charset(charset: Charset, safety: Safety) -> Dictionary {
        let chars: Vec<char> = charset.chars();
        let mut arena = Vec::with_capacity(chars.len() * 4);
        let mut entries = Vec::with_capacity(chars.len());
        let mut buf = [0u8; 4];
        let mut classifier = JoinClassifier::default();
        for c in chars {
            let s: &str = c.encode_utf8(&mut buf);
            if super::charset::is_taboo(c) || safety.is_blocked(s) {
                continue;
            }
            entries.push(Entry::new(arena.len(), s, classifier.classify(&safety, s)));
            arena.extend_from_slice(s.as_bytes());
        }
        let label = format!("{{{}}}", charset.name());
        let shared: Arc<[Entry]> = entries.clone().into();
        let styles: Vec<Style> = (2..=4)
            .map(|n| Style {
                name: format!("{}-{n}", charset.name()),
                weight: 1,
                template: label.repeat(n),
                pools: vec![
                    Pool {
                        entries: Arc::clone(&shared),
                    };
                    n
                ],
                fits: None,
                left_out: false,
                max_len: 4 * n,
                line: 0,
            })
            .collect();
        let word_count = entries.len();
        let joins = classifier.finish(&safety);
        Dictionary::assemble(
            format!("charset {charset}"),
            styles,
            arena,
            safety,
            joins,
            word_count,
            vec![],
        )
    }

    fn assemble(
        name: String,
        styles: Vec<Style>,
        mut arena: Vec<u8>,
        safety: Safety,
        joins: JoinClasses,
        word_count: usize,
        warnings: Vec<Problem>,
    ) -> Dictionary {
        // Padding lets the generator copy every short word as one fixed
        // 16-byte block.
        arena.extend_from_slice(&[0u8; COPY_BLOCK]);
        let max_len = styles.iter().map(|s| s.max_len).max().unwrap_or(0);
        let mut dict = Dictionary {
            name,
            styles,
            picker: Picker::new([1]),
            style_table: Vec::new(),
            arena,
            safety,
            joins,
            max_len,
            word_count,
            warnings,
            auto_weights: false,
            max_chars: None,
            capped_units: None,
            plans: Vec::new(),
            mix_planned: false,
        };
        dict.index_weights();
        dict
    }

    /// Builds the style-picking tables from the styles' weights.
    pub(crate) fn index_weights(&mut self) {
        self.picker = Picker::new(self.styles.iter().map(|s| s.weight));
        let total = self.picker.total();
        // One entry per unit of weight, when that is small: picking a style
        // is then one draw and one load.
        self.style_table = if total <= STYLE_TABLE_MAX {
            let mut table = Vec::with_capacity(total as usize);
            for (i, s) in self.styles.iter().enumerate() {
                table.extend(std::iter::repeat_n(i as u16, s.weight as usize));
            }
            table
        } else {
            Vec::new()
        };
        // The plans: the style pick from the table comes first.
        let lead_bits = range_bits(self.style_table.len() as u64);
        let empty = Plan::empty_pool();
        self.plans = self
            .styles
            .iter()
            .map(|s| Plan::new(&s.pools, lead_bits, &empty))
            .collect();
        self.mix_planned = !self.style_table.is_empty()
            && self.capped_units.is_none()
            && self
                .styles
                .iter()
                .zip(&self.plans)
                .all(|(s, p)| s.weight == 0 || p.is_some());
    }

    /// Where the dictionary came from: a path, or "default (embedded)".
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn styles(&self) -> &[Style] {
        &self.styles
    }

    /// Index of the style called `name`.
    pub fn style_index(&self, name: &str) -> Option<usize> {
        self.styles.iter().position(|s| s.name == name)
    }

    /// Longest nickname any style can produce, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Number of distinct words across all classes.
    pub fn word_count(&self) -> usize {
        self.word_count
    }

    /// True when every style's weight is `auto`: each nickname of the whole
    /// space is then equally likely, and a style's share of draws is its
    /// share of the space.
    pub fn auto_weights(&self) -> bool {
        self.auto_weights
    }

    /// Non-fatal findings, such as words dropped because they are blocked.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    pub fn safety(&self) -> &Safety {
        &self.safety
    }

    pub(crate) fn entry_bytes(&self, e: Entry) -> &[u8] {
        &self.arena[e.offset as usize..e.offset as usize + e.len as usize]
    }

    /// The number of distinct nicknames `style` can produce (under the
    /// length cap, if any). Exact when the combinations at risky joins are
    /// few enough to check one by one.
    pub fn count_style(&self, style: usize) -> Count {
        self.length_counts(style).up_to(self.max_chars)
    }

    /// The number of distinct nicknames the whole dictionary can produce.
    pub fn count(&self) -> Count {
        (0..self.styles.len())
            .map(|i| self.count_style(i))
            .fold(Count::Exact(0), std::ops::Add::add)
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

struct RawWord {
    text: String,
    /// The word's tags, in the order written (none for a bare word).
    tags: Vec<String>,
    line: usize,
}

struct RawClass {
    name: String,
    line: usize,
    words: Vec<RawWord>,
    /// Word -> its line, to find duplicates in constant time.
    lines: HashMap<String, usize>,
}

struct RawStyle {
    name: String,
    weight: Weight,
    template: String,
    line: usize,
}

/// A style's weight as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weight {
    /// `auto`: in proportion to the style's number of combinations.
    Auto,
    Fixed(u32),
}

/// The file as written, before compiling.
struct RawDict {
    classes: Vec<RawClass>,
    styles: Vec<RawStyle>,
    block: Vec<(String, usize)>,
    allow: Vec<(String, usize)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    None,
    Class(usize),
    Styles,
    Block,
    Allow,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A tag: lowercase letters, digits, '-' or '_', not starting with '-'
/// (which marks an excluded tag in a placeholder).
fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Why `word` cannot be a word or term, if it cannot.
fn bad_word(word: &str) -> Option<String> {
    if let Some(c) = word
        .chars()
        .find(|c| c.is_control() || matches!(c, '{' | '}'))
    {
        return Some(format!(
            "'{word}' contains {c:?}, which cannot appear in a nickname"
        ));
    }
    None
}

impl RawDict {
    fn parse(bytes: &[u8]) -> Result<RawDict, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut dict = RawDict {
            classes: Vec::new(),
            styles: Vec::new(),
            block: Vec::new(),
            allow: Vec::new(),
        };
        let mut section = Section::None;
        // (header line, section, number of entries) for the empty-section check.
        let mut sections: Vec<(usize, String, usize)> = Vec::new();
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        for (i, raw_line) in bytes.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            let line = match std::str::from_utf8(raw_line) {
                Ok(l) => l,
                Err(e) => {
                    problems.push(Problem {
                        line: line_no,
                        message: format!(
                            "invalid UTF-8 at byte {} of the line; save the file as UTF-8",
                            e.valid_up_to() + 1
                        ),
                    });
                    continue;
                }
            };
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut problem = |message: String| {
                problems.push(Problem {
                    line: line_no,
                    message,
                })
            };
            if let Some(header) = line.strip_prefix('[') {
                let Some(header) = header.strip_suffix(']') else {
                    problem(format!("section header '{line}' has no closing ']'"));
                    section = Section::None;
                    continue;
                };
                let header = header.trim();
                let mut parts = header.split_whitespace();
                section = match (parts.next(), parts.next(), parts.next()) {
                    (Some("class"), Some(DIGITS), None) => {
                        problem(format!(
                            "class name '{DIGITS}' is reserved for the built-in {{{DIGITS}:N}} placeholder; rename the class"
                        ));
                        Section::None
                    }
                    (Some("class"), Some(name), None) if is_identifier(name) => {
                        if let Some(prev) = dict.classes.iter().find(|c| c.name == name) {
                            problem(format!(
                                "class '{name}' is already defined on line {}; merge the two sections",
                                prev.line
                            ));
                        }
                        dict.classes.push(RawClass {
                            name: name.to_owned(),
                            line: line_no,
                            words: Vec::new(),
                            lines: HashMap::new(),
                        });
                        Section::Class(dict.classes.len() - 1)
                    }
                    (Some("class"), name, _) => {
                        problem(format!(
                            "'[{header}]': a class needs one name of lowercase letters, digits, '-' or '_' (got {})",
                            name.map_or("none".to_owned(), |n| format!("'{n}'"))
                        ));
                        Section::None
                    }
                    (Some("styles"), None, _) => Section::Styles,
                    (Some("block"), None, _) => Section::Block,
                    (Some("allow"), None, _) => Section::Allow,
                    _ => {
                        problem(format!(
                            "unknown section '[{header}]'; sections are [class NAME], [styles], [block] and [allow]"
                        ));
                        Section::None
                    }
                };
                if section != Section::None {
                    sections.push((line_no, format!("[{header}]"), 0));
                }
                continue;
            }
            if let Some(last) = sections.last_mut() {
                if section != Section::None {
                    last.2 += 1;
                }
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            match section {
                Section::None => {
                    if sections.is_empty() {
                        problem(format!(
                            "'{line}' comes before any section; start with a header such as [class adj]"
                        ));
                    }
                }
                Section::Class(c) => {
                    let Some((text, tags)) = fields.split_first() else {
                        continue;
                    };
                    if let Some(bad) = tags.iter().find(|t| !is_tag(t)) {
                        problem(format!(
                            "tag '{bad}' of '{text}' must be lowercase letters, digits, '-' or '_' (and not start with '-'); a word line is 'WORD TAG [TAG ...]'"
                        ));
                        continue;
                    }
                    if let Some(t) = tags
                        .iter()
                        .enumerate()
                        .find_map(|(i, t)| tags[..i].contains(t).then_some(t))
                    {
                        problem(format!("'{text}' has tag '{t}' twice; remove one"));
                        continue;
                    }
                    if let Some(why) = bad_word(text) {
                        problem(why);
                        continue;
                    }
                    let class = &mut dict.classes[c];
                    if let Some(prev) = class.lines.get(*text) {
                        problem(format!(
                            "'{text}' is already in class '{}' (line {prev}); give one line all its tags and remove the other",
                            class.name
                        ));
                        continue;
                    }
                    class.lines.insert((*text).to_owned(), line_no);
                    class.words.push(RawWord {
                        text: (*text).to_owned(),
                        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                        line: line_no,
                    });
                }
                Section::Styles => {
                    let [name, weight, template] = fields.as_slice() else {
                        problem(format!(
                            "expected 'NAME WEIGHT TEMPLATE', e.g. 'adj-de-noun 30 {{adj}}的{{noun}}', found '{line}'"
                        ));
                        continue;
                    };
                    if !is_identifier(name) {
                        problem(format!(
                            "style name '{name}' must be lowercase letters, digits, '-' or '_'"
                        ));
                        continue;
                    }
                    let weight = match weight.parse::<u32>() {
                        Ok(w) if (1..=1_000_000).contains(&w) => Weight::Fixed(w),
                        _ if *weight == "auto" => Weight::Auto,
                        _ => {
                            problem(format!(
                                "weight '{weight}' of style '{name}' must be a whole number from 1 to 1000000, or 'auto'"
                            ));
                            continue;
                        }
                    };
                    if let Some(first) = dict.styles.first() {
                        if (first.weight == Weight::Auto) != (weight == Weight::Auto) {
                            let (auto, fixed) = if weight == Weight::Auto {
                                (
                                    format!("style '{name}'"),
                                    format!("style '{}' (line {})", first.name, first.line),
                                )
                            } else {
                                (
                                    format!("style '{}' (line {})", first.name, first.line),
                                    format!("style '{name}'"),
                                )
                            };
                            problem(format!(
                                "{auto} has weight 'auto' but {fixed} has a number; give every style 'auto' (each nickname equally likely) or every style a number"
                            ));
                            continue;
                        }
                    }
                    if let Some(prev) = dict.styles.iter().find(|s| s.name == *name) {
                        problem(format!(
                            "style '{name}' is already defined on line {}; rename one",
                            prev.line
                        ));
                        continue;
                    }
                    dict.styles.push(RawStyle {
                        name: (*name).to_owned(),
                        weight,
                        template: (*template).to_owned(),
                        line: line_no,
                    });
                }
                Section::Block | Section::Allow => {
                    let [term] = fields.as_slice() else {
                        problem(format!("expected one term per line, found '{line}'"));
                        continue;
                    };
                    if let Some(why) = bad_word(term) {
                        problem(why);
                        continue;
                    }
                    let list = if section == Section::Block {
                        &mut dict.block
                    } else {
                        &mut dict.allow
                    };
                    list.push(((*term).to_owned(), line_no));
                }
            }
        }
        for (line, header, entries) in &sections {
            if *entries == 0 {
                problems.push(Problem {
                    line: *line,
                    message: format!("section {header} is empty; add entries or remove it"),
                });
            }
        }
        if !sections.iter().any(|(_, h, _)| h == "[styles]") {
            problems.push(Problem {
                line: 0,
                message: "no [styles] section; add one with lines 'NAME WEIGHT TEMPLATE'"
                    .to_owned(),
            });
        }
        if problems.is_empty() {
            Ok(dict)
        } else {
            problems.sort_by_key(|p| p.line);
            Err(problems)
        }
    }
}

// ---------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------

enum Part<'a> {
    Literal(&'a str),
    Slot {
        class: &'a RawClass,
        /// `None` for `{class}`: every word.
        select: Option<Selector<'a>>,
        label: &'a str,
    },
}

/// A placeholder's selection by tags, `{class:a|b,-c}`: every clause (split
/// by ',') must hold, and a clause holds when one of its alternatives (split
/// by '|') does: `TAG` when the word carries TAG, `-TAG` when it does not.
struct Selector<'a> {
    /// Clauses of `(excluded, tag)` alternatives.
    clauses: Vec<Vec<(bool, &'a str)>>,
}

impl<'a> Selector<'a> {
    /// Parses the text after the ':' of a placeholder.
    fn parse(text: &'a str, label: &str) -> Result<Selector<'a>, String> {
        let mut clauses = Vec::new();
        for clause in text.split(',') {
            let mut alternatives = Vec::new();
            for alt in clause.split('|') {
                let (excluded, tag) = match alt.strip_prefix('-') {
                    Some(t) => (true, t),
                    None => (false, alt),
                };
                if !is_tag(tag) {
                    let what = if alt.is_empty() {
                        "an empty tag".to_owned()
                    } else {
                        format!("'{alt}'")
                    };
                    return Err(format!(
                        "bad selector {label}: {what} is not a tag; write {{class:tag1|tag2,-tag3}} (',' joins clauses that must all hold, '|' separates alternatives, '-' excludes a tag; tags are lowercase letters, digits, '-' or '_')"
                    ));
                }
                alternatives.push((excluded, tag));
            }
            clauses.push(alternatives);
        }
        Ok(Selector { clauses })
    }

    fn tags(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.clauses.iter().flatten().map(|&(_, t)| t)
    }

    fn matches(&self, word: &RawWord) -> bool {
        self.clauses.iter().all(|clause| {
            clause
                .iter()
                .any(|&(excluded, tag)| word.tags.iter().any(|t| t == tag) != excluded)
        })
    }
}

/// The words of `{digits:width}`: every number of `width` digits, with
/// leading zeros, in numeric order.
fn digit_class(width: usize) -> RawClass {
    let words = (0..10usize.pow(width as u32))
        .map(|n| RawWord {
            text: format!("{n:0width$}"),
            tags: Vec::new(),
            line: 0,
        })
        .collect();
    RawClass {
        name: format!("{DIGITS}:{width}"),
        line: 0,
        words,
        lines: HashMap::new(),
    }
}

/// The width of a `{digits:N}` placeholder's inside ("digits:N"), `None` if
/// it is not one, or an error for a malformed one.
fn digits_width(inner: &str) -> Option<Result<usize, String>> {
    let width = match inner.split_once(':') {
        Some((DIGITS, w)) => w,
        None if inner == DIGITS => "",
        _ => return None,
    };
    Some(match width.parse::<usize>() {
        Ok(n) if (1..=MAX_DIGITS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{{{inner}}}: the built-in placeholder needs a width from 1 to {MAX_DIGITS}, e.g. {{{DIGITS}:2}} for 00 to 99"
        )),
    })
}

fn parse_template<'a>(
    style: &'a RawStyle,
    classes: &'a [RawClass],
    class_tags: &[HashSet<&str>],
    digits: &'a [RawClass],
) -> Result<Vec<Part<'a>>, String> {
    let mut parts = Vec::new();
    let mut rest = style.template.as_str();
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}').ok_or_else(|| {
                    format!("style '{}': '{{' without a closing '}}'", style.name)
                })?;
                let label = &rest[..=end];
                let inner = &rest[1..end];
                if let Some(width) = digits_width(inner) {
                    let width = width.map_err(|e| format!("style '{}': {e}", style.name))?;
                    parts.push(Part::Slot {
                        class: &digits[width - 1],
                        select: None,
                        label,
                    });
                    rest = &rest[end + 1..];
                    continue;
                }
                let (class_name, select) = match inner.split_once(':') {
                    Some((c, t)) => (
                        c,
                        Some(
                            Selector::parse(t, label)
                                .map_err(|e| format!("style '{}': {e}", style.name))?,
                        ),
                    ),
                    None => (inner, None),
                };
                let class_index = classes
                    .iter()
                    .position(|c| c.name == class_name)
                    .ok_or_else(|| {
                        let known: Vec<_> = classes.iter().map(|c| c.name.as_str()).collect();
                        format!(
                            "style '{}': unknown placeholder {label}; the classes are {}",
                            style.name,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        )
                    })?;
                let class = &classes[class_index];
                if let Some(select) = &select {
                    for tag in select.tags() {
                        if !class_tags[class_index].contains(tag) {
                            return Err(format!(
                                "style '{}': {label} names tag '{tag}', but no word of class '{}' carries it",
                                style.name, class.name
                            ));
                        }
                    }
                    if !class.words.iter().any(|w| select.matches(w)) {
                        return Err(format!(
                            "style '{}': {label} selects no word of class '{}'; widen the selection or tag some words",
                            style.name, class.name
                        ));
                    }
                }
                parts.push(Part::Slot {
                    class,
                    select,
                    label,
                });
                rest = &rest[end + 1..];
            }
            found => {
                let end = found.unwrap_or(rest.len());
                if rest[..end].contains('}') {
                    return Err(format!(
                        "style '{}': '}}' without an opening '{{'",
                        style.name
                    ));
                }
                parts.push(Part::Literal(&rest[..end]));
                rest = &rest[end..];
            }
        }
    }
    if !parts.iter().any(|p| matches!(p, Part::Slot { .. })) {
        return Err(format!(
            "style '{}' has no placeholder; a template needs at least one {{class}}",
            style.name
        ));
    }
    Ok(parts)
}

fn compile(source: &str, raw: &RawDict, safety: Safety) -> Result<Dictionary, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    // Words blocked on their own are dropped from their class.
    let mut blocked_words: HashSet<(&str, &str)> = Default::default();
    for class in &raw.classes {
        for word in &class.words {
            if safety.is_blocked(&word.text) {
                blocked_words.insert((class.name.as_str(), word.text.as_str()));
                warnings.push(Problem {
                    line: word.line,
                    message: format!(
                        "'{}' contains a blocked term and is never used; remove it or add it to [allow]",
                        word.text
                    ),
                });
            }
        }
    }
    let word_count = {
        let mut all: Vec<&str> = raw
            .classes
            .iter()
            .flat_map(|c| c.words.iter().map(|w| w.text.as_str()))
            .collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    };

    // The built-in numeric pools, built only for the widths used.
    let digits: Vec<RawClass> = (1..=MAX_DIGITS)
        .map(|width| {
            let label = format!("{{{DIGITS}:{width}}}");
            if raw.styles.iter().any(|s| s.template.contains(&label)) {
                digit_class(width)
            } else {
                RawClass {
                    name: format!("{DIGITS}:{width}"),
                    line: 0,
                    words: Vec::new(),
                    lines: HashMap::new(),
                }
            }
        })
        .collect();
    for class in &digits {
        for word in class.words.iter().filter(|w| safety.is_blocked(&w.text)) {
            // A number the blocklist forbids (such as 4): never used.
            blocked_words.insert((class.name.as_str(), word.text.as_str()));
        }
    }

    // Every tag some word of a class carries, for the placeholder checks.
    let class_tags: Vec<HashSet<&str>> = raw
        .classes
        .iter()
        .map(|c| {
            c.words
                .iter()
                .flat_map(|w| w.tags.iter().map(String::as_str))
                .collect()
        })
        .collect();
    let mut arena = Vec::new();
    let mut classifier = JoinClassifier::default();
    let mut styles = Vec::new();
    // Styles often share a placeholder with the same literal text around it
    // ({act:home} in several 古风 styles): such a pool is built once, and
    // its words are stored once in the arena.
    // With each pool, the longest word its placeholder selects (blocked or
    // not), for the slot-size check.
    let mut built: HashMap<(&str, String, &str), (Pool, usize)> = HashMap::new();
    for style in &raw.styles {
        let parts = match parse_template(style, &raw.classes, &class_tags, &digits) {
            Ok(p) => p,
            Err(message) => {
                problems.push(Problem {
                    line: style.line,
                    message,
                });
                continue;
            }
        };
        // Joins are checked between words, and a literal's joins with its
        // words below; a blocked term inside the literal itself would pass
        // both.
        if let Some(Part::Literal(l)) = parts
            .iter()
            .find(|p| matches!(p, Part::Literal(l) if safety.is_blocked(l)))
        {
            problems.push(Problem {
                line: style.line,
                message: format!(
                    "style '{}': the template's text '{l}' contains a blocked term; change the template",
                    style.name
                ),
            });
            continue;
        }
        let mut pools: Vec<Pool> = Vec::new();
        let mut longest_words: Vec<usize> = Vec::new();
        let mut prefix = String::new();
        let mut style_ok = true;
        for (i, part) in parts.iter().enumerate() {
            let Part::Slot {
                class,
                select,
                label,
            } = part
            else {
                continue;
            };
            // A literal before the first slot is its prefix; a literal after
            // a slot is that slot's suffix.
            if i > 0 && pools.is_empty() {
                if let Part::Literal(l) = parts[i - 1] {
                    prefix = l.to_owned();
                }
            }
            let suffix = match parts.get(i + 1) {
                Some(Part::Literal(l)) => *l,
                _ => "",
            };
            let key = (
                *label,
                if pools.is_empty() {
                    prefix.clone()
                } else {
                    String::new()
                },
                suffix,
            );
            if let Some((pool, longest)) = built.get(&key) {
                pools.push(pool.clone());
                longest_words.push(*longest);
                continue;
            }
            let mut entries = Vec::new();
            let mut fused = String::new();
            let mut longest = 0;
            for word in class
                .words
                .iter()
                .filter(|w| select.as_ref().is_none_or(|s| s.matches(w)))
                .inspect(|w| longest = longest.max(w.text.len()))
                .filter(|w| {
                    blocked_words.is_empty()
                        || !blocked_words.contains(&(class.name.as_str(), w.text.as_str()))
                })
            {
                fused.clear();
                let prefix = if pools.is_empty() {
                    prefix.as_str()
                } else {
                    ""
                };
                fused.push_str(prefix);
                fused.push_str(&word.text);
                fused.push_str(suffix);
                // A word that is fine alone may form a blocked term with the
                // template's literal text (大 + 奶糖): excluded here,
                // statically. Only a risky join with the literal can do so.
                let word_risk = safety.join_risk(&word.text);
                let risky_literal = (!prefix.is_empty()
                    && safety.join_risk(prefix) & RISK_TAIL != 0
                    && word_risk & RISK_HEAD != 0)
                    || (!suffix.is_empty()
                        && word_risk & RISK_TAIL != 0
                        && safety.join_risk(suffix) & RISK_HEAD != 0);
                if risky_literal && safety.is_blocked(&fused) {
                    continue;
                }
                if fused.len() > u8::MAX as usize {
                    continue; // Caught below: longer than any nickname.
                }
                entries.push(Entry::new(
                    arena.len(),
                    &fused,
                    classifier.classify(&safety, &fused),
                ));
                arena.extend_from_slice(fused.as_bytes());
            }
            if entries.is_empty() {
                problems.push(Problem {
                    line: style.line,
                    message: format!(
                        "style '{}': {label} leaves no usable word (all filtered out or blocked)",
                        style.name
                    ),
                });
                style_ok = false;
            }
            let pool = Pool {
                entries: entries.into(),
            };
            if !pool.entries.is_empty() {
                built.insert(key, (pool.clone(), longest));
            }
            pools.push(pool);
            longest_words.push(longest);
        }
        if !style_ok {
            continue;
        }
        let max_len: usize = pools
            .iter()
            .map(|p| p.entries.iter().map(|e| e.len as usize).max().unwrap_or(0))
            .sum();
        let literals: usize = parts
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.len(),
                Part::Slot { .. } => 0,
            })
            .sum();
        let possible: usize = literals + longest_words.iter().sum::<usize>();
        if possible > MAX_NICKNAME_LEN {
            problems.push(Problem {
                line: style.line,
                message: format!(
                    "style '{}' can produce {possible} bytes, more than the {MAX_NICKNAME_LEN}-byte slot; use shorter words or fewer placeholders",
                    style.name
                ),
            });
            continue;
        }
        let weight = match style.weight {
            Weight::Fixed(w) => u64::from(w),
            // Every combination weighs the same; a blocked one is redrawn
            // from the style pick on (see `Generator::generate_into`), so
            // each nickname of the space is equally likely.
            Weight::Auto => {
                let combinations: u128 = pools.iter().map(|p| p.entries.len() as u128).product();
                match u64::try_from(combinations) {
                    Ok(n) if n <= AUTO_WEIGHT_MAX => n,
                    _ => {
                        problems.push(Problem {
                            line: style.line,
                            message: format!(
                                "style '{}' has {combinations} combinations, too many for weight 'auto' (at most {AUTO_WEIGHT_MAX}); give the styles numeric weights",
                                style.name
                            ),
                        });
                        continue;
                    }
                }
            }
        };
        styles.push(Style {
            name: style.name.clone(),
            weight,
            template: style.template.clone(),
            pools,
            fits: None,
            left_out: false,
            max_len,
            line: style.line,
        });
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(problems);
    }
    let joins = classifier.finish(&safety);
    let mut dict = Dictionary::assemble(
        source.to_owned(),
        styles,
        arena,
        safety,
        joins,
        word_count,
        warnings,
    );
    dict.auto_weights = raw.styles.first().is_some_and(|s| s.weight == Weight::Auto);
    Ok(dict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Dictionary, DictError> {
        Dictionary::parse("test.dict", text.as_bytes(), &LoadOptions::default())
    }

    fn problems(text: &str) -> Vec<(usize, String)> {
        load(text)
            .expect_err("dictionary should be refused")
            .problems
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect()
    }

    const SMALL: &str = "\
[class adj]
快乐 mood
温柔 mood
[class noun]
小猫 animal
星辰 sky
[styles]
adj-de-noun 3 {adj}的{noun}
adj-noun 1 {adj}{noun:sky}
";

    #[test]
    fn small_dictionary_compiles_and_counts() {
        let d = load(SMALL).unwrap();
        assert_eq!(d.styles().len(), 2);
        assert_eq!(d.count_style(0), Count::Exact(4));
        assert_eq!(d.count_style(1), Count::Exact(2));
        assert_eq!(d.count(), Count::Exact(6));
        assert_eq!(d.max_len(), "温柔的小猫".len());
        assert_eq!(d.word_count(), 4);
    }

    #[test]
    fn invalid_utf8_is_reported_with_its_line() {
        let mut bytes = SMALL.as_bytes().to_vec();
        bytes.extend_from_slice("[block]\n傻瓜\n".as_bytes());
        bytes.extend_from_slice(b"\xe5\xa4\xff\n");
        let err = Dictionary::parse("x.dict", &bytes, &LoadOptions::default()).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].line, 12);
        assert!(err.problems[0].message.contains("invalid UTF-8 at byte 1"));
        assert!(err.to_string().starts_with("x.dict:12: invalid UTF-8"));
    }

    #[test]
    fn empty_section_is_refused() {
        let p = problems(&format!("{SMALL}[class verb]\n[block]\n傻瓜\n"));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 10);
        assert!(p[0].1.contains("[class verb] is empty"), "{p:?}");
    }

    #[test]
    fn unknown_placeholder_names_the_classes() {
        let p = problems(&SMALL.replace("{noun:sky}", "{verb}"));
        assert_eq!(p[0].0, 9);
        assert!(p[0].1.contains("unknown placeholder {verb}"), "{p:?}");
        assert!(p[0].1.contains("adj, noun"), "{p:?}");
    }

    #[test]
    fn unknown_tag_is_refused() {
        let p = problems(&SMALL.replace("{noun:sky}", "{noun:food}"));
        assert_eq!(p[0].0, 9);
        assert!(p[0].1.contains("names tag 'food'"), "{p:?}");
        let p = problems(&SMALL.replace("{noun:sky}", "{noun:sky,-food}"));
        assert!(p[0].1.contains("names tag 'food'"), "{p:?}");
    }

    const TAGGED: &str = "\
[class adj]
快乐      mood warm
温柔      mood
澄澈      clarity
火红      colour red
[class noun]
小猫      animal
白鸽      animal colored bird
湖水      water
[styles]
a 1 {adj:mood}的{noun:animal}
b 1 {adj:mood|clarity,-warm}{noun}
c 1 {adj:colour}{noun:animal,-colored}
d 1 {adj:-mood}的{noun:water|bird,-animal|colored}
";

    fn words_of(d: &Dictionary, style: usize, pool: usize) -> Vec<String> {
        d.styles()[style].pools[pool]
            .entries
            .iter()
            .map(|&e| String::from_utf8(d.entry_bytes(e).to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn placeholders_select_by_several_tags_and_exclusions() {
        let d = load(TAGGED).unwrap();
        assert_eq!(words_of(&d, 0, 0), ["快乐的", "温柔的"]);
        assert_eq!(words_of(&d, 0, 1), ["小猫", "白鸽"]);
        // (mood OR clarity) AND NOT warm, in the class's order.
        assert_eq!(words_of(&d, 1, 0), ["温柔", "澄澈"]);
        assert_eq!(words_of(&d, 1, 1), ["小猫", "白鸽", "湖水"]);
        assert_eq!(words_of(&d, 2, 0), ["火红"]);
        assert_eq!(words_of(&d, 2, 1), ["小猫"]);
        // NOT mood; (water OR bird) AND (NOT animal OR colored).
        assert_eq!(words_of(&d, 3, 0), ["澄澈的", "火红的"]);
        assert_eq!(words_of(&d, 3, 1), ["白鸽", "湖水"]);
        assert_eq!(d.count(), Count::Exact(4 + 6 + 1 + 4));
        assert_eq!(d.word_count(), 7);
    }

    #[test]
    fn styles_share_a_pool_only_with_the_same_literal_text_around_it() {
        let d = load(
            "[class n]\n猫 x\n狗 y\n[styles]\na 1 {n}的{n:x}\nb 1 小{n}的{n:x}\nc 1 {n}{n:x}\n",
        )
        .unwrap();
        assert_eq!(words_of(&d, 0, 0), ["猫的", "狗的"]);
        assert_eq!(words_of(&d, 1, 0), ["小猫的", "小狗的"]);
        assert_eq!(words_of(&d, 2, 0), ["猫", "狗"]);
        for style in 0..3 {
            assert_eq!(words_of(&d, style, 1), ["猫"]);
        }
        // {n:x} at the end of a, b and c is one pool, stored once.
        let offset = |style: usize| d.styles()[style].pools[1].entries[0].offset;
        assert_eq!(offset(0), offset(1));
        assert_eq!(offset(0), offset(2));
    }

    #[test]
    fn bad_tags_and_selectors_are_refused_with_their_lines() {
        let p = problems(&TAGGED.replace("快乐      mood warm", "快乐 mood Warm"));
        assert_eq!(p[0].0, 2);
        assert!(p[0].1.contains("tag 'Warm' of '快乐'"), "{p:?}");
        let p = problems(&TAGGED.replace("温柔      mood", "温柔 mood mood"));
        assert_eq!(p[0].0, 3);
        assert!(p[0].1.contains("tag 'mood' twice"), "{p:?}");
        for bad in [
            "{adj:}",
            "{adj:mood,}",
            "{adj:mood||clarity}",
            "{adj:-}",
            "{adj:--mood}",
            "{adj:Mood}",
            "{adj:mood;clarity}",
        ] {
            let p = problems(&TAGGED.replace("{adj:mood}的", &format!("{bad}的")));
            assert_eq!(p[0].0, 11, "{bad}: {p:?}");
            assert!(
                p[0].1.contains(&format!("bad selector {bad}")),
                "{bad}: {p:?}"
            );
        }
    }

    #[test]
    fn a_selection_of_no_word_is_refused_with_its_line() {
        let p = problems(&TAGGED.replace("{noun:animal,-colored}", "{noun:water,-water}"));
        assert_eq!(p[0].0, 13);
        assert!(
            p[0].1
                .contains("{noun:water,-water} selects no word of class 'noun'"),
            "{p:?}"
        );
    }

    #[test]
    fn a_word_listed_twice_in_a_class_is_refused() {
        let p = problems(&TAGGED.replace("湖水      water", "湖水 water\n湖水 blue"));
        assert_eq!(p[0].0, 10);
        assert!(p[0].1.contains("line 9"), "{p:?}");
    }

    #[test]
    fn auto_weights_follow_the_combinations_and_cannot_be_mixed() {
        let d = load(&SMALL.replace(" 3 {", " auto {").replace(" 1 {", " auto {")).unwrap();
        assert!(d.auto_weights());
        assert_eq!(d.styles()[0].weight(), 4);
        assert_eq!(d.styles()[1].weight(), 2);
        assert!(!load(SMALL).unwrap().auto_weights());
        let p = problems(&SMALL.replace(" 1 {", " auto {"));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 9);
        assert!(
            p[0].1.contains(
                "style 'adj-noun' has weight 'auto' but style 'adj-de-noun' (line 8) has a number"
            ),
            "{p:?}"
        );
        let p = problems(&SMALL.replace(" 3 {", " auto {"));
        assert_eq!(p[0].0, 9);
        assert!(
            p[0].1
                .contains("style 'adj-de-noun' (line 8) has weight 'auto'"),
            "{p:?}"
        );
        let p = problems(&SMALL.replace(" 3 {", " Auto {"));
        assert!(p[0].1.contains("or 'auto'"), "{p:?}");
    }

    #[test]
    fn over_long_style_is_refused() {
        let long = "{adj}".repeat(10);
        let p = problems(&format!("{SMALL}long 1 {long}\n"));
        assert_eq!(p[0].0, 10);
        assert!(p[0].1.contains("more than the 55-byte slot"), "{p:?}");
    }

    #[test]
    fn duplicate_word_names_both_lines() {
        let p = problems(&SMALL.replace("温柔 mood", "快乐 mood"));
        assert_eq!(p[0].0, 3);
        assert!(p[0].1.contains("line 2"), "{p:?}");
    }

    #[test]
    fn bad_weight_and_shape_are_refused() {
        let p = problems(&format!("{SMALL}bad 0 {{adj}}\nshort {{adj}}\n"));
        assert_eq!(p.len(), 2);
        assert!(p[0].1.contains("weight '0'"));
        assert!(p[1].1.contains("NAME WEIGHT TEMPLATE"));
    }

    #[test]
    fn missing_styles_and_stray_lines_are_refused() {
        let p = problems("快乐 mood\n[class adj]\n快乐 mood\n");
        assert!(
            p.iter()
                .any(|(l, m)| *l == 1 && m.contains("before any section"))
        );
        assert!(p.iter().any(|(l, m)| *l == 0 && m.contains("no [styles]")));
    }

    #[test]
    fn two_ways_to_one_string_is_refused_naming_both() {
        // 蓝 + 海豚 and 蓝海 + 豚 are the same nickname.
        let text = "\
[class a]
蓝 c
蓝海 c
[class n]
海豚 c
豚 c
[styles]
an 1 {a}{n}
";
        let p = problems(text);
        assert_eq!(p.len(), 1);
        let msg = &p[0].1;
        assert!(msg.contains("蓝海豚"), "{msg}");
        assert!(
            msg.contains("蓝 + 海豚") && msg.contains("蓝海 + 豚"),
            "{msg}"
        );
    }

    #[test]
    fn two_styles_making_one_string_are_refused() {
        let text = "\
[class a]
快乐 c
[class n]
小猫 c
的小猫 c
[styles]
one 1 {a}的{n:c}
two 1 {a}{n}
";
        let msg = &problems(text)[0].1;
        assert!(msg.contains("快乐的小猫"), "{msg}");
        assert!(
            msg.contains("style 'one'") && msg.contains("style 'two'"),
            "{msg}"
        );
    }

    #[test]
    fn words_blocked_alone_are_dropped_with_a_warning() {
        let d = load(&format!("{SMALL}[class extra]\n傻瓜 x\n[block]\n傻瓜\n")).unwrap();
        assert_eq!(d.warnings().len(), 1);
        assert_eq!(d.warnings()[0].line, 11);
    }

    #[test]
    fn blocked_joins_are_subtracted_from_the_exact_count() {
        // 大 + 奶糖 forms 大奶 across the join; 奶糖 alone is allowed.
        let text = "\
[class p]
大 x
小 x
[class n]
奶糖 food
西瓜 food
[styles]
pn 1 {p}{n}
[block]
奶
大奶
[allow]
奶糖
";
        let d = load(text).unwrap();
        assert_eq!(d.count_style(0), Count::Exact(3));
    }

    #[test]
    fn digits_placeholders_multiply_the_space() {
        let d = load(&format!(
            "{SMALL}num 1 {{noun}}{{digits:2}}\nnum3 1 {{adj}}{{digits:3}}号\n"
        ))
        .unwrap();
        assert_eq!(d.count_style(2), Count::Exact(200));
        assert_eq!(d.count_style(3), Count::Exact(2000));
        assert_eq!(d.count(), Count::Exact(6 + 200 + 2000));
        assert_eq!(d.styles()[3].max_len(), "温柔".len() + 3 + "号".len());
        assert_eq!(d.word_count(), 4, "numbers are not words");
    }

    #[test]
    fn digits_placeholders_need_a_width_and_their_name() {
        for bad in ["{digits}", "{digits:0}", "{digits:5}", "{digits:x}"] {
            let p = problems(&format!("{SMALL}num 1 {{noun}}{bad}\n"));
            assert!(p[0].1.contains("width from 1 to 4"), "{bad}: {p:?}");
        }
        let p = problems(&format!("{SMALL}[class digits]\n一 x\n"));
        assert!(p[0].1.contains("reserved"), "{p:?}");
    }

    #[test]
    fn digits_placeholders_are_checked_for_two_ways() {
        // 星1 + 23 and 星12 + 3 spell the same nickname.
        let text = "[class a]\n星 x\n[styles]\none 1 {a}{digits:1}{digits:2}\ntwo 1 {a}{digits:2}{digits:1}\n";
        let msg = &problems(text)[0].1;
        assert!(msg.contains("two ways"), "{msg}");
        // Fixed widths in one style are never ambiguous.
        assert!(load("[class a]\n星 x\n[styles]\none 1 {a}{digits:1}{digits:2}\n").is_ok());
    }

    #[test]
    fn numbers_the_blocklist_forbids_are_dropped() {
        let d = load(&format!("{SMALL}num 1 {{noun}}{{digits:1}}\n[block]\n4\n")).unwrap();
        assert_eq!(d.count_style(2), Count::Exact(2 * 9));
    }

    #[test]
    fn a_blocked_term_in_a_template_is_refused() {
        let p = problems("[class n]\n奶糖 x\n[styles]\nbad 1 {n}傻瓜\n[block]\n傻瓜\n");
        assert_eq!(p[0].0, 4);
        assert!(
            p[0].1
                .contains("the template's text '傻瓜' contains a blocked term"),
            "{p:?}"
        );
    }

    #[test]
    fn literal_joins_are_excluded_statically() {
        let text = "\
[class n]
奶糖 food
西瓜 food
[styles]
big 1 大{n}
[block]
大奶
";
        let d = load(text).unwrap();
        assert_eq!(d.styles()[0].combinations(), 1);
    }
}
