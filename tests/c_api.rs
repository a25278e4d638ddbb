//! The C ABI as C programs see it: the header is current and compiles as
//! C99 and C++11; every example and the C contract program compile with
//! -Wall -Wextra -Werror -pedantic (also under ASan/UBSan) and run against a
//! real daemon; the timing and daemon-lifecycle semantics hold when driven
//! through the exported functions; and the library installs and links the
//! way a C user builds against it.
//!
//! The C programs link the cdylib that cargo builds next to the `nickpool`
//! binary (target/<profile>/libnickpool.so). `NICKPOOL_BLESS=1 cargo test
//! --test c_api header` rewrites include/nickpool.h.

mod common;

use common::c::{Build, assert_success, build_dir, have, lib_dir, output_of, root, run, stdout};
use common::{Daemon, unique_name};
use nickpool::ffi::{self, NICKPOOL_WAIT_FOREVER, nickpool_client, nickpool_status as Status};
use std::collections::{HashMap, HashSet};
use std::ffi::{CString, c_char};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- header

/// The header cbindgen generates now from src/ffi.rs and cbindgen.toml.
fn generated_header() -> String {
    let root = root();
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

/// include/nickpool.h is exactly what the pinned cbindgen generates; with
/// NICKPOOL_BLESS=1 it is rewritten instead.
#[test]
fn header_is_up_to_date() {
    let path = root().join("include/nickpool.h");
    let fresh = generated_header();
    if std::env::var_os("NICKPOOL_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "include/nickpool.h is out of date with src/ffi.rs; run \
         `NICKPOOL_BLESS=1 cargo test --test c_api header` and commit it"
    );
}

/// The header compiles cleanly as C99 and as C++11 with every compiler on
/// the machine (gcc and clang), declares the contract's numbers and
/// signatures (checked at compile time), and matches the library's ABI.
#[test]
fn header_compiles_as_c99_and_cxx11() {
    let mut compiled = 0;
    for (compiler, lang, std) in [
        ("cc", "c", "c99"),
        ("clang", "c", "c99"),
        ("c++", "c++", "c++11"),
        ("clang++", "c++", "c++11"),
    ] {
        if !have(compiler) {
            continue;
        }
        let exe = Build::new("tests/c/header_check.c", &format!("header-{compiler}"))
            .compiler(compiler)
            .language(lang, std)
            .compile();
        let out = run(&exe, &[], &[]);
        assert_success(&out, "header_check");
        assert_eq!(
            stdout(&out),
            format!("header ok {}\n", env!("CARGO_PKG_VERSION"))
        );
        compiled += 1;
    }
    assert!(compiled >= 2, "need at least a C and a C++ compiler");

    // The C++17 wrapper, with each C++ compiler, with and without
    // exceptions.
    for compiler in ["c++", "clang++"].into_iter().filter(|c| have(c)) {
        for flags in [
            &["-fsyntax-only"][..],
            &["-fsyntax-only", "-fno-exceptions"],
        ] {
            Build::new("examples/client.cpp", &format!("client-{compiler}"))
                .compiler(compiler)
                .flags(flags)
                .link(vec![format!("-I{}", root().join("include").display())])
                .compile();
        }
    }
}

/// The symbol version each exported function must carry: the node of the
/// release that added it, forever.
const SYMBOL_VERSIONS: [(&str, &str); 9] = [
    ("nickpool_abi_version", "NICKPOOL_1.0"),
    ("nickpool_open", "NICKPOOL_1.0"),
    ("nickpool_close", "NICKPOOL_1.0"),
    ("nickpool_next", "NICKPOOL_1.0"),
    ("nickpool_next_batch", "NICKPOOL_1.0"),
    ("nickpool_stats", "NICKPOOL_1.0"),
    ("nickpool_status_str", "NICKPOOL_1.0"),
    ("nickpool_last_error", "NICKPOOL_1.1"),
    ("nickpool_version", "NICKPOOL_1.1"),
];

/// The functions a shared library exports and their versions, from
/// `objdump -T` ("Base" for none).
fn exported_functions(lib: &Path) -> std::collections::BTreeMap<String, String> {
    let table = output_of(Command::new("objdump").arg("-T").arg(lib));
    table
        .lines()
        .filter(|l| l.contains(" DF .text"))
        .filter_map(|l| {
            let mut fields = l.split_whitespace().rev();
            let (name, version) = (fields.next()?, fields.next()?);
            Some((name.to_owned(), version.to_owned()))
        })
        .collect()
}

/// Each function carries its version node where the build versions
/// symbols (see build.rs), and the node definitions are there.
fn assert_symbol_versions(lib: &Path) {
    let exported = exported_functions(lib);
    if !cfg!(nickpool_symbol_versions) {
        common::skip(
            "symbol versions",
            "this build has none (see build.rs); checked the names only",
        );
        return;
    }
    let expected: std::collections::BTreeMap<String, String> = SYMBOL_VERSIONS
        .iter()
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .collect();
    assert_eq!(exported, expected, "objdump -T {}", lib.display());
    let nodes = output_of(Command::new("readelf").arg("-V").arg(lib));
    for node in ["NICKPOOL_1.0", "NICKPOOL_1.1"] {
        assert!(
            nodes.contains(&format!("Name: {node}")),
            "{node} not defined:\n{nodes}"
        );
    }
}

/// The cdylib exports exactly the functions the header declares (no test
/// hooks, no Rust symbols) and carries the versioned SONAME.
#[test]
fn library_exports_exactly_the_header_functions() {
    let header = std::fs::read_to_string(root().join("include/nickpool.h")).unwrap();
    let declared: HashSet<String> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('*'))
        .filter_map(|l| {
            // "nickpool_status nickpool_open(const char *name, ..." -> the
            // identifier just before the first parenthesis.
            let before = &l[..l.find('(')?];
            let name = before.rsplit([' ', '*']).next()?;
            name.starts_with("nickpool_").then(|| name.to_owned())
        })
        .collect();
    assert_eq!(declared.len(), SYMBOL_VERSIONS.len(), "{declared:?}");

    let lib = lib_dir().join("libnickpool.so");
    let nm = output_of(Command::new("nm").args(["-D", "--defined-only"]).arg(&lib));
    let exported: HashSet<String> = nm
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            // "nickpool_open@@NICKPOOL_1.0": the name before its version.
            let name = name.split('@').next()?;
            (kind == "T").then(|| name.to_owned())
        })
        .collect();
    assert_eq!(exported, declared);
    assert_symbol_versions(&lib);

    let dynamic = output_of(Command::new("readelf").arg("-d").arg(&lib));
    let soname = format!("[libnickpool.so.{}]", ffi::NICKPOOL_ABI_VERSION);
    assert!(
        dynamic
            .lines()
            .any(|l| l.contains("SONAME") && l.contains(&soname)),
        "{dynamic}"
    );
}

