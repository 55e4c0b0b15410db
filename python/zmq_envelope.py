"""The opt-in message envelope of zmq-sansio's `easy` classes, for Python, standard library only.

The `zmq_async` module frames messages as ``"<msgid> <msgtype> <body>"``. zmq-sansio's
``Publisher::with_envelope`` adds a timestamp, a source id and a sequence number::

    default:    <msgid> <msgtype> <body>
    enveloped:  <msgid> envelope 1 <unix_ms> <source> <seq> <msgtype> <body>
    e.g.        1000 envelope 1 1712345678901 sensor%20a 41 json {"t": 21.5}

- ``<msgid> `` stays first, so SUB prefix subscriptions select enveloped messages as before.
- ``envelope`` is the type token: default-form publishers only ever write ``text`` or
  ``json`` there, so the two forms cannot be confused. The ``zmq_async`` module's own
  ``Subscriber`` reads an enveloped message as text (everything after the token).
- ``1`` is the envelope version; a reader meeting another one refuses it.
- ``<unix_ms>``: Unix time in milliseconds (``time.time_ns() // 1_000_000``).
- ``<source>``: the publisher's id, 1 to 255 octets of UTF-8, written with every octet
  that is ``%``, a space or not visible ASCII escaped as ``%XX`` (upper-case hex):
  ``urllib.parse.quote(source, safe=<visible ASCII except %>)``.
- ``<seq>``: counts from 0 the messages one source published under one msgid.
- Integers are ASCII digits only.

Reading (a ``zmq_async.Subscriber``'s socket, or any SUB socket)::

    text = (await sub.socket.recv()).decode(sub.coding)
    message = zmq_envelope.parse(text)        # envelope is None for the default form
    verdict = tracker.observe(message.msgid, message.envelope) if message.envelope else None
    value = message.value()                   # what zmq_async's subscribe() would return

Publishing (wrapping a ``zmq_async.Publisher``)::

    env = zmq_envelope.EnvelopePublisher(Publisher(5556), source="sensor-1")
    await env.publish({"t": 21.5}, msgtype="json")
"""

import json
import os
import re
import secrets
import socket
import time
from collections import OrderedDict
from typing import NamedTuple, Optional
from urllib.parse import quote, unquote_to_bytes

TOKEN = "envelope"
VERSION = 1
MAX_SOURCE_LEN = 255
SEQUENCE_WINDOW = 64
DEFAULT_MAX_STREAMS = 1024

# Visible ASCII but "%": left as it is in a source id; everything else is %XX.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_UNSIGNED = re.compile(r"[0-9]+", re.ASCII)
_SIGNED = re.compile(r"[+-]?[0-9]+", re.ASCII)
_SOURCE_FIELD = re.compile(r"(?:[\x21-\x24\x26-\x7e]|%[0-9A-Fa-f]{2})+", re.ASCII)


class Envelope(NamedTuple):
    """When (Unix ms), by whom and as which number of its source a message was published."""

    timestamp_ms: int
    source: str
    seq: int


class Message(NamedTuple):
    """One message of either form; ``envelope`` is None for the default form."""

    msgid: int
    envelope: Optional[Envelope]
    msgtype: str  # "text" or "json": as zmq_async reads it, any type but json is text
    body: str

    def value(self):
        """The body as ``zmq_async.Subscriber.subscribe`` returns it."""
        return json.loads(self.body) if self.msgtype == "json" else self.body


def now_ms():
    """The system clock as Unix milliseconds, the envelope's timestamp."""
    return time.time_ns() // 1_000_000


