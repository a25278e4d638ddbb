//! Security: who may open a segment, what a daemon refuses to touch, what a
//! client refuses to trust.
//!
//! Tests that need a second user (a real one: `nobody`, through `setpriv`)
//! or `chown` run as root, as CI does; elsewhere they print a SKIPPED line
//! on stderr saying why and pass. Two related checks live in daemon.rs: a
//! second daemon on a live name refuses with the running daemon's pid, and
//! a dead daemon's segment is taken over.

mod common;

use common::c::{Build, lib_dir};
use common::{Daemon, run_cli, shm_path, skip, unique_name, wait_until};
use nickpool::ffi::{self, nickpool_status as Status};
use nickpool::{Client, Error};
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const TEN_SECONDS: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and primary gid of the `nobody` user, if there is one.
fn nobody() -> Option<(u32, u32)> {
    // SAFETY: getpwnam takes a NUL-terminated name and returns NULL or a
    // pointer to a static struct, read at once before any other call.
    let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-NULL result of getpwnam.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// The user to run a second client as, or why that is impossible here.
fn second_user() -> Result<(u32, u32), String> {
    if !is_root() {
        return Err("needs root to run a client as another user".into());
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        return Err("needs setpriv (util-linux) to switch users".into());
    }
    nobody().ok_or_else(|| "needs a user named nobody".into())
}

/// `setpriv` running `program args…` as `user` with no supplementary groups.
fn as_user((uid, gid): (u32, u32), program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg("--")
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    command
}

/// A world-readable directory in /tmp holding copies of programs and of
/// libnickpool.so.1, so that another user can run them (the target
/// directory may not be reachable for that user). Removed on drop.
struct Portable {
    dir: PathBuf,
}

impl Portable {
    fn new(tag: &str) -> Portable {
        let dir = std::env::temp_dir().join(unique_name(tag).trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let portable = Portable { dir };
        portable.copy(&lib_dir().join("libnickpool.so"), "libnickpool.so.1");
        std::os::unix::fs::symlink("libnickpool.so.1", portable.dir.join("libnickpool.so"))
            .unwrap();
        portable
    }

    /// Copies `file` in as `name` (mode 0755) and returns the copy's path.
    fn copy(&self, file: &Path, name: &str) -> PathBuf {
        let to = self.dir.join(name);
        std::fs::copy(file, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
        to
    }

    /// examples/pull.c built against the copied library.
    fn pull_c(&self, tag: &str) -> PathBuf {
        let dir = self.dir.display();
        let exe = Build::new("examples/pull.c", tag)
            .link(vec![
                format!("-I{}", common::c::root().join("include").display()),
                format!("-L{dir}"),
                "-lnickpool".into(),
                format!("-Wl,-rpath,{dir}"),
            ])
            .compile();
        self.copy(&exe, "pull")
    }
}

impl Drop for Portable {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command to completion (at most ten seconds).
fn output(command: &mut Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(TEN_SECONDS).map_or_else(
        |_| {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{command:?} did not finish within {TEN_SECONDS:?}")
        },
        |out| out.expect("output"),
    )
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// nickpool_open on raw name bytes (a NUL is appended): the status, with
/// any handle closed again.
fn open_status(name: &[u8]) -> Status {
    let name = CString::new(name).unwrap();
    let mut handle = std::ptr::null_mut();
    // SAFETY: a NUL-terminated name and a valid out-pointer.
    let status = unsafe { ffi::nickpool_open(name.as_ptr(), &mut handle) };
    // SAFETY: NULL or a handle from nickpool_open, closed once.
    unsafe { ffi::nickpool_close(handle) };
    status
}

/// A file's contents, owner, group and mode: what "untouched" compares.
fn fingerprint(path: &Path) -> (Vec<u8>, u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap();
    (
        std::fs::read(path).unwrap(),
        meta.uid(),
        meta.gid(),
        meta.mode(),
    )
}

/// Removes whatever is at a segment's path (file, directory, FIFO, link)
/// on drop.
struct Planted(PathBuf);

impl Drop for Planted {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0).or_else(|_| std::fs::remove_dir(&self.0));
    }
}

// ---------------------------------------------------------- file modes

#[test]
fn the_group_option_gives_the_segment_to_that_group_with_the_mode() {
    // Root may give a file to any group; anyone else to their own groups.
    let (group, gid) = if is_root() {
        let (_, gid) = nobody().unwrap_or((0, 0));
        (gid.to_string(), gid)
    } else {
        // SAFETY: getegid has no preconditions.
        let gid = unsafe { libc::getegid() };
        (gid.to_string(), gid)
    };
    let name = unique_name("sec-group");
    let _daemon = Daemon::start(&name, &["--mode", "0660", "--group", &group]);
    let meta = std::fs::metadata(shm_path(&name)).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660);
    assert_eq!(meta.gid(), gid);
    // SAFETY: geteuid has no preconditions.
    assert_eq!(meta.uid(), unsafe { libc::geteuid() });
}

#[test]
fn modes_that_open_the_segment_to_every_user_are_refused() {
    for mode in ["0666", "0606", "0662", "0604", "0700"] {
        let (code, _, err) = run_cli(
            &["serve", "--name", &unique_name("sec-mode"), "--mode", mode],
            TEN_SECONDS,
        );
        assert_eq!(code, 2, "--mode {mode}: {err}");
    }
}

/// A file at the name that every user may write could have been planted
/// by anyone: clients refuse it, and say why.
#[test]
fn clients_refuse_a_segment_every_user_may_write() {
    let name = unique_name("sec-world");
    let _daemon = Daemon::start(&name, &[]);
    let path = shm_path(&name);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let err = Client::open(Some(&name)).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains("writable by every user"), "{err}");
    assert_eq!(
        open_status(name.as_bytes()),
        Status::NICKPOOL_PERMISSION_DENIED
    );
    // Group-writable is the documented way to share: accepted.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
    assert_eq!(open_status(name.as_bytes()), Status::NICKPOOL_OK);
}

// ------------------------------------------------------- a second user

/// A C client running as another user (`nobody`) is refused a private
/// segment with NICKPOOL_PERMISSION_DENIED, and let in when the daemon
/// shares the segment with a group that user is in.
#[test]
fn another_user_is_denied_unless_the_daemon_shares_with_its_group() {
    let user = match second_user() {
        Ok(user) => user,
        Err(why) => return skip("another_user_is_denied…", &why),
    };
    let portable = Portable::new("sec-user");
    let pull = portable.pull_c("pull-as-nobody");

    let private = unique_name("sec-private");
    let _daemon = Daemon::start(&private, &[]);
    let out = output(&mut as_user(user, &pull, &[&private]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("(NICKPOOL_PERMISSION_DENIED)"),
        "{}",
        stderr_of(&out)
    );

    let shared = unique_name("sec-shared");
    let _daemon = Daemon::start(&shared, &["--mode", "0660", "--group", &user.1.to_string()]);
    let out = output(&mut as_user(user, &pull, &[&shared]));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10);
}

/// A handle reattaches to a restarted daemon only if the new segment
/// belongs to the user that owned the first one. Here the handle runs as
/// root, which could open anyone's file: after its daemon dies, another
/// user's daemon on the same name gets PERMISSION_DENIED, not its
/// nicknames handed to the program.
#[test]
fn a_handle_does_not_follow_its_name_to_another_users_segment() {
    let user = match second_user() {
        Ok(user) => user,
        Err(why) => return skip("a_handle_does_not_follow…", &why),
    };
    let name = unique_name("sec-impostor");
    let mut first = Daemon::start(&name, &["--capacity", "4"]);
    let client = Client::open(Some(&name)).unwrap();
    client.next_string(Some(TEN_SECONDS)).unwrap();
    first.kill9();
    while client.next_string(Some(Duration::ZERO)).is_ok() {} // Leftovers.
    std::fs::remove_file(shm_path(&name)).unwrap();

    let portable = Portable::new("sec-impostor");
    let nickpool = portable.copy(&common::nickpool_bin(), "nickpool");
    let child = as_user(user, &nickpool, &["serve", "--name", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _other = Daemon {
        child,
        name: name.clone(),
    };
    assert!(wait_until(TEN_SECONDS, || Client::open(Some(&name)).is_ok()));
    assert_eq!(std::fs::metadata(shm_path(&name)).unwrap().uid(), user.0);

    let err = client
        .next_string(Some(Duration::from_millis(200)))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains("does not follow"), "{err}");
    // A new handle is the caller's explicit choice, and works.
    assert!(Client::open(Some(&name)).is_ok());
}

// ------------------------------------------------------------ symlinks

/// A symlink planted at the segment's path: the daemon refuses to start
/// and leaves both the link and its target untouched; a client neither
/// follows it nor mistakes it for a missing daemon.
#[test]
fn a_symlink_at_the_name_is_neither_followed_nor_replaced() {
    let name = unique_name("sec-symlink");
    let dir = std::env::temp_dir().join(name.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("precious");
    std::fs::write(&target, b"do not overwrite me").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = fingerprint(&target);
    let link = shm_path(&name);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let _planted = Planted(link.clone());

    let (code, _, err) = run_cli(&["serve", "--name", &name], TEN_SECONDS);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_link(&link).unwrap(), target);
    assert_eq!(fingerprint(&target), before);

    assert_eq!(open_status(name.as_bytes()), Status::NICKPOOL_INCOMPATIBLE);
    let err = Client::open(Some(&name)).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fingerprint(&target), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Even a symlink to a real, live segment is refused: a client that
/// followed links would succeed here.
#[test]
fn a_symlink_to_a_live_segment_is_not_followed() {
    let real = unique_name("sec-real");
    let _daemon = Daemon::start(&real, &[]);
    let alias = unique_name("sec-alias");
    std::os::unix::fs::symlink(shm_path(&real), shm_path(&alias)).unwrap();
    let _planted = Planted(shm_path(&alias));
    assert_eq!(open_status(real.as_bytes()), Status::NICKPOOL_OK);
    assert_eq!(open_status(alias.as_bytes()), Status::NICKPOOL_INCOMPATIBLE);
    let (code, _, err) = run_cli(&["pull", "--name", &alias], TEN_SECONDS);
    assert_eq!(code, 1);
    assert!(err.contains("symbolic link"), "{err}");
}

// --------------------------------------------------------------- names

/// Names that could escape /dev/shm or hide a file are refused before any
/// file is touched, by every command and by the C ABI.
#[test]
fn names_are_validated_by_the_cli_and_the_c_abi() {
    let long = format!("/{}", "x".repeat(200));
    let bad = [
        "nickpool",
        "/",
        "/../etc/passwd",
        "/..",
        "/a/../../b",
        "/a/b",
        "/.hidden",
        "/sp ace",
        "/tab\tbed",
        "/new\nline",
        "/名字",
        "/semi;colon",
        long.as_str(),
    ];
    for name in bad {
        for command in ["serve", "pull", "stats"] {
            let (code, _, err) = run_cli(&[command, "--name", name], TEN_SECONDS);
            assert_eq!(code, 2, "{command} --name {name:?}: {err}");
            assert!(err.contains("invalid segment name"), "{err}");
        }
        assert_eq!(
            open_status(name.as_bytes()),
            Status::NICKPOOL_INVALID_ARGUMENT,
            "{name:?}"
        );
    }
    // Bytes a CLI argument cannot carry: not UTF-8, and no NUL within
    // the longest name (the library reads no further than that).
    let unterminated = [b"/".as_slice(), &[b'x'; 4096]].concat();
    for name in [&b"/\xff\xfe"[..], &b"/ok\xc0"[..], &unterminated] {
        assert_eq!(open_status(name), Status::NICKPOOL_INVALID_ARGUMENT);
    }
    // The longest valid name is accepted (and simply not running).
    let longest = format!("/{}", "x".repeat(199));
    assert_eq!(
        open_status(longest.as_bytes()),
        Status::NICKPOOL_NOT_RUNNING
    );
    // An invalid $NICKPOOL_NAME, used when the name is NULL.
    let pull = Build::new("examples/pull.c", "pull-sec-env").compile();
    let out = output(
        Command::new(&pull)
            .env("NICKPOOL_NAME", "/../etc/passwd")
            .stdin(Stdio::null()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("(NICKPOOL_INVALID_ARGUMENT)"),
        "{}",
        stderr_of(&out)
    );
}

// ------------------------------------------------------------ takeover

/// Another user's file at the name is not a stale segment to take over.
#[test]
fn a_file_of_another_user_at_the_name_is_not_taken_over() {
    if !is_root() {
        return skip("a_file_of_another_user…", "needs root to chown a file");
    }
    let Some((uid, gid)) = nobody() else {
        return skip("a_file_of_another_user…", "needs a user named nobody");
    };
    let name = unique_name("sec-foreign");
    let path = shm_path(&name);
    std::fs::write(&path, vec![7u8; 8192]).unwrap();
    let _planted = Planted(path.clone());
    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
    let before = fingerprint(&path);

    let (code, _, err) = run_cli(&["serve", "--name", &name], TEN_SECONDS);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("not a segment of this user (owner uid {uid})")),
        "{err}"
    );
    assert_eq!(fingerprint(&path), before);
}

/// A directory or a FIFO at the name is refused, left in place, and does
/// not hang the daemon or a client (opening a FIFO could block).
#[test]
fn a_directory_or_fifo_at_the_name_is_not_taken_over() {
    for kind in ["directory", "fifo"] {
        let name = unique_name(&format!("sec-{kind}"));
        let path = shm_path(&name);
        if kind == "directory" {
            std::fs::create_dir(&path).unwrap();
        } else {
            let c_path = CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        }
        let _planted = Planted(path.clone());
        let (code, _, err) = run_cli(&["serve", "--name", &name], TEN_SECONDS);
        assert_eq!(code, 1, "{kind}: {err}");
        assert!(err.contains("not a regular file"), "{kind}: {err}");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(!meta.file_type().is_file(), "{kind} replaced");
        assert_eq!(
            open_status(name.as_bytes()),
            Status::NICKPOOL_INCOMPATIBLE,
            "{kind}"
        );
    }
}

/// Several daemons started at once on a dead daemon's segment: exactly one
/// takes it over and serves; the others refuse. (Each takes the stale
/// segment's lock before removing it, so two cannot both replace it.)
#[test]
fn concurrent_takeovers_leave_exactly_one_daemon() {
    for round in 0..3 {
        let name = unique_name("sec-race");
        let mut stale = Daemon::start(&name, &["--capacity", "4"]);
        stale.kill9();
        let mut contenders: Vec<Daemon> = (0..4)
            .map(|_| Daemon {
                child: Command::new(common::nickpool_bin())
                    .args(["serve", "--capacity", "4", "--name", &name])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
                name: name.clone(),
            })
            .collect();
        // Wait until the segment serves and every loser has exited.
        assert!(wait_until(TEN_SECONDS, || {
            Client::open(Some(&name)).is_ok()
                && contenders
                    .iter_mut()
                    .map(|d| d.child.try_wait().unwrap().is_none())
                    .filter(|&running| running)
                    .count()
                    == 1
        }));
        std::thread::sleep(Duration::from_millis(300)); // Stragglers.
        let mut running = Vec::new();
        for daemon in &mut contenders {
            match daemon.child.try_wait().unwrap() {
                None => running.push(daemon.pid() as u32),
                Some(status) => {
                    let err = daemon.stderr();
                    assert_eq!(status.code(), Some(1), "round {round}: {err}");
                    assert!(err.contains("running daemon, pid"), "round {round}: {err}");
                }
            }
        }
        assert_eq!(running.len(), 1, "round {round}: running {running:?}");
        let stats = Client::open(Some(&name)).unwrap().stats().unwrap();
        assert_eq!(stats.daemon_pid, running[0], "round {round}");
        drop(stale); // Last: its drop removes the segment.
    }
}
