//! The default dictionary's whole space as a user meets it: `nickpool gen
//! --all` lists exactly what unique mode may hand out, nothing in it is
//! offensive, and random draws spread over it (distinct nicknames, lengths).
//!
//! The figures tested here are the goals of issue #12 for the default
//! dictionary; each failure message says what was measured against what.

mod common;

use aho_corasick::AhoCorasick;
use common::{nickpool_bin, run_cli};
use nickpool_server::generator::{Count, Dictionary, Generator, Seed, Spread};
use nickpool_server::unique::IndexSpace;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// The curator's review list: terms that must never occur in a default
/// nickname, one per line, '#' starts a comment. Wider than the blocklist on
/// purpose: it is checked, not enforced.
const REVIEW_LIST: &str = "tests/data/review-list.txt";

fn default_dict() -> Arc<Dictionary> {
    Arc::new(Dictionary::embedded())
}

/// Runs `nickpool gen --all ARGS`, streaming: returns the number of lines
/// and every `every`-th line (from the first) with its line number.
fn gen_all(args: &[&str], every: u64) -> (u64, Vec<(u64, String)>) {
    let mut child = Command::new(nickpool_bin())
        .args(["gen", "--all"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nickpool");
    let pid = child.id() as i32;
    // A watchdog: the default space takes seconds even in a debug build.
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if watch.recv_timeout(MINUTE).is_err() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut lines = 0u64;
    let mut sample = Vec::new();
    let reader = BufReader::with_capacity(1 << 20, child.stdout.take().unwrap());
    for line in reader.split(b'\n') {
        let line = line.expect("read gen --all");
        if lines % every == 0 {
            sample.push((lines, String::from_utf8(line).expect("UTF-8")));
        }
        lines += 1;
    }
    let status = child.wait().unwrap();
    let _ = done.send(());
    watchdog.join().unwrap();
    assert!(
        status.success(),
        "gen --all {args:?} failed or timed out: {status}"
    );
    (lines, sample)
}

#[test]
fn gen_all_lists_the_exact_count_in_unique_mode_index_order() {
    let dict = default_dict();
    let Count::Exact(total) = dict.count() else {
        panic!("the default count should be exact");
    };
    let (lines, sample) = gen_all(&[], 997_331);
    assert_eq!(
        u128::from(lines),
        total,
        "gen --all lines against gen --stats"
    );

    // Each sampled line is the nickname at its unique-mode index (its
    // style, then its rank within the style), and the indices rise through
    // the output.
    let space = IndexSpace::new(Arc::clone(&dict), None).unwrap();
    let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN];
    let mut last = None;
    for (line, nickname) in &sample {
        let parsed = space
            .parse(nickname)
            .unwrap_or_else(|| panic!("line {line}: {nickname} is not in the space"));
        let index = (parsed.style, parsed.rank);
        assert!(last < Some(index), "line {line}: index out of order");
        last = Some(index);
        let len = space
            .render(parsed.style, parsed.rank, &mut buf)
            .expect("not blocked");
        assert_eq!(&buf[..len], nickname.as_bytes());
    }
    // And `nickpool decode` agrees, for a few.
    let key = "0123456789abcdef0123456789abcdef";
    for (_, nickname) in sample.iter().step_by(5) {
        let (code, out, err) = run_cli(&["decode", nickname, "--key", key], MINUTE);
        assert_eq!(code, 0, "{nickname}: {err}");
        let parsed = space.parse(nickname).unwrap();
        assert!(
            out.contains(&format!(
                "rank      {} of the style's {} ({} in all styles)",
                parsed.rank,
                space.style_size(parsed.style),
                space.size()
            )),
            "{nickname}: {out}"
        );
    }
}

#[test]
fn gen_all_honours_style_and_max_chars() {
    let mut dict = Dictionary::embedded();
    dict.limit_chars(5).unwrap();
    let style = dict.style_index("hobby-de-animal").unwrap();
    let expected = dict.count_style(style).value();
    let (lines, sample) = gen_all(&["--style", "hobby-de-animal", "--max-chars", "5"], 1);
    assert_eq!(u128::from(lines), expected);
    assert!(lines > 0);
    for (_, nickname) in &sample {
        assert!(nickname.chars().count() <= 5, "{nickname}");
        assert!(nickname.contains("的"), "{nickname}");
    }
    let (code, _, err) = run_cli(&["gen", "--all", "--charset", "common"], MINUTE);
    assert_eq!(code, 2, "{err}");
}

/// Every nickname of `dict`'s whole space, by the code `gen --all` runs.
fn for_each_default_nickname(dict: &Dictionary, mut f: impl FnMut(&str)) {
    for style in 0..dict.styles().len() {
        let _ = dict.for_each_nickname(style, |_, bytes| {
            f(std::str::from_utf8(bytes).expect("UTF-8"));
            ControlFlow::Continue(())
        });
    }
}

#[test]
fn whole_default_space_is_clean() {
    let text = std::fs::read_to_string(REVIEW_LIST).unwrap_or_else(|e| {
        panic!("cannot read the review list {REVIEW_LIST} ({e}): it lists terms that must never occur in a default nickname, one per line")
    });
    let terms: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|t| !t.is_empty())
        .collect();
    assert!(
        terms.len() >= 100,
        "review list has only {} terms",
        terms.len()
    );
    let review = AhoCorasick::new(&terms).unwrap();
    let dict = default_dict();
    let mut names = 0u64;
    let mut hits: HashMap<&str, (u64, String)> = HashMap::new();
    let mut blocked = Vec::new();
    for_each_default_nickname(&dict, |nickname| {
        names += 1;
        for m in review.find_overlapping_iter(nickname) {
            let entry = hits
                .entry(terms[m.pattern().as_usize()])
                .or_insert((0, nickname.to_owned()));
            entry.0 += 1;
        }
        // The enumeration skips blocked combinations through the join-risk
        // flags; check the whole name too, so a flag that misses a
        // crossing cannot hide one.
        if blocked.len() < 10 && dict.safety().is_blocked(nickname) {
            blocked.push(nickname.to_owned());
        }
    });
    assert_eq!(u128::from(names), dict.count().value());
    assert!(
        blocked.is_empty(),
        "blocked nicknames in the space: {blocked:?}"
    );
    if !hits.is_empty() {
        let mut report: Vec<_> = hits.into_iter().collect();
        report.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
        let lines: Vec<String> = report
            .iter()
            .map(|(term, (n, example))| format!("  {term}: {n} nicknames, e.g. {example}"))
            .collect();
        panic!(
            "{} review-list terms occur in the default space of {names} nicknames:\n{}",
            lines.len(),
            lines.join("\n")
        );
    }
}

