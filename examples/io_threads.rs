//! IO threads of the library's own: two independent PUSH→PULL streams, each end of each on
//! its own IO thread (`IoThreads::pinned`, like libzmq's `ZMQ_AFFINITY`), so the sending and
//! receiving ends copy in parallel on two cores. The application runs on plain threads.
//!
//! Run with `cargo run --release --example io_threads`.

use std::time::Instant;

use zmq_sansio::io::{Error, IoThreads, Socket};
use zmq_sansio::proto::SocketType;

const MESSAGES: usize = 100_000;
const SIZE: usize = 4096;

fn main() -> Result<(), Error> {
    let io = IoThreads::new(2);
    let started = Instant::now();
    let streams: Vec<_> = (0..2)
        .map(|stream| {
            // The receiving end on one thread, the sending end on the other.
            let pull = Socket::builder(SocketType::Pull)
                .runtime(io.pinned(stream))
                .build()?;
            let push = Socket::builder(SocketType::Push)
                .runtime(io.pinned(stream + 1))
                .build()?;
            push.connect(&pull.bind("tcp://127.0.0.1:*")?)?;
            let sender = std::thread::spawn(move || {
                async_io::block_on(async {
                    let body = bytes::Bytes::from(vec![stream as u8; SIZE]);
                    for _ in 0..MESSAGES {
                        push.send(body.clone()).await?;
                    }
                    push.close().await;
                    Ok::<(), Error>(())
                })
            });
            let receiver = std::thread::spawn(move || {
                async_io::block_on(async {
                    for _ in 0..MESSAGES {
                        pull.recv().await?;
                    }
                    Ok::<(), Error>(())
                })
            });
            Ok((sender, receiver))
        })
        .collect::<Result<_, Error>>()?;
    for (sender, receiver) in streams {
        sender.join().expect("sender")?;
        receiver.join().expect("receiver")?;
    }
    let elapsed = started.elapsed();
    let octets = (2 * MESSAGES * SIZE) as f64;
    println!(
        "{} messages of {SIZE} B over two streams in {elapsed:.2?}: {:.0} MB/s on {} IO threads",
        2 * MESSAGES,
        octets / elapsed.as_secs_f64() / 1e6,
        io.threads()
    );
    Ok(())
}
