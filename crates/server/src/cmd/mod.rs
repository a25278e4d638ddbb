//! The subcommands, one module each. Each returns a [`CliError`] that says
//! what went wrong and what to do; `main` turns it into an exit code.

pub mod bench;
pub mod decode;
pub mod generate;
pub mod pull;
pub mod serve;

use std::fmt;

/// A failure of a subcommand.
#[derive(Debug)]
pub enum CliError {
    /// The arguments make no sense together (exit code 2).
    Usage(String),
    /// The command could not do its job (exit code 1).
    Runtime(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Runtime(m) => f.write_str(m),
        }
    }
}

/// Output helper: a closed pipe (`nickpool gen | head`) ends the command
/// quietly instead of failing.
pub fn write_result(result: std::io::Result<()>) -> Result<(), CliError> {
    match result {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Runtime(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}
