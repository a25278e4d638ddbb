//! Security: who may open a segment, what a daemon refuses to touch, what a
//! client refuses to trust, and what no other user can do to either.
//!
//! Tests that need a second user (a real one: `nobody`, through `setpriv`;
//! victims and daemon users get uids of their own that name nobody on the
//! host) or `chown` run as root, as CI does; elsewhere they print a SKIPPED
//! line on stderr saying why and pass. Two related checks live in
//! daemon.rs: a second daemon on a live name refuses with the running
//! daemon's pid, and a dead daemon's segment is taken over.

mod common;

use common::c::{Build, have, lib_dir};
use common::{Daemon, run_cli, shm_path, skip, unique_name, wait_until};
use nickpool::ffi::{self, nickpool_status as Status};
use nickpool::{Client, Error};
use std::ffi::CString;
use std::io::{BufRead, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
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
fn as_user(user: (u32, u32), program: &Path, args: &[&str]) -> Command {
    as_user_in(user, &[], program, args)
}

/// `setpriv` running `program args…` as `user` with the supplementary
/// `groups`, and without `$NICKPOOL_OWNER` (a test sets it where it means
/// to).
fn as_user_in((uid, gid): (u32, u32), groups: &[u32], program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg(if groups.is_empty() {
            "--clear-groups".to_owned()
        } else {
            let list: Vec<String> = groups.iter().map(u32::to_string).collect();
            format!("--groups={}", list.join(","))
        })
        .arg("--")
        .arg(program)
        .args(args)
        .env_remove("NICKPOOL_OWNER")
        .stdin(Stdio::null());
    command
}

/// `n` ids from 61000 up that are neither a user nor a group here: uids
/// (and gids) of their own for a test's victims, daemons and groups.
fn unused_ids(n: usize) -> Vec<u32> {
    let ids: Vec<u32> = (61000..65000)
        // SAFETY: getpwuid and getgrgid take any id and return NULL or a
        // pointer to a static struct; only the NULL test reads the result.
        .filter(|&id| unsafe { libc::getpwuid(id).is_null() && libc::getgrgid(id).is_null() })
        .take(n)
        .collect();
    assert_eq!(ids.len(), n, "no {n} unused ids from 61000 up");
    ids
}

/// `nickpool serve --name NAME ARGS…` running as `user` (with the
/// supplementary `groups`), once its segment is published. It waits for
/// the file, not for an open: this process need not trust its owner.
fn serve_as(
    user: (u32, u32),
    groups: &[u32],
    nickpool: &Path,
    name: &str,
    args: &[&str],
) -> Daemon {
    let serve = [&["serve", "--name", name][..], args].concat();
    let child = as_user_in(user, groups, nickpool, &serve)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut daemon = Daemon {
        child,
        name: name.to_owned(),
    };
    let up = wait_until(TEN_SECONDS, || {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!("daemon exited early with {status}: {}", daemon.stderr());
        }
        std::fs::metadata(shm_path(name)).is_ok_and(|meta| meta.uid() == user.0)
    });
    assert!(up, "daemon of uid {} on {name} did not come up", user.0);
    daemon
}

/// Runs `f` on a thread and returns its result; fails the test if it takes
/// longer than `limit` (the thread stays behind, blocked).
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not return within {limit:?}"))
}

/// The kernel's lease-break time: how long an open that may block waits for
/// a lease holder that does not give its lease back.
fn lease_break_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/sys/fs/lease-break-time").ok()?;
    text.trim().parse().ok().map(Duration::from_secs)
}

/// The lease plant: `tests/c/lease_holder.c`, running as `user`, created
/// /dev/shm/NAME and holds a read lease on it until dropped (then the file
/// is removed).
struct Lease {
    child: Child,
    path: PathBuf,
}

