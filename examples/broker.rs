//! A request broker: clients (REQ) connect to one port, workers (REP) to another, and each
//! request goes to the next free worker and its reply back to the client that asked
//! (libzmq's `zmq_proxy` with ROUTER/DEALER).
//!
//! `cargo run --example broker -- --clients 5559 --workers 5560`
//!
//! Ports default to 0 (the system picks free ones); the bound endpoints are printed. Type
//! `p` + Enter to pause, `r` to resume, `s` for statistics, `q` to stop.

use std::io::BufRead;

use clap::Parser;
use zmq_sansio::io::{Socket, SteerableProxy};
use zmq_sansio::proto::SocketType;

#[derive(Parser)]
#[command(about = "Pass requests from clients to workers and replies back")]
struct Args {
    /// Address to bind on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port clients connect to (0: any free port).
    #[arg(long, default_value_t = 0)]
    clients: u16,
    /// Port workers connect to (0: any free port).
    #[arg(long, default_value_t = 0)]
    workers: u16,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let args = Args::parse();

    // ROUTER faces the clients: it prefixes each request with the client's routing id…
    let frontend = Socket::new(SocketType::Router);
    let clients = frontend.bind(&format!("tcp://{}:{}", args.host, args.clients))?;
    // …DEALER passes it to workers in turn, and the reply comes back with that id.
    let backend = Socket::new(SocketType::Dealer);
    let workers = backend.bind(&format!("tcp://{}:{}", args.host, args.workers))?;

    println!("clients connect to {clients}");
    println!("workers connect to {workers}");
    let proxy = SteerableProxy::new(frontend, backend);
    let control = proxy.control();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line.as_deref().map(str::trim) {
                Ok("p") => control.pause(),
                Ok("r") => control.resume(),
                Ok("s") => println!("{:?}", control.statistics()),
                Ok("q") => return control.terminate(),
                Ok(_) => println!("p: pause, r: resume, s: statistics, q: quit"),
                // No terminal (run in the background): the broker just runs.
                Err(_) => return,
            }
        }
    });
    smol::block_on(proxy.run())?;
    Ok(())
}
