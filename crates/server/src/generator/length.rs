//! Lengths in characters: how a style's nicknames spread over lengths
//! (counted exactly, blocked combinations subtracted), and the length cap
//! (`--max-chars N`).
//!
//! Under a cap, each pool's entries are grouped by length into buckets. A
//! *variant* of a style picks one bucket per pool, so all its combinations
//! have one length, the sum of its buckets' lengths. A capped style keeps
//! the variants that fit ([`Fits`]); the generator draws a variant in
//! proportion to its combinations, then one entry per bucket. Every
//! combination that fits is then exactly as likely as it is without the
//! cap, relative to the others, and none that is too long is ever drawn,
//! at the cost of one more draw per nickname rather than a redraw loop.

use super::dict::{Count, Dictionary, Entry, Pool, Problem, Style};
use super::plan::Plan;
use super::safety::{RISK_HEAD, RISK_TAIL};
use super::weighted::Picker;
use crate::MAX_NICKNAME_LEN;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A pool's entries grouped by length: (characters, entries), shortest
/// first.
type LengthGroups = Vec<(usize, Arc<[Entry]>)>;

/// Each pool's length groups, by the address of its (shared) entries.
type Buckets = HashMap<usize, LengthGroups>;

/// Work limit for counting blocked combinations exactly (full-name checks).
const EXACT_COUNT_BUDGET: u128 = 20_000_000;

/// A style's nicknames by length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lengths {
    /// `counts[n]`: how many nicknames have `n` characters.
    pub counts: Vec<u128>,
    /// Blocked combinations are subtracted. When false there were too many
    /// risky joins to check one by one, and the counts include the
    /// combinations in which a blocked term forms across a join.
    pub exact: bool,
}

impl Lengths {
    /// How many nicknames have at most `max_chars` characters (all of them
    /// for `None`).
    pub fn up_to(&self, max_chars: Option<usize>) -> Count {
        let end = max_chars.map_or(self.counts.len(), |m| (m + 1).min(self.counts.len()));
        let n = self.counts[..end].iter().sum();
        if self.exact {
            Count::Exact(n)
        } else {
            Count::AtMost(n)
        }
    }

    /// Total nicknames.
    pub fn total(&self) -> u128 {
        self.counts.iter().sum()
    }
}

/// The combinations of a style that fit a length cap, grouped into variants
/// of one length each (see the module documentation).
#[derive(Debug, Clone)]
pub struct Fits {
    /// Per variant, one bucket per pool: that pool's entries of one length,
    /// in pool order.
    pub(crate) variants: Vec<Vec<Pool>>,
    /// Per variant, the length of its nicknames in characters.
    pub(crate) chars: Vec<usize>,
    /// Draws a variant in proportion to its combinations; its
    /// `cumulative[i]` counts the combinations of variants `0..=i`.
    pub(crate) picker: Picker,
    /// Per variant, its fast-path layout when it has one ([`Plan`]); the
    /// variant is picked from an output of its own.
    pub(crate) plans: Vec<Option<Plan>>,
}

