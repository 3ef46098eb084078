"""test_grpo.py — GRPO in the Python package: every case of ../shared/oracle/grpo/grpo_cases.json
through xla.grpo_loss (advantages, loss, gradient, kl, clip ratios) to 1e-10 relative; prompt
data; the trainer with Python functions as rewards (what they are handed, a tiny byte-level
Gemma 3 learning to write capital letters, the metrics JSONL, a stopping callback, stop ids,
KL against the frozen copy, an exact resume mid-round, an exception inside a reward coming
back from step() and run()); and bad input.

Standard library only (unittest). Environment: LIBXLA, XLA_SHARED_DIR (see test_bindings.py).
Run: python3 tests/python/test_grpo.py
"""
import json
import math
import os
import sys
import tempfile
import threading
import unittest
from typing import Any, Dict, List, Set

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
import xla

SHARED = os.environ.get("XLA_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
TINY_CONFIG = {"model_type": "gemma3_text", "vocab_size": 259, "hidden_size": 32, "intermediate_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
               "query_pre_attn_scalar": 16, "sliding_window": 8,
               "layer_types": ["sliding_attention", "full_attention"]}
PROMPTS = ["say:", "shout:", "yell:", "call:"]
ANSWERS = ["A", None, "B", "C"]


def close(got: float, want: float) -> bool:
    """Within 1e-10 relative; an expected 0 within 1e-15."""
    return abs(got) <= 1e-15 if want == 0 else abs(got - want) <= 1e-10 * abs(want)


def capitals(completion_text: str) -> float:
    """The share of the completion's characters that are capital letters."""
    return sum("A" <= c <= "Z" for c in completion_text) / max(1, len(completion_text))


class GrpoLossTest(unittest.TestCase):
    cases: List[Dict[str, Any]]

    @classmethod
    def setUpClass(cls) -> None:
        with open(os.path.join(SHARED, "oracle", "grpo", "grpo_cases.json")) as f:
            cls.cases = json.load(f)["cases"]

    def call(self, c: Dict[str, Any], **over: Any) -> Dict[str, Any]:
        args: Dict[str, Any] = dict(logps=c["logps"], old_logps=c["old_logps"], ref_logps=c["ref_logps"], lengths=c["lengths"],
                    rewards=c["rewards"], group_size=c["group_size"], beta=c["beta"], epsilon=c["epsilon"],
                    epsilon_high=c["epsilon_high"], loss_type=c["loss_type"], scale_rewards=c["scale_rewards"],
                    max_completion_length=c["max_completion_length"])
        args.update(over)
        return xla.grpo_loss(**args)

    def test_every_oracle_case(self) -> None:
        self.assertEqual(len(self.cases), 5)
        for c in self.cases:
            want = c["expected"]
            got = self.call(c)
            self.assertEqual(set(got), {"loss", "kl", "clip_ratio_low", "clip_ratio_high", "clip_ratio_region",
                                        "advantages", "grad"})
            for key, trl in (("loss", "loss"), ("kl", "kl"), ("clip_ratio_low", "clip_ratio/low_mean"),
                             ("clip_ratio_high", "clip_ratio/high_mean"),
                             ("clip_ratio_region", "clip_ratio/region_mean")):
                w = want.get(trl, 0.0)  # no kl when beta is 0: it must be 0
                self.assertTrue(close(got[key], w), "%s %s: %r, expected %r" % (c["name"], key, got[key], w))
            self.assertEqual(len(got["advantages"]), len(c["rewards"]))
            for g, w in zip(got["advantages"], want["advantages"]):
                self.assertTrue(close(g, w), "%s advantages: %r, expected %r" % (c["name"], g, w))
            self.assertEqual([len(r) for r in got["grad"]], [len(r) for r in want["grad_logps"]])
            for gr, wr in zip(got["grad"], want["grad_logps"]):
                for g, w in zip(gr, wr):
                    self.assertTrue(close(g, w), "%s grad: %r, expected %r" % (c["name"], g, w))

    def test_on_policy_and_no_reference(self) -> None:
        for c in self.cases:
            a = self.call(c, old_logps=None)
            b = self.call(c, old_logps=c["logps"])
            self.assertEqual(a, b)  # None is old = logps, bit for bit
            self.assertEqual(a["clip_ratio_region"], 0.0)
            if c["beta"] == 0:
                self.assertEqual(self.call(c, ref_logps=None), self.call(c))

    def test_bad_input(self) -> None:
        c = self.cases[1]  # beta 0.04, 8 rows of 6, groups of 4
        rewards = list(c["rewards"])
        rewards[3] = float("nan")
        with self.assertRaisesRegex(xla.InvalidArgumentError, r"xla_grpo_loss: rewards\[3\] is not finite"):
            self.call(c, rewards=rewards)
        with self.assertRaisesRegex(xla.InvalidArgumentError, "group_size must be at least 2"):
            self.call(c, group_size=1)
        with self.assertRaisesRegex(xla.ShapeError, "groups of 3"):
            self.call(c, group_size=3)
        with self.assertRaisesRegex(xla.InvalidArgumentError, r"lengths\[0\] is 7"):
            self.call(c, lengths=[7] + c["lengths"][1:])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "whole number"):
            self.call(c, lengths=[2.5] + c["lengths"][1:])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "ref_logps"):
            self.call(c, ref_logps=None)  # beta 0.04 needs the reference
        with self.assertRaisesRegex(xla.InvalidArgumentError, "scale_rewards must be 0 or 1"):
            self.call(c, scale_rewards=2)
        with self.assertRaisesRegex(xla.InvalidArgumentError, "loss_type"):
            self.call(c, loss_type="ppo")
        with self.assertRaisesRegex(xla.ShapeError, "differ in length"):
            self.call(c, logps=[c["logps"][0][:5]] + c["logps"][1:])
        with self.assertRaisesRegex(xla.ShapeError, "old_logps is"):
            self.call(c, old_logps=c["old_logps"][:4])
        with self.assertRaisesRegex(xla.ShapeError, "rewards has 7 values"):
            self.call(c, rewards=c["rewards"][:7])


