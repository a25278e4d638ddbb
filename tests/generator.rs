//! The generator as a user sees it: the default dictionary's size, quality
//! rules and safety, reproducible sequences, character sets, custom
//! dictionaries and `nickpool gen` / `nickpool check-dict`.

mod common;

use common::run_cli;
use nickpool_server::generator::{
    Charset, Count, DEFAULT_DICT, Dictionary, Generator, LoadOptions, Seed, Selection, Spread, Tgh,
};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

const TEN_SECONDS: Duration = Duration::from_secs(10);

/// Sections of the default dictionary as written: class -> [(word, theme)].
fn default_classes() -> HashMap<String, Vec<(String, String)>> {
    let mut classes: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut current = None;
    for line in DEFAULT_DICT.lines() {
        let line = line.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('[') {
            current = h
                .strip_suffix(']')
                .unwrap()
                .strip_prefix("class ")
                .map(str::to_owned);
            continue;
        }
        if let Some(class) = &current {
            let mut f = line.split_whitespace();
            let word = f.next().unwrap().to_owned();
            let theme = f.next().unwrap_or("").to_owned();
            classes
                .entry(class.clone())
                .or_default()
                .push((word, theme));
        }
    }
    classes
}

fn default_dict() -> Arc<Dictionary> {
    Arc::new(Dictionary::embedded())
}

#[test]
fn default_dictionary_passes_full_validation_including_the_two_ways_check() {
    let dict = Dictionary::parse(
        "default.dict",
        DEFAULT_DICT.as_bytes(),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(dict.warnings().is_empty(), "{:?}", dict.warnings());
}

#[test]
fn default_dictionary_is_tagged_and_has_many_weighted_styles() {
    let classes = default_classes();
    let words: usize = classes.values().map(Vec::len).sum();
    assert!(words >= 1_000, "{words} words");
    for (class, words) in &classes {
        for (word, tag) in words {
            assert!(!tag.is_empty(), "{class}: '{word}' has no tag");
        }
    }
    let dict = default_dict();
    assert!(dict.styles().len() >= 6);
    assert!(dict.styles().iter().all(|s| s.weight() > 0));
}

#[test]
fn every_default_character_is_in_the_general_standard_table_levels_1_and_2() {
    let table = Tgh::get();
    for (class, words) in default_classes() {
        for (word, _) in words {
            for c in word.chars() {
                let level = table.level(c);
                assert!(
                    matches!(level, Some(1 | 2)),
                    "{class}: '{word}' uses {c} (level {level:?})"
                );
            }
        }
    }
    for style in default_dict().styles() {
        for c in style.template().chars().filter(|c| !c.is_ascii()) {
            assert!(matches!(table.level(c), Some(1 | 2)), "template uses {c}");
        }
    }
}

#[test]
fn default_space_is_over_ten_million_and_exact() {
    let dict = default_dict();
    let Count::Exact(total) = dict.count() else {
        panic!("default count should be exact");
    };
    assert!(total >= 10_000_000, "{total}");
    let combinations: u128 = dict.styles().iter().map(|s| s.combinations()).sum();
    // The difference is the combinations blocked across a join, a small
    // part of the space.
    assert!(
        total < combinations && (combinations - total) * 100 < combinations,
        "{total} of {combinations}"
    );
}

/// A nickname from the default dictionary: 2-8 CJK Unified Ideographs, at
/// most one 的, nothing blocked.
fn assert_good_default(nickname: &str, dict: &Dictionary) {
    let n = nickname.chars().count();
    assert!((2..=8).contains(&n), "{nickname}: {n} characters");
    assert!(
        nickname
            .chars()
            .all(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)),
        "{nickname}: not only CJK Unified Ideographs"
    );
    assert!(
        nickname.matches('的').count() <= 1,
        "{nickname}: doubled 的"
    );
    assert!(!dict.safety().is_blocked(nickname), "{nickname} is blocked");
}

