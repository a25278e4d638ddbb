//! Pull latency, one consumer, against what a user would pick instead, in
//! one group so the figures come from one run:
//!
//! - `nickpool/process-producer`: `Client::next` with the daemon in another
//!   process (`nickpool serve`, started here on a unique name);
//! - `nickpool/thread-producer`: the same with the daemon as a thread of this
//!   process (`daemon::serve`);
//! - `nickpool/batch-16`, `nickpool/batch-64`: `Client::next_batch`, time
//!   per nickname;
//! - `nickpool/threads-N`: N threads of this process pulling at once
//!   through one handle (each from the home shard of its CPU, with its own
//!   runs), time per nickname of all of them together;
//! - `c-abi/nickpool_next`: `nickpool_next` through `libnickpool.so`, loaded
//!   at run time with libloading (the cdylib cargo builds next to this
//!   bench), as a C program would call it;
//! - `baseline/*`: `rand::rng()` + `format!`; a `Mutex<VecDeque<String>>`
//!   filled by a thread; a request/response over a Unix-domain socket; Redis
//!   `LPOP` from a `redis-server` started here (skipped, with a line saying
//!   so, if it is not installed);
//! - `floor/*`: a bare ChaCha8 two-word write, and a one-way cross-core
//!   cache-line transfer (half a ping-pong round trip between two pinned
//!   threads): what any cross-core hand-off costs at least.
//!
//! Every routine copies the nickname into a caller buffer and `black_box`es
//! it: a pull that never touches the payload measures nothing.
//!
//! `Client::next` hands out most nicknames from the calling thread's run
//! (claimed up to 16 at a time in one atomic step), so a single call is
//! mostly a copy from the thread's own memory and, every 16 calls, a claim
//! that copies 16 slot lines.
//!
//! Criterion calls back to back, and one consumer pulls faster than one
//! producer thread generates (about 40 ns a nickname with the slot writes),
//! so the `nickpool/*` figures are the sustained rate with the shards
//! running dry: the daemon's refill rate, not the pull. `nickpool bench
//! --rate N` paces the pulls below it to time the pull itself, and
//! `nickpool bench --sweep` measures many processes.
//!
//! `cargo bench --bench pull`

#[path = "../tests/common/binary.rs"]
mod binary;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nickpool::Client;
use nickpool_server::bench::baseline::{
    ChaChaFloor, FormatBaseline, MutexPool, RedisBaseline, RedisServer, UnixSocketBaseline,
    cache_line_round_trip,
};
use nickpool_server::bench::{DaemonProcess, open_when_full};
use nickpool_server::daemon::{self, Control, ServeOptions};
use std::ffi::{CString, c_char};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ring slots of the daemons started here (the default).
const CAPACITY: u32 = nickpool::segment::DEFAULT_CAPACITY;
/// How long a pull may wait for the producer before the bench fails.
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(1));
/// A buffer that holds any nickname (and its NUL), or a batch of 64.
const BUF_LEN: usize = 64 * (nickpool::MAX_NICKNAME_LEN + 1);
type Buf = [u8; BUF_LEN];

fn unique_name(tag: &str) -> String {
    format!("/nickpool-bench-{tag}-{}", std::process::id())
}

/// Removes a segment file left behind (normally the daemon removes it).
fn remove_segment(name: &str) {
    let _ = std::fs::remove_file(nickpool::segment::shm_path(name));
}

/// The daemon as a thread of this process.
struct ThreadDaemon {
    control: Arc<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
    name: String,
}

impl ThreadDaemon {
    fn start() -> (ThreadDaemon, Client) {
        let name = unique_name("thread");
        let options = ServeOptions {
            capacity: CAPACITY,
            ..ServeOptions::new(name.clone())
        };
        let control = Control::new();
        let thread = {
            let control = Arc::clone(&control);
            std::thread::spawn(move || daemon::serve(&options, &control).expect("serve"))
        };
        let daemon = ThreadDaemon {
            control,
            thread: Some(thread),
            name,
        };
        let client = open_when_full(&daemon.name, || {
            match daemon.thread.as_ref().is_some_and(|t| !t.is_finished()) {
                true => Ok(()),
                false => Err("the daemon thread exited".to_owned()),
            }
        })
        .expect("daemon thread serving");
        (daemon, client)
    }
}

