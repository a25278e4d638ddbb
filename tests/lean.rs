//! What a C program or a Rust client links stays lean: the ring, the
//! segment, the client and the C ABI, with only the dependencies pulling
//! needs. The daemon, the CLI, bench, metrics, HTTP and Redis live in
//! crates/server and must never leak back into libnickpool.a or into the
//! dependencies of the `nickpool` crate.

mod common;

use common::c::{build_dir, have, lib_dir, root, run, stdout};
use common::{Daemon, unique_name};
use std::collections::BTreeSet;
use std::process::Command;

/// Crates of the daemon and the command line (and what they pull in) that a
/// client must not carry.
const SERVER_ONLY: &[&str] = &[
    "redis",
    "tiny_http",
    "clap",
    "clap_builder",
    "plotters",
    "prometheus_client",
    "hdrhistogram",
    "aho_corasick",
    "rand_chacha",
    "serde",
    "serde_core",
    "serde_json",
];

/// The most crates, besides itself, that a Rust program depending on the
/// client builds.
const MAX_CLIENT_DEPENDENCIES: usize = 10;

fn output_of(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// libnickpool.a holds objects of the client's crates and Rust's standard
/// library only: no archive member and no symbol of a server-only crate.
#[test]
fn the_static_library_holds_no_server_code() {
    let archive = lib_dir().join("libnickpool.a");

    // Members are named after their crate: "redis-<hash>.redis.<cgu>.o".
    let members = output_of(Command::new("ar").arg("t").arg(&archive));
    let crates: BTreeSet<&str> = members
        .lines()
        .filter_map(|member| member.split(['-', '.']).next())
        .collect();
    for expected in ["nickpool", "arc_swap", "memmap2", "std"] {
        assert!(
            crates.contains(expected),
            "no {expected} objects in {}: {crates:?}",
            archive.display()
        );
    }
    let leaked: Vec<&&str> = SERVER_ONLY
        .iter()
        .filter(|name| crates.contains(**name))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} holds objects of {leaked:?}, which only the server needs; every crate in it: {crates:?}",
        archive.display()
    );

    // And no code of theirs inlined into ours (generic instances carry the
    // defining crate's path).
    let symbols = output_of(
        Command::new("nm")
            .args(["--demangle", "--defined-only"])
            .arg(&archive),
    );
    assert!(
        symbols
            .lines()
            .any(|l| l.ends_with(" T nickpool_open") || l.contains(" T nickpool_open@")),
        "nm lists no nickpool_open in {}",
        archive.display()
    );
    assert!(
        symbols.contains("memmap2::"),
        "nm lists no memmap2 symbols in {}: it cannot see the client's own code",
        archive.display()
    );
    for name in SERVER_ONLY {
        let path = format!("{name}::");
        let hits: Vec<&str> = symbols.lines().filter(|l| l.contains(&path)).collect();
        assert!(
            hits.is_empty(),
            "{} holds {} symbols of {name}, e.g. {:?}",
            archive.display(),
            hits.len(),
            &hits[..hits.len().min(3)]
        );
    }
}

/// A Rust program that depends on the client builds at most
/// MAX_CLIENT_DEPENDENCIES other crates, none of them the server's.
#[test]
fn the_client_crate_has_few_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let Ok(out) = Command::new(&cargo)
        .current_dir(root())
        .args(["tree", "-p", "nickpool", "-e", "normal", "--prefix", "none"])
        .output()
    else {
        println!("skipping: cannot run {cargo} (cargo tree lists the client's dependencies)");
        return;
    };
    assert!(
        out.status.success(),
        "cargo tree failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    // "memmap2 v0.9.12", "libc v0.2.191 (*)", "nickpool v0.1.0 (/path)"
    let crates: BTreeSet<String> = tree
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?))
        })
        .filter(|krate| !krate.starts_with("nickpool "))
        .collect();
    assert!(
        !crates.is_empty(),
        "cargo tree lists no dependencies at all:\n{tree}"
    );
    assert!(
        crates.len() <= MAX_CLIENT_DEPENDENCIES,
        "the nickpool crate pulls in {} crates, more than {MAX_CLIENT_DEPENDENCIES}: {crates:?}",
        crates.len()
    );
    for krate in &crates {
        let name = krate.split(' ').next().unwrap().replace('-', "_");
        assert!(
            !SERVER_ONLY.contains(&name.as_str()),
            "the nickpool crate depends on {krate}, which only the server needs"
        );
    }
}

/// `gcc -static` links a C client against libnickpool.a (by hand, with
/// the system libraries a Rust static library needs), and the program
/// pulls from a daemon. The linker may warn only about Rust's standard
/// library: its one object refers to getaddrinfo and getpwuid_r, which
/// glibc flags in static programs, whoever calls them (nothing here does).
/// Silencing those too needs the archive's unused code dropped before the
/// final link (#14, static linking); warnings from any other object, our
/// own or a dependency's, fail the test.
#[test]
fn gcc_static_links_a_c_client_that_pulls() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    if !have(&cc) {
        println!("skipping: no C compiler ({cc}) to link a static client with");
        return;
    }
    let archive = lib_dir().join("libnickpool.a");
    let exe = build_dir().join(format!("pull-static-lean-{}", std::process::id()));
    let out = Command::new(&cc)
        .args([
            "-static",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
        ])
        .arg(root().join("examples/pull.c"))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(&archive)
        .args(["-lgcc_eh", "-lpthread", "-ldl", "-lm"])
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && log.contains("cannot find -l") {
        println!("skipping: this system cannot link static programs (no libc.a?):\n{log}");
        return;
    }
    assert!(out.status.success(), "{cc} -static failed:\n{log}");

    // "/usr/bin/ld: .../libnickpool.a(MEMBER): in function `...':"
    let members: BTreeSet<&str> = log
        .split("libnickpool.a(")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .collect();
    let ours: Vec<&&str> = members.iter().filter(|m| !m.starts_with("std-")).collect();
    assert!(
        ours.is_empty(),
        "the static link warns about code of {ours:?}:\n{log}"
    );
    let other: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("warning") && !l.contains("in statically linked applications"))
        .collect();
    assert!(
        other.is_empty(),
        "unexpected linker warnings {other:?}:\n{log}"
    );

    let name = unique_name("lean-static");
    let _daemon = Daemon::start(&name, &["--seed", "1"]);
    let out = run(&exe, &[&name], &[]);
    let _ = std::fs::remove_file(&exe);
    assert!(
        out.status.success(),
        "the static client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).lines().count(), 10, "{}", stdout(&out));
}
