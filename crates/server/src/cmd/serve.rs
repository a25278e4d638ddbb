//! `nickpool serve`.

use super::CliError;
use crate::{ServeArgs, UniqueArgs};
use nickpool::segment;
use nickpool_server::daemon::{self, Control, ServeError, ServeOptions};
use nickpool_server::unique::{self, LeaseUrl, Store, UniqueOptions};

/// Parses an octal file mode for the segment: 0600 (the owner only) or 0660
/// (also the group). Clients open the segment read-write — a pull writes its
/// claim — so a read-only group (0640) could not pull, and other users get
/// nothing (clients refuse a segment every user may write).
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let mode = u32::from_str_radix(digits, 8)
        .map_err(|_| format!("'{text}' is not an octal mode like 0600 or 0660"))?;
    if mode & !0o666 != 0 {
        return Err(format!(
            "mode {mode:04o} has bits other than read/write; use 0600 or 0660"
        ));
    }
    if mode & 0o006 != 0 {
        return Err(format!(
            "mode {mode:04o} opens the segment to every user, who could then forge nicknames or \
             crash its clients; use 0600, or 0660 with --group GROUP to share with a group"
        ));
    }
    if mode & 0o600 != 0o600 {
        return Err(format!(
            "mode {mode:04o} must give the owner read and write (0600)"
        ));
    }
    if mode & 0o060 != 0 && mode & 0o060 != 0o060 {
        return Err(format!(
            "mode {mode:04o} gives the group only part of read/write, but pulling needs both; \
             use 0660 with --group GROUP, or 0600"
        ));
    }
    Ok(mode)
}

/// Parses the `--metrics` address: an IP address and a port.
pub fn parse_metrics_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("'{text}' is not an address and port like 127.0.0.1:9464 or [::1]:9464")
    })
}

/// Parses a group name or number.
pub fn parse_group(text: &str) -> Result<u32, String> {
    if let Ok(gid) = text.parse::<u32>() {
        return Ok(gid);
    }
    let name = std::ffi::CString::new(text).map_err(|_| format!("bad group name {text:?}"))?;
    // SAFETY: `name` is a valid C string; getgrnam returns NULL or a pointer
    // to a static struct we read immediately, before any other call.
    let group = unsafe { libc::getgrnam(name.as_ptr()) };
    if group.is_null() {
        return Err(format!("no group named '{text}'"));
    }
    // SAFETY: non-NULL result of getgrnam points to a valid group struct.
    Ok(unsafe { (*group).gr_gid })
}

pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let name = args.name.unwrap_or_else(segment::default_name);
    segment::validate_name(&name).map_err(|e| CliError::Usage(e.to_string()))?;
    let capacity = args.capacity;
    if !capacity.is_power_of_two()
        || !(segment::MIN_CAPACITY..=segment::MAX_CAPACITY).contains(&capacity)
    {
        return Err(CliError::Usage(format!(
            "--capacity {capacity} must be a power of two from {} to {}",
            segment::MIN_CAPACITY,
            segment::MAX_CAPACITY
        )));
    }
    let unique = unique_options(&args.unique)?;
    let options = ServeOptions {
        name,
        capacity,
        shards: args.shards,
        producers: args.producers,
        source: args.source.dict_source(),
        seed: args.source.seed(),
        style: args.source.style.clone(),
        mode: args.mode,
        group: args.group,
        test_tag: args.test_tag,
        metrics: args.metrics,
    };
    // The shards and producers fit the capacity (checked again by serve).
    options
        .geometry()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let control = Control::new();
    control
        .install_signal_handlers()
        .map_err(|e| CliError::Runtime(format!("cannot install signal handlers: {e}")))?;
    let result = match &unique {
        None => daemon::serve(&options, &control),
        Some(unique) => unique::serve(&options, unique, &control),
    };
    result.map_err(|e| match e {
        ServeError::Config(m) | ServeError::Metrics(m) => CliError::Runtime(m),
        ServeError::Segment(e) => CliError::Runtime(e.to_string()),
    })
}

/// Unique mode's options, checked; `None` without --unique. (clap already
/// ties each flag to --unique and keeps --state and --lease apart.)
fn unique_options(args: &UniqueArgs) -> Result<Option<UniqueOptions>, CliError> {
    if !args.unique {
        return Ok(None);
    }
    let store = match (&args.state, &args.lease) {
        (Some(path), None) => Store::StateFile {
            path: path.clone(),
            reset: args.reset_state,
        },
        (None, Some(url)) => Store::Lease(LeaseUrl::parse(url).map_err(CliError::Usage)?),
        _ => {
            return Err(CliError::Usage(
                "--unique needs --state FILE (a local state file) or --lease redis://HOST:PORT/KEY (a counter shared in Redis)".into(),
            ));
        }
    };
    let (node, nodes) = match (args.node_id, args.nodes) {
        (Some(node), Some(nodes)) if nodes >= 1 && node < nodes => (node, nodes),
        (Some(node), Some(nodes)) => {
            return Err(CliError::Usage(format!(
                "--node-id {node} --nodes {nodes}: the node id must be from 0 to {}",
                nodes.saturating_sub(1)
            )));
        }
        _ => (0, 1),
    };
    let key = match &args.key {
        None => None,
        Some(hex) => Some(unique::parse_hex16(hex).ok_or_else(|| {
            CliError::Usage(format!(
                "--key '{hex}' is not 32 hex digits; make one with `openssl rand -hex 16`"
            ))
        })?),
    };
    Ok(Some(UniqueOptions {
        store,
        node,
        nodes,
        key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0o660"), Ok(0o660));
        assert!(
            parse_mode("0640")
                .unwrap_err()
                .contains("part of read/write")
        );
        assert!(parse_mode("0620").is_err());
        assert!(parse_mode("0755").is_err());
        for open_to_all in ["0666", "0606", "0604", "0662"] {
            assert!(
                parse_mode(open_to_all).unwrap_err().contains("every user"),
                "{open_to_all}"
            );
        }
        assert!(parse_mode("0400").is_err());
        assert!(parse_mode("rw").is_err());
    }

    #[test]
    fn metrics_addresses() {
        assert_eq!(
            parse_metrics_addr("127.0.0.1:9464"),
            Ok(([127, 0, 0, 1], 9464).into())
        );
        assert!(parse_metrics_addr("[::1]:0").is_ok());
        for bad in ["9464", "localhost", "127.0.0.1", "127.0.0.1:99999"] {
            let err = parse_metrics_addr(bad).unwrap_err();
            assert!(err.contains("127.0.0.1:9464"), "{err}");
        }
    }
}
