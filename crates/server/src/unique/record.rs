//! The small text records unique mode keeps: the state file and the
//! lease's metadata in Redis. One `name value` pair per line under a header
//! line naming the kind and version, then a checksum line over everything
//! before it:
//!
//! ```text
//! nickpool unique state v2
//! key 3f0c…                  (32 hex digits: the permutation key)
//! dictionary 9a41…           (32 hex digits: fingerprint of the styles in use)
//! node 0/1                   (this daemon's share: node I of N)
//! styles 3                   (how many styles; one line each follows)
//! style 0 size 599560 reserved 131072
//! style 1 size 153 reserved 153
//! style 2 size 21296 reserved 4096
//! checksum 5be1…             (16 hex digits: SipHash-2-4 of the lines above)
//! ```
//!
//! Each style has its own counter: `size` is its number of indices, and
//! `reserved` its mark (every counter of this node below it may have been
//! handed out). The lease's record has the same fields without `node` and
//! `reserved` (the counters live in Redis).
//!
//! Version 1 (before styles had counters of their own) kept one `space`
//! size and one `reserved` mark for all styles. Such a file is recognised
//! ([`written_by_v1`]) and refused with what to do: one counter says nothing
//! about which nicknames of each style were handed out.
//!
//! Parsing is strict: the fields must come in order, each exactly once, and
//! nothing may follow the checksum. Anything else is refused as corrupted;
//! nothing is ever repaired or guessed.

use siphasher::sip::SipHasher24;
use std::fmt;
use std::hash::Hasher;

/// Header of a state file.
pub const STATE_HEADER: &str = "nickpool unique state v2";
/// Header of a lease's metadata record.
pub const LEASE_HEADER: &str = "nickpool unique lease v2";
/// Headers of version 1, one counter for the whole space.
const STATE_HEADER_V1: &str = "nickpool unique state v1";
const LEASE_HEADER_V1: &str = "nickpool unique lease v1";

/// Most styles a record may list (a dictionary has far fewer).
const MAX_STYLES: u64 = 1 << 16;

/// The permutation key and the styles it permutes: what every daemon
/// sharing one space must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceId {
    pub key: [u8; 16],
    pub fingerprint: [u8; 16],
    /// Indices of each style in use, in order (0 for a style with none
    /// under the length cap).
    pub sizes: Vec<u64>,
}

impl SpaceId {
    /// Indices over all styles.
    pub fn size(&self) -> u64 {
        self.sizes.iter().sum()
    }
}

/// One node's share of a space and how far it has reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub space: SpaceId,
    pub node: u64,
    pub nodes: u64,
    /// Per style: every counter of this node below this mark may have been
    /// handed out; the next start begins here.
    pub reserved: Vec<u64>,
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord(pub String);

impl fmt::Display for CorruptRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when `bytes` start like a version 1 state file or lease record
/// (one counter for the whole space).
pub fn written_by_v1(bytes: &[u8]) -> bool {
    [STATE_HEADER_V1, LEASE_HEADER_V1]
        .iter()
        .any(|h| bytes.starts_with(h.as_bytes()) && bytes.get(h.len()) == Some(&b'\n'))
}

impl State {
    pub fn encode(&self) -> String {
        debug_assert_eq!(self.reserved.len(), self.space.sizes.len());
        let mut text = String::new();
        text.push_str(STATE_HEADER);
        text.push('\n');
        push_id(&mut text, &self.space);
        text.push_str(&format!("node {}/{}\n", self.node, self.nodes));
        text.push_str(&format!("styles {}\n", self.space.sizes.len()));
        for (k, (size, reserved)) in self.space.sizes.iter().zip(&self.reserved).enumerate() {
            text.push_str(&format!("style {k} size {size} reserved {reserved}\n"));
        }
        seal(text)
    }