/// `draws` seeded draws: the share distinct and the most repeated nickname.
fn distinct_share(seed: u64, draws: usize) -> (f64, usize, String) {
    let mut g = Generator::new(default_dict(), Seed::Fixed(seed), 0);
    let mut counts: HashMap<Vec<u8>, usize> = HashMap::with_capacity(draws);
    let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN];
    for _ in 0..draws {
        let len = g.generate_into(&mut buf);
        *counts.entry(buf[..len].to_vec()).or_default() += 1;
    }
    let (top, most) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    (
        counts.len() as f64 / draws as f64,
        *most,
        String::from_utf8_lossy(top).into_owned(),
    )
}

fn check_distinct(draws: usize, min_share: f64, max_repeats: usize) {
    let (share, most, top) = distinct_share(7, draws);
    let expected = Spread::of(
        &default_dict(),
        nickpool_server::generator::Selection::Weighted,
    )
    .expected_distinct(draws as u64);
    assert!(
        share >= min_share && most <= max_repeats,
        "{draws} draws (seed 7): {:.2}% distinct (goal at least {:.0}%; gen --stats expects {:.2}%), \
         most repeated {top} {most} times (goal at most {max_repeats})",
        100.0 * share,
        100.0 * min_share,
        100.0 * expected
    );
}

#[test]
fn a_hundred_thousand_draws_are_at_least_98_percent_distinct() {
    check_distinct(100_000, 0.98, 4);
}

#[test]
fn a_million_draws_are_at_least_85_percent_distinct() {
    check_distinct(1_000_000, 0.85, 10);
}

