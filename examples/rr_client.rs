//! Sends each MSG as a request and prints each reply on its own line.
//!
//! `cargo run --example rr_client -- --host localhost --port 5557 --timeout-ms 2000 hello world`
//!
//! Of a CURVE server: add `--curve-server-key <its public key>` (and `--curve-secret-key
//! <ours>` if it lets in only known keys); of a PLAIN one, `--plain-user <user>
//! --plain-password <password>`. A refused client gets no reply: give it a timeout.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use zmq_sansio::easy::{Error, RRClient};

mod support;

#[derive(Parser)]
#[command(about = "Send requests and print the replies")]
struct Args {
    /// Host of the server.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Port of the server.
    #[arg(long)]
    port: u16,
    /// Give up on a reply after this long (default: wait forever).
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Resend a request this many times when no reply comes in time.
    #[arg(long, default_value_t = 0)]
    retries: u32,
    /// Text encoding (a WHATWG label).
    #[arg(long, default_value = "utf-8")]
    coding: String,
    /// The requests.
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
        let mut client = RRClient::new_with(&args.host, args.port, args.security.options())?
            .with_coding(&args.coding)?
            .with_retries(args.retries);
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