    pub fn decode(bytes: &[u8]) -> Result<State, CorruptRecord> {
        let mut fields = Fields::open(bytes, STATE_HEADER)?;
        let (key, fingerprint) = read_id(&mut fields)?;
        let node = fields.next("node")?;
        let (node, nodes) = node
            .split_once('/')
            .and_then(|(i, n)| Some((number(i)?, number(n)?)))
            .filter(|&(i, n)| n >= 1 && i < n)
            .ok_or_else(|| CorruptRecord(format!("bad node '{node}' (expected I/N with I < N)")))?;
        let styles = read_styles(&mut fields, &["size", "reserved"])?;
        fields.close()?;
        let (sizes, reserved) = styles.iter().map(|v| (v[0], v[1])).unzip();
        Ok(State {
            space: SpaceId {
                key,
                fingerprint,
                sizes,
            },
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
        push_id(&mut text, self);
        text.push_str(&format!("styles {}\n", self.sizes.len()));
        for (k, size) in self.sizes.iter().enumerate() {
            text.push_str(&format!("style {k} size {size}\n"));
        }
        seal(text)
    }

    pub fn decode(bytes: &[u8]) -> Result<SpaceId, CorruptRecord> {
        let mut fields = Fields::open(bytes, LEASE_HEADER)?;
        let (key, fingerprint) = read_id(&mut fields)?;
        let styles = read_styles(&mut fields, &["size"])?;
        fields.close()?;
        Ok(SpaceId {
            key,
            fingerprint,
            sizes: styles.iter().map(|v| v[0]).collect(),
        })
    }
}

fn push_id(text: &mut String, space: &SpaceId) {
    text.push_str(&format!("key {}\n", hex(&space.key)));
    text.push_str(&format!("dictionary {}\n", hex(&space.fingerprint)));
}

fn read_id(fields: &mut Fields<'_>) -> Result<([u8; 16], [u8; 16]), CorruptRecord> {
    let key = fields.next("key")?;
    let key = parse_hex16(key).ok_or_else(|| CorruptRecord(format!("bad key '{key}'")))?;
    let fingerprint = fields.next("dictionary")?;
    let fingerprint = parse_hex16(fingerprint)
        .ok_or_else(|| CorruptRecord(format!("bad dictionary fingerprint '{fingerprint}'")))?;
    Ok((key, fingerprint))
}

/// Reads `styles N` and then `N` lines `style K NAME VALUE …` with the
/// given names, K counting from 0; returns the values of each line. The
/// sizes (the first value) must add up to at least 1.
fn read_styles(fields: &mut Fields<'_>, names: &[&str]) -> Result<Vec<Vec<u64>>, CorruptRecord> {
    let count = fields.next("styles")?;
    let count = number(count)
        .filter(|&n| (1..=MAX_STYLES).contains(&n))
        .ok_or_else(|| CorruptRecord(format!("bad number of styles '{count}'")))?;
    let mut styles = Vec::with_capacity(count as usize);
    for k in 0..count {
        let line = fields.next("style")?;
        let mut words = line.split(' ');
        let values = (|| {
            if number(words.next()?)? != k {
                return None;
            }
            let values = names
                .iter()
                .map(|&name| {
                    (words.next()? == name).then_some(())?;
                    number(words.next()?)
                })
                .collect::<Option<Vec<u64>>>()?;
            words.next().is_none().then_some(values)
        })()
        .ok_or_else(|| {
            let expected: Vec<String> = names.iter().map(|n| format!("{n} N")).collect();
            CorruptRecord(format!(
                "bad style line 'style {line}' (expected 'style {k} {}')",
                expected.join(" ")
            ))
        })?;
        styles.push(values);
    }
    let total = styles
        .iter()
        .try_fold(0u64, |sum, v| sum.checked_add(v[0]))
        .filter(|&n| n > 0)
        .ok_or_else(|| CorruptRecord("bad style sizes (they add up to 0 or overflow)".into()))?;
    debug_assert!(total > 0);
    Ok(styles)
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
                sizes: vec![599_560, 153, 0, 18_000_000],
            },
            node: 2,
            nodes: 4,
            reserved: vec![131_072, 153, 0, 1024],
        }
    }

    #[test]
    fn state_round_trips_and_reads_as_documented() {
        let s = sample();
        let text = s.encode();
        assert!(text.starts_with("nickpool unique state v2\nkey 30313233"));
        assert!(text.contains(
            "\nnode 2/4\nstyles 4\nstyle 0 size 599560 reserved 131072\nstyle 1 size 153 reserved 153\nstyle 2 size 0 reserved 0\nstyle 3 size 18000000 reserved 1024\nchecksum "
        ));
        assert!(text.ends_with('\n'));
        assert_eq!(State::decode(text.as_bytes()), Ok(s.clone()));
        assert_eq!(s.space.size(), 18_599_713);
        let edge = State {
            node: 0,
            nodes: 1,
            reserved: vec![0; 4],
            ..s
        };
        assert_eq!(State::decode(edge.encode().as_bytes()), Ok(edge));
    }

    #[test]
    fn lease_metadata_round_trips() {
        let id = sample().space;
        let text = id.encode();
        assert!(text.starts_with("nickpool unique lease v2\n"));
        assert!(text.contains("\nstyles 4\nstyle 0 size 599560\nstyle 1 size 153\n"));
        assert_eq!(SpaceId::decode(text.as_bytes()), Ok(id));
        // One kind is never read as the other.
        assert!(State::decode(text.as_bytes()).is_err());
        assert!(SpaceId::decode(sample().encode().as_bytes()).is_err());
    }

    /// A version 1 record as that version wrote it.
    fn v1(header: &str, body: &str) -> String {
        seal(format!(
            "{header}\nkey 000102030405060708090a0b0c0d0e0f\ndictionary 000102030405060708090a0b0c0d0e0f\nspace 10\n{body}"
        ))
    }

    #[test]
    fn version_1_records_are_recognised_and_never_read_as_version_2() {
        let state = v1(STATE_HEADER_V1, "node 0/1\nreserved 5\n");
        let lease = v1(LEASE_HEADER_V1, "");
        assert!(written_by_v1(state.as_bytes()));
        assert!(written_by_v1(lease.as_bytes()));
        assert!(!written_by_v1(sample().encode().as_bytes()));
        assert!(!written_by_v1(b"nickpool unique state v10\n"));
        let err = State::decode(state.as_bytes()).unwrap_err();
        assert!(err.0.contains("does not start with"), "{err}");
        assert!(SpaceId::decode(lease.as_bytes()).is_err());
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
        let id =
            "key 000102030405060708090a0b0c0d0e0f\ndictionary 000102030405060708090a0b0c0d0e0f\n";
        let one = "styles 1\nstyle 0 size 10 reserved 0\n";
        let cases = [
            (format!("{id}node 4/4\n{one}"), "bad node"),
            (format!("{id}node 0/1\nstyles 0\n"), "bad number of styles"),
            (
                format!("{id}node 0/1\nstyles 1\nstyle 0 size 0 reserved 0\n"),
                "add up to 0",
            ),
            (
                format!("{id}node 0/1\nstyles 1\nstyle 0 size 10 reserved -1\n"),
                "bad style line",
            ),
            (
                format!("{id}node 0/1\nstyles 1\nstyle 1 size 10 reserved 0\n"),
                "expected 'style 0 size N reserved N'",
            ),
            (
                format!("{id}node 0/1\nstyles 1\nstyle 0 size 10\n"),
                "bad style line",
            ),
            (
                format!("{id}node 0/1\nstyles 1\nstyle 0 size 10 reserved 0 x\n"),
                "bad style line",
            ),
            (
                format!("{id}node 0/1\nstyles 2\nstyle 0 size 10 reserved 0\n"),
                "'style' is missing",
            ),
            (format!("{id}node 0/1\n{one}extra 1\n"), "unexpected line"),
            (
                format!("dictionary 000102030405060708090a0b0c0d0e0f\n{id}node 0/1\n{one}"),
                "expected field 'key'",
            ),
            (
                format!(
                    "{id}node 0/1\nstyles 2\nstyle 0 size 18446744073709551615 reserved 0\nstyle 1 size 1 reserved 0\n"
                ),
                "overflow",
            ),
        ];
        for (body, reason) in cases {
            let e = err(sealed(&body).as_bytes());
            assert!(e.contains(reason), "{body}: {e}");
        }
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
