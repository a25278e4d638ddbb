//! Leasing counter blocks from a Redis server, for fleets whose daemons
//! come and go: `--lease redis://HOST:PORT/KEY`.
//!
//! Redis key `KEY` is the fleet's counter: a daemon takes the block
//! `[v - n, v)` where `v` is the reply of `INCRBY KEY n`, which Redis
//! executes atomically, so no two daemons ever get overlapping blocks.
//! `KEY:meta` holds the permutation key and the dictionary's fingerprint
//! (a [`SpaceId`] record); the first daemon creates it together with the
//! counter (`MSETNX`, all or nothing), later ones must match it.
//!
//! The counter is only as durable as the Redis server: if Redis loses the
//! counter's last increments (a crash without `appendfsync always`), blocks
//! are handed out again.

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
    /// the same key: creates `KEY:meta` (and the counter) if this is the
    /// first daemon, else reads it and refuses a different dictionary or a
    /// `--key` that differs. Returns the space in force.
    pub fn agree(&mut self, proposed: &SpaceId, key_given: bool) -> Result<SpaceId, String> {
        let meta_key = self.url.meta_key();
        let created: bool = self.query(
            redis::cmd("MSETNX")
                .arg(&meta_key)
                .arg(proposed.encode())
                .arg(&self.url.key)
                .arg(0),
        )?;
        if created {
            return Ok(*proposed);
        }
        let stored: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(&meta_key))?;
        let key = &self.url.key;
        let Some(stored) = stored else {
            return Err(format!(
                "the lease counter {key} exists on {} but {meta_key} is missing, so the permutation it was used with is lost and new leases could repeat nicknames; if the counter is stale, delete it (redis-cli DEL {key}) to start a new space",
                self.url.display()
            ));
        };
        let stored = SpaceId::decode(&stored).map_err(|CorruptRecord(e)| {
            format!(
                "{meta_key} on {} is not a valid lease record: {e}; fix or delete it (redis-cli DEL {key} {meta_key}, which starts a new space: nicknames handed out before may repeat)",
                self.url.display()
            )
        })?;
        if (stored.fingerprint, stored.size) != (proposed.fingerprint, proposed.size) {
            return Err(format!(
                "lease {} serves another dictionary (fingerprint {}, {} indices) than this daemon's (fingerprint {}, {} indices); every daemon of a lease must use the same dictionary and --style: fix this daemon's, or use another lease key",
                self.url.display(),
                hex(&stored.fingerprint),
                stored.size,
                hex(&proposed.fingerprint),
                proposed.size
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

    /// Takes `n` counters; returns the end of the block, `v` in
    /// `[v - n, v)`.
    pub fn take(&mut self, n: u64) -> Result<u64, String> {
        let n = i64::try_from(n).expect("blocks are small");
        let end: i64 = self.query(redis::cmd("INCRBY").arg(&self.url.key).arg(n))?;
        u64::try_from(end)
            .ok()
            .filter(|&end| end >= n as u64)
            .ok_or_else(|| {
                format!(
                    "lease counter {} went negative ({end}); something else writes that key",
                    self.url.key
                )
            })
    }

    /// The counter's value: how many counters the fleet has leased.
    pub fn leased(&mut self) -> Result<u64, String> {
        let value: Option<i64> = self.query(redis::cmd("GET").arg(&self.url.key))?;
        Ok(value.map_or(0, |v| v.max(0) as u64))
    }

    /// The lease's metadata, if the fleet has created it.
    pub fn space(&mut self) -> Result<Option<SpaceId>, String> {
        let meta_key = self.url.meta_key();
        let stored: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(&meta_key))?;
        stored
            .map(|s| {
                SpaceId::decode(&s).map_err(|CorruptRecord(e)| {
                    format!("{meta_key} is not a valid lease record: {e}")
                })
            })
            .transpose()
    }
}

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
