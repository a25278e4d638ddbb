//! Unique mode's cost per nickname against random mode, default
//! dictionary: the permutation alone, permutation plus rendering, and the
//! daemon's whole unique source (style by weight, block reservations with
//! their fsyncs included) next to `Generator::generate_into`.
//!
//! `cargo bench --bench unique`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nickpool_server::daemon::{NicknameSource, ServeOptions};
use nickpool_server::generator::{Dictionary, Generator, Seed, Selection};
use nickpool_server::unique::{IndexSpace, Permutation, Store, UniqueOptions, UniqueSource};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: [u8; 16] = *b"nickpool-bench!!";

fn serve_options() -> ServeOptions {
    ServeOptions {
        capacity: 1024,
        ..ServeOptions::new("/nickpool-bench")
    }
}

/// A unique source over the default dictionary with a fresh state file.
fn unique_source(state: &Path) -> UniqueSource {
    let unique = UniqueOptions {
        store: Store::StateFile {
            path: state.to_path_buf(),
            reset: true,
        },
        node: 0,
        nodes: 1,
        key: Some(KEY),
    };
    UniqueSource::open(&serve_options(), &unique).expect("open the unique source")
}

fn per_nickname(c: &mut Criterion) {
    let dict = Arc::new(Dictionary::embedded());
    let space = IndexSpace::new(Arc::clone(&dict), None).unwrap();
    let mut group = c.benchmark_group("per-nickname");
    group.throughput(Throughput::Elements(1));
    let mut buf = [0u8; 64];

    let mut random = Generator::new(Arc::clone(&dict), Seed::Fixed(1), 0);
    group.bench_function("random/generate_into", |b| {
        b.iter(|| black_box(random.generate_into(black_box(&mut buf))))
    });

    // The largest style, alone: random and unique mode render the same
    // kind of nickname.
    let k = (0..space.style_count())
        .max_by_key(|&k| space.style_size(k))
        .expect("a style");
    let (style_name, size) = (space.style_name(k).to_owned(), space.style_size(k));
    let style = dict
        .style_index(&style_name)
        .expect("a style of the dictionary");
    let permutation = Permutation::for_style(&KEY, k, size);
    let mut counter = 0u64;
    group.bench_function(format!("unique/permute/{style_name}"), |b| {
        b.iter(|| {
            counter = if counter + 1 == size { 0 } else { counter + 1 };
            black_box(permutation.permute(black_box(counter)))
        })
    });

    let mut random_one =
        Generator::new(Arc::clone(&dict), Seed::Fixed(1), 0).with_selection(Selection::Only(style));
    group.bench_function(format!("random/generate_into/{style_name}"), |b| {
        b.iter(|| black_box(random_one.generate_into(black_box(&mut buf))))
    });
    let mut counter = 0u64;
    group.bench_function(format!("unique/permute+render/{style_name}"), |b| {
        b.iter(|| {
            counter = if counter + 1 == size { 0 } else { counter + 1 };
            black_box(space.render(k, permutation.permute(counter), black_box(&mut buf)))
        })
    });

    // The largest style under a length cap of 6 characters
    // (`--max-chars 6`): a capped rank is mapped to its uncapped one first.
    let mut capped_dict = Dictionary::embedded();
    capped_dict
        .limit_chars(6)
        .expect("a cap the default dictionary meets");
    let capped = IndexSpace::new(Arc::new(capped_dict), None).unwrap();
    let kc = (0..capped.style_count())
        .max_by_key(|&k| capped.style_size(k))
        .expect("a style");
    let capped_size = capped.style_size(kc);
    let capped_permutation = Permutation::for_style(&KEY, kc, capped_size);
    let mut counter = 0u64;
    group.bench_function(
        format!(
            "unique/permute+render/{}/max-chars-6",
            capped.style_name(kc)
        ),
        |b| {
            b.iter(|| {
                counter = if counter + 1 == capped_size {
                    0
                } else {
                    counter + 1
                };
                black_box(capped.render(
                    kc,
                    capped_permutation.permute(counter),
                    black_box(&mut buf),
                ))
            })
        },
    );

    // The daemon's source: reservations (write, fsync, rename, fsync of the
    // directory) included. A used-up space is started afresh outside the
    // timing.
    let dir = std::env::temp_dir().join(format!("nickpool-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("unique.state");
    let mut source = Some(unique_source(&state));
    group.bench_function("unique/next_into", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let start = Instant::now();
                while left > 0 {
                    let unique = source.as_mut().expect("a source");
                    if black_box(unique.next_into(0, black_box(&mut buf))).is_none() {
                        break;
                    }
                    left -= 1;
                }
                spent += start.elapsed();
                if left > 0 {
                    // The old source's lock goes first.
                    drop(source.take());
                    source = Some(unique_source(&state));
                }
            }
            spent
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, per_nickname);
criterion_main!(benches);
