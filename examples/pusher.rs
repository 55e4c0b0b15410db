//! Binds, pushes each MSG to the connected pullers, waits until they have taken them all,
//! and exits.
//!
//! `cargo run --example pusher -- --port 5558 task-1 task-2 task-3`
//!
//! The pusher binds, so it is the PLAIN or CURVE server: `--curve-secret-key <secret>`
//! (from `--keygen`), `--allow-key <Z85>`, `--plain-server`, `--allow-user user:password`.

use std::process::ExitCode;

use clap::Parser;
use zmq_sansio::easy::{Error, PPPusher};

mod support;

#[derive(Parser)]
#[command(about = "Push messages to pullers")]
struct Args {
    /// TCP port to bind on every interface.
    #[arg(long)]
    port: u16,
    /// The messages.
    #[arg(required = true)]
    messages: Vec<String>,
    #[command(flatten)]
    security: support::ServerSecurity,
}

fn main() -> ExitCode {
    support::exit_with(run())
}

fn run() -> Result<(), Error> {
    env_logger::init();
    if support::keygen_requested() {
        support::print_new_keypair();
        return Ok(());
    }
    let args = Args::parse();
    smol::block_on(async {
        let pusher = PPPusher::new_with("*", args.port, args.security.options())?;
        eprintln!("pusher: bound to {}", pusher.endpoint());
        for message in args.messages {
            // Waits for a puller when none is connected yet.
            pusher.push(message).await?;
        }
        // Closing delivers everything queued before it returns (within the linger time).
        pusher.close().await;
        Ok(())
    })
}