def default_source():
    """A source id unique to this call: ``<host>-<pid>-<random hex>``."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def check_source(source):
    """Raises ValueError unless ``source`` is 1 to MAX_SOURCE_LEN octets of UTF-8."""
    if not isinstance(source, str) or not source:
        raise ValueError("a source id must be a non-empty string")
    try:
        octets = len(source.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise ValueError(f"a source id must be encodable as UTF-8: {e}") from None
    if octets > MAX_SOURCE_LEN:
        raise ValueError(f"a source id is at most {MAX_SOURCE_LEN} octets of UTF-8, this one has {octets}")


def escape_source(source):
    """``source`` as it travels (checked first)."""
    check_source(source)
    return quote(source, safe=_SAFE)


def unescape_source(field):
    """The source id a wire field stands for; ValueError if it is not one."""
    if not _SOURCE_FIELD.fullmatch(field):
        raise ValueError(f"malformed envelope: source {field!r} is not visible ASCII with %XX escapes")
    try:
        source = unquote_to_bytes(field).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"malformed envelope: source {field!r} is not UTF-8 once unescaped") from None
    check_source(source)
    return source


def _unsigned(what, field):
    if not _UNSIGNED.fullmatch(field) or int(field) >= 1 << 64:
        raise ValueError(f"malformed envelope: {what} {field!r} is not an unsigned 64-bit integer")
    return int(field)


def _body(msg, msgtype):
    """As ``zmq_async.Publisher.publish``: any type but text is sent as JSON."""
    return (msg, "text") if msgtype == "text" else (json.dumps(msg), "json")


def build_plain(msgid, msg, msgtype="text"):
    """The default form, exactly as ``zmq_async.Publisher.publish`` writes it."""
    body, msgtype = _body(msg, msgtype)
    return f"{msgid} {msgtype} {body}"


def build(msgid, msg, *, source, seq, msgtype="text", timestamp_ms=None):
    """The enveloped form (text: encode it with the publisher's coding)."""
    if timestamp_ms is None:
        timestamp_ms = now_ms()
    _unsigned("timestamp", str(timestamp_ms))
    _unsigned("sequence number", str(seq))
    body, msgtype = _body(msg, msgtype)
    return f"{msgid} {TOKEN} {VERSION} {timestamp_ms} {escape_source(source)} {seq} {msgtype} {body}"


def parse(text):
    """Reads either form into a Message; ValueError if it is malformed."""
    fields = text.split(" ", 2)
    if len(fields) < 3:
        raise ValueError(f'expected "<msgid> <msgtype> <body>", got {text[:40]!r}')
    msgid, kind, rest = fields
    if not _SIGNED.fullmatch(msgid) or not -(1 << 63) <= int(msgid) < 1 << 63:
        raise ValueError(f"message id {msgid!r} is not an integer")
    if kind != TOKEN:
        return Message(int(msgid), None, "json" if kind == "json" else "text", rest)
    version = rest.split(" ", 1)[0]
    if version != str(VERSION):
        raise ValueError(f"envelope version {version!r} is not supported (this reader knows version 1)")
    fields = rest.split(" ", 5)
    if len(fields) < 6:
        raise ValueError(f"malformed envelope: expected 1 <unix_ms> <source> <seq> <msgtype> <body>, got {rest[:60]!r}")
    _, timestamp, source, seq, inner_type, body = fields
    envelope = Envelope(_unsigned("timestamp", timestamp), unescape_source(source), _unsigned("sequence number", seq))
    return Message(int(msgid), envelope, "json" if inner_type == "json" else "text", body)


class EnvelopePublisher:
    """Publishes enveloped messages through a ``zmq_async.Publisher`` (its socket, coding
    and default msgid). ``next_seq`` maps each msgid to its next sequence number."""

    def __init__(self, publisher, source=None, clock=now_ms):
        self.publisher = publisher
        self.source = default_source() if source is None else source
        check_source(self.source)
        self.clock = clock
        self.next_seq = {}

    async def publish(self, msg, msgtype="text", msgid=-1):
        """As ``Publisher.publish``, enveloped; returns the text sent."""
        if msgid == -1:
            msgid = self.publisher.msgid
        seq = self.next_seq.get(msgid, 0)
        text = build(msgid, msg, source=self.source, seq=seq, msgtype=msgtype, timestamp_ms=self.clock())
        await self.publisher.socket.send(text.encode(self.publisher.coding))
        self.next_seq[msgid] = seq + 1
        return text


class Verdict(NamedTuple):
    """Where a message stands in its stream: kind is one of "first", "in_order", "gap"
    (``missed`` is the range of numbers skipped), "late", "duplicate", "restart"
    (``previous`` is the newest number seen before)."""

    kind: str
    missed: range = range(0)
    previous: Optional[int] = None


class SequenceTracker:
    """Judges sequence numbers per (msgid, source) stream, as zmq-sansio's SequenceTracker:
    remembers at most ``max_streams`` streams, forgetting the least recently seen."""

    def __init__(self, max_streams=DEFAULT_MAX_STREAMS):
        self.max_streams = max(1, max_streams)
        self._streams = OrderedDict()  # (msgid, source) -> [newest, seen bits]
        self.stats = dict.fromkeys(
            ["received", "first", "in_order", "gaps", "missed", "late", "duplicates", "restarts", "evicted"], 0
        )

    def observe(self, msgid, envelope):
        key = (msgid, envelope.source)
        seq = envelope.seq
        stream = self._streams.get(key)
        if stream is None:
            while len(self._streams) >= self.max_streams:
                self._streams.popitem(last=False)
                self.stats["evicted"] += 1
            self._streams[key] = [seq, 1]
            verdict = Verdict("first")
        else:
            self._streams.move_to_end(key)
            verdict = self._judge(stream, seq)
        self._count(verdict)
        return verdict

    @staticmethod
    def _judge(stream, seq):
        newest, seen = stream
        if seq > newest:
            ahead = seq - newest
            stream[0] = seq
            stream[1] = 1 if ahead >= SEQUENCE_WINDOW else ((seen << ahead) | 1) & ((1 << 64) - 1)
            return Verdict("in_order") if ahead == 1 else Verdict("gap", missed=range(newest + 1, seq))
        behind = newest - seq
        if behind >= SEQUENCE_WINDOW:
            stream[0], stream[1] = seq, 1
            return Verdict("restart", previous=newest)
        if seen & (1 << behind):
            return Verdict("duplicate")
        stream[1] = seen | (1 << behind)
        return Verdict("late")

    def _count(self, verdict):
        s = self.stats
        s["received"] += 1
        key = {"first": "first", "in_order": "in_order", "gap": "gaps", "late": "late",
               "duplicate": "duplicates", "restart": "restarts"}[verdict.kind]
        s[key] += 1
        s["missed"] += len(verdict.missed)
