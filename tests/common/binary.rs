//! The `nickpool` binary for the tests and benches of this package. It
//! belongs to another package of the workspace (`nickpool-server`, in
//! crates/server), and cargo builds only a package's own binaries for its
//! tests, so the first caller in a process builds it with
//! `cargo build -p nickpool-server --bin nickpool` in the profile and target
//! directory this executable was built in: a quick no-op when it is up to
//! date, and cargo's own lock orders test processes that build at once.
//! Shared by tests/common and benches/pull.rs (by `#[path]`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// target/<profile> (target/<triple>/<profile> under `--target`) of this
/// test or bench executable, which cargo runs from target/<profile>/deps.
/// `cargo test` leaves the freshly built libnickpool.so and .a in deps/.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of this test executable");
    exe.parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("{} is not under target/<profile>/deps", exe.display()))
        .to_path_buf()
}

/// The `nickpool` binary, built from this source for this profile on the
/// first call in the process. Panics with cargo's output if the build fails.
pub fn nickpool_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build_nickpool_bin).clone()
}

fn build_nickpool_bin() -> PathBuf {
    let profile_dir = profile_dir();
    let dir_name = profile_dir
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a profile directory name");
    // Cargo puts the `dev` and `test` profiles in debug/, `release` and
    // `bench` in release/, and a custom profile in a directory of its name.
    let profile = if dir_name == "debug" { "dev" } else { dir_name };
    let mut target_dir = profile_dir.parent().expect("a target directory");
    let mut triple = None;
    // Cargo marks the target directory's root; target/<triple> has no mark.
    if !target_dir.join("CACHEDIR.TAG").exists() {
        if let Some(root) = target_dir
            .parent()
            .filter(|root| root.join("CACHEDIR.TAG").exists())
        {
            triple = target_dir.file_name().map(OsString::from);
            target_dir = root;
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "-p",
            "nickpool-server",
            "--bin",
            "nickpool",
        ])
        // The feature this package's dev-dependency turns on, so the build
        // reuses the nickpool-server library the tests were built with.
        .args(["--features", "nickpool-server/fuzzing"])
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target_dir);
    if let Some(triple) = &triple {
        command.arg("--target").arg(triple);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", Path::new(&cargo).display()));
    assert!(
        output.status.success(),
        "building the nickpool binary failed ({:?} exited with {}):\n{}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let bin = profile_dir.join("nickpool");
    assert!(
        bin.is_file(),
        "cargo built the nickpool binary, but not at {}",
        bin.display()
    );
    bin
}
