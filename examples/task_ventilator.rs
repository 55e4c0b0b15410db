//! Divide and conquer over PUSH/PULL: the ZeroMQ guide's taskvent, taskwork and tasksink
//! (chapter 1, "Basics", section "Divide and Conquer").
//!
//! `cargo run --example task_ventilator` runs a ventilator, four workers and a sink in one
//! process and exits with an error unless the sink got a result for every task.
//!
//! One role at a time, to mix with the guide's C or Python programs (the ventilator binds
//! 5557, the sink 5558, workers connect to both):
//! `cargo run --example task_ventilator -- --role sink`,
//! `cargo run --example task_ventilator -- --role worker` (as many as you like), then
//! `cargo run --example task_ventilator -- --role ventilator --workers 2`.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;

mod support;

/// Any error, sendable: the workers run as tasks and hand theirs back.
type Failure = Box<dyn Error + Send + Sync>;

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Role {
    /// A ventilator, workers and a sink in this process.
    All,
    /// Send a batch of tasks (taskvent).
    Ventilator,
    /// Do tasks until stopped (taskwork).
    Worker,
    /// Collect a batch's results and time it (tasksink).
    Sink,
}

#[derive(Parser)]
#[command(about = "Send tasks to workers in parallel and collect their results")]
struct Args {
    /// Which program to be.
    #[arg(long, value_enum, default_value_t = Role::All)]
    role: Role,
    /// Host the workers and the ventilator connect to.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Port the ventilator binds, for the workers.
    #[arg(long, default_value_t = 5557)]
    tasks_port: u16,
    /// Port the sink binds, for the workers and the ventilator.
    #[arg(long, default_value_t = 5558)]
    results_port: u16,
    /// Tasks in a batch (the ventilator sends, the sink expects this many).
    #[arg(long, default_value_t = 100)]
    tasks: u32,
    /// Workers to start (whole scenario) or to wait for before sending (ventilator).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Ventilator: seed of the random workloads.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker: name sent with each result, so the sink can say who did what.
    #[arg(long, default_value = "worker")]
    name: String,
}

/// Waits for `workers` workers, tells the sink a batch starts, then sends `tasks` tasks, each
/// a workload in milliseconds.
async fn ventilator(
    sender: Socket,
    sink: &str,
    tasks: u32,
    workers: usize,
    seed: u64,
) -> Result<(), Failure> {
    // The guide asks to press Enter once the workers are up: the first worker to connect
    // would otherwise take the whole batch before the others arrive (PUSH hands tasks only
    // to the peers it has).
    println!("ventilator: waiting for {workers} workers");
    sender.wait_for_peers(workers).await;

    // The signal goes on a connection of its own, so it could in theory arrive after a
    // first result; every task takes at least a millisecond, which the signal never needs.
    let start = Socket::new(SocketType::Push);
    start.connect(sink)?;
    start.send("0").await?;
    start.close().await;

    let mut dice = support::Rng::new(seed);
    let mut total_msec = 0;
    for _ in 0..tasks {
        let workload = dice.below(100) + 1;
        total_msec += workload;
        sender.send(workload.to_string()).await?;
    }
    println!("ventilator: sent {tasks} tasks, total expected cost: {total_msec} msec");
    // Where the guide sleeps a second for the tasks to leave, closing waits (up to the
    // linger time) until they are all delivered.
    sender.close().await;
    Ok(())
}

/// Does tasks forever: sleeps for each workload, then sends `name` to the sink.
async fn worker(tasks: &str, sink: &str, name: &str) -> Result<(), Failure> {
    let receiver = Socket::new(SocketType::Pull);
    receiver.connect(tasks)?;
    let sender = Socket::new(SocketType::Push);
    sender.connect(sink)?;
    loop {
        let task = receiver.recv().await?;
        let workload = String::from_utf8_lossy(task.first().map_or(&[][..], |frame| frame));
        let workload: u64 = workload.trim().parse()?;
        smol::Timer::after(Duration::from_millis(workload)).await;
        sender.send(name.to_owned()).await?;
    }
}

/// Waits for a batch to start, collects `tasks` results and reports the time they took
/// and who did how many. Gives up after `patience` without a result, if given.
async fn sink(receiver: &Socket, tasks: u32, patience: Option<Duration>) -> Result<(), Failure> {
    let recv = move || async move {
        match patience {
            Some(patience) => receiver.recv_timeout(patience).await,
            None => receiver.recv().await,
        }
    };
    recv().await?;
    // The clock starts with the batch, not with the sink: workers may be slow to join.
    let start = Instant::now();
    let mut done_by: BTreeMap<String, u32> = BTreeMap::new();
    for task in 1..=tasks {
        let Ok(result) = recv().await else {
            return Err(format!("sink: only {} of {tasks} results came", task - 1).into());
        };
        let name = String::from_utf8_lossy(result.first().map_or(&[][..], |frame| frame));
        *done_by.entry(name.into_owned()).or_default() += 1;
        print!("{}", if task % 10 == 0 { ':' } else { '.' });
        std::io::stdout().flush()?;
    }
    println!();
    println!(
        "sink: total elapsed time: {} msec",
        start.elapsed().as_millis()
    );
    // The guide's workers send nothing but an empty message.
    for (name, count) in done_by {
        let name = if name.is_empty() { "(unnamed)" } else { &name };
        println!("sink: {name} did {count} tasks");
    }
    Ok(())
}

fn main() -> Result<(), Failure> {
    env_logger::init();
    let args = Args::parse();
    let tasks_endpoint = format!("tcp://{}:{}", args.host, args.tasks_port);
    let sink_endpoint = format!("tcp://{}:{}", args.host, args.results_port);
    smol::block_on(async {
        match args.role {
            Role::Ventilator => {
                let sender = Socket::new(SocketType::Push);
                sender.bind(&format!("tcp://*:{}", args.tasks_port))?;
                let (tasks, workers) = (args.tasks, args.workers);
                ventilator(sender, &sink_endpoint, tasks, workers, args.seed).await
            }
            Role::Worker => worker(&tasks_endpoint, &sink_endpoint, &args.name).await,
            Role::Sink => {
                let receiver = Socket::new(SocketType::Pull);
                receiver.bind(&format!("tcp://*:{}", args.results_port))?;
                sink(&receiver, args.tasks, None).await
            }
            Role::All => whole_scenario(&args).await,
        }
    })
}

/// The three roles on ports the system picks, the workers as tasks.
async fn whole_scenario(args: &Args) -> Result<(), Failure> {
    let receiver = Socket::new(SocketType::Pull);
    let results = receiver.bind("tcp://127.0.0.1:*")?;
    let sender = Socket::new(SocketType::Push);
    let tasks = sender.bind("tcp://127.0.0.1:*")?;
    println!("ventilator: tasks on {tasks}; sink: results on {results}");

    let workers: Vec<_> = (1..=args.workers)
        .map(|n| {
            let (tasks, results) = (tasks.clone(), results.clone());
            smol::spawn(async move { worker(&tasks, &results, &format!("worker {n}")).await })
        })
        .collect();
    let ventilator = ventilator(sender, &results, args.tasks, args.workers, args.seed);
    // Any single result takes at most 100 ms; ten seconds without one means it is lost.
    let collected = sink(&receiver, args.tasks, Some(Duration::from_secs(10)));
    let (sent, collected) = futures::future::join(ventilator, collected).await;
    sent?;
    collected?;
    // Workers never stop on their own; in the guide, you press Ctrl-C.
    for worker in workers {
        if let Some(Err(err)) = worker.cancel().await {
            return Err(err);
        }
    }
    receiver.close().await;
    Ok(())
}
