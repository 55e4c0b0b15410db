"""Runs one role of the Python `zmq_async` module for tests/pyzmq_easy.rs.

Usage: peer.py ROLE PORT [ARGS...]. Prints `READY` once its socket exists, then one line
per event; the Rust test reads stdout and kills the process when done.

With `PEER_SECURITY` set (as for tests/python/peer.py: "curve-server SECRET", "curve-client
SERVER_PUBLIC PUBLIC SECRET", "plain-server", "plain-client USER PASSWORD"), every socket
the module makes gets those options before it binds or connects: the module itself has no
security parameters, so this is how a deployment of it would add them."""

import asyncio
import importlib.util
import json
import os
import sys

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import zmq_async
import zmq_envelope
from zmq_async import PairServer, PPPuller, PPPusher, Publisher, RRClient, RRServer, Subscriber


def _load_secure():
    """`secure(ctx, sock)` from tests/python/peer.py, one place for the option names."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "peer.py")
    spec = importlib.util.spec_from_file_location("pyzmq_peer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.secure


class _SecureContext:
    """The module's context, applying `PEER_SECURITY` to each new socket."""

    def __init__(self, ctx, secure):
        self._ctx = ctx
        self._secure = secure

    def socket(self, kind):
        sock = self._ctx.socket(kind)
        self._secure(self._ctx, sock)
        return sock

    def __getattr__(self, name):
        return getattr(self._ctx, name)


if os.environ.get("PEER_SECURITY"):
    _secure = _load_secure()
    _plain_context = zmq_async._context
    zmq_async._context = lambda: _SecureContext(_plain_context(), _secure)

# The payloads both publishers send in the byte-for-byte comparison.
FIXED_TEXT = "Hi there! é"
FIXED_JSON = {"data": 42, "name": "né 😀", "f": 1e16, "g": 0.1, "l": [1, 2.5, None, True], "e": {}}


def say(*parts):
    print(*parts, flush=True)


async def publisher(port, msgid):
    pub = Publisher(port, msgid=int(msgid))
    say("READY")
    seq = 0
    while True:  # until killed: subscribers join whenever they like
        await pub.publish(f"hello {seq}")
        await pub.publish({"seq": seq, "name": "né"}, msgtype="json")
        await pub.publish("other id", msgid=int(msgid) * 10 + 1)
        seq += 1
        await asyncio.sleep(0.02)


async def fixed_publisher(port):
    pub = Publisher(port)
    say("READY")
    while True:
        await pub.publish(FIXED_TEXT)
        await pub.publish(FIXED_JSON, msgtype="json")
        await asyncio.sleep(0.02)


async def subscriber(port, msgid, count):
    sub = Subscriber("127.0.0.1", [int(port)], int(msgid))
    say("READY")
    for _ in range(int(count)):
        say(json.dumps(await sub.subscribe()))


# The source id of the enveloping Python publisher: a space and non-ASCII, escaped on the wire.
ENVELOPE_SOURCE = "py sensor/é"


async def envelope_publisher(port, msgid):
    """Enveloped JSON, with a gap (numbers 5, 15, … never sent) and a duplicate (7, 17, …
    sent twice) in every ten, and a default-form message after each: a mixed deployment."""
    msgid = int(msgid)
    pub = Publisher(port, msgid=msgid)
    env = zmq_envelope.EnvelopePublisher(pub, source=ENVELOPE_SOURCE)
    say("READY")
    while True:  # until killed: subscribers join whenever they like
        seq = env.next_seq.get(msgid, 0)
        if seq % 10 == 5:
            env.next_seq[msgid] = seq = seq + 1
        text = await env.publish({"seq": seq, "name": "né"}, msgtype="json")
        if seq % 10 == 7:
            await pub.socket.send(text.encode(pub.coding))
        await pub.publish(f"plain {seq}")
        await asyncio.sleep(0.01)


async def envelope_subscriber(host_ports, msgid, count):
    """Reads `count` messages of either form with zmq_envelope and prints, per message, what
    it found, whether rebuilding it gives the same text, and what zmq_async would return."""
    ports = [int(p) for p in host_ports.split(",")]
    sub = Subscriber("127.0.0.1", ports, int(msgid))
    tracker = zmq_envelope.SequenceTracker()
    say("READY")
    for _ in range(int(count)):
        text = (await sub.socket.recv()).decode(sub.coding)
        message = zmq_envelope.parse(text)
        envelope = message.envelope
        line = {"msgid": message.msgid, "msgtype": message.msgtype, "value": message.value()}
        if envelope is None:
            line["envelope"] = None
            rebuilt = zmq_envelope.build_plain(message.msgid, message.value(), message.msgtype)
        else:
            line["envelope"] = list(envelope)
            line["verdict"] = tracker.observe(message.msgid, envelope).kind
            rebuilt = zmq_envelope.build(
                message.msgid, message.value(), source=envelope.source, seq=envelope.seq,
                msgtype=message.msgtype, timestamp_ms=envelope.timestamp_ms)
        line["rebuilt_equal"] = rebuilt == text
        # zmq_async.Subscriber.subscribe's reading of the same text.
        _, msgtype, body = text.split(" ", 2)
        line["zmq_async"] = json.loads(body) if msgtype == "json" else body
        say(json.dumps(line))


async def rr_server(port):
    server = RRServer(port, handler=lambda m: b"py: " + m)
    say("READY")
    await server.run()


async def rr_client(port, *messages):
    client = RRClient("127.0.0.1", port)
    say("READY")
    for message in messages:
        say((await client.request(message.encode())).decode())


async def pusher(port, count):
    push = PPPusher("*", port)
    say("READY")
    for i in range(int(count)):
        await push.push(f"task {i}".encode())
    await asyncio.sleep(3600)  # keep the socket until the test has its messages


async def puller(port, count):
    seen = []
    done = asyncio.Event()

    def handle(msg):
        seen.append(msg.decode())
        say(msg.decode())
        if len(seen) >= int(count):
            done.set()

    pull = PPPuller("127.0.0.1", port, handle)
    say("READY")
    task = asyncio.ensure_future(pull.run())
    await done.wait()
    task.cancel()


async def pair_server(port):
    async def handler():
        return b"py pair"

    server = PairServer(port, handler)
    say("READY")
    await server.run()


ROLES = {
    "publisher": publisher,
    "fixed_publisher": fixed_publisher,
    "subscriber": subscriber,
    "envelope_publisher": envelope_publisher,
    "envelope_subscriber": envelope_subscriber,
    "rr_server": rr_server,
    "rr_client": rr_client,
    "pusher": pusher,
    "puller": puller,
    "pair_server": pair_server,
}

if __name__ == "__main__":
    role, *args = sys.argv[1:]
    try:
        asyncio.run(ROLES[role](*args))
    finally:
        zmq.asyncio.Context.instance().destroy(linger=0)
