//! A Rust client: depends on the `nickpool` crate only (no daemon, CLI or
//! generator code), opens the pool and prints 10 nicknames.
//!
//!   cargo run --example pull [NAME]    (default: $NICKPOOL_NAME, else /nickpool)

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let name = std::env::args().nth(1);
    let result = nickpool::Client::open(name.as_deref()).and_then(|client| {
        for _ in 0..10 {
            println!("{}", client.next_string(Some(Duration::from_secs(1)))?);
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pull: {e}");
            ExitCode::FAILURE
        }
    }
}
