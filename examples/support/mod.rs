//! Shared by the command-line examples: how they end.

use std::error::Error;
use std::process::ExitCode;

/// Ends a command-line example: on error, prints it for a person (its message and each
/// cause, not the `Debug` form `main` returning `Result` would print) and exits with 1.
pub fn exit_with(result: Result<(), zmq_sansio::easy::Error>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    let mut shown = err.to_string();
    eprintln!("error: {shown}");
    let mut source = err.source();
    while let Some(cause) = source {
        // Most messages already end with their cause's: say each thing once.
        let text = cause.to_string();
        if !shown.contains(&text) {
            eprintln!("  caused by: {text}");
            shown = text;
        }
        source = cause.source();
    }
    ExitCode::FAILURE
}
