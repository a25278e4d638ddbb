//! The alternatives a user would pick instead of nickpool, each reduced to
//! "put the next nickname into this buffer", so a benchmark times them the
//! same way it times a pull:
//!
//! - [`FormatBaseline`]: generate in-process with `rand::rng()` and
//!   `format!` (what most code does).
//! - [`ChaChaFloor`]: the least generation can cost: ChaCha8, two word
//!   picks, two copies, no styles or safety checks.
//! - [`MutexPool`]: pop a `Mutex<VecDeque<String>>` that a producer thread
//!   keeps full.
//! - [`UnixSocketBaseline`]: one request/response over a Unix-domain socket
//!   to a small server thread.
//! - [`RedisBaseline`]: `LPOP` (through the `redis` crate) from a list in a
//!   real `redis-server` that a producer thread keeps filled with `RPUSH`.
//!
//! and the hardware floor under any cross-core hand-off,
//! [`cache_line_round_trip`].

use crate::generator::{DEFAULT_DICT, Dictionary, Generator, Seed};
use rand::prelude::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The words of one `[class NAME]` section of the default dictionary.
pub fn class_words(class: &str) -> Vec<String> {
    let header = format!("[class {class}]");
    DEFAULT_DICT
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Copies `text` into the front of `buf` and returns its length (a slot's
/// payload always fits the buffers the benchmarks use).
#[inline]
fn copy_out(text: &[u8], buf: &mut [u8]) -> usize {
    buf[..text.len()].copy_from_slice(text);
    text.len()
}

/// What a user would write instead of a pool: thread RNG, pick two words,
/// `format!`. The string is copied into the caller's buffer and dropped.
pub struct FormatBaseline {
    adjs: Vec<String>,
    nouns: Vec<String>,
    rng: rand::rngs::ThreadRng,
}

impl FormatBaseline {
    pub fn new() -> FormatBaseline {
        FormatBaseline {
            adjs: class_words("adj"),
            nouns: class_words("noun"),
            rng: rand::rng(),
        }
    }

    #[inline]
    pub fn next_into(&mut self, buf: &mut [u8]) -> usize {
        let name = format!(
            "{}的{}",
            self.adjs.choose(&mut self.rng).map_or("", |s| s),
            self.nouns.choose(&mut self.rng).map_or("", |s| s)
        );
        copy_out(name.as_bytes(), buf)
    }
}

impl Default for FormatBaseline {
    fn default() -> Self {
        FormatBaseline::new()
    }
}

/// The floor under generation: ChaCha8, two uniform picks, two copies into
/// the caller's buffer; no styles, no safety checks, no allocation.
pub struct ChaChaFloor {
    adjs: Vec<Vec<u8>>,
    nouns: Vec<Vec<u8>>,
    rng: ChaCha8Rng,
}

impl ChaChaFloor {
    pub fn new() -> ChaChaFloor {
        ChaChaFloor {
            adjs: class_words("adj")
                .iter()
                .map(|w| format!("{w}的").into_bytes())
                .collect(),
            nouns: class_words("noun")
                .into_iter()
                .map(String::into_bytes)
                .collect(),
            rng: ChaCha8Rng::seed_from_u64(1),
        }
    }

    #[inline]
    pub fn next_into(&mut self, buf: &mut [u8]) -> usize {
        let pick = |rng: &mut ChaCha8Rng, n: usize| {
            ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
        };
        let a = &self.adjs[pick(&mut self.rng, self.adjs.len())];
        let n = &self.nouns[pick(&mut self.rng, self.nouns.len())];
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..a.len() + n.len()].copy_from_slice(n);
        a.len() + n.len()
    }
}

impl Default for ChaChaFloor {
    fn default() -> Self {
        ChaChaFloor::new()
    }
}

/// A generator of the daemon's nicknames, for the baselines' producers.
fn generator() -> Generator {
    Generator::new(Arc::new(Dictionary::embedded()), Seed::Os, 0)
}

/// The state a [`MutexPool`] shares with its producer thread.
struct PoolShared {
    queue: Mutex<PoolQueue>,
    not_empty: Condvar,
    not_full: Condvar,
    stop: AtomicBool,
}

struct PoolQueue {
    names: VecDeque<String>,
    capacity: usize,
    producer_waiting: bool,
}

/// A `Mutex<VecDeque<String>>` pool that a producer thread keeps full: the
/// in-process design a user would write before reaching for shared memory.
pub struct MutexPool {
    shared: Arc<PoolShared>,
    producer: Option<JoinHandle<()>>,
    /// Pops that found the pool empty and had to wait.
    pub empty_events: u64,
}

impl MutexPool {
    /// Starts the producer and waits until it has filled `capacity` names.
    pub fn start(capacity: usize) -> MutexPool {
        let shared = Arc::new(PoolShared {
            queue: Mutex::new(PoolQueue {
                names: VecDeque::with_capacity(capacity),
                capacity,
                producer_waiting: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let producer = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut generator = generator();
                while !shared.stop.load(Ordering::Relaxed) {
                    let name = generator.generate();
                    let mut queue = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
                    while queue.names.len() >= queue.capacity {
                        if shared.stop.load(Ordering::Relaxed) {
                            return;
                        }
                        queue.producer_waiting = true;
                        queue = shared
                            .not_full
                            .wait(queue)
                            .unwrap_or_else(|p| p.into_inner());
                    }
                    let was_empty = queue.names.is_empty();
                    queue.names.push_back(name);
                    drop(queue);
                    if was_empty {
                        shared.not_empty.notify_all();
                    }
                }
            })
        };
        let pool = MutexPool {
            shared,
            producer: Some(producer),
            empty_events: 0,
        };
        while pool.len() < capacity {
            std::thread::sleep(Duration::from_millis(1));
        }
        pool
    }

    fn len(&self) -> usize {
        self.lock().names.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolQueue> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pops the next name into `buf`, waiting if the pool is empty.
    #[inline]
    pub fn next_into(&mut self, buf: &mut [u8]) -> usize {
        let mut queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        let name = loop {
            if let Some(name) = queue.names.pop_front() {
                break name;
            }
            self.empty_events += 1;
            queue = self
                .shared
                .not_empty
                .wait(queue)
                .unwrap_or_else(|p| p.into_inner());
        };
        let wake = queue.producer_waiting && queue.names.len() <= queue.capacity / 2;
        if wake {
            queue.producer_waiting = false;
        }
        drop(queue);
        if wake {
            self.shared.not_full.notify_one();
        }
        copy_out(name.as_bytes(), buf)
    }
}

impl Drop for MutexPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Take the lock so the producer is either before its check of
        // `stop` or waiting, then wake it.
        drop(self.lock());
        self.shared.not_full.notify_all();
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}

/// A unique path for a socket or scratch directory of this process.
fn scratch_path(what: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "nickpool-bench-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A request/response over a Unix-domain stream socket: the client writes
/// one byte, a server thread answers with a length byte and the nickname.
/// The smallest a nickname service behind a socket can be.
pub struct UnixSocketBaseline {
    stream: UnixStream,
    server: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl UnixSocketBaseline {
    /// Binds a socket in the temporary directory, starts the server thread
    /// and connects to it.
    pub fn start() -> io::Result<UnixSocketBaseline> {
        let path = scratch_path("sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let server = std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut generator = generator();
            let mut request = [0u8; 1];
            let mut reply = [0u8; 1 + crate::MAX_NICKNAME_LEN];
            // One reply per request byte, until the client hangs up.
            while let Ok(1) = conn.read(&mut request) {
                let len = generator.generate_into(&mut reply[1..]);
                reply[0] = len as u8;
                if conn.write_all(&reply[..1 + len]).is_err() {
                    break;
                }
            }
        });
        let stream = UnixStream::connect(&path)?;
        Ok(UnixSocketBaseline {
            stream,
            server: Some(server),
            path,
        })
    }

    /// One round trip: the next nickname into `buf`.
    #[inline]
    pub fn next_into(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.write_all(&[1])?;
        let mut reply = [0u8; 1 + crate::MAX_NICKNAME_LEN];
        let mut got = 0;
        // The server writes each reply with one write; one read usually
        // gets all of it.
        loop {
            let n = self.stream.read(&mut reply[got..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            got += n;
            if got > 0 && got > reply[0] as usize {
                break;
            }
        }
        let len = reply[0] as usize;
        Ok(copy_out(&reply[1..1 + len], buf))
    }
}

impl Drop for UnixSocketBaseline {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A connection to a local Redis through the `redis` crate (the client the
/// daemon's unique-mode lease uses), as a user's service would talk to it.
fn redis_connection(port: u16) -> io::Result<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|client| client.get_connection())
        .map_err(io::Error::other)
}

/// Runs one command on `connection`.
fn redis_query<T: redis::FromRedisValue>(
    connection: &mut redis::Connection,
    command: &redis::Cmd,
) -> io::Result<T> {
    command.query(connection).map_err(io::Error::other)
}

/// A `redis-server` of our own on a free loopback port, with persistence
/// off. Dropping it kills the server and removes its directory.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` from `$PATH`. `Ok(None)` if it is not
    /// installed.
    pub fn start() -> io::Result<Option<RedisServer>> {
        let Some(binary) = find_in_path("redis-server") else {
            return Ok(None);
        };
        // Ask the kernel for a free port, then hand it to the server.
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        let dir = scratch_path("redis");
        std::fs::create_dir_all(&dir)?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = RedisServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = redis_connection(port) {
                if redis_query::<String>(&mut c, &redis::cmd("PING")).is_ok() {
                    return Ok(Some(server));
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(io::Error::other(format!(
                    "redis-server exited with {status} before answering on port {port}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "redis-server did not answer on port {port} within 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `name` in a directory of `$PATH`, if it is there.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `LPOP` from a list that a producer thread (with its own connection)
/// keeps above 50,000 names with `RPUSH`es of 1,000: the usual way to share
/// a pre-generated pool between processes without shared memory.
pub struct RedisBaseline {
    connection: redis::Connection,
    lpop: redis::Cmd,
    stop: Arc<AtomicBool>,
    producer: Option<JoinHandle<io::Result<()>>>,
    /// Pops that found the list empty and retried.
    pub empty_events: u64,
}

const REDIS_KEY: &str = "nickpool:bench";
const REDIS_LOW_WATER: i64 = 50_000;
const REDIS_PUSH: usize = 1_000;

impl RedisBaseline {
    /// Connects to `server`, fills the list to twice the low-water mark and
    /// starts the producer.
    pub fn start(server: &RedisServer) -> io::Result<RedisBaseline> {
        let mut producer_conn = redis_connection(server.port())?;
        let mut generator = generator();
        let mut push = move |conn: &mut redis::Connection| -> io::Result<()> {
            let names: Vec<String> = (0..REDIS_PUSH).map(|_| generator.generate()).collect();
            redis_query::<i64>(conn, redis::cmd("RPUSH").arg(REDIS_KEY).arg(&names)).map(drop)
        };
        redis_query::<i64>(&mut producer_conn, redis::cmd("DEL").arg(REDIS_KEY))?;
        for _ in 0..(2 * REDIS_LOW_WATER as usize).div_ceil(REDIS_PUSH) {
            push(&mut producer_conn)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let llen = redis::cmd("LLEN").arg(REDIS_KEY).clone();
                while !stop.load(Ordering::Relaxed) {
                    if redis_query::<i64>(&mut producer_conn, &llen)? < REDIS_LOW_WATER {
                        push(&mut producer_conn)?;
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Ok(())
            })
        };
        Ok(RedisBaseline {
            connection: redis_connection(server.port())?,
            lpop: redis::cmd("LPOP").arg(REDIS_KEY).clone(),
            stop,
            producer: Some(producer),
            empty_events: 0,
        })
    }

    /// `LPOP` the next name into `buf`; retries while the list is empty.
    #[inline]
    pub fn next_into(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match redis_query::<Option<Vec<u8>>>(&mut self.connection, &self.lpop)? {
                Some(name) => return Ok(copy_out(&name, buf)),
                None => self.empty_events += 1,
            }
        }
    }
}

impl Drop for RedisBaseline {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}

/// The first two CPUs this process may run on.
fn two_cpus() -> Option<(usize, usize)> {
    let cpus = super::affinity::allowed(0)?;
    Some((*cpus.first()?, *cpus.get(1)?))
}

/// The cost of moving one cache line from one core to another and back:
/// two threads pinned to two CPUs bounce a counter on one line `rounds`
/// times. Returns the time per round trip (two one-way transfers) and
/// whether both threads could be pinned.
pub fn cache_line_round_trip(rounds: u64) -> (Duration, bool) {
    let line = Arc::new(crate::ring::CacheLine(AtomicU64::new(0)));
    let cpus = two_cpus();
    let echo = {
        let line = Arc::clone(&line);
        std::thread::spawn(move || {
            let pinned = cpus.is_some_and(|(_, b)| super::affinity::pin_to(b));
            // Answer every odd value v with v + 1.
            for round in 0..rounds {
                let ping = 2 * round + 1;
                while line.0.load(Ordering::Acquire) != ping {
                    std::hint::spin_loop();
                }
                line.0.store(ping + 1, Ordering::Release);
            }
            pinned
        })
    };
    let pinned = cpus.is_some_and(|(a, _)| super::affinity::pin_to(a));
    let start = Instant::now();
    for round in 0..rounds {
        line.0.store(2 * round + 1, Ordering::Release);
        while line.0.load(Ordering::Acquire) != 2 * round + 2 {
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    let echo_pinned = echo.join().unwrap_or(false);
    if cpus.is_some() {
        // Unpin this thread again.
        super::affinity::unpin();
    }
    (elapsed / rounds.max(1) as u32, pinned && echo_pinned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_nickname(buf: &[u8], len: usize) -> bool {
        len > 0 && std::str::from_utf8(&buf[..len]).is_ok_and(|s| s.chars().count() >= 2)
    }

    #[test]
    fn every_baseline_yields_nicknames() {
        let mut buf = [0u8; 64];
        let n = FormatBaseline::new().next_into(&mut buf);
        assert!(is_nickname(&buf, n));
        let n = ChaChaFloor::new().next_into(&mut buf);
        assert!(is_nickname(&buf, n));
        let mut pool = MutexPool::start(64);
        for _ in 0..200 {
            let n = pool.next_into(&mut buf);
            assert!(is_nickname(&buf, n));
        }
        drop(pool);
        let mut socket = UnixSocketBaseline::start().unwrap();
        for _ in 0..10 {
            let n = socket.next_into(&mut buf).unwrap();
            assert!(is_nickname(&buf, n));
        }
        let path = socket.path.clone();
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn redis_lpop_yields_nicknames_when_installed() {
        let Some(server) = RedisServer::start().unwrap() else {
            eprintln!("redis-server is not installed; skipping");
            return;
        };
        let mut redis = RedisBaseline::start(&server).unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..10 {
            let n = redis.next_into(&mut buf).unwrap();
            assert!(is_nickname(&buf, n));
        }
    }

    #[test]
    fn cache_line_round_trip_completes() {
        let (per_round, _) = cache_line_round_trip(1_000);
        assert!(per_round > Duration::ZERO);
    }
}