impl Fits {
    /// The variants of `pools` of at most `max_chars` characters; `None` if
    /// no combination fits.
    fn build(
        pools: &[Pool],
        max_chars: usize,
        shared: &mut Buckets,
    ) -> Result<Option<Fits>, String> {
        let buckets: Vec<LengthGroups> = pools
            .iter()
            .map(|pool| {
                shared
                    .entry(Arc::as_ptr(&pool.entries) as *const Entry as usize)
                    .or_insert_with(|| {
                        let mut by_len: BTreeMap<usize, Vec<Entry>> = BTreeMap::new();
                        for &e in pool.entries.iter() {
                            by_len.entry(usize::from(e.chars)).or_default().push(e);
                        }
                        by_len.into_iter().map(|(n, v)| (n, v.into())).collect()
                    })
                    .clone()
            })
            .collect();
        // The fewest characters pools k.. can add, to prune early.
        let mut min_rest = vec![0usize; pools.len() + 1];
        for k in (0..pools.len()).rev() {
            min_rest[k] = min_rest[k + 1] + buckets[k].first().map_or(0, |b| b.0);
        }
        let mut variants: Vec<Vec<Pool>> = Vec::new();
        let mut chars = Vec::new();
        let mut sizes = Vec::new();
        let mut chosen = Vec::with_capacity(pools.len());
        walk(
            &buckets,
            &min_rest,
            max_chars,
            0,
            &mut chosen,
            &mut |picks| {
                sizes.push(
                    picks
                        .iter()
                        .enumerate()
                        .map(|(k, &b)| buckets[k][b].1.len() as u128)
                        .product::<u128>(),
                );
                variants.push(
                    picks
                        .iter()
                        .enumerate()
                        .map(|(k, &b)| Pool {
                            entries: Arc::clone(&buckets[k][b].1),
                        })
                        .collect(),
                );
                chars.push(
                    picks
                        .iter()
                        .enumerate()
                        .map(|(k, &b)| buckets[k][b].0)
                        .sum(),
                );
            },
        );
        if variants.is_empty() {
            return Ok(None);
        }
        if sizes.iter().sum::<u128>() > u128::from(u64::MAX) {
            return Err(format!(
                "more than {} combinations fit in {max_chars} characters; too many to draw from exactly",
                u64::MAX
            ));
        }
        let empty = Plan::empty_pool();
        let plans = variants.iter().map(|v| Plan::new(v, 0, &empty)).collect();
        Ok(Some(Fits {
            plans,
            variants,
            chars,
            picker: Picker::new(sizes.into_iter().map(|n| n as u64)),
        }))
    }

    /// How many combinations fit (blocked ones included).
    pub fn combinations(&self) -> u64 {
        self.picker.total()
    }

    /// Number of variants (one length per pool each).
    pub fn variants(&self) -> usize {
        self.variants.len()
    }

    /// The length in characters of each variant's nicknames.
    pub fn variant_chars(&self) -> &[usize] {
        &self.chars
    }

    /// The pools of the variant that the uniform 64-bit draw `x` picks, each
    /// variant in proportion to its combinations.
    #[inline(always)]
    pub(crate) fn pick(&self, x: u64) -> &[Pool] {
        &self.variants[self.picker.pick(x)]
    }
}

/// Under a cap, for drawing from all styles by weight: every style's
/// length variants (or its pools, when all of them fit) as units of one
/// picker, so that a draw is one pick and then the unit's words, with no
/// second level and no branch on whether a style is cut by the cap.
#[derive(Debug, Clone)]
pub(crate) struct CappedUnits {
    pub(crate) picker: Picker,
    pub(crate) units: Vec<CappedUnit>,
}

/// One length variant of one style (see [`CappedUnits`]).
#[derive(Debug, Clone)]
pub(crate) struct CappedUnit {
    pub(crate) style: usize,
    pub(crate) pools: Vec<Pool>,
    /// Its fast-path layout, when it has one ([`Plan`]); the unit is picked
    /// from an output of its own.
    pub(crate) plan: Option<Plan>,
}

impl CappedUnits {
    /// The units of a capped dictionary. With `auto` weights a unit weighs
    /// its combinations, exactly. With numeric weights a style's weight is
    /// shared among its units in proportion to their combinations, in
    /// fixed point with the weights adding up to about 2^62: a unit's share
    /// is off by less than one part in 2^62 of the total, relatively at
    /// most a few parts per million for the rarest length of the largest
    /// style.
    fn new(dict: &Dictionary) -> CappedUnits {
        let total_weight: u128 = dict.styles.iter().map(|s| u128::from(s.weight)).sum();
        let scale = (1u128 << 62) / total_weight.max(1);
        let empty = Plan::empty_pool();
        let mut units = Vec::new();
        let mut weights = Vec::new();
        for (i, style) in dict.styles.iter().enumerate() {
            if style.left_out {
                continue;
            }
            let variants: Vec<(&[Pool], u128)> = match &style.fits {
                Some(fits) => fits
                    .variants
                    .iter()
                    .map(|v| (&v[..], combinations(v)))
                    .collect(),
                None => vec![(&style.pools[..], combinations(&style.pools))],
            };
            let style_total: u128 = variants.iter().map(|v| v.1).sum();
            for (pools, n) in variants {
                let weight = if dict.auto_weights {
                    n
                } else {
                    (u128::from(style.weight) * scale * n / style_total).max(1)
                };
                weights.push(u64::try_from(weight).expect("unit weights fit in 64 bits"));
                units.push(CappedUnit {
                    style: i,
                    // Clones of the pools: the entries are shared.
                    pools: pools.to_vec(),
                    plan: Plan::new(pools, 0, &empty),
                });
            }
        }
        CappedUnits {
            picker: Picker::new(weights),
            units,
        }
    }

