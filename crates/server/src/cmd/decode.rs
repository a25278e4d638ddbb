//! `nickpool decode`: a unique-mode nickname back to its style, rank,
//! counter and node.

use super::{CliError, write_result};
use crate::DecodeArgs;
use nickpool_server::generator::DictSource;
use nickpool_server::unique::{self, DecodeError, DecodeKey, LeaseUrl};
use std::io::Write;

pub fn run(args: DecodeArgs) -> Result<(), CliError> {
    let key = match (&args.state, &args.key, &args.lease) {
        (Some(path), _, _) => DecodeKey::StateFile(path.clone()),
        (_, Some(hex), _) => DecodeKey::Key {
            key: unique::parse_hex16(hex)
                .ok_or_else(|| CliError::Usage(format!("--key '{hex}' is not 32 hex digits")))?,
            nodes: args.nodes.max(1),
        },
        (_, _, Some(url)) => DecodeKey::Lease(LeaseUrl::parse(url).map_err(CliError::Usage)?),
        _ => {
            return Err(CliError::Usage(
                "decode needs --state FILE, --key HEX or --lease redis://HOST:PORT/KEY".into(),
            ));
        }
    };
    let source = DictSource {
        dict: args.dict.clone(),
        charset: args.charset,
        blocklist: args.blocklist.clone(),
        max_chars: args.max_chars.map(usize::from),
    };
    let decoded = unique::decode(&args.nickname, &source, args.style.as_deref(), &key).map_err(
        |e| match e {
            DecodeError::NotOurs(m) | DecodeError::Setup(m) => CliError::Runtime(m),
        },
    )?;
    let d = &decoded;
    let mut text = String::new();
    let mut line = |k: &str, v: String| text.push_str(&format!("{k:<10}{v}\n"));
    line("nickname", args.nickname.clone());
    line(
        "style",
        format!("{} ({})", d.parsed.name, d.parsed.words.join(" + ")),
    );
    line(
        "rank",
        format!(
            "{} of the style's {} ({} in all styles)",
            d.parsed.rank, d.style_size, d.size
        ),
    );
    line("counter", format!("{} of the style", d.counter));
    if d.nodes > 1 {
        line(
            "node",
            format!("{} of {} (its counter {})", d.node, d.nodes, d.node_counter),
        );
    }
    match d.reserved {
        Some(true) => line(
            "issued",
            "maybe: its counter is below the style's reserved mark (handed out, or skipped by a restart)"
                .into(),
        ),
        Some(false) => line(
            "issued",
            "not yet: its counter is past the style's reserved mark".into(),
        ),
        None => {}
    }
    write_result(std::io::stdout().write_all(text.as_bytes()))?;
    if d.blocked {
        return Err(CliError::Runtime(format!(
            "'{}' is not one of ours: a blocked term forms across a join, so it is never handed out",
            args.nickname
        )));
    }
    Ok(())
}
