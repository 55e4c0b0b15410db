//! Prints one line per message of one message id: the text, or the JSON value compact.
//!
//! `cargo run --example subscriber -- --host localhost --ports 5555,5556 --msgid 1000 --count 5`
//!
//! Of a CURVE publisher: add `--curve-server-key <its public key>`; of a PLAIN one,
//! `--plain-user <user> --plain-password <password>`.

use std::process::ExitCode;

use clap::Parser;
use zmq_sansio::easy::{Error, Payload, Subscriber};

mod support;

#[derive(Parser)]
#[command(about = "Subscribe to a message id and print what arrives")]
struct Args {
    /// Host of the publishers.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Ports to connect to, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    ports: Vec<u16>,
    /// Message id to receive.
    #[arg(long)]
    msgid: i64,
    /// Exit after this many messages (default: run forever).
    #[arg(long)]
    count: Option<u64>,
    /// Text encoding (a WHATWG label).
    #[arg(long, default_value = "utf-8")]
    coding: String,
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
        let subscriber =
            Subscriber::new_with(&args.host, &args.ports, args.msgid, args.security.options())?
                .with_coding(&args.coding)?;
        let mut received = 0u64;
        while args.count.is_none_or(|count| received < count) {
            match subscriber.subscribe().await {
                Ok(Payload::Text(text)) => println!("{text}"),
                Ok(Payload::Json(value)) => println!("{value}"),
                // A malformed message costs only itself.
                Err(Error::Malformed(err)) => eprintln!("skipped a malformed message: {err}"),
                Err(err) => return Err(err),
            }
            received += 1;
        }
        subscriber.close().await;
        Ok(())
    })
}
