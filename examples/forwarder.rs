//! A PUB/SUB forwarder: publishers connect to one port, subscribers to another, and the
//! proxy passes subscriptions up and messages down (libzmq's `zmq_proxy` with XSUB/XPUB).
//!
//! `cargo run --example forwarder -- --publishers 5559 --subscribers 5560`
//!
//! Ports default to 0 (the system picks free ones); the bound endpoints are printed. Any
//! ZeroMQ PUB can connect to the first, any SUB to the second: pyzmq, libzmq, ours.

use clap::Parser;
use zmq_sansio::io::{Socket, proxy};
use zmq_sansio::proto::SocketType;

#[derive(Parser)]
#[command(about = "Forward published messages from publishers to subscribers")]
struct Args {
    /// Address to bind on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port publishers connect to (0: any free port).
    #[arg(long, default_value_t = 0)]
    publishers: u16,
    /// Port subscribers connect to (0: any free port).
    #[arg(long, default_value_t = 0)]
    subscribers: u16,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let args = Args::parse();

    // XSUB faces the publishers: it sends them the subscriptions it is given.
    let frontend = Socket::new(SocketType::XSub);
    let publishers = frontend.bind(&format!("tcp://{}:{}", args.host, args.publishers))?;
    // XPUB faces the subscribers; verbose, it hands on every subscription, not only new
    // prefixes, so a publisher that joins later still learns them.
    let backend = Socket::builder(SocketType::XPub)
        .xpub_verbose(true)
        .build()?;
    let subscribers = backend.bind(&format!("tcp://{}:{}", args.host, args.subscribers))?;

    println!("publishers connect to {publishers}");
    println!("subscribers connect to {subscribers}");
    smol::block_on(proxy(frontend, backend, None))?;
    Ok(())
}
