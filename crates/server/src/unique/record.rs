//! The small text records unique mode keeps: the state file and the
//! lease's metadata in Redis. One `name value` pair per line under a header
//! line naming the kind and version, then a checksum line over everything
//! before it:
//!
//! ```text
//! nickpool unique state v1
//! key 3f0c…                (32 hex digits: the permutation key)
//! dictionary 9a41…         (32 hex digits: the dictionary's fingerprint)
//! space 18812345           (indices in the space)
//! node 0/1                 (this daemon's share: node I of N)
//! reserved 131072          (this node's counters below this may be used)
//! checksum 5be1…           (16 hex digits: SipHash-2-4 of the lines above)
//! ```
//!
//! Parsing is strict: the fields must come in order, each exactly once, and
//! nothing may follow the checksum. Anything else is refused as corrupted;
//! nothing is ever repaired or guessed.

use siphasher::sip::SipHasher24;
use std::fmt;
use std::hash::Hasher;

/// Header of a state file.
pub const STATE_HEADER: &str = "nickpool unique state v1";
/// Header of a lease's metadata record.
pub const LEASE_HEADER: &str = "nickpool unique lease v1";

/// The permutation key and the dictionary it permutes: what every daemon
/// sharing one space must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceId {
    pub key: [u8; 16],
    pub fingerprint: [u8; 16],
    pub size: u64,
}

/// One node's share of a space and how far it has reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub space: SpaceId,
    pub node: u64,
    pub nodes: u64,
    /// Every counter of this node below this mark may have been handed
    /// out; the next start begins here.
    pub reserved: u64,
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord(pub String);

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl State {
    pub fn encode(&self) -> String {
        let mut text = String::new();
        text.push_str(STATE_HEADER);
        text.push('\n');
        push_space(&mut text, &self.space);
        text.push_str(&format!("node {}/{}\n", self.node, self.nodes));
        text.push_str(&format!("reserved {}\n", self.reserved));
        seal(text)
    }

    pub fn decode(bytes: &[u8]) -> Result<State, CorruptRecord> {
        let mut fields = Fields::open(bytes, STATE_HEADER)?;
        let space = read_space(&mut fields)?;
        let node = fields.next("node")?;
        let (node, nodes) = node
            .split_once('/')
            .and_then(|(i, n)| Some((number(i)?, number(n)?)))
            .filter(|&(i, n)| n >= 1 && i < n)
            .ok_or_else(|| CorruptRecord(format!("bad node '{node}' (expected I/N with I < N)")))?;
        let reserved = fields.next("reserved")?;
        let reserved = number(reserved)
            .ok_or_else(|| CorruptRecord(format!("bad reserved mark '{reserved}'")))?;
        fields.close()?;
        Ok(State {
            space,
            node,
            nodes,
            reserved,
        })
    }
}

impl SpaceId {
    /// The lease metadata record.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        text.push_str(LEASE_HEADER);
        text.push('\n');
        push_space(&mut text, self);
        seal(text)
    }

    pub fn decode(bytes: &[u8]) -> Result<SpaceId, CorruptRecord> {
        let mut fields = Fields::open(bytes, LEASE_HEADER)?;
        let space = read_space(&mut fields)?;
        fields.close()?;
        Ok(space)
    }
}

fn push_space(text: &mut String, space: &SpaceId) {
    text.push_str(&format!("key {}\n", hex(&space.key)));
    text.push_str(&format!("dictionary {}\n", hex(&space.fingerprint)));
    text.push_str(&format!("space {}\n", space.size));
}

fn read_space(fields: &mut Fields<'_>) -> Result<SpaceId, CorruptRecord> {
    let key = fields.next("key")?;
    let key = parse_hex16(key).ok_or_else(|| CorruptRecord(format!("bad key '{key}'")))?;
    let fingerprint = fields.next("dictionary")?;
    let fingerprint = parse_hex16(fingerprint)
        .ok_or_else(|| CorruptRecord(format!("bad dictionary fingerprint '{fingerprint}'")))?;
    let size = fields.next("space")?;
    let size = number(size)
        .filter(|&n| n > 0)
        .ok_or_else(|| CorruptRecord(format!("bad space size '{size}'")))?;
    Ok(SpaceId {
        key,
        fingerprint,
        size,
    })
}

/// Appends the checksum line.
fn seal(mut text: String) -> String {
    let sum = checksum(text.as_bytes());
    text.push_str(&format!("checksum {sum:016x}\n"));
    text
}

fn checksum(bytes: &[u8]) -> u64 {
    let mut h = SipHasher24::new_with_keys(0, 0);
    h.write(bytes);
    h.finish()
}

/// Reads the lines of a sealed record in order.
struct Fields<'a> {
    lines: std::str::Lines<'a>,
}