    /// The unit the uniform 64-bit draw `x` picks.
    #[inline(always)]
    pub(crate) fn pick(&self, x: u64) -> &CappedUnit {
        &self.units[self.picker.pick(x)]
    }
}

fn combinations(pools: &[Pool]) -> u128 {
    pools.iter().map(|p| p.entries.len() as u128).product()
}

/// Calls `found` with every choice of one bucket per pool (from pool `k`
/// on) whose lengths add up to at most `max_chars`.
fn walk(
    buckets: &[LengthGroups],
    min_rest: &[usize],
    max_chars: usize,
    chars: usize,
    chosen: &mut Vec<usize>,
    found: &mut dyn FnMut(&[usize]),
) {
    let k = chosen.len();
    if k == buckets.len() {
        found(chosen);
        return;
    }
    for (b, &(len, _)) in buckets[k].iter().enumerate() {
        if chars + len + min_rest[k + 1] > max_chars {
            break; // Buckets are in length order.
        }
        chosen.push(b);
        walk(buckets, min_rest, max_chars, chars + len, chosen, found);
        chosen.pop();
    }
}

impl Dictionary {
    /// Serves only nicknames of at most `max_chars` characters: every style
    /// draws among its combinations that fit (see [`Fits`]); a style with
    /// none left gets weight 0 and a note in [`Dictionary::warnings`]. With
    /// `auto` weights each style weighs its combinations that fit, so each
    /// nickname of the capped space stays equally likely. Counts
    /// ([`Dictionary::count_style`]) and enumeration
    /// ([`Dictionary::for_each_nickname`]) follow the cap.
    ///
    /// Refused when no style has a nickname that short.
    ///
    /// # Panics
    /// If the dictionary already has a cap.
    pub fn limit_chars(&mut self, max_chars: usize) -> Result<(), String> {
        assert!(self.max_chars.is_none(), "the dictionary already has a cap");
        // What fits of each style: everything (no variants needed, the
        // generator draws as without a cap), some (variants), or nothing.
        let mut limited = Vec::with_capacity(self.styles.len());
        // Pools shared between styles share their length groups too.
        let mut buckets = Buckets::new();
        for style in &self.styles {
            let fits = if longest(&style.pools) <= max_chars {
                Ok(None)
            } else {
                match Fits::build(&style.pools, max_chars, &mut buckets) {
                    Ok(Some(fits)) => Ok(Some(Box::new(fits))),
                    Ok(None) => Err(shortest(&style.pools)),
                    Err(e) => return Err(format!("style '{}': {e}", style.name)),
                }
            };
            limited.push(fits);
        }
        if limited.iter().all(Result::is_err) {
            let shortest = self.styles.iter().map(|s| shortest(&s.pools)).min();
            return Err(format!(
                "no nickname has at most {max_chars} characters (the shortest has {}); raise --max-chars",
                shortest.unwrap_or(0)
            ));
        }
        for (style, fits) in self.styles.iter_mut().zip(limited) {
            match fits {
                Err(shortest) => {
                    style.weight = 0;
                    style.left_out = true;
                    self.warnings.push(Problem {
                        line: style.line,
                        message: format!(
                            "style '{}' has no nickname of at most {max_chars} characters (its shortest has {shortest}); it is left out",
                            style.name
                        ),
                    });
                }
                Ok(fits) => {
                    if let (Some(fits), true) = (&fits, self.auto_weights) {
                        style.weight = fits.combinations();
                    }
                    style.fits = fits;
                }
            }
        }
        self.max_chars = Some(max_chars);
        self.index_weights();
        self.capped_units = Some(Box::new(CappedUnits::new(self)));
        // The capped mix picks a unit from an output of its own, then its
        // words; after a blocked one, a variant of the same style.
        let capped = self.capped_units.as_ref().expect("set above");
        self.mix_planned = capped.units.iter().all(|u| u.plan.is_some())
            && self.styles.iter().zip(&self.plans).all(|(s, plan)| {
                s.weight == 0
                    || match &s.fits {
                        None => plan.is_some(),
                        Some(fits) => fits.plans.iter().all(Option::is_some),
                    }
            });
        Ok(())
    }