#[test]
fn default_nicknames_are_short_cjk_and_clean() {
    let dict = default_dict();
    let mut generator = Generator::new(Arc::clone(&dict), Seed::Fixed(1), 0);
    let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN];
    for _ in 0..200_000 {
        let len = generator.generate_into(&mut buf);
        assert_good_default(std::str::from_utf8(&buf[..len]).unwrap(), &dict);
    }
    for (i, style) in dict.styles().iter().enumerate() {
        let mut g =
            Generator::new(Arc::clone(&dict), Seed::Fixed(2), 0).with_selection(Selection::Only(i));
        for _ in 0..2_000 {
            let s = g.generate();
            assert_good_default(&s, &dict);
            assert!(s.len() <= style.max_len());
        }
    }
}

#[test]
fn a_term_formed_across_a_join_never_comes_out() {
    // 强大 + 奶糖 = 强大奶糖 contains 大奶 across the join; the default
    // dictionary has such pairs in adj-noun. Draw that style until the
    // neighbours of the blocked pairs have shown up many times.
    let dict = default_dict();
    let style = dict.style_index("adj-noun").unwrap();
    let mut g =
        Generator::new(Arc::clone(&dict), Seed::Fixed(3), 0).with_selection(Selection::Only(style));
    let mut near_misses = 0;
    for _ in 0..1_000_000 {
        let s = g.generate();
        assert!(!s.contains("大奶") && !s.contains("大麻"), "{s}");
        if s.starts_with("强大") {
            near_misses += 1;
        }
    }
    assert!(near_misses > 1000, "强大 drawn {near_misses} times");
    assert!(
        g.redraws() > 0,
        "blocked combinations were drawn and redrawn"
    );

    // The same in a small dictionary where half the combinations cross.
    let text = "[class p]\n大 x\n小 x\n[class n]\n奶糖 x\n西瓜 x\n[styles]\npn 1 {p}{n}\n[block]\n奶\n大奶\n[allow]\n奶糖\n";
    let small = Arc::new(Dictionary::parse("t", text.as_bytes(), &LoadOptions::default()).unwrap());
    assert_eq!(small.count(), Count::Exact(3));
    let mut g = Generator::new(small, Seed::Fixed(4), 0);
    let seen: HashSet<String> = (0..10_000).map(|_| g.generate()).collect();
    let expected: HashSet<String> = ["小奶糖", "大西瓜", "小西瓜"].map(String::from).into();
    assert_eq!(seen, expected);
}

#[test]
fn innocent_words_with_a_blocked_character_survive() {
    let dict = default_dict();
    for word in ["奶茶", "奶糖", "草莓奶茶", "快乐的奶糖"] {
        assert!(!dict.safety().is_blocked(word), "{word} blocked");
    }
    for word in ["奶子", "大奶", "傻逼"] {
        assert!(dict.safety().is_blocked(word), "{word} allowed");
    }
}