impl Lease {
    fn plant(user: (u32, u32), holder: &Path, name: &str) -> Lease {
        let path = shm_path(name);
        let mut child = as_user(user, holder, &[path.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lease = Lease { child, path };
        let ready = within(TEN_SECONDS, "lease_holder", move || {
            std::io::BufReader::new(stdout).lines().next()
        });
        assert!(
            matches!(ready, Some(Ok(ref line)) if line == "leased"),
            "lease_holder failed: {ready:?}"
        );
        lease
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
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

    /// tests/c/lease_holder.c (which needs no library).
    fn lease_holder(&self) -> PathBuf {
        let exe = Build::new("tests/c/lease_holder.c", "lease_holder")
            .link(Vec::new())
            .compile();
        self.copy(&exe, "lease_holder")
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

/// Opens a handle on a daemon of this process's user, kills the daemon and
/// starts one of `user` on the same name: what the handle's next pull
/// returns, what opening a new handle returns, and the new daemon.
fn restart_as_another_user(user: (u32, u32), tag: &str) -> (Error, Result<Client, Error>, Daemon) {
    let name = unique_name(tag);
    let mut first = Daemon::start(&name, &["--capacity", "4"]);
    let client = Client::open(Some(&name)).unwrap();
    client.next_string(Some(TEN_SECONDS)).unwrap();
    first.kill9();
    while client.next_string(Some(Duration::ZERO)).is_ok() {} // Leftovers.
    std::fs::remove_file(shm_path(&name)).unwrap();

    let portable = Portable::new(tag);
    let nickpool = portable.copy(&common::nickpool_bin(), "nickpool");
    let other = serve_as(user, &[], &nickpool, &name, &[]);
    let err = client
        .next_string(Some(Duration::from_millis(200)))
        .unwrap_err();
    (err, Client::open(Some(&name)), other)
}

/// A handle reattaches to a restarted daemon only if it trusts the new
/// segment's owner. Here the handle runs as root, which could open anyone's
/// file: after its daemon dies, another user's daemon on the same name
/// gets PERMISSION_DENIED naming that user, not its nicknames handed to
/// the program; so does a new handle.
#[test]
fn a_handle_does_not_follow_its_name_to_an_untrusted_users_segment() {
    let user = match second_user() {
        Ok(user) => user,
        Err(why) => return skip("a_handle_does_not_follow…", &why),
    };
    let (err, new_handle, _daemon) = restart_as_another_user(user, "sec-impostor");
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    let owner = format!("belongs to user nobody (uid {})", user.0);
    assert!(err.to_string().contains(&owner), "{err}");
    assert!(err.to_string().contains("NICKPOOL_OWNER=nobody"), "{err}");
    let err = new_handle.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains(&owner), "{err}");
}

/// Even a user named by $NICKPOOL_OWNER does not take over an open handle
/// of another owner's daemon: the handle refuses to follow ("does not
/// follow"); a new handle, the program's explicit choice, works. (In a
/// child process, to set the variable.)
#[test]
fn a_handle_does_not_follow_its_name_to_another_trusted_owner() {
    if let Err(why) = second_user() {
        return skip("a_handle_does_not_follow…trusted_owner", &why);
    }
    let out = common::run_test_in_child(
        "restart_as_a_trusted_user_worker",
        &[("NICKPOOL_OWNER", "nobody")],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
}

#[test]
#[ignore = "run by a_handle_does_not_follow_its_name_to_another_trusted_owner, in a child process"]
fn restart_as_a_trusted_user_worker() {
    assert_eq!(std::env::var("NICKPOOL_OWNER").as_deref(), Ok("nobody"));
    let (err, new_handle, _daemon) = restart_as_another_user(second_user().unwrap(), "sec-trusted");
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains("does not follow"), "{err}");
    let client = new_handle.unwrap();
    client.next_string(Some(TEN_SECONDS)).unwrap();
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

// ---------------------------------------------------- planted segments

/// What `nickpool pull -n 3 --name NAME` prints on stdout and stderr, run
/// as `user` (with `groups`), with `$NICKPOOL_OWNER` set to `owner` if any;
/// fails the test unless the exit code is `code`.
fn pull_as(
    user: (u32, u32),
    groups: &[u32],
    nickpool: &Path,
    name: &str,
    owner: Option<&str>,
    code: i32,
) -> (String, String) {
    let mut command = as_user_in(user, groups, nickpool, &["pull", "-n", "3", "--name", name]);
    if let Some(owner) = owner {
        command.env("NICKPOOL_OWNER", owner);
    }
    let out = output(&mut command);
    assert_eq!(out.status.code(), Some(code), "{}", stderr_of(&out));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr_of(&out),
    )
}

/// The ACL plant: a user with no access to the victim creates a complete,
/// live segment at a free name and grants the victim read and write with
/// an extended ACL (the mode shows 0660+, no shared group needed). The
/// victim's clients refuse it, naming its owner and the ACL, until the
/// victim names that owner in $NICKPOOL_OWNER (by name or by uid).
#[test]
fn a_segment_planted_with_an_acl_is_refused_unless_its_owner_is_named() {
    let attacker = match second_user() {
        Ok(user) => user,
        Err(why) => return skip("a_segment_planted_with_an_acl…", &why),
    };
    if !have("setfacl") {
        return skip(
            "a_segment_planted_with_an_acl…",
            "needs setfacl (package acl)",
        );
    }
    let id = unused_ids(1)[0];
    let victim = (id, id);
    let portable = Portable::new("sec-acl");
    let nickpool = portable.copy(&common::nickpool_bin(), "nickpool");
    let pull_c = portable.pull_c("pull-acl-victim");
    let name = unique_name("sec-acl");
    let _planted = serve_as(attacker, &[], &nickpool, &name, &[]);
    let path = shm_path(&name);
    let grant = format!("u:{id}:rw");
    let setfacl = Path::new("setfacl");
    let out = output(&mut as_user(
        attacker,
        setfacl,
        &["-m", &grant, path.to_str().unwrap()],
    ));
    assert!(out.status.success(), "setfacl: {}", stderr_of(&out));
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o077, 0o060);

    let (_, err) = pull_as(victim, &[], &nickpool, &name, None, 1);
    assert!(
        err.contains(&format!("belongs to user nobody (uid {})", attacker.0)),
        "{err}"
    );
    assert!(err.contains(&format!("uid {id}: rw")), "{err}");
    assert!(err.contains("NICKPOOL_OWNER=nobody"), "{err}");
    let out = output(&mut as_user(victim, &pull_c, &[&name]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("(NICKPOOL_PERMISSION_DENIED)"),
        "{}",
        stderr_of(&out)
    );

    for owner in ["nobody".to_owned(), attacker.0.to_string()] {
        let (nicknames, _) = pull_as(victim, &[], &nickpool, &name, Some(&owner), 0);
        assert_eq!(nicknames.lines().count(), 3, "NICKPOOL_OWNER={owner}");
    }
    // A variable that names someone else trusts no one more.
    let (_, err) = pull_as(victim, &[], &nickpool, &name, Some("root"), 1);
    assert!(
        err.contains("$NICKPOOL_OWNER=root names user root (uid 0)"),
        "{err}"
    );
}

/// The shared-group plant: the attacker shares a group with the victim
/// and serves a segment to that group (`--mode 0660 --group G`). Refused
/// at the first open until the victim names the attacker's user.
#[test]
fn a_segment_planted_through_a_shared_group_is_refused_unless_its_owner_is_named() {
    let attacker = match second_user() {
        Ok(user) => user,
        Err(why) => return skip("a_segment_planted_through_a_shared_group…", &why),
    };
    let ids = unused_ids(2);
    let (victim, group) = ((ids[0], ids[0]), ids[1]);
    let portable = Portable::new("sec-group-plant");
    let nickpool = portable.copy(&common::nickpool_bin(), "nickpool");
    let name = unique_name("sec-group-plant");
    let group_arg = group.to_string();
    let _planted = serve_as(
        attacker,
        &[group],
        &nickpool,
        &name,
        &["--mode", "0660", "--group", &group_arg],
    );
    assert_eq!(std::fs::metadata(shm_path(&name)).unwrap().gid(), group);

    let (_, err) = pull_as(victim, &[group], &nickpool, &name, None, 1);
    assert!(
        err.contains(&format!("belongs to user nobody (uid {})", attacker.0)),
        "{err}"
    );
    assert!(err.contains("NICKPOOL_OWNER=nobody"), "{err}");
    let (nicknames, _) = pull_as(victim, &[group], &nickpool, &name, Some("nobody"), 0);
    assert_eq!(nicknames.lines().count(), 3);
}

// ------------------------------------------------------------- leases

/// Skips (with a message) where the kernel breaks leases so fast that a
/// blocking open could not be told from a non-blocking one.
fn lease_plant_possible(test: &str) -> Option<(u32, u32)> {
    let user = match second_user() {
        Ok(user) => user,
        Err(why) => {
            skip(test, &why);
            return None;
        }
    };
    match lease_break_time() {
        Some(t) if t >= Duration::from_secs(10) => Some(user),
        t => {
            skip(
                test,
                &format!("needs /proc/sys/fs/lease-break-time >= 10 s (it is {t:?})"),
            );
            None
        }
    }
}

/// How much longer than its timeout a call may take here (a loaded CI
/// machine) while still plainly not waiting for a lease break (45 s by
/// default; 10 s at least, or the lease tests skip).
const SLACK: Duration = Duration::from_secs(3);

/// The lease plant at a free name: another user creates the file and holds
/// a read lease on it. Opening it (Rust and C), `nickpool stats` and
/// `nickpool serve` return at once, instead of waiting out the kernel's
/// lease-break time; clients say whose file it is.
#[test]
fn a_lease_on_a_free_name_does_not_hold_open_stats_or_serve() {
    let Some(attacker) = lease_plant_possible("a_lease_on_a_free_name…") else {
        return;
    };
    let portable = Portable::new("sec-lease");
    let holder = portable.lease_holder();
    let name = unique_name("sec-lease");
    let _lease = Lease::plant(attacker, &holder, &name);

    let open_name = name.clone();
    let err = within(SLACK, "Client::open", move || {
        Client::open(Some(&open_name))
    })
    .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains("belongs to user nobody"), "{err}");
    let open_name = name.clone();
    let status = within(SLACK, "nickpool_open", move || {
        open_status(open_name.as_bytes())
    });
    assert_eq!(status, Status::NICKPOOL_PERMISSION_DENIED);

    let (code, _, err) = run_cli(&["stats", "--name", &name], SLACK);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("NICKPOOL_OWNER"), "{err}");
    let (code, _, err) = run_cli(&["serve", "--name", &name], SLACK);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("file lease"), "{err}");
}

/// The lease plant while the daemon restarts: a handle whose daemon
/// stopped finds another user's leased file at the name. Its pull
/// (reattaching) and stats return within the pull's timeout (0 and
/// 500 ms) with PERMISSION_DENIED, not after the lease-break time.
#[test]
fn a_lease_planted_during_a_restart_does_not_hold_a_handle() {
    let Some(attacker) = lease_plant_possible("a_lease_planted_during_a_restart…") else {
        return;
    };
    let portable = Portable::new("sec-lease-restart");
    let holder = portable.lease_holder();
    for timeout in [Duration::ZERO, Duration::from_millis(500)] {
        let name = unique_name("sec-lease-restart");
        let mut daemon = Daemon::start(&name, &["--capacity", "4"]);
        let client = Client::open(Some(&name)).unwrap();
        client.next_string(Some(TEN_SECONDS)).unwrap();
        assert_eq!(daemon.stop(), Some(0)); // Removes the segment.
        while client.next_string(Some(Duration::ZERO)).is_ok() {} // Leftovers.
        let _lease = Lease::plant(attacker, &holder, &name);

        let client = Arc::new(client);
        let puller = Arc::clone(&client);
        let err = within(timeout + SLACK, "a reattaching pull", move || {
            puller.next_string(Some(timeout))
        })
        .unwrap_err();
        assert!(
            matches!(err, Error::PermissionDenied(_)),
            "{timeout:?}: {err}"
        );
        assert!(err.to_string().contains("belongs to user nobody"), "{err}");
        let err = within(SLACK, "stats", move || client.stats()).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    }
}

// ------------------------------------------------------------ creation

/// The creation window: the daemon builds its segment under a temporary
/// name, and a member of the group it belongs to at first (the daemon
/// user's primary group) who opened it before it went to `--group` would
/// keep the descriptor. A probe preloaded into the daemon records the
/// file's group and mode after each call that creates or changes them:
/// no state grants the group anything while the group is not `--group`.
/// (umask 002, the worst case: nothing narrows the mode it creates with.)
#[test]
fn the_segment_never_grants_a_group_access_before_it_belongs_to_that_group() {
    use std::os::unix::process::CommandExt;
    if !is_root() {
        return skip(
            "the_segment_never_grants…",
            "needs root to give the segment to any group",
        );
    }
    // SAFETY: getegid has no preconditions.
    let primary = unsafe { libc::getegid() };
    let group = unused_ids(1)[0];
    let probe = Build::new("tests/c/creation_probe.c", "creation_probe.so")
        .flags(&["-shared", "-fPIC"])
        .link(vec!["-ldl".into()])
        .compile();
    let name = unique_name("sec-window");
    let log = common::c::build_dir().join(format!("{}.log", &name[1..]));
    let _ = std::fs::remove_file(&log);
    let mut command = Command::new(common::nickpool_bin());
    command
        .args([
            "serve",
            "--name",
            &name,
            "--mode",
            "0660",
            "--group",
            &group.to_string(),
        ])
        .env("LD_PRELOAD", &probe)
        .env("NICKPOOL_PROBE_LOG", &log)
        .env(
            "NICKPOOL_PROBE_PREFIX",
            format!("/dev/shm/.{}.", &name[1..]),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: umask is async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o002);
            Ok(())
        });
    }
    let mut daemon = Daemon {
        child: command.spawn().unwrap(),
        name: name.clone(),
    };
    let up = wait_until(TEN_SECONDS, || {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!("daemon exited early with {status}: {}", daemon.stderr());
        }
        Client::open(Some(&name)).is_ok()
    });
    assert!(up, "daemon on {name} did not come up");
    let states = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let states: Vec<(String, u32, u32)> = states
        .lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let call = fields.next().unwrap().to_owned();
            let gid = fields.next().unwrap().parse().unwrap();
            let mode = u32::from_str_radix(fields.next().unwrap(), 8).unwrap();
            (call, gid, mode)
        })
        .collect();
    assert!(
        states
            .first()
            .is_some_and(|(call, gid, _)| call == "open" && *gid == primary),
        "the probe did not see the temporary file created (is nickpool linked statically?): {states:?}"
    );
    assert_eq!(
        states.last().map(|s| (s.1, s.2)),
        Some((group, 0o660)),
        "{states:?}"
    );
    for (call, gid, mode) in &states {
        assert!(
            mode & 0o070 == 0 || *gid == group,
            "after {call} the file was mode {mode:04o} with group {gid}, not {group}: {states:?}"
        );
    }
}