    /// The length cap in characters, if any.
    pub fn max_chars(&self) -> Option<usize> {
        self.max_chars
    }

    /// True when style `style` can produce a nickname under the cap (always
    /// without a cap).
    pub fn style_fits(&self, style: usize) -> bool {
        !self.styles[style].left_out
    }

    /// [`Dictionary::style_fits`] as a message for `--style`.
    pub fn check_style_fits(&self, style: usize) -> Result<(), String> {
        match self.max_chars {
            Some(max) if !self.style_fits(style) => Err(format!(
                "style '{}' has no nickname of at most {max} characters (its shortest has {}); raise --max-chars or choose another style",
                self.styles[style].name,
                shortest(&self.styles[style].pools)
            )),
            _ => Ok(()),
        }
    }

    /// How the nicknames of style `style` spread over lengths, ignoring the
    /// cap (use [`Lengths::up_to`] with [`Dictionary::max_chars`]).
    pub fn length_counts(&self, style: usize) -> Lengths {
        let pools = &self.styles[style].pools;
        // Every combination by length: the pools' length histograms,
        // convolved.
        let mut counts = vec![1u128];
        for pool in pools {
            let mut histogram = Vec::new();
            for e in pool.entries.iter() {
                let n = usize::from(e.chars);
                if histogram.len() <= n {
                    histogram.resize(n + 1, 0u128);
                }
                histogram[n] += 1;
            }
            let mut next = vec![0u128; counts.len() + histogram.len().max(1) - 1];
            for (a, &x) in counts.iter().enumerate() {
                for (b, &y) in histogram.iter().enumerate() {
                    next[a + b] += x * y;
                }
            }
            counts = next;
        }
        match self.blocked_by_length(style) {
            Some(blocked) => {
                for (n, b) in blocked.into_iter().enumerate().filter(|&(_, b)| b > 0) {
                    counts[n] -= b;
                }
                Lengths {
                    counts,
                    exact: true,
                }
            }
            None => Lengths {
                counts,
                exact: false,
            },
        }
    }