#[test]
fn a_users_blocklist_removes_words() {
    let dir = std::env::temp_dir().join(format!("np-block-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("block.txt");
    std::fs::write(&list, "# our own\n星辰\n").unwrap();
    let (code, out, err) = run_cli(
        &[
            "gen",
            "-n",
            "20000",
            "--seed",
            "5",
            "--style",
            "adj-noun",
            "--blocklist",
            list.to_str().unwrap(),
        ],
        TEN_SECONDS,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 20_000);
    assert!(!out.contains("星辰"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn same_seed_same_sequence_on_any_machine() {
    let dict = default_dict();
    let run = |seed, stream| {
        let mut g = Generator::new(Arc::clone(&dict), Seed::Fixed(seed), stream);
        (0..5).map(|_| g.generate()).collect::<Vec<_>>()
    };
    assert_eq!(run(42, 0), run(42, 0));
    // Pinned: ChaCha8 is portable, so this sequence is the same everywhere.
    // If it changes, the dictionary or the draw order changed.
    assert_eq!(
        run(42, 0),
        [
            "庭院对弈的羊",
            "居士月下沏茶",
            "小豹林中摇扇",
            "桥上浅唱小熊",
            "北国奶猫数星"
        ]
    );
    // Streams of one seed are independent; so are seeds.
    assert_ne!(run(42, 0), run(42, 1));
    assert_ne!(run(42, 0), run(43, 0));
    // The OS seed differs run to run.
    let mut a = Generator::new(Arc::clone(&dict), Seed::Os, 0);
    let mut b = Generator::new(Arc::clone(&dict), Seed::Os, 0);
    let a: Vec<_> = (0..5).map(|_| a.generate()).collect();
    let b: Vec<_> = (0..5).map(|_| b.generate()).collect();
    assert_ne!(a, b);
}

#[test]
fn the_cli_sequence_matches_the_library_and_is_reproducible() {
    let (code, first, _) = run_cli(&["gen", "-n", "5", "--seed", "42"], TEN_SECONDS);
    assert_eq!(code, 0);
    let (_, second, _) = run_cli(&["gen", "-n", "5", "--seed", "42"], TEN_SECONDS);
    assert_eq!(first, second);
    assert_eq!(first.lines().next(), Some("庭院对弈的羊"));
}

#[test]
fn character_modes_draw_two_to_four_characters_from_their_set() {
    let dict = default_dict();
    for charset in Charset::ALL {
        let allowed: HashSet<char> = charset.chars().into_iter().collect();
        let d = Arc::new(Dictionary::for_charset(charset, dict.safety().clone()));
        let mut g = Generator::new(d, Seed::Fixed(9), 0);
        let mut lengths = HashSet::new();
        for _ in 0..5_000 {
            let s = g.generate();
            let n = s.chars().count();
            lengths.insert(n);
            assert!((2..=4).contains(&n), "{charset}: {s}");
            assert!(s.chars().all(|c| allowed.contains(&c)), "{charset}: {s}");
            assert!(!dict.safety().is_blocked(&s), "{charset}: {s}");
        }
        assert_eq!(lengths.len(), 3, "{charset}: all lengths appear");
    }
    // The common set excludes its taboo characters and those blocked on
    // their own.
    let taboo = listed_chars("crates/server/src/generator/charset-taboo.txt");
    let kept = Charset::Common
        .chars()
        .into_iter()
        .filter(|c| !taboo.contains(c) && !dict.safety().is_blocked(&c.to_string()))
        .count();
    let common = Dictionary::for_charset(Charset::Common, dict.safety().clone());
    assert_eq!(common.word_count(), kept);
    assert!((3_000..3_400).contains(&kept), "{kept}");
}

#[test]
fn gen_cli_styles_charsets_stats_and_usage_errors() {
    let (code, out, _) = run_cli(&["gen", "-n", "50", "--style", "gufeng"], TEN_SECONDS);
    assert_eq!(code, 0);
    assert!(out.lines().all(|l| l.chars().count() == 4), "{out}");
    let (code, out, _) = run_cli(&["gen", "-n", "50", "--charset", "ext-b"], TEN_SECONDS);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .all(|l| l.chars().all(|c| ('\u{20000}'..='\u{2A6DF}').contains(&c)))
    );
    let (code, out, _) = run_cli(&["gen", "--stats"], TEN_SECONDS);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    let total = lines.iter().position(|l| l.starts_with("total")).unwrap();
    let dict = default_dict();
    assert_eq!(total, 2 + dict.styles().len(), "{out}");
    assert!(
        lines[total].ends_with(&format!(" {}", dict.count().value())),
        "{out}"
    );
    // Shares of draws add up; lengths per style and of the draws; the
    // expected distinct shares.
    let shares: f64 = lines[2..total]
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap().trim_end_matches('%'))
        .map(|p| p.parse::<f64>().unwrap())
        .sum();
    assert!((shares - 100.0).abs() < 0.5, "{out}");
    assert!(lines[total + 2].starts_with("characters"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("draws ")), "{out}");
    let spread = Spread::of(&default_dict(), Selection::Weighted);
    let expected = format!(
        "expected distinct: {:.1}% of 100000 draws, {:.1}% of 1000000 draws",
        100.0 * spread.expected_distinct(100_000),
        100.0 * spread.expected_distinct(1_000_000)
    );
    assert!(out.contains(&expected), "{expected}\n{out}");
    // Under a cap the counts shrink and long styles drop out.
    let (code, out, _) = run_cli(&["gen", "--stats", "--max-chars", "4"], TEN_SECONDS);
    assert_eq!(code, 0);
    assert!(
        out.contains("only nicknames of at most 4 characters"),
        "{out}"
    );
    let mut capped = Dictionary::embedded();
    capped.limit_chars(4).unwrap();
    let total = format!(" {}", capped.count().value());
    assert!(
        out.lines()
            .any(|l| l.starts_with("total") && l.ends_with(&total)),
        "{out}"
    );
    let dropped = (0..capped.styles().len())
        .find(|&i| !capped.style_fits(i))
        .expect("some default style is longer than 4 characters");
    assert!(
        out.contains(&format!(
            "note: style '{}' has no nickname of at most 4 characters",
            capped.styles()[dropped].name()
        )),
        "{out}"
    );
    let (code, _, err) = run_cli(
        &[
            "gen",
            "--max-chars",
            "4",
            "--style",
            capped.styles()[dropped].name(),
        ],
        TEN_SECONDS,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("has no nickname of at most 4 characters"),
        "{err}"
    );
    for bad in [
        &["gen", "--charset", "latin"][..],
        &["gen", "--style", "nope"],
        &["gen", "-n", "many"],
        &["gen", "--frobnicate"],
        &["gen", "--charset", "common", "--style", "gufeng"],
        &["gen", "--max-chars", "0"],
        &["gen", "--all", "--stats"],
    ] {
        let (code, _, err) = run_cli(bad, TEN_SECONDS);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(!err.is_empty());
    }
}

#[test]
fn check_dict_accepts_the_example_and_reports_line_numbered_problems() {
    let dir = std::env::temp_dir().join(format!("np-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, out, err) = run_cli(&["check-dict", "examples/example.dict"], TEN_SECONDS);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok:"), "{out}");

    let cases: &[(&[u8], &str)] = &[
        (b"[class a]\n\xe5\xa5\n[styles]\ns 1 {a}\n", ":2: invalid UTF-8"),
        (b"[class a]\n[styles]\ns 1 {b}\n", ":1: section [class a] is empty"),
        (b"[class a]\n\xe5\xa5\xbd x\n[styles]\ns 1 {b}\n", ":4: style 's': unknown placeholder {b}"),
        (
            "[class a]\n好 x\n[styles]\ns 1 {a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}{a}\n".as_bytes(),
            ":4: style 's' can produce 57 bytes, more than the 55-byte slot",
        ),
        (
            "[class a]\n蓝 x\n蓝海 x\n[class n]\n海豚 x\n豚 x\n[styles]\ns 1 {a}{n}\n".as_bytes(),
            "'蓝海豚' can be produced two ways: style 's' (line 8, {a}{n}) as 蓝海 + 豚 and style 's' (line 8, {a}{n}) as 蓝 + 海豚",
        ),
        (
            "[class a]\n好 x y\n[styles]\ns 1 {a:x,}\n".as_bytes(),
            ":4: style 's': bad selector {a:x,}",
        ),
        (
            "[class a]\n好 x y\n[styles]\ns 1 {a:x|z}\n".as_bytes(),
            ":4: style 's': {a:x|z} names tag 'z', but no word of class 'a' carries it",
        ),
        (
            "[class a]\n好 x y\n[styles]\ns 1 {a:x,-y}\n".as_bytes(),
            ":4: style 's': {a:x,-y} selects no word of class 'a'",
        ),
        (
            "[class a]\n好 x Y\n[styles]\ns 1 {a}\n".as_bytes(),
            ":2: tag 'Y' of '好' must be lowercase",
        ),
        (
            "[class a]\n好 x\n[styles]\ns auto {a}\nt 1 {a}的\n".as_bytes(),
            ":5: style 's' (line 4) has weight 'auto' but style 't' has a number",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.dict"));
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = run_cli(&["check-dict", path.to_str().unwrap()], TEN_SECONDS);
        assert_eq!(code, 1, "case {i}");
        assert!(
            err.contains(expected),
            "case {i}: expected {expected:?} in\n{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifty_thousand_word_dictionary_loads() {
    let text = common::big_dict::fifty_thousand_words();
    let dict = Dictionary::parse("big", text.as_bytes(), &LoadOptions::default()).unwrap();
    assert_eq!(dict.word_count(), 50_000);
    assert_eq!(dict.count(), Count::Exact(30_000 * 20_000));
}

/// Draws `n` nicknames and counts each.
fn tally(dict: &Arc<Dictionary>, seed: u64, n: usize) -> HashMap<String, usize> {
    let mut g = Generator::new(Arc::clone(dict), Seed::Fixed(seed), 0);
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(g.generate()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn auto_weights_make_every_nickname_equally_likely_and_numbers_keep_style_shares() {
    // Style pn has 4 combinations, one blocked (大奶糖); style q has 6.
    let text = "\
[class p]\n大 x\n小 x\n[class n]\n奶糖 x\n西瓜 x\n[class q]\n星 x\n月 x\n云 x\n风 x\n雨 x\n雪 x\n\
[styles]\npn W {p}{n}\nq W {q}\n[block]\n奶\n大奶\n[allow]\n奶糖\n";
    let load = |weight: &str| {
        let text = text.replace(" W ", &format!(" {weight} "));
        Arc::new(Dictionary::parse("t", text.as_bytes(), &LoadOptions::default()).unwrap())
    };
    const DRAWS: usize = 90_000;
    // auto: 9 nicknames, each 1/9 (10,000 expected, standard deviation 94).
    let counts = tally(&load("auto"), 11, DRAWS);
    assert_eq!(counts.len(), 9, "{counts:?}");
    for (name, &n) in &counts {
        assert!((9_500..=10_500).contains(&n), "{name}: {n} of {DRAWS}");
    }
    // Equal numbers: each style half the draws, so pn's three nicknames get
    // 1/6 each (15,000) and q's six 1/12 each (7,500).
    let counts = tally(&load("1"), 12, DRAWS);
    for (name, &n) in &counts {
        let expected = if name.chars().count() == 3 {
            15_000
        } else {
            7_500
        };
        assert!(
            n.abs_diff(expected) <= 600,
            "{name}: {n}, expected {expected}"
        );
    }
}

#[test]
fn max_chars_caps_what_gen_and_serve_hand_out() {
    let (code, out, err) = run_cli(
        &["gen", "-n", "20000", "--seed", "3", "--max-chars", "5"],
        TEN_SECONDS,
    );
    assert_eq!(code, 0, "{err}");
    let mut lengths = HashSet::new();
    for line in out.lines() {
        lengths.insert(line.chars().count());
        assert!(line.chars().count() <= 5, "{line}");
    }
    assert!(lengths.contains(&4) && lengths.contains(&5), "{lengths:?}");

    let name = common::unique_name("maxchars");
    let mut daemon = common::Daemon::start(&name, &["--max-chars", "4", "--capacity", "64"]);
    let client = nickpool::Client::open(Some(&name)).unwrap();
    for _ in 0..2_000 {
        let nickname = client.next_string(Some(TEN_SECONDS)).unwrap();
        assert!(nickname.chars().count() <= 4, "{nickname}");
    }
    assert_eq!(daemon.stop(), Some(0));
}

/// The characters of a character list: every one outside a '#' comment.
fn listed_chars(path: &str) -> HashSet<char> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .lines()
        .flat_map(|l| l.split('#').next().unwrap().chars().collect::<Vec<_>>())
        .filter(|c| !c.is_whitespace())
        .collect()
}

#[test]
fn random_character_names_never_hold_a_taboo_character() {
    let review = listed_chars("tests/data/charset-taboo-review.txt");
    let excluded = listed_chars("crates/server/src/generator/charset-taboo.txt");
    let missing: String = excluded.difference(&review).collect();
    assert!(
        missing.is_empty(),
        "the review list must be at least as wide as the exclusion list; it lacks {missing}"
    );
    let dict = default_dict();
    for charset in Charset::ALL {
        let d = Arc::new(Dictionary::for_charset(charset, dict.safety().clone()));
        let mut g = Generator::new(d, Seed::Fixed(13), 0);
        let draws = 100_000;
        let mut taboo = Vec::new();
        for _ in 0..draws {
            let s = g.generate();
            if s.chars().any(|c| review.contains(&c)) {
                taboo.push(s);
            }
        }
        assert!(
            taboo.is_empty(),
            "{charset}: {} of {draws} names hold a character of the review list, e.g. {:?}",
            taboo.len(),
            &taboo[..taboo.len().min(10)]
        );
    }
}
