"""Tests of zmq_envelope.py (standard library only): `python3 -m unittest test_zmq_envelope`
from this directory; tests/pyzmq_easy.rs runs them too. The expected texts are the ones
tests/easy_envelope.rs checks on the Rust side, so both implementations agree."""

import random
import unittest

import zmq_envelope as ze
from zmq_envelope import Envelope, Message


class WireForm(unittest.TestCase):
    def test_the_same_octets_as_the_rust_publisher(self):
        text = ze.build(7, "Hello World", source="lab 1/é", seq=0, timestamp_ms=1_700_000_000_123)
        self.assertEqual(text, "7 envelope 1 1700000000123 lab%201/%C3%A9 0 text Hello World")
        text = ze.build(7, {"celsius": 21.5}, source="lab 1/é", seq=2, msgtype="json", timestamp_ms=1_700_000_000_123)
        self.assertEqual(text, '7 envelope 1 1700000000123 lab%201/%C3%A9 2 json {"celsius": 21.5}')
        self.assertEqual(
            ze.parse(text),
            Message(7, Envelope(1_700_000_000_123, "lab 1/é", 2), "json", '{"celsius": 21.5}'),
        )
        self.assertEqual(ze.parse(text).value(), {"celsius": 21.5})

    def test_the_default_form_is_zmq_async_s_and_has_no_envelope(self):
        self.assertEqual(ze.build_plain(1000, "Hi there!"), "1000 text Hi there!")
        self.assertEqual(ze.build_plain(1000, {"data": 42}, msgtype="json"), '1000 json {"data": 42}')
        for text in ["1000 text Hi there!", '1000 json {"data": 42}', "5 other a b", "1 text "]:
            self.assertIsNone(ze.parse(text).envelope, text)
        self.assertEqual(ze.parse("5 other a b"), Message(5, None, "text", "a b"))

    def test_round_trips_of_odd_sources_and_bodies(self):
        rng = random.Random(7)
        alphabet = " %\t\n\x00\x7féü漢😀abc:/?#"
        for _ in range(2000):
            source = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
            body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
            msgid = rng.randint(-(1 << 63), (1 << 63) - 1)
            seq, ts = rng.randint(0, (1 << 64) - 1), rng.randint(0, (1 << 64) - 1)
            text = ze.build(msgid, body, source=source, seq=seq, timestamp_ms=ts)
            self.assertTrue(text.startswith(f"{msgid} envelope 1 "))
            self.assertEqual(ze.parse(text), Message(msgid, Envelope(ts, source, seq), "text", body))
            plain = ze.build_plain(msgid, body)
            self.assertIsNone(ze.parse(plain).envelope)

    def test_malformed_envelopes_are_refused(self):
        for text in [
            "1 envelope 2 0 s 0 text hi",
            "1 envelope 1 0 s 0 text",
            "1 envelope 1 -1 s 0 text hi",
            "1 envelope 1 0 s x text hi",
            "1 envelope 1 0 %zz 0 text hi",
            "1 envelope 1 0 %FF 0 text hi",
            "1 envelope 1 0 s 18446744073709551616 text hi",
            "x text hi",
            "1 text",
        ]:
            with self.assertRaises(ValueError, msg=text):
                ze.parse(text)
        with self.assertRaises(ValueError):
            ze.check_source("")
        with self.assertRaises(ValueError):
            ze.check_source("é" * 128)
        self.assertEqual(ze.unescape_source("n%c3%a9"), "né")

    def test_default_sources_differ(self):
        self.assertNotEqual(ze.default_source(), ze.default_source())


class Tracking(unittest.TestCase):
    def test_the_same_verdicts_as_the_rust_tracker(self):
        t = ze.SequenceTracker(8)
        at = lambda seq, source="a": Envelope(0, source, seq)
        self.assertEqual(t.observe(1, at(10)).kind, "first")
        self.assertEqual(t.observe(1, at(11)).kind, "in_order")
        self.assertEqual(t.observe(1, at(11)).kind, "duplicate")
        self.assertEqual(t.observe(1, at(15)), ze.Verdict("gap", missed=range(12, 15)))
        self.assertEqual(t.observe(1, at(13)).kind, "late")
        self.assertEqual(t.observe(1, at(13)).kind, "duplicate")
        self.assertEqual(t.observe(2, at(0)).kind, "first")
        self.assertEqual(t.observe(1, at(15 - 64)._replace(seq=15 + 100)).kind, "gap")
        self.assertEqual(t.observe(1, at(15)), ze.Verdict("restart", previous=115))
        self.assertEqual(t.stats["missed"], 3 + 99)
        self.assertEqual((t.stats["duplicates"], t.stats["late"], t.stats["restarts"]), (2, 1, 1))

    def test_least_recently_seen_streams_are_evicted(self):
        t = ze.SequenceTracker(2)
        for source, seq, kind in [("a", 0, "first"), ("b", 0, "first"), ("a", 1, "in_order"),
                                  ("c", 0, "first"), ("a", 2, "in_order"), ("b", 1, "first")]:
            self.assertEqual(t.observe(1, Envelope(0, source, seq)).kind, kind, (source, seq))
        self.assertEqual(t.stats["evicted"], 2)


if __name__ == "__main__":
    unittest.main()
