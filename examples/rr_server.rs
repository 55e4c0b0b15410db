//! A request/reply server that answers every request with `Echo: <request>`.
//!
//! `cargo run --example rr_server -- --port 5557`

use std::process::ExitCode;

use clap::Parser;
use zmq_sansio::easy::{Error, RRServer};

mod support;

#[derive(Parser)]
#[command(about = "Answer requests with \"Echo: <request>\"")]
struct Args {
    /// TCP port to bind on every interface.
    #[arg(long)]
    port: u16,
    /// Text encoding (a WHATWG label).
    #[arg(long, default_value = "utf-8")]
    coding: String,
}

fn main() -> ExitCode {
    support::exit_with(run())
}

fn run() -> Result<(), Error> {
    env_logger::init();
    let args = Args::parse();
    smol::block_on(async {
        let server = RRServer::new(args.port)?
            .with_coding(&args.coding)?
            .with_handler(|request: String| format!("Echo: {request}"));
        eprintln!("rr_server: bound to {}", server.endpoint());
        server.run().await
    })
}
