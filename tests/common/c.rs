//! Building and running C and C++ programs against the library the tests
//! were built with: the header in include/, libnickpool.so and .a from the
//! target directory, a compile step that fails the test on any warning, and a
//! run step that kills a program that hangs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long any C program may run before the test kills it and fails.
pub const PROGRAM_TIMEOUT: Duration = Duration::from_secs(60);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the libnickpool.so and .a built from this very
/// source. `cargo test` builds every crate type of the library into
/// target/<profile>/deps but copies them up to target/<profile> only on
/// `cargo build`, so the copies up there may be stale: prefer deps/.
pub fn lib_dir() -> PathBuf {
    let profile_dir = &super::binary::profile_dir();
    [profile_dir.join("deps"), profile_dir.to_path_buf()]
        .into_iter()
        .find(|dir| dir.join("libnickpool.so").exists() && dir.join("libnickpool.a").exists())
        .unwrap_or_else(|| {
            panic!(
                "no libnickpool.so and libnickpool.a under {}; the crate types in Cargo.toml \
                 must include cdylib and staticlib",
                profile_dir.display()
            )
        })
}

/// A directory with libnickpool.so and libnickpool.so.1 (the SONAME, which
/// linked programs load), both links to the freshly built library, as an
/// install would lay them out.
pub fn staged_lib_dir() -> PathBuf {
    static STAGED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    STAGED
        .get_or_init(|| {
            let dir = build_dir().join("lib");
            std::fs::create_dir_all(&dir).unwrap();
            let built = lib_dir().join("libnickpool.so");
            for link in ["libnickpool.so", "libnickpool.so.1"] {
                // Replace atomically: another test process may be reading.
                let temp = dir.join(format!(".{link}.{}", std::process::id()));
                let _ = std::fs::remove_file(&temp);
                std::os::unix::fs::symlink(&built, &temp).unwrap();
                std::fs::rename(&temp, dir.join(link)).unwrap();
            }
            dir
        })
        .clone()
}

/// Where the compiled C programs go.
pub fn build_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c_api");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One C or C++ program to compile against include/ and the built library.
pub struct Build {
    source: PathBuf,
    output: PathBuf,
    compiler: String,
    std: String,
    flags: Vec<String>,
    link: Vec<String>,
}

impl Build {
    /// `source` relative to the crate root; `tag` names the executable.
    /// Defaults: cc/c++ (or $CC/$CXX), C11 or C++17, -Wall -Wextra -Werror
    /// -pedantic, linked to libnickpool.so with an rpath to it.
    pub fn new(source: &str, tag: &str) -> Build {
        let cxx = source.ends_with(".cpp");
        let compiler = if cxx {
            std::env::var("CXX").unwrap_or_else(|_| "c++".into())
        } else {
            std::env::var("CC").unwrap_or_else(|_| "cc".into())
        };
        let std = if cxx { "-std=c++17" } else { "-std=c11" };
        let lib = staged_lib_dir();
        Build {
            source: root().join(source),
            output: build_dir().join(tag),
            compiler,
            std: std.into(),
            flags: ["-Wall", "-Wextra", "-Werror", "-pedantic", "-pthread"]
                .map(String::from)
                .to_vec(),
            link: vec![
                format!("-I{}", root().join("include").display()),
                format!("-L{}", lib.display()),
                "-lnickpool".into(),
                format!("-Wl,-rpath,{}", lib.display()),
            ],
        }
    }

    pub fn compiler(mut self, compiler: &str) -> Build {
        self.compiler = compiler.into();
        self
    }

    /// Replaces the language and its standard, e.g. ("c++", "c++11").
    pub fn language(mut self, lang: &str, std: &str) -> Build {
        self.std = format!("-std={std}");
        self.flags.extend(["-x".to_owned(), lang.to_owned()]);
        self
    }

    /// Adds compiler flags.
    pub fn flags(mut self, flags: &[&str]) -> Build {
        self.flags.extend(flags.iter().map(|f| f.to_string()));
        self
    }

    /// Replaces how the program finds the header and the library.
    pub fn link(mut self, args: Vec<String>) -> Build {
        self.link = args;
        self
    }

    pub fn sanitized(self) -> Build {
        self.flags(&[
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
            "-g",
        ])
    }

    /// Compiles; a warning or error fails the test with the compiler's
    /// output, the linker's warnings included (e.g. `gcc -static` warning
    /// about getaddrinfo). Returns the executable.
    pub fn compile(self) -> PathBuf {
        let out = Command::new(&self.compiler)
            .arg(&self.std)
            .args(&self.flags)
            .arg(&self.source)
            .args(&self.link)
            .arg("-o")
            .arg(&self.output)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.compiler));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{} {} failed or warned ({}):\n{}",
            self.compiler,
            self.source.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        self.output
    }
}

/// Runs a program to completion, killing it (and failing) after
/// PROGRAM_TIMEOUT.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .env("UBSAN_OPTIONS", "print_stacktrace=1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(PROGRAM_TIMEOUT) {
        Ok(out) => out.expect("program output"),
        Err(_) => {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!(
                "{} did not finish within {PROGRAM_TIMEOUT:?}",
                program.display()
            );
        }
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stdout of a tool that must succeed.
pub fn output_of(command: &mut Command) -> String {
    let out = command.output().expect("run tool");
    assert_success(&out, &format!("{command:?}"));
    stdout(&out)
}