class PromptDatasetTest(unittest.TestCase):
    def test_text_and_jsonl(self) -> None:
        self.assertEqual(len(xla.PromptDataset.from_text(PROMPTS, ANSWERS)), 4)
        self.assertEqual(len(xla.PromptDataset.from_text(PROMPTS[:2])), 2)
        with self.assertRaisesRegex(xla.InvalidArgumentError, "4 prompts but 3 answers"):
            xla.PromptDataset.from_text(PROMPTS, ANSWERS[:3])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "n is 0"):
            xla.PromptDataset.from_text([])
        with tempfile.TemporaryDirectory() as root:
            path = os.path.join(root, "prompts.jsonl")
            with open(path, "w") as f:
                f.write('{"prompt": "say:", "answer": "A"}\n\n{"prompt_ids": [2, 75, 76]}\n')
            self.assertEqual(len(xla.PromptDataset.from_jsonl(path)), 2)
            with open(path, "w") as f:
                f.write('{"prompt": "say:"}\n{"answer": "B"}\n')
            with self.assertRaisesRegex(xla.FormatError, "prompts.jsonl:2"):
                xla.PromptDataset.from_jsonl(path)
            with self.assertRaises(xla.FileError):
                xla.PromptDataset.from_jsonl(os.path.join(root, "missing.jsonl"))


