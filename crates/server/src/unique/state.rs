//! The state file on disk: read and refuse anything doubtful, write
//! atomically and durably, and hold a lock so two daemons never share one.
//!
//! Every write goes to a temporary file in the same directory, which is
//! fsync'd, renamed over the state file, and then the directory is fsync'd:
//! after a crash at any instant the file holds either the old or the new
//! record, and once [`StateFile::save`] returns the new one survives a power
//! loss.

use super::record::State;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// An open, locked state file.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    /// Held (flock) for as long as this value lives; the kernel releases it
    /// when the process dies, even by kill -9.
    _lock: File,
}

impl StateFile {
    /// Locks `path` for this process: another daemon using the same state
    /// file would hand out the same nicknames. The lock lives in
    /// `PATH.lock` (the state file itself is replaced on every save).
    pub fn lock(path: &Path) -> Result<StateFile, String> {
        let lock_path = sibling(path, ".lock");
        let dir = parent_dir(path);
        if !dir.is_dir() {
            return Err(format!(
                "the directory of state file {} does not exist; create it or choose another --state",
                path.display()
            ));
        }
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(|e| format!("cannot open lock file {}: {e}", lock_path.display()))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(format!(
                    "state file {} is in use by another running nickpool daemon{}; two daemons on one state file would hand out the same nicknames: stop it, or give each daemon its own state file (with --node-id I --nodes N)",
                    path.display(),
                    if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    }
                ));
            }
            return Err(format!("cannot lock {}: {err}", lock_path.display()));
        }
        // Record who holds it, for the message above.
        let _ = lock.set_len(0);
        let _ = lock.write_all(format!("{}\n", std::process::id()).as_bytes());
        // Temporary files of a writer that died mid-save: only the lock's
        // holder writes them, and that is now us.
        let temp_prefix = sibling(path, ".tmp.");
        if let (Some(prefix), Ok(entries)) = (
            temp_prefix.file_name().map(|n| n.to_owned()),
            std::fs::read_dir(dir),
        ) {
            let prefix = prefix.as_encoded_bytes();
            for entry in entries.flatten() {
                if entry.file_name().as_encoded_bytes().starts_with(prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(StateFile {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state: `Ok(None)` if the file does not exist, an error if
    /// it cannot be read or is not a valid state record.
    pub fn load(&self) -> Result<Option<State>, String> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "cannot read state file {}: {e}",
                    self.path.display()
                ));
            }
        };
        if super::record::written_by_v1(&bytes) {
            return Err(format!(
                "state file {} was written by an earlier nickpool (state format v1: one counter for all styles); this version keeps a counter per style, and one counter says nothing about which nicknames of each style were handed out, so it cannot be carried over without risking repeats. Either keep serving it with the earlier version, or move it away (or start once with --reset-state) to begin new per-style permutations: nicknames handed out under the old file may then repeat",
                self.path.display()
            ));
        }
        State::decode(&bytes).map(Some).map_err(|e| {
            format!(
                "state file {} is corrupted: {e}. It is never reset silently, since that could hand out nicknames again: restore it from a backup, or start once with --reset-state to begin a new permutation (nicknames handed out before may then repeat)",
                self.path.display()
            )
        })
    }

    /// Replaces the state file with `state`, durably (see the module doc).
    pub fn save(&self, state: &State) -> io::Result<()> {
        write_durably(&self.path, state.encode().as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file, fsync, rename and an
/// fsync of the directory.
fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = sibling(path, &format!(".tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        File::open(parent_dir(path))?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::SpaceId;
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nickpool-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn state(reserved: u64) -> State {
        State {
            space: SpaceId {
                key: [1; 16],
                fingerprint: [2; 16],
                sizes: vec![100, 50],
            },
            node: 0,
            nodes: 1,
            reserved: vec![reserved, 3],
        }
    }

    #[test]
    fn save_then_load_and_no_temporary_file_is_left() {
        let dir = temp_dir("save");
        let path = dir.join("unique.state");
        let file = StateFile::lock(&path).unwrap();
        assert_eq!(file.load(), Ok(None));
        file.save(&state(7)).unwrap();
        file.save(&state(9)).unwrap();
        assert_eq!(file.load(), Ok(Some(state(9))));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["unique.state", "unique.state.lock"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn temporary_files_of_a_dead_writer_are_removed() {
        let dir = temp_dir("leftover");
        let path = dir.join("s");
        std::fs::write(dir.join("s.tmp.999999"), "half a record").unwrap();
        std::fs::write(dir.join("other.tmp.1"), "not ours").unwrap();
        let _file = StateFile::lock(&path).unwrap();
        assert!(!dir.join("s.tmp.999999").exists());
        assert!(dir.join("other.tmp.1").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = temp_dir("lock");
        let path = dir.join("s");
        let first = StateFile::lock(&path).unwrap();
        let err = StateFile::lock(&path).unwrap_err();
        assert!(
            err.contains("in use by another running nickpool daemon"),
            "{err}"
        );
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(StateFile::lock(&path).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_corrupted_file_is_refused_not_reset() {
        let dir = temp_dir("corrupt");
        let path = dir.join("s");
        let file = StateFile::lock(&path).unwrap();
        file.save(&state(5)).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        let err = file.load().unwrap_err();
        assert!(err.contains("is corrupted"), "{err}");
        assert!(err.contains("--reset-state"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_version_1_file_is_refused_with_what_to_do() {
        let dir = temp_dir("v1");
        let path = dir.join("s");
        let file = StateFile::lock(&path).unwrap();
        // What version 1 wrote (its checksum is not even looked at).
        let old = "nickpool unique state v1\nkey 01010101010101010101010101010101\ndictionary 02020202020202020202020202020202\nspace 150\nnode 0/1\nreserved 7\nchecksum 0123456789abcdef\n";
        std::fs::write(&path, old).unwrap();
        let err = file.load().unwrap_err();
        assert!(err.contains("written by an earlier nickpool"), "{err}");
        assert!(err.contains("move it away"), "{err}");
        assert!(err.contains("--reset-state"), "{err}");
        assert!(err.contains("may then repeat"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), old, "left alone");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = StateFile::lock(Path::new("/nonexistent-nickpool-dir/s")).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }
}
