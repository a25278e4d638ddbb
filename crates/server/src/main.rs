//! The `nickpool` command: parse arguments, call the library, map errors to
//! exit codes (0 success, 1 runtime error, 2 usage error).

mod cmd;

use clap::{Args, Parser, Subcommand};
use nickpool_server::generator::Charset;
use std::path::PathBuf;
use std::process::ExitCode;

/// Chinese nicknames at memory speed, from a lock-free ring in shared memory.
#[derive(Parser)]
#[command(name = "nickpool", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground: create the segment and keep its
    /// ring full. Stops on SIGTERM/SIGINT, reloads the dictionary on SIGHUP.
    Serve(ServeArgs),
    /// Pull nicknames from a running daemon through shared memory and print
    /// them, one per line.
    Pull(PullArgs),
    /// Show a running daemon's statistics.
    Stats(StatsArgs),
    /// Generate nicknames in this process (no daemon), one per line.
    Gen(GenArgs),
    /// Validate a dictionary file; exits 0 if it loads, 1 with line-numbered
    /// problems if not.
    CheckDict(CheckDictArgs),
    /// Measure pulls like redis-benchmark: start a daemon (or use a running
    /// one), drive client processes for a while, and report pulls/s,
    /// latency percentiles, empty events and the daemon's CPU and memory;
    /// optionally against the alternatives, in the same run.
    Bench(BenchArgs),
    /// One client process of `nickpool bench` (started by it).
    #[command(hide = true)]
    BenchWorker(BenchWorkerArgs),
    /// Map a unique-mode nickname back to its index, counter and node, or
    /// say it is not one of ours (exit 1).
    Decode(DecodeArgs),
}

/// Where nicknames come from; shared by `gen` and `serve`.
#[derive(Args, Clone)]
pub struct SourceArgs {
    /// Dictionary file (see README, "Dictionary format"); default: the
    /// embedded dictionary.
    #[arg(long, value_name = "FILE")]
    dict: Option<PathBuf>,
    /// Random-character mode: 2–4 characters from this set instead of the
    /// dictionary's styles (common, tgh, basic, ext-a, ext-b).
    #[arg(long, value_name = "SET", conflicts_with = "style")]
    charset: Option<Charset>,
    /// Only this style of the dictionary (see `nickpool gen --stats`).
    #[arg(long, value_name = "NAME")]
    style: Option<String>,
    /// Extra blocked terms, one per line, added to the dictionary's blocklist.
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
    /// Seed for a reproducible sequence; default: a fresh seed from the OS.
    /// `serve`: each shard S serves the sequence of `nickpool gen --seed N
    /// --stream S`, whatever --producers; the order in which clients take
    /// from the shards is not reproducible. With --unique it seeds only the
    /// choice of styles; the order within each style comes from the
    /// permutation key.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Only nicknames of at most N characters, each as likely as without
    /// the cap relative to the others; styles with none that short are
    /// left out (`gen --stats --max-chars N` counts them). With --unique,
    /// each style numbers only its nicknames that short: a state file or
    /// lease belongs to one cap.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_chars: Option<u16>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Segment name: a leading '/' and up to 199 of A-Z a-z 0-9 . _ -
    /// [default: $NICKPOOL_NAME, else /nickpool]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Slots of all shards together (a power of two from 4 to 16777216),
    /// divided evenly among the shards; each takes 64 bytes of /dev/shm.
    #[arg(long, value_name = "N", default_value_t = nickpool::segment::DEFAULT_CAPACITY)]
    capacity: u32,
    /// Rings the capacity is divided into: a power of two from 1 to 64,
    /// each of at least 4 slots. A client pulls from the shard of the CPU
    /// it runs on and takes from the others only when that one is empty,
    /// so cores pulling at once rarely share a cache line. [default: the
    /// online CPUs rounded up to a power of two, at most 64, fewer if the
    /// capacity leaves a shard under 4 slots]
    #[arg(long, value_name = "N")]
    shards: Option<u32>,
    /// Producer threads, from 1 to --shards: thread T fills shards T,
    /// T + N, T + 2N, … and sleeps when they are all full. [default: one
    /// per 4 online CPUs, at least 1, at most --shards]
    #[arg(long, value_name = "N")]
    producers: Option<u32>,
    /// Segment file mode in octal; 0600 lets only this user pull, 0660 also
    /// the segment's group (see --group).
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = cmd::serve::parse_mode)]
    mode: u32,
    /// Give the segment to this group (name or number); use with --mode 0660.
    #[arg(long, value_name = "GROUP", value_parser = cmd::serve::parse_group)]
    group: Option<u32>,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    unique: UniqueArgs,
    /// Test aid: append "#<ring position>" to every nickname.
    #[arg(long, hide = true)]
    test_tag: bool,
    /// Serve Prometheus metrics over HTTP at this address, under /metrics
    /// (e.g. 127.0.0.1:9464; port 0 picks a free port, which is logged).
    #[arg(long, value_name = "ADDR", value_parser = cmd::serve::parse_metrics_addr)]
    metrics: Option<std::net::SocketAddr>,
}

