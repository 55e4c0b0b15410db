//! Sends each MSG to a pair server and prints each answer.
//!
//! `cargo run --example pair_client -- --host localhost --port 5560 ping pong`

use std::process::ExitCode;

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
    /// The messages.
    #[arg(required = true)]
    messages: Vec<String>,
}

fn main() -> ExitCode {
    support::exit_with(run())
}

fn run() -> Result<(), Error> {
    env_logger::init();
    let args = Args::parse();
    smol::block_on(async {
        let client = PairClient::new(&args.host, args.port)?;
        for message in &args.messages {
            println!("{}", client.request_text(message).await?);
        }
        client.close().await;
        Ok(())
    })
}