#[test]
fn three_quarters_of_draws_are_six_characters_or_fewer_and_none_over_eight() {
    let dict = default_dict();
    let mut g = Generator::new(Arc::clone(&dict), Seed::Fixed(7), 0);
    let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN];
    let draws = 100_000;
    let mut by_len = [0usize; nickpool::MAX_NICKNAME_LEN + 1];
    for _ in 0..draws {
        let len = g.generate_into(&mut buf);
        by_len[std::str::from_utf8(&buf[..len]).unwrap().chars().count()] += 1;
    }
    let short: usize = by_len[..=6].iter().sum();
    let long: usize = by_len[9..].iter().sum();
    let spread = Spread::of(&dict, nickpool_server::generator::Selection::Weighted);
    assert!(
        short * 4 >= draws * 3 && long == 0,
        "{draws} draws (seed 7): {:.1}% of at most 6 characters (goal at least 75%; gen --stats \
         expects {:.1}%), {long} over 8 characters (goal 0); by length: {:?}",
        100.0 * short as f64 / draws as f64,
        100.0 * spread.share_up_to(6),
        by_len
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .collect::<Vec<_>>()
    );
}

/// Every style shape a dictionary can have, with words whose joins spell
/// blocked terms: across two words (娇小 + 三花猫 → 小三, 强大 + 香蕉 →
/// 大香蕉, 乌龟 + 蛋挞 → 龟蛋), through a template's literal text (小 +
/// 三花猫, 大 + 的 + 香), after a literal suffix, and across a one-character
/// middle word or after a safe first join.
const JOINS: &str = "\
[class adj]
娇小 x
强大 x
快乐 x
[class noun]
三花猫 x
香蕉 x
乌龟 x
小狗 x
[class sweet]
蛋挞 x
布丁 x
[class one]
王 x
月 x
[styles]
adj-noun 1 {adj}{noun}
noun-sweet 1 {noun}{sweet}
xiao 1 小{noun}
adj-de-noun 1 {adj}的{noun}
noun-xiao 1 {noun}小{sweet}
three 1 {noun}{one}{sweet}
late 1 {one}{noun}{sweet}
";

const JOIN_TERMS: [&str; 6] = ["小三", "大香蕉", "龟蛋", "大的香", "狗小", "龟王蛋"];

#[test]
fn terms_formed_across_joins_are_caught_in_every_style() {
    let blocked_text = format!("{JOINS}[block]\n{}\n", JOIN_TERMS.join("\n"));
    let dict = Arc::new(
        Dictionary::parse("joins", blocked_text.as_bytes(), &Default::default())
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let open = Dictionary::parse("open", JOINS.as_bytes(), &Default::default()).unwrap();
    let clean = |s: &str| !JOIN_TERMS.iter().any(|t| s.contains(t));
    for (i, style) in dict.styles().iter().enumerate() {
        // What should remain: every combination of the unblocked
        // dictionary that contains no term, checked by plain substring.
        let mut expected = Vec::new();
        let _ = open.for_each_nickname(i, |_, b| {
            let s = String::from_utf8(b.to_vec()).unwrap();
            if clean(&s) {
                expected.push(s);
            }
            ControlFlow::Continue(())
        });
        let total = open.styles()[i].combinations() as usize;
        assert!(
            expected.len() < total,
            "style {}: no join spells a term",
            style.name()
        );
        let mut listed = Vec::new();
        let _ = dict.for_each_nickname(i, |_, b| {
            listed.push(String::from_utf8(b.to_vec()).unwrap());
            ControlFlow::Continue(())
        });
        assert_eq!(listed, expected, "style {}", style.name());
        assert_eq!(dict.count_style(i), Count::Exact(expected.len() as u128));
        // Random draws and unique-mode indices agree.
        let mut g = Generator::new(Arc::clone(&dict), Seed::Fixed(21), 0)
            .with_selection(nickpool_server::generator::Selection::Only(i));
        for _ in 0..5_000 {
            let s = g.generate();
            assert!(clean(&s), "style {}: drew {s}", style.name());
        }
        let space = IndexSpace::new(Arc::clone(&dict), Some(i)).unwrap();
        let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN];
        let rendered = (0..space.size())
            .filter_map(|rank| {
                space
                    .render(0, rank, &mut buf)
                    .map(|len| buf[..len].to_vec())
            })
            .count();
        assert_eq!(rendered, expected.len(), "style {}", style.name());
    }
}