/// Unique mode's flags for `serve`.
#[derive(Args)]
pub struct UniqueArgs {
    /// Unique mode: never hand out the same nickname twice, across restarts
    /// and machines. Each nickname picks its style by the dictionary's
    /// weights, as in random mode; each style walks a keyed pseudo-random
    /// permutation of its combinations with a counter of its own, so
    /// nicknames still look random. A used-up style drops out and the
    /// others go on. Needs --state or --lease. When every style is used
    /// up, clients get NICKPOOL_EXHAUSTED.
    #[arg(long)]
    unique: bool,
    /// Unique mode's state file: the permutation key, the dictionary's
    /// fingerprint, the node and how far each style has reserved. Created
    /// if missing; refused (never reset) if corrupted, written by an
    /// earlier version, or made for another dictionary or node. One daemon
    /// per state file.
    #[arg(
        long,
        value_name = "FILE",
        requires = "unique",
        conflicts_with = "lease"
    )]
    state: Option<PathBuf>,
    /// Discard the state file and begin a new permutation: to switch
    /// dictionaries or get past a corrupted file. Nicknames handed out
    /// under the old state may repeat.
    #[arg(long, requires = "state")]
    reset_state: bool,
    /// This daemon's node number, from 0 to N-1 (with --nodes N): node I
    /// uses only the counters congruent to I modulo N, so N daemons never
    /// collide without talking. Every node needs the same --key and
    /// dictionary, and its own state file.
    #[arg(long, value_name = "I", requires_all = ["nodes", "state"])]
    node_id: Option<u64>,
    /// How many nodes share the space (see --node-id).
    #[arg(long, value_name = "N", requires = "node_id")]
    nodes: Option<u64>,
    /// Lease counter blocks from Redis instead of a state file: every
    /// daemon on KEY shares its per-style counters (a hash, atomic
    /// HINCRBY), and KEY:meta holds the permutation key and dictionary
    /// fingerprint, which all must match.
    #[arg(long, value_name = "redis://HOST:PORT/KEY", requires = "unique")]
    lease: Option<String>,
    /// The permutation key, 32 hex digits, used when the state file (or
    /// lease) is created; must match an existing one. Default: random from
    /// the OS. Required with --nodes, where every node needs the same key.
    #[arg(long, value_name = "HEX", requires = "unique")]
    key: Option<String>,
}

#[derive(Args)]
pub struct PullArgs {
    /// Segment name [default: $NICKPOOL_NAME, else /nickpool]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// How many nicknames to pull.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 1)]
    count: u64,
    /// How long to wait for each nickname when the ring is empty, in
    /// milliseconds; 0 never waits.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    timeout_ms: u64,
}

#[derive(Args)]
pub struct StatsArgs {
    /// Segment name [default: $NICKPOOL_NAME, else /nickpool]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Print the Prometheus text format instead of text (for node_exporter's
    /// textfile collector): the metrics of `serve --metrics`, less the
    /// refill histograms, which only the daemon has.
    #[arg(long, conflicts_with = "json")]
    prometheus: bool,
}