impl<'a> Fields<'a> {
    /// Checks the checksum and the header; then fields can be read.
    fn open(bytes: &'a [u8], header: &str) -> Result<Fields<'a>, CorruptRecord> {
        if bytes.is_empty() {
            return Err(CorruptRecord("it is empty".into()));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| CorruptRecord("it is not text (invalid UTF-8)".into()))?;
        if !text.starts_with(header) {
            let first = text.lines().next().unwrap_or("");
            let shown: String = first.chars().take(40).collect();
            return Err(CorruptRecord(format!(
                "it does not start with '{header}' (found '{shown}')"
            )));
        }
        let Some(body_end) = text.rfind("checksum ") else {
            return Err(CorruptRecord("it has no checksum line (truncated?)".into()));
        };
        let (body, tail) = text.split_at(body_end);
        let stated = tail
            .strip_prefix("checksum ")
            .and_then(|t| t.strip_suffix('\n'))
            .filter(|t| t.len() == 16 && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|t| u64::from_str_radix(t, 16).ok())
            .ok_or_else(|| CorruptRecord("its checksum line is damaged (truncated?)".into()))?;
        if !body.ends_with('\n') || checksum(body.as_bytes()) != stated {
            return Err(CorruptRecord(
                "its checksum does not match its content".into(),
            ));
        }
        let mut lines = body.lines();
        lines.next(); // The header, checked above.
        Ok(Fields { lines })
    }

    /// The value of the next line, which must be field `name`.
    fn next(&mut self, name: &str) -> Result<&'a str, CorruptRecord> {
        let line = self
            .lines
            .next()
            .ok_or_else(|| CorruptRecord(format!("field '{name}' is missing")))?;
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| CorruptRecord(format!("expected field '{name}', found '{line}'")))
    }

    fn close(mut self) -> Result<(), CorruptRecord> {
        match self.lines.next() {
            None => Ok(()),
            Some(line) => Err(CorruptRecord(format!("unexpected line '{line}'"))),
        }
    }
}

/// A decimal number with no sign, spaces or leading zeros.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 hex digits (either case) as 16 bytes.
pub fn parse_hex16(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            space: SpaceId {
                key: *b"0123456789abcdef",
                fingerprint: [0xa5; 16],
                size: 18_812_345,
            },
            node: 2,
            nodes: 4,
            reserved: 131_072,
        }
    }

    #[test]
    fn state_round_trips_and_reads_as_documented() {
        let s = sample();
        let text = s.encode();
        assert!(text.starts_with("nickpool unique state v1\nkey 30313233"));
        assert!(text.contains("\nspace 18812345\nnode 2/4\nreserved 131072\nchecksum "));
        assert!(text.ends_with('\n'));
        assert_eq!(State::decode(text.as_bytes()), Ok(s));
        let edge = State {
            node: 0,
            nodes: 1,
            reserved: 0,
            ..s
        };
        assert_eq!(State::decode(edge.encode().as_bytes()), Ok(edge));
    }

    #[test]
    fn lease_metadata_round_trips() {
        let id = sample().space;
        let text = id.encode();
        assert!(text.starts_with("nickpool unique lease v1\n"));
        assert_eq!(SpaceId::decode(text.as_bytes()), Ok(id));
        // One kind is never read as the other.
        assert!(State::decode(text.as_bytes()).is_err());
        assert!(SpaceId::decode(sample().encode().as_bytes()).is_err());
    }

    #[test]
    fn every_truncation_is_refused() {
        let text = sample().encode();
        for len in 0..text.len() {
            let err = State::decode(&text.as_bytes()[..len]).unwrap_err();
            assert!(!err.0.is_empty(), "truncated to {len}");
        }
    }

    #[test]
    fn every_single_byte_change_is_refused() {
        let text = sample().encode().into_bytes();
        for i in 0..text.len() {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut bad = text.clone();
                bad[i] ^= flip;
                assert!(
                    State::decode(&bad).is_err(),
                    "byte {i} ^ {flip:#x} was accepted"
                );
            }
        }
    }

    #[test]
    fn garbage_and_resealed_nonsense_are_refused_with_reasons() {
        let err = |bytes: &[u8]| State::decode(bytes).unwrap_err().0;
        assert!(err(b"").contains("empty"));
        assert!(err(b"\xff\xfe\x00").contains("not text"));
        assert!(err(b"hello world\n").contains("does not start with"));
        assert!(err(format!("{STATE_HEADER}\nkey 00\n").as_bytes()).contains("no checksum"));
        // A well-sealed record with bad fields is still refused.
        let sealed = |body: &str| seal(format!("{STATE_HEADER}\n{body}"));
        let key = "key 000102030405060708090a0b0c0d0e0f\n";
        let dict = "dictionary 000102030405060708090a0b0c0d0e0f\n";
        assert!(
            err(sealed(&format!("{key}{dict}space 10\nnode 4/4\nreserved 0\n")).as_bytes())
                .contains("bad node")
        );
        assert!(
            err(sealed(&format!("{key}{dict}space 0\nnode 0/1\nreserved 0\n")).as_bytes())
                .contains("bad space")
        );
        assert!(
            err(sealed(&format!("{key}{dict}space 10\nnode 0/1\nreserved -1\n")).as_bytes())
                .contains("bad reserved")
        );
        assert!(
            err(sealed(&format!("{key}{dict}space 10\nnode 0/1\n")).as_bytes())
                .contains("'reserved' is missing")
        );
        assert!(
            err(sealed(&format!(
                "{key}{dict}space 10\nnode 0/1\nreserved 5\nextra 1\n"
            ))
            .as_bytes())
            .contains("unexpected line")
        );
        assert!(
            err(sealed(&format!("{dict}{key}space 10\nnode 0/1\nreserved 5\n")).as_bytes())
                .contains("expected field 'key'")
        );
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        let key = parse_hex16("000102030405060708090A0B0C0D0E0F").unwrap();
        assert_eq!(key[10], 10);
        assert!(parse_hex16("0001").is_none());
        assert!(parse_hex16(&"zz".repeat(16)).is_none());
        assert!(number("007").is_none() && number("+7").is_none());
        assert_eq!(number("0"), Some(0));
    }
}
