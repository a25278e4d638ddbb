//! Character sets for the classic random-character mode, and the Table of
//! General Standard Chinese Characters (通用规范汉字表) they draw on.
//!
//! `tgh.txt` is derived from Unihan's kTGH field by `scripts/derive-tgh.py`;
//! its header names the source and licence. `charset-taboo.txt` lists the
//! characters no set draws: death, sex, excrement, insults, illness, crime
//! and misfortune (its header says how it was made).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

const TGH_DATA: &str = include_str!("tgh.txt");
const TABOO_DATA: &str = include_str!("charset-taboo.txt");

/// True for a character the random-character mode never draws, because a
/// name holding it reads as ominous, rude or sexual (`charset-taboo.txt`).
pub fn is_taboo(c: char) -> bool {
    static TABOO: OnceLock<HashSet<char>> = OnceLock::new();
    TABOO
        .get_or_init(|| {
            TABOO_DATA
                .lines()
                .flat_map(|line| line.split('#').next().unwrap_or("").chars())
                .filter(|c| !c.is_whitespace())
                .collect()
        })
        .contains(&c)
}

/// The Table of General Standard Chinese Characters, in serial order.
pub struct Tgh {
    /// `(character, level)`, level 1, 2 or 3.
    entries: Vec<(char, u8)>,
}

impl Tgh {
    /// The embedded table, parsed once.
    pub fn get() -> &'static Tgh {
        static TABLE: OnceLock<Tgh> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut entries = Vec::with_capacity(8105);
            for line in TGH_DATA.lines().filter(|l| !l.starts_with('#')) {
                let (level, chars) = line.split_once('\t').expect("tgh.txt: LEVEL<TAB>CHARS");
                let level: u8 = level.parse().expect("tgh.txt: level is 1, 2 or 3");
                entries.extend(chars.chars().map(|c| (c, level)));
            }
            Tgh { entries }
        })
    }

    /// The level (1, 2 or 3) of `c`, or `None` if it is not in the table.
    pub fn level(&self, c: char) -> Option<u8> {
        // 8,105 entries: a linear scan is fine for validation, which is the
        // only caller; generation never looks characters up.
        self.entries.iter().find(|&&(e, _)| e == c).map(|&(_, l)| l)
    }

    /// Characters of the given levels, in serial order.
    pub fn chars_up_to_level(&self, max_level: u8) -> impl Iterator<Item = char> + '_ {
        self.entries
            .iter()
            .filter(move |&&(_, l)| l <= max_level)
            .map(|&(c, _)| c)
    }

    /// Number of characters in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false; the table is embedded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A set of characters the random-character mode draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Charset {
    /// 通用规范汉字表 level 1: the 3,500 most common characters.
    Common,
    /// All 8,105 characters of 通用规范汉字表.
    Tgh,
    /// CJK Unified Ideographs, U+4E00–U+9FFF.
    Basic,
    /// CJK Unified Ideographs Extension A, U+3400–U+4DBF.
    ExtA,
    /// CJK Unified Ideographs Extension B, U+20000–U+2A6DF.
    ExtB,
}

impl Charset {
    /// Every set, in the order `--help` lists them.
    pub const ALL: [Charset; 5] = [
        Charset::Common,
        Charset::Tgh,
        Charset::Basic,
        Charset::ExtA,
        Charset::ExtB,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Charset::Common => "common",
            Charset::Tgh => "tgh",
            Charset::Basic => "basic",
            Charset::ExtA => "ext-a",
            Charset::ExtB => "ext-b",
        }
    }

    /// The characters of the set, in code point or serial order.
    pub fn chars(self) -> Vec<char> {
        let range = |lo: u32, hi: u32| (lo..=hi).filter_map(char::from_u32).collect();
        match self {
            Charset::Common => Tgh::get().chars_up_to_level(1).collect(),
            Charset::Tgh => Tgh::get().chars_up_to_level(3).collect(),
            Charset::Basic => range(0x4E00, 0x9FFF),
            Charset::ExtA => range(0x3400, 0x4DBF),
            Charset::ExtB => range(0x20000, 0x2A6DF),
        }
    }
}

impl fmt::Display for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Charset {
    type Err = String;

    fn from_str(s: &str) -> Result<Charset, String> {
        Charset::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Charset::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "unknown character set '{s}'; choose one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_its_published_sizes() {
        let t = Tgh::get();
        assert_eq!(t.len(), 8105);
        assert_eq!(t.chars_up_to_level(1).count(), 3500);
        assert_eq!(t.chars_up_to_level(2).count(), 6500);
        assert_eq!(t.level('一'), Some(1));
        assert_eq!(t.level('a'), None);
    }

    #[test]
    fn sets_have_their_sizes() {
        assert_eq!(Charset::Common.chars().len(), 3500);
        assert_eq!(Charset::Tgh.chars().len(), 8105);
        assert_eq!(Charset::Basic.chars().len(), 0x9FFF - 0x4E00 + 1);
        assert_eq!(Charset::ExtA.chars().len(), 0x4DBF - 0x3400 + 1);
        assert_eq!(Charset::ExtB.chars().len(), 0x2A6DF - 0x20000 + 1);
    }

    #[test]
    fn the_taboo_list_is_read_whole() {
        for c in ['死', '屍', '逼', '奸', '傻', '跛', '癌', '杀', '祸', '㞎'] {
            assert!(is_taboo(c), "{c}");
        }
        for c in ['星', '月', '云', '#', ' ', 'd'] {
            assert!(!is_taboo(c), "{c}");
        }
    }

    #[test]
    fn names_round_trip() {
        for c in Charset::ALL {
            assert_eq!(c.name().parse::<Charset>(), Ok(c));
        }
        assert!(
            "latin"
                .parse::<Charset>()
                .unwrap_err()
                .contains("common, tgh")
        );
    }
}
