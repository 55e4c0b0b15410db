//! Sends each MSG to a pair server and prints each answer.
//!
//! `cargo run --example pair_client -- --host localhost --port 5560 --timeout-ms 2000 ping pong`
//!
//! Of a CURVE server: add `--curve-server-key <its public key>`; of a PLAIN one,
//! `--plain-user <user> --plain-password <password>`. A refused client gets no answer: give it
//! a timeout.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use zmq_sansio::easy::{Error, PairClient};

mod support;

#[derive(Parser)]
#[command(about = "Talk to a pair server")]
struct Args {
    /// Host of the server.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Port of the server.
    #[arg(long)]
    port: u16,
    /// Give up on an answer after this long (default: wait forever).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// The messages.
    #[arg(required = true)]
    messages: Vec<String>,
    #[command(flatten)]
    security: support::ClientSecurity,
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
        let mut client = PairClient::new_with(&args.host, args.port, args.security.options())?;
        if let Some(ms) = args.timeout_ms {
            client = client.with_timeout(Duration::from_millis(ms));
        }
        for message in &args.messages {
            println!("{}", client.request_text(message).await?);
        }
        client.close().await;
        Ok(())
    })
}