    /// Blocked combinations of style `style` by length, or `None` when
    /// there are too many risky joins to check one by one.
    fn blocked_by_length(&self, style: usize) -> Option<Vec<u128>> {
        let pools = &self.styles[style].pools;
        let mut blocked = vec![0u128; MAX_NICKNAME_LEN + 1];
        if pools.len() < 2 {
            return Some(blocked);
        }
        // Work: for each join j, risky pairs times every choice of the other
        // pools. A combination is counted at its first risky join only.
        let tails: Vec<Vec<Entry>> = pools.iter().map(|p| risky(p, RISK_TAIL)).collect();
        let heads: Vec<Vec<Entry>> = pools.iter().map(|p| risky(p, RISK_HEAD)).collect();
        let mut work = 0u128;
        for j in 0..pools.len() - 1 {
            let others: u128 = (0..pools.len())
                .filter(|&i| i != j && i != j + 1)
                .map(|i| pools[i].entries.len() as u128)
                .product();
            work += tails[j].len() as u128 * heads[j + 1].len() as u128 * others;
        }
        if work > EXACT_COUNT_BUDGET {
            return None;
        }
        let mut buf = [0u8; MAX_NICKNAME_LEN];
        for j in 0..pools.len() - 1 {
            let mut choice: Vec<&[Entry]> = pools.iter().map(|p| &p.entries[..]).collect();
            choice[j] = &tails[j];
            choice[j + 1] = &heads[j + 1];
            for_each_combo(&choice, &mut |combo| {
                // Skip combinations whose first risky join comes earlier.
                let earlier_risky = combo[..=j]
                    .windows(2)
                    .any(|w| w[0].risk() & RISK_TAIL != 0 && w[1].risk() & RISK_HEAD != 0);
                if earlier_risky {
                    return;
                }
                let len = self.render_entries(combo, &mut buf);
                let text = std::str::from_utf8(&buf[..len]).expect("whole words");
                if self.safety.is_blocked(text) {
                    let chars: usize = combo.iter().map(|e| usize::from(e.chars)).sum();
                    blocked[chars] += 1;
                }
            });
        }
        Some(blocked)
    }