class GrpoTrainerTest(unittest.TestCase):
    def make(self, seed: int = 11, lr: float = 3e-2, rewards: Any = (), **kw: Any) -> xla.GrpoTrainer:
        model = xla.Model.create(TINY_CONFIG, seed=seed)
        opt = xla.Optimizer(model, "adamw", lr=lr)
        prompts = xla.PromptDataset.from_text(PROMPTS, ANSWERS)
        params: Dict[str, Any] = dict(max_completion_length=4, batch_size=8, progress=0, seed=3)
        params.update(kw)
        return xla.GrpoTrainer(model, opt, prompts, rewards=rewards, **params)

    def test_learns_to_write_capitals(self) -> None:
        seen: List[Any] = []
        threads: Set[int] = set()

        def check_args(prompt_ids: List[int], completion_ids: List[int], prompt_text: str, completion_text: str,
                       answer: str) -> float:
            seen.append((prompt_ids, completion_ids, prompt_text, completion_text, answer))
            threads.add(threading.get_ident())
            return 0.0

        with tempfile.TemporaryDirectory() as root:
            metrics_path = os.path.join(root, "metrics.jsonl")
            trainer = self.make(rewards=[capitals, ("args", check_args, 0.5), "exact_match"], steps=40,
                                metrics_path=metrics_path)
            first = trainer.step()
            self.assertEqual(len(seen), 8)  # one round: 2 prompts x 4 completions
            self.assertEqual(threads, {threading.get_ident()})  # on the thread that steps
            for prompt_ids, completion_ids, prompt_text, completion_text, answer in seen:
                i = PROMPTS.index(prompt_text)
                self.assertEqual(prompt_ids, [2] + [b + 3 for b in PROMPTS[i].encode()])
                self.assertEqual(answer, ANSWERS[i] or "")
                self.assertTrue(1 <= len(completion_ids) <= 4)
                # the text is the completion's bytes, <eos> dropped, up to a NUL byte (a C string)
                text = bytes(t - 3 for t in completion_ids if t >= 3).split(b"\0")[0]
                self.assertEqual(completion_text, text.decode("utf-8", "replace"))
            self.assertEqual(first["step"], 1)
            self.assertIs(first["sampled"], True)
            self.assertLess(abs(first["loss"]), 1e-6)  # on-policy: -mean(A) over whole groups is 0
            self.assertEqual(first["kl"], 0.0)
            self.assertEqual(first["learning_rate"], 3e-2)
            self.assertTrue(1 <= first["completions/mean_length"] <= 4)
            for key in ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "reward_std",
                        "frac_reward_zero_std", "completions/clipped_ratio", "grad_norm", "samples_per_s",
                        "sampled_tokens_per_s"):
                self.assertIn(key, first)

            rewards = [first["reward"]]
            def on_step(step: int, m: Dict[str, Any]) -> bool:
                rewards.append(m["reward"])
                return step >= 5

            ran = trainer.run(on_step=on_step)
            self.assertEqual(ran, 4)
            self.assertTrue(trainer.stopped)
            self.assertEqual(trainer.run(on_step=lambda step, m: rewards.append(m["reward"])), 35)
            self.assertFalse(trainer.stopped)
            self.assertEqual(len(rewards), 40)
            early, late = sum(rewards[:6]) / 6, sum(rewards[-10:]) / 10
            self.assertGreater(late, early + 0.2, rewards)
            with open(metrics_path) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            # run() writes the lines (step() alone does not, as with the other trainers)
            self.assertEqual([m["step"] for m in lines], list(range(2, 41)))
            self.assertIn("rewards/capitals/mean", lines[0])
            self.assertIn("rewards/exact_match/mean", lines[0])
            self.assertEqual(lines[0]["rewards/args/mean"], 0.0)
            self.assertAlmostEqual(lines[-1]["reward"], rewards[-1], delta=1e-9)

    def test_stop_ids_and_resume(self) -> None:
        with tempfile.TemporaryDirectory() as root:
            kw: Dict[str, Any] = dict(seed=14, rewards=[capitals], num_iterations=2, checkpoint_dir=os.path.join(root, "ckpt"),
                      stop_ids=list(range(259)), beta=0.1)
            trainer = self.make(**kw)
            for _ in range(3):
                trainer.step()
            trainer.save()  # mid-round: step 4 reuses step 3's samples
            a = trainer.step()
            self.assertEqual((a["step"], a["sampled"]), (4, False))
            self.assertEqual(a["completions/mean_length"], 1.0)  # every id stops: one token each
            self.assertGreater(a["kl"], 0.0)
            again = self.make(**kw)
            self.assertTrue(again.resume())
            b = again.step()
            for key in ("step", "sampled", "loss", "kl", "reward", "grad_norm", "clip_ratio/region_mean"):
                self.assertEqual(a[key], b[key], key)
        fresh = self.make(rewards=[capitals])
        self.assertFalse(fresh.resume())  # no checkpoint_dir
        with self.assertRaisesRegex(xla.InvalidArgumentError, "checkpoint_dir"):
            fresh.save()

    def test_a_reward_that_raises(self) -> None:
        def boom(completion_ids: List[int]) -> float:
            raise KeyError("from the reward")

        trainer = self.make(rewards=[capitals, boom], steps=3)
        with self.assertRaisesRegex(KeyError, "from the reward"):
            trainer.step()
        with self.assertRaisesRegex(KeyError, "from the reward"):
            trainer.run()
        self.assertTrue(trainer.stopped)
        trainer = self.make(rewards=[lambda prompt_text: "high"], steps=3)
        with self.assertRaisesRegex(TypeError, "not a number"):
            trainer.step()
        trainer = self.make(rewards=[("nan_reward", lambda completion_text: float("nan"))])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "nan_reward"):
            trainer.step()

    def test_bad_input(self) -> None:
        with self.assertRaisesRegex(xla.InvalidArgumentError, "group_size"):
            self.make(group_size=3)  # 8 completions are not groups of 3
        with self.assertRaisesRegex(xla.InvalidArgumentError, "temperature"):
            self.make(temperature=0.0)
        with self.assertRaisesRegex(xla.InvalidArgumentError, "sampler"):
            self.make(sampler="beam")
        with self.assertRaisesRegex(xla.InvalidArgumentError, "reference"):
            self.make(reference="precomputed")
        with self.assertRaisesRegex(xla.InvalidArgumentError, "loss_type"):
            self.make(loss_type="ppo")
        with self.assertRaises(TypeError):
            self.make(no_such_option=1)
        with self.assertRaisesRegex(xla.InvalidArgumentError, r"rewards\[0\]"):
            self.make(rewards=[42])
        with self.assertRaisesRegex(xla.InvalidArgumentError, "built-in reward"):
            self.make(rewards=["format"])
        trainer = self.make()
        with self.assertRaisesRegex(xla.InvalidArgumentError, "reward"):
            trainer.step()  # none added
        with self.assertRaises(xla.InvalidArgumentError):
            trainer.add_format_reward("([a-z")
        trainer.add_reward(capitals)
        with self.assertRaisesRegex(xla.InvalidArgumentError, "capitals"):
            trainer.add_reward(capitals)  # the name is taken
        with self.assertRaisesRegex(xla.InvalidArgumentError, "not callable"):
            trainer.add_reward(3)  # type: ignore[arg-type]  # the bad input under test
        self.assertTrue(math.isfinite(trainer.step()["loss"]))


if __name__ == "__main__":
    unittest.main()
