"""The Python `zmq_async` module as its API document (shared/reference/zmq_async.md)
describes it, rebuilt for cross-language tests. Its quirks are kept on purpose: the
subscriber subscribes to the bare id (so 1000 also matches 10001), both pair classes bind,
and the pair server's handler gets no argument."""

import json
from typing import Coroutine

import zmq
import zmq.asyncio


def _context():
    return zmq.asyncio.Context.instance()


class Publisher:
    def __init__(self, port, coding="utf-8", msgid=1000):
        self.socket = _context().socket(zmq.PUB)
        self.socket.bind(f"tcp://*:{port}")
        self.coding = coding
        self.msgid = msgid

    async def publish(self, msg, msgtype="text", msgid=-1):
        if msgid == -1:
            msgid = self.msgid
        if msgtype != "text":
            msg = json.dumps(msg)
            msgtype = "json"
        await self.socket.send(f"{msgid} {msgtype} {msg}".encode(self.coding))


class Subscriber:
    def __init__(self, host, ports, msgid, coding="utf-8"):
        self.socket = _context().socket(zmq.SUB)
        self.host = host
        self.coding = coding
        for port in ports:
            self.addPort(port)
        self.socket.setsockopt(zmq.SUBSCRIBE, str(msgid).encode(coding))

    def addPort(self, port):
        self.socket.connect(f"tcp://{self.host}:{port}")

    async def subscribe(self):
        msg = (await self.socket.recv()).decode(self.coding)
        msgid, msgtype, body = msg.split(" ", 2)
        return json.loads(body) if msgtype == "json" else body


class RRServer:
    def __init__(self, port, handler=None):
        self.socket = _context().socket(zmq.REP)
        self.socket.bind(f"tcp://*:{port}")
        self.handler = handler

    async def run(self):
        while True:
            rmsg = await self.socket.recv()
            wmsg = self.handler(rmsg) if self.handler else rmsg
            if isinstance(wmsg, Coroutine):
                wmsg = await wmsg
            await self.socket.send(wmsg)


class RRClient:
    def __init__(self, host, port):
        self.socket = _context().socket(zmq.REQ)
        self.socket.connect(f"tcp://{host}:{port}")

    async def request(self, msg):
        await self.socket.send(msg)
        return await self.socket.recv()


class PPPusher:
    def __init__(self, host, port):
        self.socket = _context().socket(zmq.PUSH)
        self.socket.bind(f"tcp://{host}:{port}")

    async def push(self, msg):
        await self.socket.send(msg)


class PPPuller:
    def __init__(self, host, port, handler=None):
        self.socket = _context().socket(zmq.PULL)
        self.socket.connect(f"tcp://{host}:{port}")
        self.handler = handler

    async def run(self):
        while True:
            msg = await self.socket.recv()
            if self.handler:
                result = self.handler(msg)
                if isinstance(result, Coroutine):
                    await result


class PairServer:
    def __init__(self, port, handler=None):
        self.socket = _context().socket(zmq.PAIR)
        self.socket.bind(f"tcp://*:{port}")
        self.handler = handler

    async def run(self):
        while True:
            msg = await self.socket.recv()
            reply = self.handler() if self.handler else msg
            if isinstance(reply, Coroutine):
                reply = await reply
            await self.socket.send(reply)