    fn render_entries(&self, combo: &[Entry], out: &mut [u8]) -> usize {
        let mut len = 0;
        for &e in combo {
            let bytes = self.entry_bytes(e);
            out[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        }
        len
    }
}

impl Style {
    /// The most characters a nickname of this style can have.
    pub(crate) fn longest_chars(&self) -> usize {
        longest(&self.pools)
    }
}

/// The most characters a combination of `pools` can have.
fn longest(pools: &[Pool]) -> usize {
    pools
        .iter()
        .map(|p| {
            p.entries
                .iter()
                .map(|e| usize::from(e.chars))
                .max()
                .unwrap_or(0)
        })
        .sum()
}

/// The fewest characters a combination of `pools` can have.
fn shortest(pools: &[Pool]) -> usize {
    pools
        .iter()
        .map(|p| {
            p.entries
                .iter()
                .map(|e| usize::from(e.chars))
                .min()
                .unwrap_or(0)
        })
        .sum()
}

fn risky(pool: &Pool, flag: u8) -> Vec<Entry> {
    pool.entries
        .iter()
        .copied()
        .filter(|e| e.risk() & flag != 0)
        .collect()
}

/// Calls `f` with every combination of one entry from each pool.
fn for_each_combo(pools: &[&[Entry]], f: &mut dyn FnMut(&[Entry])) {
    if pools.iter().any(|p| p.is_empty()) {
        return;
    }
    let mut idx = vec![0usize; pools.len()];
    let mut combo: Vec<Entry> = pools.iter().map(|p| p[0]).collect();
    loop {
        f(&combo);
        // Odometer: advance the last pool first.
        let mut k = pools.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < pools[k].len() {
                combo[k] = pools[k][idx[k]];
                break;
            }
            idx[k] = 0;
            combo[k] = pools[k][0];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{Generator, LoadOptions, Seed, Selection};
    use std::collections::HashMap;
    use std::sync::Arc;

    fn load(text: &str) -> Dictionary {
        Dictionary::parse("t", text.as_bytes(), &LoadOptions::default()).unwrap()
    }

    const MIXED: &str = "\
[class a]
春 x
夏天 x
秋高气 x
[class b]
风 x
雨水 x
[styles]
ab 1 {a}{b}
one 1 {a}
";

    #[test]
    fn lengths_are_counted_exactly_with_blocked_joins_subtracted() {
        let d = load(&format!("{MIXED}[block]\n天风\n"));
        let lengths = d.length_counts(0);
        // 春风 2; 春雨水 夏天风 3; 夏天雨水 秋高气风 4; 秋高气雨水 5; 夏天风
        // is blocked.
        assert_eq!(lengths.counts, [0, 0, 1, 1, 2, 1]);
        assert!(lengths.exact);
        assert_eq!(lengths.up_to(Some(3)), Count::Exact(2));
        assert_eq!(lengths.up_to(Some(40)), Count::Exact(5));
        assert_eq!(d.count_style(0), Count::Exact(5));
    }

    #[test]
    fn a_cap_draws_only_what_fits_each_equally_often() {
        let mut d = load(MIXED);
        d.limit_chars(3).unwrap();
        assert_eq!(d.count_style(0), Count::Exact(3));
        assert_eq!(d.count_style(1), Count::Exact(3));
        assert_eq!(d.styles()[0].fits().unwrap().combinations(), 3);
        let d = Arc::new(d);
        let mut g =
            Generator::new(Arc::clone(&d), Seed::Fixed(5), 0).with_selection(Selection::Only(0));
        let mut counts: HashMap<String, usize> = HashMap::new();
        for _ in 0..30_000 {
            *counts.entry(g.generate()).or_default() += 1;
        }
        let mut names: Vec<&str> = counts.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["夏天风", "春雨水", "春风"]);
        for (name, &n) in &counts {
            // 10,000 expected, standard deviation 82.
            assert!(n.abs_diff(10_000) < 400, "{name}: {n}");
        }
    }

    #[test]
    fn a_capped_mix_keeps_style_shares_and_auto_keeps_every_nickname_equal() {
        let tally = |text: &str, seed| {
            let mut d = load(text);
            d.limit_chars(3).unwrap();
            let mut g = Generator::new(Arc::new(d), Seed::Fixed(seed), 0);
            let mut counts: HashMap<String, usize> = HashMap::new();
            for _ in 0..60_000 {
                *counts.entry(g.generate()).or_default() += 1;
            }
            counts
        };
        // ab: 春风, 春雨水, 夏天风 fit (weight 1, each 1/12 of the draws);
        // one: all three words fit (weight 3, each 1/4).
        let counts = tally(&MIXED.replace("one 1 {a}", "one 3 {a}"), 6);
        assert_eq!(counts.len(), 6, "{counts:?}");
        for (name, &n) in &counts {
            let expected = if ["春", "夏天", "秋高气"].contains(&name.as_str()) {
                15_000
            } else {
                5_000
            };
            assert!(
                n.abs_diff(expected) < 500,
                "{name}: {n}, expected {expected}"
            );
        }
        // auto: the six that fit, each a sixth.
        let counts = tally(&MIXED.replace(" 1 {", " auto {"), 7);
        assert_eq!(counts.len(), 6, "{counts:?}");
        for (name, &n) in &counts {
            assert!(n.abs_diff(10_000) < 500, "{name}: {n}");
        }
    }

    #[test]
    fn styles_with_nothing_that_short_drop_out_with_a_note() {
        let mut d = load(&MIXED.replace("one 1 {a}", "one 1 {a}的"));
        d.limit_chars(2).unwrap();
        assert_eq!(d.count_style(0), Count::Exact(1));
        // 春的 fits.
        assert_eq!(d.count_style(1), Count::Exact(1));
        let mut d = load(&MIXED.replace("one 1 {a}", "one 1 {a}的了"));
        d.limit_chars(2).unwrap();
        assert!(!d.style_fits(1));
        assert_eq!(d.styles()[1].weight(), 0);
        assert!(
            d.warnings()[0].message.contains(
                "style 'one' has no nickname of at most 2 characters (its shortest has 3)"
            )
        );
        assert!(
            d.check_style_fits(1)
                .unwrap_err()
                .contains("raise --max-chars")
        );
        // A cap every combination fits costs nothing: no variants.
        let mut d = load(MIXED);
        d.limit_chars(5).unwrap();
        assert!(d.styles()[0].fits().is_none() && d.style_fits(0));
        assert_eq!(d.count_style(0), Count::Exact(6));
        let mut d = load(MIXED);
        d.limit_chars(4).unwrap();
        assert_eq!(d.styles()[0].fits().unwrap().combinations(), 5);
        let err = load(MIXED).limit_chars(0).unwrap_err();
        assert!(
            err.contains("no nickname has at most 0 characters (the shortest has 1)"),
            "{err}"
        );
    }
}
