//! `nickpool bench --compare`: the alternatives, measured in this process
//! with the same sampler as the pulls, right after them.

use super::measure::{self, GROUP, Measured, SAMPLE_GROUPS};
use nickpool_server::bench::baseline::{
    ChaChaFloor, FormatBaseline, MutexPool, RedisBaseline, RedisServer, UnixSocketBaseline,
    cache_line_round_trip,
};
use std::hint::black_box;
use std::time::Duration;

/// How long each alternative runs.
const SECONDS_EACH: Duration = Duration::from_secs(1);
/// Slots of the mutex pool (as many as the daemon's default ring).
const POOL_CAPACITY: usize = nickpool::segment::DEFAULT_CAPACITY as usize;

/// One alternative's result.
pub struct Alternative {
    /// Short key for JSON.
    pub key: &'static str,
    /// What a reader sees.
    pub label: &'static str,
    /// How to name it in "pull p50 is N× faster than …".
    pub phrase: &'static str,
    pub measured: Measured,
}

/// Everything `--compare` measured.
pub struct Comparison {
    pub alternatives: Vec<Alternative>,
    /// Why Redis is missing, if it is.
    pub redis_skipped: Option<String>,
    /// Half the fastest round trip of a cache line between two cores, in ns.
    pub cache_line_one_way_ns: f64,
    /// Whether the ping-pong threads were pinned to two CPUs.
    pub cache_line_pinned: bool,
}

/// Runs every alternative for [`SECONDS_EACH`], printing a line to stderr
/// before each.
pub fn run() -> Comparison {
    let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN + 1];
    let mut alternatives = Vec::new();
    let announce = |label: &str| eprintln!("compare: {label} …");

    let mut add = |key, label, phrase, measured| {
        alternatives.push(Alternative {
            key,
            label,
            phrase,
            measured,
        })
    };
    announce("rand::rng() + format!");
    let mut format = FormatBaseline::new();
    add(
        "rand_format",
        "rand::rng() + format!",
        "format!",
        measure::for_duration(SECONDS_EACH, GROUP, SAMPLE_GROUPS, || {
            let len = format.next_into(&mut buf);
            black_box(&buf[..len]).len()
        }),
    );
    announce("ChaCha8 two-word write");
    let mut floor = ChaChaFloor::new();
    add(
        "chacha8_floor",
        "ChaCha8 two-word write (floor)",
        "a bare ChaCha8 write",
        measure::for_duration(SECONDS_EACH, GROUP, SAMPLE_GROUPS, || {
            let len = floor.next_into(&mut buf);
            black_box(&buf[..len]).len()
        }),
    );
    announce("Mutex<VecDeque<String>> pool");
    let mut pool = MutexPool::start(POOL_CAPACITY);
    add(
        "mutex_pool",
        "Mutex<VecDeque<String>> + thread",
        "a mutex pool",
        measure::for_duration(SECONDS_EACH, GROUP, SAMPLE_GROUPS, || {
            let len = pool.next_into(&mut buf);
            black_box(&buf[..len]).len()
        }),
    );
    drop(pool);
    announce("Unix-socket round trip");
    match UnixSocketBaseline::start() {
        Ok(mut socket) => add(
            "unix_socket",
            "Unix-socket round trip",
            "a Unix-socket round trip",
            measure::for_duration(SECONDS_EACH, 1, 1, || {
                let len = socket.next_into(&mut buf).unwrap_or(0);
                black_box(&buf[..len]).len()
            }),
        ),
        Err(e) => eprintln!("compare: cannot start the Unix-socket server: {e}"),
    }
    let redis_skipped = match RedisServer::start() {
        Ok(Some(server)) => match RedisBaseline::start(&server) {
            Ok(mut redis) => {
                announce("Redis LPOP");
                add(
                    "redis_lpop",
                    "Redis LPOP",
                    "Redis LPOP",
                    measure::for_duration(SECONDS_EACH, 1, 1, || {
                        let len = redis.next_into(&mut buf).unwrap_or(0);
                        black_box(&buf[..len]).len()
                    }),
                );
                None
            }
            Err(e) => Some(format!("cannot fill the Redis list: {e}")),
        },
        Ok(None) => Some("redis-server is not installed (not in $PATH)".into()),
        Err(e) => Some(format!("cannot start redis-server: {e}")),
    };
    if let Some(why) = &redis_skipped {
        eprintln!("compare: skipping Redis LPOP: {why}");
    }

    announce("cross-core cache-line ping-pong");
    // The fastest of 31 runs of 5,000 round trips (a fraction of a
    // scheduler time slice each): other work on the machine only ever adds
    // time, and a floor is what this figure is for.
    let (round_trip, pinned) = (0..31)
        .map(|_| cache_line_round_trip(5_000))
        .min()
        .unwrap_or_default();
    Comparison {
        alternatives,
        redis_skipped,
        cache_line_one_way_ns: round_trip.as_nanos() as f64 / 2.0,
        cache_line_pinned: pinned,
    }
}
