"""test_engine.py — the serving engine of the Python package (xla.Engine) on the Gemma 1 oracle
model: requests submitted together give exactly Model.generate's tokens for each alone (and the
reference continuations), with the right finish; a full queue raises BusyError and the engine
works on; a cancelled request ends with a "cancelled" event; the stats; bad input.

Standard library only (unittest). Environment: LIBXLA, XLA_SHARED_DIR (see test_bindings.py).
Run: python3 tests/python/test_engine.py
"""
import json
import os
import sys
import unittest
from typing import Any, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
import xla

SHARED = os.environ.get("XLA_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
GEMMA1 = os.path.join(SHARED, "oracle", "gemma", "gemma1")
CTX = 128  # the oracle models' max_position_embeddings


def run(engine: xla.Engine, ids: List[int]) -> Tuple[Dict[int, List[int]], Dict[int, str]]:
    """Steps until idle; the tokens and the finish of each request in ids."""
    tokens: Dict[int, List[int]] = {i: [] for i in ids}
    finish: Dict[int, str] = {}
    for _ in range(1000):
        if engine.idle:
            break
        for ev in engine.step():
            assert ev.id not in finish, "an event after the request's last"
            if ev.token is not None:
                tokens[ev.id].append(ev.token)
            if ev.finish is not None:
                finish[ev.id] = ev.finish
    return tokens, finish


class EngineTest(unittest.TestCase):
    model: xla.Model
    seqs: List[Dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        cls.model = xla.Model.load(GEMMA1)
        with open(os.path.join(GEMMA1, "reference.json")) as f:
            cls.seqs = json.load(f)["sequences"]

    def test_tokens_equal_generate(self) -> None:
        s0, s1 = self.seqs[0]["token_ids"], self.seqs[1]["token_ids"]
        g1 = self.seqs[1]["greedy_continuation"]
        requests: List[Tuple[List[int], Dict[str, Any]]] = [
            (s0, dict(max_new_tokens=8)),
            (s1, dict(max_new_tokens=8)),
            (s0[:10], dict(max_new_tokens=12, temperature=0.9, seed=7)),
            (s0[:10], dict(max_new_tokens=12, temperature=0.9, seed=8, top_k=50, repetition_penalty=1.2)),
            (s1, dict(max_new_tokens=8, stop_ids=[g1[2]])),
        ]
        with xla.Engine(self.model, max_seqs=2, max_batch_tokens=16) as engine:
            ids = [engine.submit(p, **kw) for p, kw in requests]
            self.assertEqual(ids, [1, 2, 3, 4, 5])
            self.assertEqual(engine.stats()["waiting"], 5)
            tokens, finish = run(engine, ids)
            stats = engine.stats()
        for i, (prompt, kw) in zip(ids, requests):
            self.assertEqual(tokens[i], self.model.generate(prompt, **kw), f"request {i}")
        self.assertEqual(tokens[1], self.seqs[0]["greedy_continuation"])
        self.assertEqual(tokens[2], g1)
        self.assertEqual([finish[i] for i in ids], ["length"] * 4 + ["stop"])
        self.assertEqual(tokens[5][-1], g1[2])
        self.assertNotEqual(tokens[3], tokens[4])
        self.assertEqual(stats["tokens_generated"], sum(len(t) for t in tokens.values()))
        self.assertEqual(stats["kv_tokens_capacity"], 2 * CTX)
        self.assertGreater(stats["steps"], 8)
        self.assertEqual((stats["running"], stats["waiting"]), (0, 0))

    def test_busy(self) -> None:
        s1 = self.seqs[1]["token_ids"]
        engine = xla.Engine(self.model, max_queue=1)
        first = engine.submit(s1, max_new_tokens=3)
        with self.assertRaises(xla.BusyError) as cm:
            engine.submit(s1, max_new_tokens=3)
        self.assertEqual(cm.exception.status, -11)
        self.assertIn("xla_engine_submit", str(cm.exception))
        tokens, finish = run(engine, [first])
        second = engine.submit(s1[:9], max_new_tokens=3)  # works again once the queue is free
        more, _ = run(engine, [second])
        self.assertEqual(tokens[first], self.model.generate(s1, max_new_tokens=3))
        self.assertEqual(more[second], self.model.generate(s1[:9], max_new_tokens=3))
        engine.close()
        engine.close()  # idempotent
        with self.assertRaises(xla.InvalidArgumentError):
            engine.submit(s1)  # closed: NULL to libxla

    def test_cancel(self) -> None:
        s0 = self.seqs[0]["token_ids"]
        with xla.Engine(self.model, prefix_cache=False) as engine:
            rid = engine.submit(s0, max_new_tokens=30)
            got: List[Any] = []
            while len(got) < 2:
                got += [ev.token for ev in engine.step()]
            self.assertGreater(engine.stats()["kv_tokens_used"], 0)
            engine.cancel(rid)
            self.assertEqual(engine.step(), [xla.Event(rid, None, "cancelled")])
            self.assertEqual(got, self.model.generate(s0, max_new_tokens=2))
            with self.assertRaises(xla.InvalidArgumentError):
                engine.cancel(rid)  # already finished
            with self.assertRaises(xla.InvalidArgumentError):
                engine.cancel(12345)  # unknown
            stats = engine.stats()
            self.assertEqual((stats["running"], stats["kv_tokens_used"]), (0, 0))
            self.assertEqual(engine.step(), [])

    def test_bad_input(self) -> None:
        with self.assertRaises(xla.InvalidArgumentError) as cm:
            xla.Engine(self.model, max_seqs=0)
        self.assertIn("max_seqs", str(cm.exception))
        with xla.Engine(self.model) as engine:
            with self.assertRaises(xla.InvalidArgumentError) as cm:
                engine.submit([])
            self.assertIn("empty", str(cm.exception))
            with self.assertRaises(xla.InvalidArgumentError) as cm:
                engine.submit([2, 512])
            self.assertIn("512", str(cm.exception))
            with self.assertRaises(xla.InvalidArgumentError):
                engine.submit(list(range(3, 3 + CTX)))
            with self.assertRaises(xla.InvalidArgumentError) as cm:
                engine.submit([2, 5], top_p=2.0)
            self.assertIn("top_p", str(cm.exception))
            self.assertTrue(engine.idle)


if __name__ == "__main__":
    unittest.main()