#[derive(Args)]
pub struct GenArgs {
    /// How many nicknames to print.
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 10)]
    count: u64,
    /// Print the number of distinct nicknames per style and in total, the
    /// share of draws and the lengths, instead of nicknames.
    #[arg(long)]
    stats: bool,
    /// Which of the seed's ChaCha streams: shard S of `serve --seed N`
    /// serves `gen --seed N --stream S`.
    #[arg(long, value_name = "S", default_value_t = 0, requires = "seed")]
    stream: u64,
    /// Print every nickname the dictionary (with --style, --blocklist,
    /// --max-chars) can produce, once each, in unique mode's index order:
    /// exactly what `serve --unique` may hand out.
    #[arg(long, conflicts_with_all = ["stats", "count", "seed", "charset"])]
    all: bool,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Segment name. Default: a fresh /nickpool-bench-<pid> for the daemon
    /// the bench starts; with --attach, $NICKPOOL_NAME, else /nickpool.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Use the daemon already serving --name instead of starting one (its
    /// other clients' pulls then show in the progress lines and stats).
    #[arg(long)]
    attach: bool,
    /// Client processes pulling at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    procs: u32,
    /// Threads per client process, sharing one handle.
    #[arg(long, value_name = "T", default_value_t = 1)]
    threads: u32,
    /// How long the clients pull, in seconds.
    #[arg(long, value_name = "S", default_value_t = 5)]
    seconds: u64,
    /// Nicknames claimed per call: 1 uses `next`, more uses `next_batch`
    /// (latency is then per call, and per nickname divided by the batch).
    #[arg(long, value_name = "K", default_value_t = 1)]
    batch: u32,
    /// Pace each thread to about N pulls a second; 0 pulls as fast as it
    /// can. Below the daemon's refill rate the ring never runs dry, so the
    /// latencies are of the pull itself rather than of waiting for the
    /// daemon. Calls stay back to back within each timed group of 8.
    #[arg(long, value_name = "N", default_value_t = 0)]
    rate: u64,
    /// Ring slots of the daemon the bench starts (a power of two); not with
    /// --attach.
    #[arg(long, value_name = "C", default_value_t = nickpool::segment::DEFAULT_CAPACITY, conflicts_with = "attach")]
    capacity: u32,
    /// `serve --shards` for the daemon the bench starts [default: serve's].
    #[arg(long, value_name = "N", conflicts_with = "attach")]
    shards: Option<u32>,
    /// `serve --producers` for the daemon the bench starts [default:
    /// serve's].
    #[arg(long, value_name = "N", conflicts_with = "attach")]
    producers: Option<u32>,
    /// Run the bench once per process count in the list (e.g. 1,2,4,8,15),
    /// each with a fresh daemon unless --attach, and print one row per
    /// count: total pulls/s, p50, p99, p99.9, empty events, daemon CPU.
    /// Implies --pin.
    #[arg(long, value_name = "LIST", conflicts_with_all = ["procs", "compare", "svg"])]
    sweep: Option<String>,
    /// Give the daemon and every client thread CPUs of their own: the
    /// bench's own daemon runs on the first P CPUs this process may use (P
    /// = its producer threads), each client thread on one of the next ones
    /// (with --attach: on CPUs outside the daemon's affinity). Where there
    /// are too few CPUs, nothing is pinned and the report says so.
    #[arg(long)]
    pin: bool,
    /// Also measure, in this process and the same run, what a user would
    /// use instead: rand::rng() + format!, a ChaCha8 write (the floor of
    /// generation), a Mutex<VecDeque<String>> pool, a Unix-socket round trip,
    /// Redis LPOP (if redis-server is installed), and a cross-core cache-line
    /// transfer; print each against the pull.
    #[arg(long)]
    compare: bool,
    /// Print one JSON object on stdout instead of the text report (progress
    /// lines still go to stderr).
    #[arg(long)]
    json: bool,
    /// Write a latency-percentile chart (SVG) of the run to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(Args)]
pub struct BenchWorkerArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    threads: u32,
    #[arg(long)]
    batch: u32,
    #[arg(long)]
    rate: u64,
    /// One CPU per thread, comma-separated: thread i runs on the i-th.
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("decode_key").required(true)))]
pub struct DecodeArgs {
    /// The nickname to look up.
    nickname: String,
    /// The state file of the daemon that serves it (read, not locked).
    #[arg(long, value_name = "FILE", group = "decode_key")]
    state: Option<PathBuf>,
    /// The permutation key (32 hex digits) instead of a state file.
    #[arg(long, value_name = "HEX", group = "decode_key")]
    key: Option<String>,
    /// The lease the daemons use, instead of a state file.
    #[arg(long, value_name = "redis://HOST:PORT/KEY", group = "decode_key")]
    lease: Option<String>,
    /// With --key: how many nodes share the space, to name the node.
    #[arg(long, value_name = "N", requires = "key", default_value_t = 1)]
    nodes: u64,
    /// The dictionary file the daemon serves; default: the embedded one.
    #[arg(long, value_name = "FILE")]
    dict: Option<PathBuf>,
    /// The daemon's --charset, if any.
    #[arg(long, value_name = "SET")]
    charset: Option<Charset>,
    /// The daemon's --style, if any.
    #[arg(long, value_name = "NAME")]
    style: Option<String>,
    /// The daemon's --blocklist, if any.
    #[arg(long, value_name = "FILE")]
    blocklist: Option<PathBuf>,
    /// The daemon's --max-chars, if any.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_chars: Option<u16>,
}

#[derive(Args)]
pub struct CheckDictArgs {
    /// The dictionary file to check.
    file: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Pull(args) => cmd::pull::run(args),
        Command::Stats(args) => cmd::pull::stats(args),
        Command::Gen(args) => cmd::generate::run(args),
        Command::CheckDict(args) => cmd::generate::check_dict(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::BenchWorker(args) => cmd::bench::worker::run(args),
        Command::Decode(args) => cmd::decode::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("nickpool: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
