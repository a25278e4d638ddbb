//! Generation cost per style against the bare floor, for a shared or noisy
//! machine: every case (the floor, the weighted mix, each style, and the
//! same under `--max-chars 6`) is timed for a short burst in every round,
//! so all of them see the same load, and each keeps its fastest round.
//! Ratios to the floor then compare like with like, where a sequential
//! criterion run (`cargo bench --bench generate`) can drift by 2x between
//! the first benchmark and the last.
//!
//! `cargo bench --bench generate_interleaved [-- ROUNDS]` (default 30).
//! Prints one line per case: nanoseconds per nickname, ratio to the floor,
//! and the number of words its template joins; then a summary.

use nickpool_server::bench::baseline::class_words;
use nickpool_server::generator::{Dictionary, Generator, Seed, Selection};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// Nicknames per case and round.
const BURST: u32 = 100_000;

type Case = (String, usize, Box<dyn FnMut(&mut [u8]) -> usize>);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this
    // without it, as a quick smoke test of every case (one short round).
    let bench = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if bench { 30 } else { 1 });
    let burst: u32 = if bench { BURST } else { 1_000 };
    let dict = Arc::new(Dictionary::embedded());
    let mut capped = Dictionary::embedded();
    capped
        .limit_chars(6)
        .expect("default styles fit in 6 characters");
    let capped = Arc::new(capped);

    let mut cases: Vec<Case> = Vec::new();
    // The floor of benches/generate.rs: ChaCha8, two picks, two copies.
    let adjs: Vec<Vec<u8>> = class_words("adj")
        .iter()
        .map(|w| format!("{w}的").into_bytes())
        .collect();
    let nouns: Vec<Vec<u8>> = class_words("noun")
        .into_iter()
        .map(String::into_bytes)
        .collect();
    let mut chacha = ChaCha8Rng::seed_from_u64(1);
    cases.push((
        "floor".into(),
        2,
        Box::new(move |buf: &mut [u8]| {
            let pick = |rng: &mut ChaCha8Rng, n: usize| {
                ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
            };
            let a = &adjs[pick(&mut chacha, adjs.len())];
            let n = &nouns[pick(&mut chacha, nouns.len())];
            buf[..a.len()].copy_from_slice(a);
            buf[a.len()..a.len() + n.len()].copy_from_slice(n);
            a.len() + n.len()
        }),
    ));
    let mut add = |name: String, words: usize, d: &Arc<Dictionary>, selection| {
        let mut g = Generator::new(Arc::clone(d), Seed::Fixed(1), 0).with_selection(selection);
        cases.push((
            name,
            words,
            Box::new(move |b: &mut [u8]| g.generate_into(b)),
        ));
    };
    add("all-styles".into(), 0, &dict, Selection::Weighted);
    add("max6/all-styles".into(), 0, &capped, Selection::Weighted);
    for (i, s) in dict.styles().iter().enumerate() {
        let words = s.template().matches('{').count();
        add(s.name().to_owned(), words, &dict, Selection::Only(i));
        if capped.style_fits(i) {
            add(
                format!("max6/{}", s.name()),
                words,
                &capped,
                Selection::Only(i),
            );
        }
    }

    let mut best = vec![f64::MAX; cases.len()];
    let mut buf = [0u8; 64];
    for _ in 0..rounds {
        for (k, (_, _, f)) in cases.iter_mut().enumerate() {
            let start = Instant::now();
            let mut total = 0usize;
            for _ in 0..burst {
                total += f(black_box(&mut buf));
            }
            black_box(total);
            best[k] = best[k].min(start.elapsed().as_nanos() as f64 / f64::from(burst));
        }
    }
    let floor = best[0];
    for ((name, words, _), ns) in cases.iter().zip(&best) {
        println!("{name:40} {ns:7.2} ns {:5.2}x  {words} words", ns / floor);
    }
    // Summary: per number of words, with and without the cap.
    println!();
    for capped in [false, true] {
        for words in 1..=8 {
            let mut ratios: Vec<f64> = cases
                .iter()
                .zip(&best)
                .filter(|((name, w, _), _)| {
                    *w == words && name != "floor" && name.starts_with("max6/") == capped
                })
                .map(|(_, ns)| ns / floor)
                .collect();
            if ratios.is_empty() {
                continue;
            }
            ratios.sort_by(f64::total_cmp);
            println!(
                "{}{words} words: {} styles, median {:.2}x, worst {:.2}x, {} over 1.5x",
                if capped { "max6 " } else { "" },
                ratios.len(),
                ratios[ratios.len() / 2],
                ratios[ratios.len() - 1],
                ratios.iter().filter(|&&r| r > 1.5).count()
            );
        }
    }
}
