//! Generation cost per nickname, against what a user would write instead
//! (`rand::rng()` + `format!`) and against the floor (a bare ChaCha8 loop
//! that picks two words and copies them, with no styles or safety). Also
//! dictionary load times.
//!
//! `cargo bench --bench generate`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nickpool_server::bench::baseline::class_words;
use nickpool_server::generator::{
    Charset, DEFAULT_DICT, Dictionary, Generator, LoadOptions, Seed, Selection,
};
use rand::prelude::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

#[path = "../tests/common/big_dict.rs"]
mod big_dict;
use std::sync::Arc;

fn generation(c: &mut Criterion) {
    let dict = Arc::new(Dictionary::embedded());
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; 64];

    let mut all = Generator::new(Arc::clone(&dict), Seed::Fixed(1), 0);
    group.bench_function("generate_into/all-styles", |b| {
        b.iter(|| black_box(all.generate_into(black_box(&mut buf))))
    });
    for (i, style) in dict.styles().iter().enumerate() {
        let mut g =
            Generator::new(Arc::clone(&dict), Seed::Fixed(1), 0).with_selection(Selection::Only(i));
        group.bench_function(BenchmarkId::new("generate_into", style.name()), |b| {
            b.iter(|| black_box(g.generate_into(black_box(&mut buf))))
        });
    }
    // Under a length cap: a variant draw (one length group per placeholder)
    // before the words.
    let mut capped = Dictionary::embedded();
    capped
        .limit_chars(6)
        .expect("default styles fit in 6 characters");
    let capped = Arc::new(capped);
    let mut g = Generator::new(Arc::clone(&capped), Seed::Fixed(1), 0);
    group.bench_function("generate_into/max-chars-6/all-styles", |b| {
        b.iter(|| black_box(g.generate_into(black_box(&mut buf))))
    });
    for (i, style) in capped.styles().iter().enumerate() {
        if !capped.style_fits(i) {
            continue;
        }
        let mut g = Generator::new(Arc::clone(&capped), Seed::Fixed(1), 0)
            .with_selection(Selection::Only(i));
        group.bench_function(
            BenchmarkId::new("generate_into/max-chars-6", style.name()),
            |b| b.iter(|| black_box(g.generate_into(black_box(&mut buf)))),
        );
    }
    for charset in [Charset::Common, Charset::ExtB] {
        let d = Arc::new(Dictionary::for_charset(charset, dict.safety().clone()));
        let mut g = Generator::new(d, Seed::Fixed(1), 0);
        group.bench_function(
            BenchmarkId::new("generate_into/charset", charset.name()),
            |b| b.iter(|| black_box(g.generate_into(black_box(&mut buf)))),
        );
    }

    // What a user would write instead: thread RNG, pick, format!.
    let adjs = class_words("adj");
    let nouns = class_words("noun");
    let mut rng = rand::rng();
    group.bench_function("baseline/rand-rng-format", |b| {
        b.iter(|| {
            let s = format!(
                "{}的{}",
                adjs.choose(&mut rng).unwrap(),
                nouns.choose(&mut rng).unwrap()
            );
            black_box(s)
        })
    });

    // The floor: ChaCha8, two uniform picks, two copies into a buffer.
    let adj_bytes: Vec<Vec<u8>> = adjs.iter().map(|w| format!("{w}的").into_bytes()).collect();
    let noun_bytes: Vec<Vec<u8>> = nouns.iter().map(|w| w.clone().into_bytes()).collect();
    let mut chacha = ChaCha8Rng::seed_from_u64(1);
    group.bench_function("floor/chacha8-two-words", |b| {
        b.iter(|| {
            let pick = |rng: &mut ChaCha8Rng, n: usize| {
                ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
            };
            let a = &adj_bytes[pick(&mut chacha, adj_bytes.len())];
            let n = &noun_bytes[pick(&mut chacha, noun_bytes.len())];
            buf[..a.len()].copy_from_slice(a);
            buf[a.len()..a.len() + n.len()].copy_from_slice(n);
            black_box(a.len() + n.len())
        })
    });
    group.finish();
}

fn loading(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    group.bench_function("default-embedded", |b| {
        b.iter(|| black_box(Dictionary::embedded()))
    });
    group.bench_function("default-full-validation", |b| {
        b.iter(|| {
            black_box(
                Dictionary::parse("d", DEFAULT_DICT.as_bytes(), &LoadOptions::default()).unwrap(),
            )
        })
    });
    let big = big_dict::fifty_thousand_words();
    group.bench_function("custom-50000-words", |b| {
        b.iter(|| {
            black_box(Dictionary::parse("big", big.as_bytes(), &LoadOptions::default()).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, generation, loading);
criterion_main!(benches);