impl Drop for ThreadDaemon {
    fn drop(&mut self) {
        self.control.request_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        remove_segment(&self.name);
    }
}

/// The C library built with this bench: deps/ holds the fresh one (the copy
/// one level up is made only by `cargo build`).
fn cdylib_path() -> PathBuf {
    let profile_dir = binary::profile_dir();
    [profile_dir.join("deps"), profile_dir.clone()]
        .into_iter()
        .map(|dir| dir.join("libnickpool.so"))
        .find(|path| path.exists())
        .expect("libnickpool.so in target/<profile>/deps (crate-type cdylib)")
}

type OpenFn = unsafe extern "C" fn(*const c_char, *mut *mut std::ffi::c_void) -> u32;
type NextFn =
    unsafe extern "C" fn(*mut std::ffi::c_void, *mut c_char, usize, *mut usize, u32) -> u32;
type CloseFn = unsafe extern "C" fn(*mut std::ffi::c_void);

/// `nickpool_next` through the shared library, with the daemon in another
/// process.
fn c_abi(c: &mut Criterion, name: &str) {
    // SAFETY: loading our own cdylib runs no initialisers beyond Rust's
    // runtime-free ones.
    let lib = unsafe { libloading::Library::new(cdylib_path()) }.expect("load libnickpool.so");
    // SAFETY: the symbols have these signatures (include/nickpool.h; the
    // status enum is a C int of fixed numbers).
    let (open, next, close) = unsafe {
        (
            *lib.get::<OpenFn>(b"nickpool_open\0")
                .expect("nickpool_open"),
            *lib.get::<NextFn>(b"nickpool_next\0")
                .expect("nickpool_next"),
            *lib.get::<CloseFn>(b"nickpool_close\0")
                .expect("nickpool_close"),
        )
    };
    let c_name = CString::new(name).expect("name");
    let mut handle = std::ptr::null_mut();
    // SAFETY: a valid C string and a valid out-pointer.
    let status = unsafe { open(c_name.as_ptr(), &mut handle) };
    assert_eq!(status, 0, "nickpool_open failed with status {status}");
    let mut buf: Buf = [0; BUF_LEN];
    let mut group = c.benchmark_group("pull");
    group.throughput(Throughput::Elements(1));
    group.bench_function("c-abi/nickpool_next", |b| {
        b.iter(|| {
            let mut len = 0usize;
            // SAFETY: an open handle, a buffer of buf.len() bytes and a
            // valid out-pointer.
            let status =
                unsafe { next(handle, buf.as_mut_ptr().cast(), buf.len(), &mut len, 1000) };
            assert_eq!(status, 0, "nickpool_next failed with status {status}");
            black_box(&buf[..len]);
        })
    });
    group.finish();
    // SAFETY: the handle came from nickpool_open and is closed once.
    unsafe { close(handle) };
}

/// `threads` threads pull `iters` nicknames in all through one handle, one
/// by one; the time per nickname is the wall time over `iters`.
fn threads_per_nickname(client: &Client, threads: u64, iters: u64) -> Duration {
    let each = iters.div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut buf: Buf = [0; BUF_LEN];
                for _ in 0..each {
                    let len = client.next(&mut buf, TIMEOUT).expect("next");
                    black_box(&buf[..len]);
                }
            });
        }
    });
    start
        .elapsed()
        .mul_f64(iters as f64 / (each * threads) as f64)
}

/// Pulls in batches of `k` until `iters` nicknames are in; the time per
/// nickname is the time per iteration.
fn batch_per_nickname(client: &Client, buf: &mut Buf, k: usize, iters: u64) -> Duration {
    let start = Instant::now();
    let mut pulled = 0u64;
    while pulled < iters {
        let n = client.next_batch(buf, k, TIMEOUT).expect("next_batch");
        black_box(&buf[..]);
        pulled += n as u64;
    }
    let elapsed = start.elapsed();
    elapsed.mul_f64(iters as f64 / pulled as f64)
}