/// The temporary-name squat: an unprivileged daemon's temporary file was
/// `.NAME.PID.tmp`; another user who created that name first (in the sticky
/// /dev/shm the daemon cannot remove it) stopped it from starting, at every
/// restart. Here the daemon's pid is known before it runs (a shell that
/// execs it when told), every temporary name of the old scheme for pids
/// around it is taken, and the daemon starts and serves all the same.
#[test]
fn squatted_temporary_names_do_not_stop_a_daemon() {
    let attacker = match second_user() {
        Ok(user) => user,
        Err(why) => return skip("squatted_temporary_names…", &why),
    };
    let id = unused_ids(1)[0];
    let owner = (id, id);
    let portable = Portable::new("sec-squat");
    let nickpool = portable.copy(&common::nickpool_bin(), "nickpool");
    let name = unique_name("sec-squat");
    let child = as_user(
        owner,
        Path::new("/bin/sh"),
        &[
            "-c",
            r#"read go && exec "$0" serve --name "$1""#,
            nickpool.to_str().unwrap(),
            &name,
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut daemon = Daemon {
        child,
        name: name.clone(), // Its drop also removes the squatted files.
    };
    let pid = daemon.child.id();
    let squats: Vec<String> = (pid.saturating_sub(50)..=pid + 50)
        .map(|p| format!("/dev/shm/.{}.{p}.tmp", &name[1..]))
        .collect();
    let squat_args: Vec<&str> = squats.iter().map(String::as_str).collect();
    let out = output(&mut as_user(attacker, Path::new("touch"), &squat_args));
    assert!(out.status.success(), "touch: {}", stderr_of(&out));

    writeln!(daemon.child.stdin.as_mut().unwrap(), "go").unwrap();
    let up = wait_until(TEN_SECONDS, || {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!("daemon exited with {status}: {}", daemon.stderr());
        }
        std::fs::metadata(shm_path(&name)).is_ok_and(|meta| meta.uid() == id)
    });
    assert!(up, "daemon on {name} did not come up");
    let (nicknames, _) = pull_as(owner, &[], &nickpool, &name, None, 0);
    assert_eq!(nicknames.lines().count(), 3);
    assert!(
        Path::new(&squats[50]).exists(),
        "the squatted name is gone: not a test of squatting"
    );
}

// ------------------------------------------------------------ timeouts

/// A Rust caller may pass any Duration: `Duration::MAX` waits without
/// limit (it was added to `Instant::now()` and panicked). With the daemon
/// stopped (SIGSTOP) and the ring drained, the pull waits; once the daemon
/// runs again, it gets a nickname.
#[test]
fn a_huge_rust_timeout_waits_instead_of_panicking() {
    let name = unique_name("sec-huge-timeout");
    let daemon = Daemon::start(&name, &["--capacity", "4"]);
    let client = Arc::new(Client::open(Some(&name)).unwrap());
    daemon.pause();
    while client.next_string(Some(Duration::ZERO)).is_ok() {} // Drain.
    let (tx, rx) = std::sync::mpsc::channel();
    let puller = Arc::clone(&client);
    std::thread::spawn(move || {
        let _ = tx.send(puller.next_string(Some(Duration::MAX)));
    });
    let early = rx.recv_timeout(Duration::from_millis(300));
    daemon.signal(libc::SIGCONT);
    assert!(
        matches!(early, Err(std::sync::mpsc::RecvTimeoutError::Timeout)),
        "the pull did not wait: {early:?}"
    );
    let nickname = rx.recv_timeout(TEN_SECONDS).unwrap().unwrap();
    assert!(!nickname.is_empty());
}
