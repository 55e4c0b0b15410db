use std::time::Instant;
use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::io::{IoThreads, Socket};
use zmq_sansio::proto::SocketType;
use zmq_sansio::security::CurveKeyPair;
fn run(label: &str, rt_a: Option<std::sync::Arc<dyn zmq_sansio::io::Runtime>>, rt_b: Option<std::sync::Arc<dyn zmq_sansio::io::Runtime>>) {
    let (server, client) = (CurveKeyPair::generate(), CurveKeyPair::generate());
    let mut a = Socket::builder(SocketType::Pull).curve_server(server.secret().clone());
    if let Some(rt) = rt_a { a = a.runtime(rt); }
    let mut b = Socket::builder(SocketType::Push).curve_client(*server.public(), client);
    if let Some(rt) = rt_b { b = b.runtime(rt); }
    let (pull, push) = (a.build().unwrap(), b.build().unwrap());
    push.connect(&pull.bind("tcp://127.0.0.1:*").unwrap()).unwrap();
    let payload = Bytes::from(vec![7u8; 65536]);
    let count = 20000;
    smol::block_on(async { push.send(Msg::from(payload.clone())).await.unwrap(); pull.recv().await.unwrap(); });
    let t = Instant::now();
    let sender = std::thread::spawn({ let push = push.clone(); let payload = payload.clone(); move || smol::block_on(async { for _ in 0..count { push.send(Msg::from(payload.clone())).await.unwrap(); } }) });
    smol::block_on(async { for _ in 0..count { pull.recv().await.unwrap(); } });
    sender.join().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("{label}: {:.0} MB/s", count as f64 * 65536.0 / secs / 1e6);
}
fn main() {
    if std::env::var("ONLY_PINNED").is_err() { run("default runtime", None, None); }
    let io = IoThreads::new(2);
    run("io threads pinned apart", Some(io.pinned(0)), Some(io.pinned(1)));
    run("io threads (least busy)", Some(io.clone()), Some(io.clone()));
}