fn pull(c: &mut Criterion) {
    let mut buf: Buf = [0; BUF_LEN];
    {
        let (daemon, client) =
            DaemonProcess::start(&binary::nickpool_bin(), &unique_name("proc"), CAPACITY)
                .expect("daemon process serving");
        let mut group = c.benchmark_group("pull");
        group.throughput(Throughput::Elements(1));
        group.bench_function("nickpool/process-producer", |b| {
            b.iter(|| {
                let len = client.next(&mut buf, TIMEOUT).expect("next");
                black_box(&buf[..len]);
            })
        });
        for k in [16, 64] {
            group.bench_function(format!("nickpool/batch-{k}"), |b| {
                b.iter_custom(|iters| batch_per_nickname(&client, &mut buf, k, iters))
            });
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        for threads in [2, cpus]
            .into_iter()
            .filter(|&t| t >= 2)
            .collect::<std::collections::BTreeSet<_>>()
        {
            group.bench_function(format!("nickpool/threads-{threads}"), |b| {
                b.iter_custom(|iters| threads_per_nickname(&client, threads, iters))
            });
        }
        group.finish();
        c_abi(c, daemon.name());
    }
    {
        let (_daemon, client) = ThreadDaemon::start();
        let mut group = c.benchmark_group("pull");
        group.throughput(Throughput::Elements(1));
        group.bench_function("nickpool/thread-producer", |b| {
            b.iter(|| {
                let len = client.next(&mut buf, TIMEOUT).expect("next");
                black_box(&buf[..len]);
            })
        });
        group.finish();
    }
}

fn baselines(c: &mut Criterion) {
    let mut buf: Buf = [0; BUF_LEN];
    let mut group = c.benchmark_group("pull");
    group.throughput(Throughput::Elements(1));

    let mut format = FormatBaseline::new();
    group.bench_function("baseline/rand-rng-format", |b| {
        b.iter(|| {
            let len = format.next_into(&mut buf);
            black_box(&buf[..len]);
        })
    });
    let mut pool = MutexPool::start(CAPACITY as usize);
    group.bench_function("baseline/mutex-vecdeque", |b| {
        b.iter(|| {
            let len = pool.next_into(&mut buf);
            black_box(&buf[..len]);
        })
    });
    drop(pool);
    let mut floor = ChaChaFloor::new();
    group.bench_function("floor/chacha8-two-words", |b| {
        b.iter(|| {
            let len = floor.next_into(&mut buf);
            black_box(&buf[..len]);
        })
    });
    // Half a round trip: one transfer of the line from one core to the
    // other.
    group.bench_function("floor/cache-line-one-way", |b| {
        b.iter_custom(|iters| {
            // `rounds` round trips are 2 × rounds ≈ iters transfers.
            let rounds = iters.div_ceil(2).max(1);
            cache_line_round_trip(rounds).0.mul_f64(rounds as f64)
        })
    });

    // Tens of microseconds per call: fewer samples.
    group.sample_size(20);
    let mut socket = UnixSocketBaseline::start().expect("unix socket server");
    group.bench_function("baseline/unix-socket", |b| {
        b.iter(|| {
            let len = socket.next_into(&mut buf).expect("socket round trip");
            black_box(&buf[..len]);
        })
    });
    drop(socket);
    match RedisServer::start() {
        Ok(Some(server)) => {
            let mut redis = RedisBaseline::start(&server).expect("redis list");
            group.bench_function("baseline/redis-lpop", |b| {
                b.iter(|| {
                    let len = redis.next_into(&mut buf).expect("LPOP");
                    black_box(&buf[..len]);
                })
            });
        }
        Ok(None) => println!("skipping baseline/redis-lpop: redis-server is not in $PATH"),
        Err(e) => println!("skipping baseline/redis-lpop: cannot start redis-server: {e}"),
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = pull, baselines
}
criterion_main!(benches);