/// The shard and position a `--test-tag` nickname carries ("快乐的小猫#1.42").
fn position(nickname: &str) -> (usize, usize) {
    let (text, shard, position) = common::tagged(nickname);
    assert!(!text.is_empty(), "{nickname:?}");
    (shard, position)
}

// ------------------------------------------------ examples and contract.c

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Plain,
    Sanitized,
}

/// Compiles every example and runs it against one daemon: each prints what
/// it should, and across all of them (threads, processes, C and C++) no
/// nickname is handed out twice.
fn examples_work(variant: Variant) {
    let suffix = match variant {
        Variant::Plain => "plain",
        Variant::Sanitized => "asan",
    };
    let name = unique_name("capi-examples");
    let _daemon = Daemon::start(&name, &["--seed", "1", "--test-tag"]);
    let env = [("NICKPOOL_NAME", name.as_str())];
    let mut positions = HashSet::new();
    let mut check = |program: &str, args: &[&str], lines: std::ops::RangeInclusive<usize>| {
        let mut build = Build::new(
            &format!("examples/{program}"),
            &format!("{program}-{suffix}"),
        );
        if variant == Variant::Sanitized {
            build = build.sanitized();
        }
        let out = run(&build.compile(), args, &env);
        assert_success(&out, program);
        let text = stdout(&out);
        let count = text.lines().count();
        assert!(lines.contains(&count), "{program}: {count} lines:\n{text}");
        for line in text.lines() {
            assert!(
                positions.insert(position(line)),
                "{program}: {line} handed out twice"
            );
        }
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    check("pull.c", &[], 10..=10); // Name from $NICKPOOL_NAME.
    check("threads.c", &[], 2000..=2000);
    let stderr = check("multiproc.c", &[&name], 400..=400);
    assert!(stderr.contains("has handed out"), "{stderr}");
    let stderr = check("client.cpp", &[&name], 10..=11);
    assert!(stderr.contains("has handed out"), "{stderr}");

    // The C++ wrapper's failures carry the status and the full message.
    let client = build_dir().join(format!("client.cpp-{suffix}"));
    let out = run(&client, &[&unique_name("capi-none")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nickpool serve --name") && stderr.contains("(status 3)"),
        "{stderr}"
    );
}

#[test]
fn examples_work_against_a_daemon() {
    examples_work(Variant::Plain);
}

#[test]
fn examples_work_under_address_and_undefined_sanitizers() {
    examples_work(Variant::Sanitized);
}

/// A file in /dev/shm that looks like a segment of another layout
/// version; removed on drop.
struct FakeSegment {
    name: String,
}

impl FakeSegment {
    /// Magic "NICKPOOL" (little-endian u64 at offset 0), then
    /// `layout_version` (u32 at offset 8), in a file of a plausible size.
    fn new(layout_version: u32) -> FakeSegment {
        let name = unique_name("capi-fake");
        let mut bytes = vec![0u8; 16384];
        bytes[..8].copy_from_slice(b"NICKPOOL");
        bytes[8..12].copy_from_slice(&layout_version.to_le_bytes());
        std::fs::write(common::shm_path(&name), bytes).unwrap();
        FakeSegment { name }
    }
}

impl Drop for FakeSegment {
    fn drop(&mut self) {
        common::remove_segment(&self.name);
    }
}

impl FakeSegment {
    /// A file at a fresh name that every user may write (mode 0666),
    /// which clients refuse to trust.
    fn writable_by_everyone() -> FakeSegment {
        use std::os::unix::fs::PermissionsExt;
        let fake = FakeSegment::new(1);
        let path = common::shm_path(&fake.name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        fake
    }
}

/// tests/c/contract.c against a tiny tagged ring: invalid arguments,
/// BUFFER_TOO_SMALL, batches, timeout 0, stats, NOT_RUNNING and
/// INCOMPATIBLE, all from C.
fn contract_holds(variant: Variant) {
    let (suffix, build) = match variant {
        Variant::Plain => ("plain", Build::new("tests/c/contract.c", "contract-plain")),
        Variant::Sanitized => (
            "asan",
            Build::new("tests/c/contract.c", "contract-asan").sanitized(),
        ),
    };
    let exe = build.compile();
    let live = unique_name(&format!("capi-contract-{suffix}"));
    let _daemon = Daemon::start(&live, &["--capacity", "4", "--seed", "1", "--test-tag"]);
    let missing = unique_name("capi-missing");
    let fake = FakeSegment::new(1);
    let out = run(&exe, &[&live, &missing, &fake.name], &[]);
    assert_success(&out, "contract");
    assert!(stdout(&out).contains("checks passed"), "{}", stdout(&out));
}

/// tests/c/fork_runs.c: a child forked while its parent's thread holds a
/// run of claimed nicknames never hands those out; the parent does, once.
fn fork_keeps_runs_apart(variant: Variant) {
    let build = Build::new(
        "tests/c/fork_runs.c",
        &format!(
            "fork_runs-{}",
            match variant {
                Variant::Plain => "plain",
                Variant::Sanitized => "asan",
            }
        ),
    );
    let build = match variant {
        Variant::Plain => build,
        Variant::Sanitized => build.sanitized(),
    };
    let exe = build.compile();
    let name = unique_name("capi-fork");
    // One shard, so the parent's claims (1, 2, then 4) come from one ring in
    // order and its run surely holds three at the fork.
    let _daemon = Daemon::start(
        &name,
        &[
            "--shards",
            "1",
            "--capacity",
            "64",
            "--seed",
            "3",
            "--test-tag",
        ],
    );
    let out = run(&exe, &[&name], &[]);
    assert_success(&out, "fork_runs");
    let text = stdout(&out);
    let mut seen = HashSet::new();
    let (mut parent, mut child) = (0, 0);
    for line in text.lines() {
        let (who, nickname) = line.split_once(' ').expect("WHO NICKNAME");
        match who {
            "parent" => parent += 1,
            "child" => child += 1,
            _ => panic!("{line}"),
        }
        assert!(
            seen.insert(position(nickname)),
            "{nickname} handed out twice (the second time to the {who}):\n{text}"
        );
    }
    assert_eq!((parent, child), (44, 40), "{text}");
    // The parent's first pulls after the child: the run it held at the fork
    // (positions 4, 5, 6 of shard 0), which the child did not hand out.
    let after: Vec<(usize, usize)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("parent "))
        .skip(4)
        .take(3)
        .map(position)
        .collect();
    assert_eq!(after, [(0, 4), (0, 5), (0, 6)], "{text}");
}

#[test]
fn a_forked_child_never_hands_out_its_parents_run() {
    fork_keeps_runs_apart(Variant::Plain);
}

#[test]
fn a_forked_child_never_hands_out_its_parents_run_under_sanitizers() {
    fork_keeps_runs_apart(Variant::Sanitized);
}

#[test]
fn c_contract_holds() {
    contract_holds(Variant::Plain);
}

#[test]
fn c_contract_holds_under_sanitizers() {
    contract_holds(Variant::Sanitized);
}

// --------------------------------------------------- nickpool_last_error

/// Runs tests/c/last_error.c against a live daemon, acting on its "stop"
/// and "kill" requests, and returns the messages it printed by status.
fn run_last_error(exe: &Path, args: &[&str], daemon: &mut Daemon) -> HashMap<String, String> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(exe)
        .args(args)
        .env("UBSAN_OPTIONS", "print_stacktrace=1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (done_tx, done_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if done_rx.recv_timeout(common::c::PROGRAM_TIMEOUT).is_err() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut messages = HashMap::new();
    let mut passed = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        match line.as_str() {
            "stop" => daemon.pause(),
            "kill" => daemon.kill9(),
            _ => {
                if let Some(rest) = line.strip_prefix("message ") {
                    let (status, text) = rest.split_once(' ').unwrap();
                    messages.insert(status.to_owned(), text.to_owned());
                } else {
                    passed |= line.starts_with("last_error: ") && line.ends_with("checks passed");
                }
                continue;
            }
        }
        stdin.write_all(b"ok\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let _ = done_tx.send(());
    assert_success(&out, "last_error");
    assert!(passed, "no 'checks passed' line");
    messages
}

/// tests/c/last_error.c: after each kind of failure nickpool_last_error()
/// names the segment, the file and what to do (NOT_RUNNING,
/// INCOMPATIBLE, PERMISSION_DENIED, INVALID_ARGUMENT, BUFFER_TOO_SMALL,
/// EMPTY, DAEMON_GONE); success leaves it alone; each thread has its own.
/// The messages are exactly what `nickpool pull` prints for the same
/// failures.
fn last_error_explains_every_failure(variant: Variant) {
    let (suffix, build) = match variant {
        Variant::Plain => (
            "plain",
            Build::new("tests/c/last_error.c", "last_error-plain"),
        ),
        Variant::Sanitized => (
            "asan",
            Build::new("tests/c/last_error.c", "last_error-asan").sanitized(),
        ),
    };
    let exe = build.compile();
    let live = unique_name(&format!("capi-lasterr-{suffix}"));
    let mut daemon = Daemon::start(&live, &["--capacity", "4", "--seed", "1"]);
    let missing = unique_name("capi-lasterr-missing");
    let incompatible = FakeSegment::new(3);
    let writable = FakeSegment::writable_by_everyone();
    let messages = run_last_error(
        &exe,
        &[&live, &missing, &incompatible.name, &writable.name],
        &mut daemon,
    );
    for status in [
        "NICKPOOL_NOT_RUNNING",
        "NICKPOOL_INCOMPATIBLE",
        "NICKPOOL_PERMISSION_DENIED",
        "NICKPOOL_INVALID_ARGUMENT",
        "NICKPOOL_BUFFER_TOO_SMALL",
        "NICKPOOL_EMPTY",
        "NICKPOOL_DAEMON_GONE",
    ] {
        assert!(messages.contains_key(status), "no message for {status}");
    }

    // One source: `nickpool pull` prints the very text C reads.
    for (name, status) in [
        (&missing, "NICKPOOL_NOT_RUNNING"),
        (&incompatible.name, "NICKPOOL_INCOMPATIBLE"),
        (&writable.name, "NICKPOOL_PERMISSION_DENIED"),
        (&"no-slash".to_owned(), "NICKPOOL_INVALID_ARGUMENT"),
    ] {
        let (code, _, stderr) = common::run_cli(&["pull", "--name", name], Duration::from_secs(30));
        assert_ne!(code, 0);
        assert_eq!(stderr.trim_end(), format!("nickpool: {}", messages[status]));
    }
}

#[test]
fn last_error_explains_every_failure_kind() {
    last_error_explains_every_failure(Variant::Plain);
}

#[test]
fn last_error_explains_every_failure_kind_under_sanitizers() {
    last_error_explains_every_failure(Variant::Sanitized);
}

/// A client running as another user (`nobody`) is refused the daemon's
/// private segment; the message says which file, the system's error, the
/// uids and the mode, and what to do. Needs root (as CI runs); elsewhere a
/// SKIPPED line.
#[test]
fn last_error_explains_permission_denied_for_another_user() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !have("setpriv") {
        return common::skip(
            "last_error_explains_permission_denied_for_another_user",
            "needs root and setpriv to run a client as nobody",
        );
    }
    // A world-readable copy of the program and the library, which nobody
    // can load wherever the target directory is.
    let dir = std::env::temp_dir().join(unique_name("capi-denied").trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(
        lib_dir().join("libnickpool.so"),
        dir.join("libnickpool.so.1"),
    )
    .unwrap();
    std::os::unix::fs::symlink("libnickpool.so.1", dir.join("libnickpool.so")).unwrap();
    let exe = Build::new("tests/c/last_error.c", "last_error-denied")
        .link(vec![
            format!("-I{}", root().join("include").display()),
            format!("-L{}", dir.display()),
            "-lnickpool".into(),
            format!("-Wl,-rpath,{}", dir.display()),
        ])
        .compile();
    let copy = dir.join("last_error");
    std::fs::copy(&exe, &copy).unwrap();
    for file in ["last_error", "libnickpool.so.1"] {
        std::fs::set_permissions(dir.join(file), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let name = unique_name("capi-denied");
    let _daemon = Daemon::start(&name, &[]); // Mode 0600: only root.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&copy)
        .args(["denied", &name])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_success(&out, "last_error denied (as nobody)");
    let text = stdout(&out);
    assert!(
        text.contains("uid 65534, the segment belongs to uid 0 with mode 0600"),
        "{text}"
    );
}

// ------------------------------------------------------------ C++ wrapper

/// tests/cpp/wrapper.cpp with exceptions, without them, and without RTTI
/// either: results instead of exceptions, std::chrono timeouts, a bounded
/// default (1 s), and the throwing conveniences only where exceptions
/// exist. examples/client.cpp works without exceptions too.
#[test]
fn cpp_wrapper_works_with_and_without_exceptions() {
    let live = unique_name("capi-cpp-live");
    let _live_daemon = Daemon::start(&live, &["--seed", "1"]);
    let stopped = unique_name("capi-cpp-stopped");
    let stopped_daemon = Daemon::start(&stopped, &["--capacity", "4", "--seed", "1"]);
    stopped_daemon.pause();
    let missing = unique_name("capi-cpp-missing");
    for (tag, flags, says) in [
        ("exceptions", &[][..], "(exceptions on)"),
        (
            "no-exceptions",
            &["-fno-exceptions"][..],
            "(exceptions off)",
        ),
        (
            "no-exceptions-no-rtti",
            &["-fno-exceptions", "-fno-rtti"][..],
            "(exceptions off)",
        ),
    ] {
        let exe = Build::new("tests/cpp/wrapper.cpp", &format!("wrapper-{tag}"))
            .flags(flags)
            .compile();
        let out = run(&exe, &[&live, &stopped, &missing], &[]);
        assert_success(&out, &format!("wrapper ({tag})"));
        assert!(stdout(&out).contains(says), "{}", stdout(&out));
    }
    let exe = Build::new("examples/client.cpp", "client-no-exceptions")
        .flags(&["-fno-exceptions"])
        .compile();
    let out = run(&exe, &[&live], &[]);
    assert_success(&out, "client.cpp -fno-exceptions");
    assert!((10..=11).contains(&stdout(&out).lines().count()));
}

// ------------------------------------- semantics through the exported fns

/// A handle from nickpool_open, used only through the exported functions.
struct Handle(*mut nickpool_client);

// SAFETY: the C contract: a handle may be used from many threads at once
// (it wraps a Send + Sync client); only close, in Drop, needs exclusivity.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Handle {
    fn open(name: &str) -> Result<Handle, Status> {
        let name = CString::new(name).unwrap();
        let mut handle = std::ptr::null_mut();
        // SAFETY: a NUL-terminated name and a valid out-pointer.
        let status = unsafe { ffi::nickpool_open(name.as_ptr(), &mut handle) };
        if status == Status::NICKPOOL_OK {
            assert!(!handle.is_null());
            Ok(Handle(handle))
        } else {
            assert!(handle.is_null());
            Err(status)
        }
    }

    /// nickpool_next with a 56-byte buffer: the status and the nickname.
    fn next(&self, timeout_ms: u32) -> (Status, String) {
        let mut buf = [0 as c_char; ffi::NICKPOOL_MAX_NICKNAME_LEN + 1];
        let mut len = usize::MAX;
        // SAFETY: a live handle, a buffer of buf.len() bytes, a valid
        // out-pointer.
        let status = unsafe {
            ffi::nickpool_next(self.0, buf.as_mut_ptr(), buf.len(), &mut len, timeout_ms)
        };
        let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
        let nul = bytes.iter().position(|&b| b == 0).expect("NUL-terminated");
        if status == Status::NICKPOOL_OK {
            assert_eq!(len, nul);
        } else {
            assert_eq!((len, nul), (0, 0), "{status:?}");
        }
        (status, String::from_utf8(bytes[..nul].to_vec()).unwrap())
    }

    /// nickpool_next_batch of up to `max` with a roomy buffer.
    fn next_batch(&self, max: usize, timeout_ms: u32) -> (Status, Vec<String>) {
        let mut buf = vec![0 as c_char; max * (ffi::NICKPOOL_MAX_NICKNAME_LEN + 1)];
        let mut count = usize::MAX;
        // SAFETY: a live handle, a buffer of buf.len() bytes, a valid
        // out-pointer.
        let status = unsafe {
            ffi::nickpool_next_batch(
                self.0,
                buf.as_mut_ptr(),
                buf.len(),
                max,
                &mut count,
                timeout_ms,
            )
        };
        let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
        let nicknames: Vec<String> = bytes
            .split(|&b| b == 0)
            .take(count)
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect();
        (status, nicknames)
    }

    fn stats(&self) -> Result<ffi::nickpool_stats, Status> {
        // SAFETY: nickpool_stats is plain data (integers and char arrays);
        // all-zero is a valid value.
        let mut stats: ffi::nickpool_stats = unsafe { std::mem::zeroed() };
        stats.size = std::mem::size_of::<ffi::nickpool_stats>();
        // SAFETY: a live handle and a valid, sized struct.
        let status = unsafe { ffi::nickpool_stats(self.0, &mut stats) };
        if status == Status::NICKPOOL_OK {
            Ok(stats)
        } else {
            Err(status)
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from nickpool_open and is closed once,
        // after every borrow of it has ended.
        unsafe { ffi::nickpool_close(self.0) };
    }
}

/// Empties the ring of a stopped daemon: pulls with timeout 0 until EMPTY.
/// Returns how many nicknames it held.
fn drain(handle: &Handle) -> usize {
    let mut pulled = 0;
    loop {
        match handle.next(0) {
            (Status::NICKPOOL_OK, _) => pulled += 1,
            (Status::NICKPOOL_EMPTY, _) => return pulled,
            (status, _) => panic!("draining: {status:?}"),
        }
        assert!(pulled <= 4, "a stopped daemon's ring of 4 gave more than 4");
    }
}

#[test]
fn timeouts_return_empty_on_time_when_the_producer_is_stopped() {
    let name = unique_name("capi-timeout");
    let daemon = Daemon::start(&name, &["--capacity", "4", "--seed", "1"]);
    let handle = Handle::open(&name).unwrap();
    daemon.pause();
    drain(&handle);

    // Timeout 0 never waits.
    for _ in 0..20 {
        let start = Instant::now();
        assert_eq!(handle.next(0).0, Status::NICKPOOL_EMPTY);
        assert_eq!(handle.next_batch(4, 0).0, Status::NICKPOOL_EMPTY);
        assert!(
            start.elapsed() < Duration::from_millis(100),
            "{:?}",
            start.elapsed()
        );
    }
    // A timeout returns EMPTY once it has passed, not much later.
    for (timeout_ms, batch) in [(300u32, false), (120, true)] {
        let start = Instant::now();
        let status = if batch {
            handle.next_batch(4, timeout_ms).0
        } else {
            handle.next(timeout_ms).0
        };
        let took = start.elapsed();
        assert_eq!(status, Status::NICKPOOL_EMPTY);
        let timeout = Duration::from_millis(timeout_ms.into());
        assert!(took >= timeout, "returned after {took:?} < {timeout:?}");
        assert!(
            took < timeout + Duration::from_secs(1),
            "returned after {took:?}"
        );
    }
    daemon.signal(libc::SIGCONT);
    assert_eq!(handle.next(2000).0, Status::NICKPOOL_OK);
}

#[test]
fn wait_forever_returns_once_the_daemon_produces() {
    let name = unique_name("capi-forever");
    let daemon = Daemon::start(&name, &["--capacity", "4", "--seed", "1", "--test-tag"]);
    let handle = std::sync::Arc::new(Handle::open(&name).unwrap());
    daemon.pause();
    drain(&handle);

    let (tx, rx) = mpsc::channel();
    let waiter = {
        let handle = std::sync::Arc::clone(&handle);
        std::thread::spawn(move || {
            let _ = tx.send(handle.next(NICKPOOL_WAIT_FOREVER));
        })
    };
    // Still waiting well after any short timeout would have expired.
    assert!(
        rx.recv_timeout(Duration::from_millis(400)).is_err(),
        "WAIT_FOREVER returned while the daemon was stopped"
    );
    daemon.signal(libc::SIGCONT);
    let (status, nickname) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("WAIT_FOREVER did not return after the daemon resumed");
    assert_eq!(status, Status::NICKPOOL_OK);
    position(&nickname);
    waiter.join().unwrap();
}

#[test]
fn a_handle_reports_daemon_gone_then_reattaches_to_a_new_daemon() {
    let name = unique_name("capi-restart");
    let mut first = Daemon::start(&name, &["--capacity", "4", "--seed", "1"]);
    let first_pid = first.pid();
    let handle = Handle::open(&name).unwrap();
    assert_eq!(handle.next(2000).0, Status::NICKPOOL_OK);
    first.kill9();

    // What the dead daemon left in its ring (at most 4) comes out once,
    // then the same handle says DAEMON_GONE, and keeps saying it.
    let mut leftovers = 0;
    let status = loop {
        match handle.next(100) {
            (Status::NICKPOOL_OK, _) => leftovers += 1,
            (status, _) => break status,
        }
        assert!(leftovers <= 4, "more than a ring of leftovers");
    };
    assert_eq!(status, Status::NICKPOOL_DAEMON_GONE);
    assert_eq!(handle.next(0).0, Status::NICKPOOL_DAEMON_GONE);
    assert_eq!(handle.next_batch(4, 50).0, Status::NICKPOOL_DAEMON_GONE);
    assert_eq!(handle.stats().unwrap_err(), Status::NICKPOOL_DAEMON_GONE);
    // Also once the dead daemon's segment file is gone.
    drop(first);
    assert_eq!(handle.next(50).0, Status::NICKPOOL_DAEMON_GONE);

    let second = Daemon::start(&name, &["--capacity", "4", "--seed", "2"]);
    let (status, nickname) = handle.next(5000);
    assert_eq!(status, Status::NICKPOOL_OK, "after a new daemon started");
    assert!(!nickname.is_empty());
    let stats = handle.stats().unwrap();
    assert_eq!(stats.daemon_pid, second.pid() as u64);
    assert_ne!(stats.daemon_pid, first_pid as u64);
    assert!(stats.reattachments >= 1);
    assert_eq!(handle.next_batch(4, 2000).0, Status::NICKPOOL_OK);
}

#[test]
fn open_reports_not_running_incompatible_and_invalid_names() {
    assert_eq!(
        Handle::open(&unique_name("capi-never")).err(),
        Some(Status::NICKPOOL_NOT_RUNNING)
    );
    let fake = FakeSegment::new(1);
    assert_eq!(
        Handle::open(&fake.name).err(),
        Some(Status::NICKPOOL_INCOMPATIBLE)
    );
    let long = format!("/{}", "x".repeat(100_000));
    for bad in ["", "nickpool", "/a/b", "/.x", "/sp ace", long.as_str()] {
        assert_eq!(
            Handle::open(bad).err(),
            Some(Status::NICKPOOL_INVALID_ARGUMENT),
            "{:.20}",
            bad
        );
    }
}

#[test]
fn null_name_means_the_default_name() {
    // The default comes from $NICKPOOL_NAME; a child process gets its own
    // environment, so the test does not touch this process's.
    let name = unique_name("capi-default");
    let _daemon = Daemon::start(&name, &["--seed", "1"]);
    let exe = Build::new("examples/pull.c", "pull-default").compile();
    let out = run(&exe, &[], &[("NICKPOOL_NAME", &name)]);
    assert_success(&out, "pull with NICKPOOL_NAME");
    assert_eq!(stdout(&out).lines().count(), 10);
    let out = run(&exe, &[], &[("NICKPOOL_NAME", &unique_name("capi-none"))]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NICKPOOL_NOT_RUNNING"));
}

// -------------------------------------------------------------- packaging

/// The library installed by packaging/install.sh into a fresh prefix
/// under the test's build directory; removed on drop.
struct Installed {
    prefix: std::path::PathBuf,
}

impl Installed {
    fn new(tag: &str) -> Installed {
        let prefix = build_dir().join(format!("prefix-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&prefix);
        let out = Command::new("sh")
            .arg(root().join("packaging/install.sh"))
            .arg("--prefix")
            .arg(&prefix)
            .arg("--from")
            .arg(lib_dir())
            .output()
            .unwrap();
        assert_success(&out, "install.sh");
        Installed { prefix }
    }

    fn lib(&self) -> std::path::PathBuf {
        self.prefix.join("lib")
    }

    /// `pkg-config ARGS nickpool` against this prefix, split into words.
    fn pkg_config(&self, args: &[&str]) -> Vec<String> {
        let out = output_of(
            Command::new("pkg-config")
                .args(args)
                .arg("nickpool")
                .env("PKG_CONFIG_PATH", self.lib().join("pkgconfig")),
        );
        out.split_whitespace().map(str::to_owned).collect()
    }

    /// The symbols the installed archive defines globally.
    fn archive_globals(&self) -> Vec<String> {
        let table = output_of(
            Command::new("readelf")
                .arg("-sW")
                .arg(self.lib().join("libnickpool.a")),
        );
        table
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let defined_global = f.len() == 8
                    && (f[4] == "GLOBAL" || f[4] == "WEAK")
                    && f[6] != "UND"
                    && f[3] != "FILE";
                defined_global.then(|| f[7].to_owned())
            })
            .collect()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// packaging/install.sh lays the library out as cargo-c does
/// (libnickpool.so.VERSION, stripped, SONAME libnickpool.so.1, links .so.1
/// and .so), with a relocatable nickpool.pc of the crate's version; `cc
/// app.c $(pkg-config --cflags --libs nickpool)` builds a program that runs,
/// and so does `cc -static` with `pkg-config --static`, without a warning.
/// The archive is one object whose only global symbols are the nickpool_
/// functions.
#[test]
fn plain_install_and_pkg_config_build_working_programs() {
    let version = env!("CARGO_PKG_VERSION");
    let mut installed = Installed::new("plain");
    let lib = installed.lib();
    let real = format!("libnickpool.so.{version}");
    for file in [
        format!("lib/{real}"),
        "lib/libnickpool.so.1".into(),
        "lib/libnickpool.so".into(),
        "lib/libnickpool.a".into(),
        "lib/pkgconfig/nickpool.pc".into(),
        "include/nickpool.h".into(),
        "include/nickpool.hpp".into(),
    ] {
        assert!(
            installed.prefix.join(&file).exists(),
            "{file} not installed"
        );
    }
    assert!(
        std::fs::symlink_metadata(lib.join(&real))
            .unwrap()
            .is_file()
    );
    for link in ["libnickpool.so.1", "libnickpool.so"] {
        assert_eq!(
            std::fs::read_link(lib.join(link)).unwrap(),
            Path::new(&real)
        );
    }

    // The shared library: SONAME, stripped, symbol versions.
    let so = lib.join(&real);
    let dynamic = output_of(Command::new("readelf").arg("-d").arg(&so));
    assert!(dynamic.contains("[libnickpool.so.1]"), "{dynamic}");
    let sections = output_of(Command::new("readelf").arg("-SW").arg(&so));
    assert!(
        !sections.contains(".symtab") && !sections.contains(".debug_"),
        "the installed library is not stripped:\n{sections}"
    );
    assert_symbol_versions(&so);
    eprintln!(
        "installed libnickpool.so: {} bytes stripped (this build's profile), archive {} bytes",
        std::fs::metadata(&so).unwrap().len(),
        std::fs::metadata(lib.join("libnickpool.a")).unwrap().len()
    );

    // The archive: one object, only the nickpool_ functions global.
    let members = output_of(Command::new("ar").arg("t").arg(lib.join("libnickpool.a")));
    assert_eq!(members.lines().count(), 1, "{members}");
    let mut globals = installed.archive_globals();
    globals.sort();
    let names: Vec<&str> = globals
        .iter()
        .map(|g| g.split('@').next().unwrap())
        .collect();
    let mut expected: Vec<&str> = SYMBOL_VERSIONS.iter().map(|(f, _)| *f).collect();
    expected.sort();
    assert_eq!(names, expected, "global symbols of libnickpool.a");

    // pkg-config: the library's version, paths relative to the prefix.
    assert_eq!(installed.pkg_config(&["--modversion"]), [version]);
    let pc = std::fs::read_to_string(lib.join("pkgconfig/nickpool.pc")).unwrap();
    assert!(pc.contains("libdir=${prefix}/lib\n"), "{pc}");
    assert!(pc.contains("includedir=${prefix}/include\n"), "{pc}");
    let private = pc.lines().find(|l| l.starts_with("Libs.private:")).unwrap();
    assert!(!private.contains("gcc_s"), "{private}: breaks `cc -static`");

    let name = unique_name("capi-install");
    let _daemon = Daemon::start(&name, &["--seed", "1"]);

    // Dynamic: exactly the README's command line.
    let exe = Build::new("examples/pull.c", "pull-installed")
        .link(installed.pkg_config(&["--cflags", "--libs"]))
        .compile();
    let needed = output_of(Command::new("readelf").arg("-d").arg(&exe));
    assert!(needed.contains("[libnickpool.so.1]"), "{needed}");
    let lib_path = lib.display().to_string();
    let out = run(&exe, &[&name], &[("LD_LIBRARY_PATH", &lib_path)]);
    assert_success(&out, "pull linked through pkg-config");
    assert_eq!(stdout(&out).lines().count(), 10);

    // Fully static, the README's command line: no warning (Build fails on
    // any), no dynamic section, runs.
    let mut link = installed.pkg_config(&["--cflags", "--static", "--libs"]);
    link.insert(0, "-static".into());
    let exe = Build::new("examples/pull.c", "pull-static")
        .link(link)
        .compile();
    let dynamic = Command::new("readelf")
        .arg("-d")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&dynamic.stdout).contains("no dynamic section"),
        "not a static program"
    );
    let out = run(&exe, &[&name], &[]);
    assert_success(&out, "pull linked statically");
    assert_eq!(stdout(&out).lines().count(), 10);

    // The archive in a dynamic program too, with the listed libraries.
    let mut link = installed.pkg_config(&["--cflags"]);
    link.push(lib.join("libnickpool.a").display().to_string());
    link.extend(
        installed
            .pkg_config(&["--static", "--libs-only-l"])
            .into_iter()
            .filter(|l| l != "-lnickpool"),
    );
    let exe = Build::new("examples/pull.c", "pull-archive")
        .link(link)
        .compile();
    let needed = output_of(Command::new("readelf").arg("-d").arg(&exe));
    assert!(!needed.contains("libnickpool"), "{needed}");
    let out = run(&exe, &[&name], &[]);
    assert_success(&out, "pull linked with the archive");

    // Relocatable: moved elsewhere, pkg-config --define-prefix follows.
    let moved = build_dir().join(format!("prefix-moved-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(&installed.prefix, &moved).unwrap();
    installed.prefix = moved.clone();
    let flags = installed.pkg_config(&["--define-prefix", "--cflags", "--libs"]);
    assert!(
        flags.contains(&format!("-L{}", moved.join("lib").display()))
            && flags.contains(&format!("-I{}", moved.join("include").display())),
        "{flags:?}"
    );
}

/// The installed libnickpool.a and another Rust static library, built here
/// from a small crate, link into one C program even with --whole-archive
/// (each brings its own copy of Rust's standard library) and both work;
/// the archive as cargo builds it, with its thousands of global Rust
/// symbols, clashes with the other library in the same link.
#[test]
fn two_rust_static_libraries_link_side_by_side() {
    let installed = Installed::new("two");
    let crate_dir = build_dir().join(format!("other-rust-lib-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&crate_dir);
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        "[package]\nname = \"other\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
         [lib]\ncrate-type = [\"staticlib\"]\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        crate_dir.join("src/lib.rs"),
        "/// Uses the standard library: formatting, a thread-local, a caught panic.\n\
         #[unsafe(no_mangle)]\n\
         pub extern \"C\" fn other_rust_lib_answer() -> u32 {\n\
             thread_local! { static CALLS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) }; }\n\
             let calls = CALLS.with(|c| { c.set(c.get() + 1); c.get() });\n\
             let caught = std::panic::catch_unwind(|| -> u32 { panic!(\"caught {calls}\") });\n\
             let text = format!(\"{}{}\", 4, 2);\n\
             if caught.is_err() { text.parse().unwrap() } else { 0 }\n\
         }\n",
    )
    .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--release", "--offline", "--quiet"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", crate_dir.join("target"))
        .output()
        .unwrap();
    assert_success(&out, "cargo build of the other Rust library");
    let other = crate_dir.join("target/release/libother.a");

    let link = |nickpool: &Path| -> Vec<String> {
        vec![
            format!("-I{}", root().join("include").display()),
            "-Wl,--whole-archive".into(),
            nickpool.display().to_string(),
            other.display().to_string(),
            "-Wl,--no-whole-archive".into(),
            "-lpthread".into(),
            "-ldl".into(),
            "-lm".into(),
        ]
    };
    let name = unique_name("capi-two");
    let _daemon = Daemon::start(&name, &["--seed", "1"]);
    let exe = Build::new("tests/c/two_rust_libs.c", "two-rust-libs")
        .link(link(&installed.lib().join("libnickpool.a")))
        .compile();
    let out = run(&exe, &[&name], &[]);
    assert_success(&out, "two Rust static libraries");
    let text = stdout(&out);
    assert!(text.contains("other: 42"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("nickpool: ") && l.len() > 12),
        "{text}"
    );

    // The control: cargo's own archive, as is, clashes.
    let out = Command::new("cc")
        .arg(root().join("tests/c/two_rust_libs.c"))
        .args(link(&lib_dir().join("libnickpool.a")))
        .arg("-o")
        .arg(build_dir().join("two-rust-libs-clash"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("multiple definition of"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&crate_dir).unwrap();
}
