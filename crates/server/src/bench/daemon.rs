//! A `nickpool serve` child process to measure against, shared by
//! `nickpool bench` and `benches/pull.rs`.

use crate::Client;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `nickpool serve` as a child process. Dropping it (also while unwinding
/// from a panic) stops it — SIGTERM, then SIGKILL after 5 s — and removes a
/// segment it left behind.
pub struct DaemonProcess {
    child: Child,
    name: String,
}

impl DaemonProcess {
    /// Runs `program serve --name NAME --capacity CAPACITY` and waits, at
    /// most 10 s, until its ring is full (the steady state); returns it and
    /// a client on it.
    pub fn start(
        program: &Path,
        name: &str,
        capacity: u32,
    ) -> Result<(DaemonProcess, Client), String> {
        DaemonProcess::start_with(program, name, capacity, &[], None)
    }

    /// [`DaemonProcess::start`] with more `serve` arguments, and, with
    /// `cpus`, every thread of the daemon restricted to those CPUs from its
    /// first instruction on.
    pub fn start_with(
        program: &Path,
        name: &str,
        capacity: u32,
        more: &[String],
        cpus: Option<&[usize]>,
    ) -> Result<(DaemonProcess, Client), String> {
        let mut command = Command::new(program);
        command
            .arg("serve")
            .args(["--name", name])
            .args(["--capacity", &capacity.to_string()])
            .args(more)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(cpus) = cpus {
            use std::os::unix::process::CommandExt;
            let set = super::affinity::cpu_set(cpus);
            // SAFETY: the closure runs in the child between fork and exec;
            // it makes one system call on a set built before the fork
            // (async-signal-safe), and the threads the daemon starts later
            // inherit the restriction.
            unsafe {
                command.pre_exec(move || {
                    if super::affinity::restrict_to(&set) {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {} serve: {e}", program.display()))?;
        let mut daemon = DaemonProcess {
            child,
            name: name.to_owned(),
        };
        let client = open_when_full(name, || match daemon.child.try_wait() {
            Ok(Some(status)) => {
                let mut log = String::new();
                if let Some(err) = daemon.child.stderr.as_mut() {
                    let _ = err.read_to_string(&mut log);
                }
                Err(format!(
                    "the daemon exited with {status} before serving {name}:\n{}",
                    log.trim_end()
                ))
            }
            _ => Ok(()),
        })?;
        Ok((daemon, client))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The segment name it serves.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Waits (at most 10 s) until a client can open `name` and its ring is full;
/// `alive` reports why the daemon is gone, if it is.
pub fn open_when_full(
    name: &str,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<Client, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        alive()?;
        if let Ok(client) = Client::open(Some(name)) {
            if client.stats().is_ok_and(|s| s.fill == s.capacity) {
                return Ok(client);
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the daemon on {name} did not fill its ring within 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(crate::segment::shm_path(&self.name));
    }
}
