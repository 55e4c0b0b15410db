//! Publishes `"<msgid> text <TEXT>"` (or `{"seq": i}` as JSON) like the Python module's
//! publisher example, so Python subscribers can listen to it.
//!
//! `cargo run --example publisher -- --port 5555 --count 10 --interval-ms 100 "Hi there!"`
//!
//! Encrypted: `cargo run --example publisher -- --keygen` prints a key pair; then
//! `--curve-secret-key <secret>` here and `--curve-server-key <public>` for the subscriber.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use zmq_sansio::easy::{DEFAULT_MSGID, Error, Publisher};

mod support;

#[derive(Parser)]
#[command(about = "Publish messages under a message id")]
struct Args {
    /// TCP port to bind on every interface.
    #[arg(long)]
    port: u16,
    /// Message id to publish under.
    #[arg(long, default_value_t = DEFAULT_MSGID)]
    msgid: i64,
    /// Stop after this many messages (default: publish forever).
    #[arg(long)]
    count: Option<u64>,
    /// Pause between messages.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Publish `{"seq": i}` as JSON instead of the text.
    #[arg(long)]
    json: bool,
    /// Text encoding (a WHATWG label).
    #[arg(long, default_value = "utf-8")]
    coding: String,
    /// The text to publish.
    #[arg(default_value = "Hi there!")]
    text: String,
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
        let publisher = Publisher::new_with(args.port, args.security.options())?
            .with_msgid(args.msgid)
            .with_coding(&args.coding)?;
        // `--port 0` lets the system choose: say which port that was.
        eprintln!("publisher: bound to {}", publisher.endpoint());
        let mut seq = 0u64;
        while args.count.is_none_or(|count| seq < count) {
            if args.json {
                publisher
                    .publish_json(&serde_json::json!({ "seq": seq }))
                    .await?;
            } else {
                publisher.publish(&args.text).await?;
            }
            seq += 1;
            async_io::Timer::after(Duration::from_millis(args.interval_ms)).await;
        }
        publisher.close().await;
        Ok(())
    })
}
