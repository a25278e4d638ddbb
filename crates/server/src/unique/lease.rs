//! Leasing counter blocks from a Redis server, for fleets whose daemons
//! come and go: `--lease redis://HOST:PORT/KEY`.
//!
//! Redis key `KEY` is a hash of the fleet's counters, one field per style
//! (`0`, `1`, … by the style's position): a daemon takes the block
//! `[v - n, v)` of style `k` where `v` is the reply of `HINCRBY KEY k n`,
//! which Redis executes atomically, so no two daemons ever get overlapping
//! blocks of one style. `KEY:meta` holds the permutation key, the
//! dictionary's fingerprint and the styles' sizes (a [`SpaceId`] record);
//! the first daemon creates it together with the counters (one Lua script,
//! all or nothing), later ones must match it.
//!
//! The counters are only as durable as the Redis server: if Redis loses
//! their last increments (a crash without `appendfsync always`), blocks are
//! handed out again.

use super::record::{CorruptRecord, SpaceId, hex};
use std::time::Duration;

/// How long to wait for Redis to connect or answer.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// `redis://[USER:PASSWORD@]HOST:PORT/KEY`, split into the server and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseUrl {
    /// `redis://[USER:PASSWORD@]HOST:PORT/`, for the client.
    pub server: String,
    /// The counter's key; the metadata lives in `KEY:meta`.
    pub key: String,
}

impl LeaseUrl {
    pub fn parse(text: &str) -> Result<LeaseUrl, String> {
        let usage = |why: &str| {
            format!(
                "--lease '{text}': {why}; expected redis://HOST:PORT/KEY, e.g. redis://127.0.0.1:6379/nickpool"
            )
        };
        let rest = text
            .strip_prefix("redis://")
            .ok_or_else(|| usage("it must start with redis://"))?;
        let (authority, key) = rest
            .split_once('/')
            .ok_or_else(|| usage("the key is missing"))?;
        if authority.is_empty() {
            return Err(usage("the host is missing"));
        }
        if key.is_empty() {
            return Err(usage("the key is missing"));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(usage("the key contains a space or control character"));
        }
        Ok(LeaseUrl {
            server: format!("redis://{authority}/"),
            key: key.to_owned(),
        })
    }

    pub fn meta_key(&self) -> String {
        format!("{}:meta", self.key)
    }

    /// The URL without any password, for logs and messages.
    pub fn display(&self) -> String {
        let server = self.server.trim_start_matches("redis://");
        let host = server.rsplit_once('@').map_or(server, |(_, h)| h);
        format!("redis://{host}{}", self.key)
    }
}

/// A connection to the lease server.
pub struct Lease {
    url: LeaseUrl,
    client: redis::Client,
    connection: Option<redis::Connection>,
}

impl Lease {
    /// Checks the URL and connects.
    pub fn connect(url: &LeaseUrl) -> Result<Lease, String> {
        let client = redis::Client::open(url.server.as_str())
            .map_err(|e| format!("--lease {}: {e}", url.display()))?;
        let mut lease = Lease {
            url: url.clone(),
            client,
            connection: None,
        };
        lease.connection()?;
        Ok(lease)
    }

    pub fn url(&self) -> &LeaseUrl {
        &self.url
    }

    fn connection(&mut self) -> Result<&mut redis::Connection, String> {
        if self.connection.is_none() {
            let connection = self
                .client
                .get_connection_with_timeout(REDIS_TIMEOUT)
                .and_then(|c| {
                    c.set_read_timeout(Some(REDIS_TIMEOUT))?;
                    c.set_write_timeout(Some(REDIS_TIMEOUT))?;
                    Ok(c)
                })
                .map_err(|e| {
                    format!(
                        "cannot reach the lease server {}: {e}; check that redis-server runs there",
                        self.url.display()
                    )
                })?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("just connected"))
    }

    /// Runs `cmd`; a failed connection is dropped so the next call
    /// reconnects.
    fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> Result<T, String> {
        let display = self.url.display();
        let result = cmd.query(self.connection()?);
        result.map_err(|e| {
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                self.connection = None;
            }
            format!("lease server {display}: {e}")
        })
    }

    /// Makes sure every daemon of this lease permutes the same space with
    /// the same key: creates `KEY:meta` and the counters if this is the
    /// first daemon, else reads `KEY:meta` and refuses a different
    /// dictionary or a `--key` that differs. Returns the space in force.
    pub fn agree(&mut self, proposed: &SpaceId, key_given: bool) -> Result<SpaceId, String> {
        let meta_key = self.url.meta_key();
        let created: i64 = self.query(
            redis::cmd("EVAL")
                .arg(CREATE_SCRIPT)
                .arg(2)
                .arg(&self.url.key)
                .arg(&meta_key)
                .arg(proposed.encode())
                .arg(proposed.sizes.len()),
        )?;
        if created == 1 {
            return Ok(proposed.clone());
        }
        let stored: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(&meta_key))?;
        let key = &self.url.key;
        let Some(stored) = stored else {
            return Err(format!(
                "the lease counters {key} exist on {} but {meta_key} is missing, so the permutations they were used with are lost and new leases could repeat nicknames; if the counters are stale, delete them (redis-cli DEL {key}) to start a new space",
                self.url.display()
            ));
        };
        if super::record::written_by_v1(&stored) {
            return Err(format!(
                "lease {} was made by an earlier nickpool (one counter for all styles); this version keeps a counter per style and cannot carry one counter over without risking repeats. Use a new lease key for this version's daemons, or, once every earlier daemon on it has stopped, delete it (redis-cli DEL {key} {meta_key}) to start a new space: nicknames handed out before may then repeat",
                self.url.display()
            ));
        }
        let stored = SpaceId::decode(&stored).map_err(|CorruptRecord(e)| {
            format!(
                "{meta_key} on {} is not a valid lease record: {e}; fix or delete it (redis-cli DEL {key} {meta_key}, which starts a new space: nicknames handed out before may repeat)",
                self.url.display()
            )
        })?;
        if (stored.fingerprint, &stored.sizes) != (proposed.fingerprint, &proposed.sizes) {
            return Err(format!(
                "lease {} serves another dictionary (fingerprint {}, {} indices) than this daemon's (fingerprint {}, {} indices); every daemon of a lease must use the same dictionary, --style and --max-chars: fix this daemon's, or use another lease key",
                self.url.display(),
                hex(&stored.fingerprint),
                stored.size(),
                hex(&proposed.fingerprint),
                proposed.size()
            ));
        }
        if key_given && stored.key != proposed.key {
            return Err(format!(
                "lease {} uses another permutation key than --key; drop --key (the lease's key is used) or use another lease key",
                self.url.display()
            ));
        }
        Ok(stored)
    }

    /// Takes `n` counters of style `k` for each `(k, n)` of `blocks`, in
    /// one round trip; returns the end of each block, `v` in `[v - n, v)`.
    pub fn take(&mut self, blocks: &[(usize, u64)]) -> Result<Vec<u64>, String> {
        let mut pipe = redis::pipe();
        for &(k, n) in blocks {
            let n = i64::try_from(n).expect("blocks are small");
            pipe.cmd("HINCRBY").arg(&self.url.key).arg(k).arg(n);
        }
        let display = self.url.display();
        let result: Result<Vec<i64>, _> = pipe.query(self.connection()?);
        let ends = result.map_err(|e| {
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                self.connection = None;
            }
            format!("lease server {display}: {e}")
        })?;
        blocks
            .iter()
            .zip(ends)
            .map(|(&(k, n), end)| {
                u64::try_from(end).ok().filter(|&end| end >= n).ok_or_else(|| {
                    format!(
                        "lease counter {} of style {k} went negative ({end}); something else writes that key",
                        self.url.key
                    )
                })
            })
            .collect()
    }

    /// Each style's counter: how many counters of it the fleet has leased.
    pub fn leased(&mut self, styles: usize) -> Result<Vec<u64>, String> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.url.key);
        for k in 0..styles {
            cmd.arg(k);
        }
        let values: Vec<Option<i64>> = self.query(&cmd)?;
        Ok(values
            .into_iter()
            .map(|v| v.map_or(0, |v| v.max(0) as u64))
            .collect())
    }

    /// The lease's metadata, if the fleet has created it.
    pub fn space(&mut self) -> Result<Option<SpaceId>, String> {
        let meta_key = self.url.meta_key();
        let stored: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(&meta_key))?;
        stored
            .map(|s| {
                if super::record::written_by_v1(&s) {
                    return Err(format!(
                        "{meta_key} was made by an earlier nickpool (one counter for all styles); decode its nicknames with that version"
                    ));
                }
                SpaceId::decode(&s).map_err(|CorruptRecord(e)| {
                    format!("{meta_key} is not a valid lease record: {e}")
                })
            })
            .transpose()
    }
}

/// Creates `KEYS[2]` (the metadata, `ARGV[1]`) and the hash `KEYS[1]` with
/// a zero counter for each of `ARGV[2]` styles, unless either exists.
/// Returns 1 if it created them, 0 if not. Redis runs a script atomically.
const CREATE_SCRIPT: &str = "\
if redis.call('EXISTS', KEYS[1]) + redis.call('EXISTS', KEYS[2]) > 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
for k = 0, tonumber(ARGV[2]) - 1 do redis.call('HSET', KEYS[1], tostring(k), 0) end
return 1
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_server_and_key() {
        let u = LeaseUrl::parse("redis://127.0.0.1:6379/nick/pool").unwrap();
        assert_eq!(u.server, "redis://127.0.0.1:6379/");
        assert_eq!(u.key, "nick/pool");
        assert_eq!(u.meta_key(), "nick/pool:meta");
        let secret = LeaseUrl::parse("redis://:hunter2@db:6379/k").unwrap();
        assert_eq!(secret.display(), "redis://db:6379/k");
        for bad in [
            "http://x/k",
            "redis://x",
            "redis://x/",
            "redis:///k",
            "redis://x/a b",
        ] {
            assert!(LeaseUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
