"""`python -m bench [--quick]`: run every benchmark, print one table, write docs/PERFORMANCE.md."""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Row, machine  # noqa: E402

NOTES = """
## What it took to hold the bars

- Prompt processing on 2 cores: llama.cpp's batch threads default to every core; with torch
  busy on one, ggml's spinning barrier made a 30-token prompt take 7.8 s instead of 0.08 s.
  The engine gives prompt batches the same thread count as generation, and torch leaves a core.
- Chat throughput: re-rendering a growing markdown reply holds the GIL the LLM worker needs
  between tokens. The view repaints at most ~30 times a second and backs off so repainting takes
  at most ~15% of the GUI thread; the GIL switch interval is 1 ms instead of 5 (0.90 -> 0.99).
- The bench itself waits in a real QEventLoop: a processEvents()/sleep() poll stole the GIL from
  the workers it was timing.
- Scrolling back through 10,000 messages: QLabel laid out its rich text on every height query
  (over 1,000 per page load); heights are cached per width, and older pages come 12 at a time,
  anchored so scrolling keeps loading.
- Image: the live preview's tensors are made once; PNGs are written with fast compression.
- Hostile model output (issue 15): a 300-column table held the GUI thread 4.5 s. A layout budget
  sends such replies to plain text (all of it), long texts are parsed on the thread pool, a label
  that fills the width lays out once per text instead of three times, and finished renders are
  cached; a paste with a 1,000-character run wraps anywhere. "GUI-thread CPU" in those rows is
  the GUI thread's own CPU in the longest gap, which a busy machine does not inflate.
- Long replies: the engine runs its own decoding loop (Llama.generate, token bytes cached per id,
  incremental UTF-8, stop strings checked on the tail) instead of create_chat_completion's
  streaming, which decodes the whole reply again at every token.
- Chat-only sessions never import torch/diffusers/transformers; an idle image model is freed.
"""


def fmt(x):
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}"


def table(rows: list[Row]) -> str:
    lines = ["| Measure | chatapp | Raw library (same run) | Ratio | Bar | Holds | Notes |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        holds = "" if r.holds is None else ("yes" if r.holds else "**no**")
        ref = f"{fmt(r.reference)} {r.unit}" if r.reference is not None else ""
        lines.append(f"| {r.name} | {fmt(r.value)} {r.unit} | {ref} | {fmt(r.ratio)} | {r.bar} | {holds} | {r.note} |")
    return "\n".join(lines)


def header(section: str) -> str:
    m = machine()
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else m["cores"]
    return (f"Made by `python -m bench --section {section}` on {time.strftime('%Y-%m-%d %H:%M')}: {m['cores']} cores "
            f"({cpus} allowed to this run), {m['memory_gib']} GiB memory, Python {m['python']}, {m['platform']}.\n"
            f"Libraries: {versions}.")


def with_section(doc: str, section: str, body: str) -> str:
    """doc with the generated block `section` replaced by body (appended when new); hand-written parts kept."""
    begin, end = f"<!-- bench:{section} -->", f"<!-- /bench:{section} -->"
    block = f"{begin}\n{body}{end}"
    if begin in doc and end in doc:
        return doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    if not doc:
        doc = "# Performance\n" + NOTES
    return doc.rstrip("\n") + "\n\n" + block + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one short run of each (the test suite uses this)")
    ap.add_argument("--out", type=Path, default=Path("docs/PERFORMANCE.md"))
    ap.add_argument("--section", default="main", help="which generated section of --out this run replaces "
                    "(e.g. 'taskset' for a run under `taskset -c 0`); the rest of the file is kept")
    ap.add_argument("--only", nargs="*", help="chat, chatlong, chatengine, followup, startup, firstpicture, image, "
                    "live, memory, scale, remote, hostile, hostileinput, picturesin, tree, documents, img2img, singlefile, speculative, threads, "
                    "tools, tooldraw")
    args = ap.parse_args()
    from bench import chat, documents, hostile_render, image, live, remote, scale, startup, tree
    from bench import img2img
    from bench import hostile_input
    from bench import pictures_in   # pictures the user gives (issue 24)
    from bench import single_file as singlefile_bench   # single-file checkpoints (issue 12)
    from bench import speculative, threads   # drafting, chat threads (issue 27)
    from bench import tools as tools_bench   # local tool calling (issue 23)
    q = args.quick
    suites = {
        "chat": lambda: chat.throughput(1 if q else 5, 32 if q else 256),
        "chatlong": lambda: chat.throughput(1 if q else 5, 64 if q else 1500, bar=1.05),
        "chatengine": lambda: chat.engine_throughput(1 if q else 5, 64 if q else 1500),
        "followup": lambda: chat.follow_up(3 if q else 10, 1 if q else 5),
        "startup": lambda: startup.startup(1 if q else 5),
        "firstpicture": lambda: startup.first_picture(1 if q else 3),
        "image": lambda: image.image(1 if q else 9, 5 if q else 20),
        "live": lambda: live.responsiveness(20 if q else 150),
        "memory": lambda: live.memory(),
        "scale": lambda: scale.scale(500 if q else 10_000),
        "remote": lambda: remote.app_vs_client(1 if q else 5, 32 if q else 256)
        + remote.serve_vs_llama_server(1 if q else 5, 32 if q else 256),
        "hostile": lambda: hostile_render.hostile_render(q),
        "hostileinput": lambda: hostile_input.hostile_input(q),   # hostile prompts and recipes (issue 28)
        "picturesin": lambda: pictures_in.pictures_in(q),   # bad and big pictures attached (issue 24)
        "tree": lambda: tree.tree(2_000, 3 if q else 15) + tree.import_speed(20 if q else 200),
        "documents": lambda: documents.documents(q),
        "img2img": lambda: img2img.img2img(1 if q else 9, 8 if q else 20),   # editing pictures (issue 12)
        "singlefile": lambda: singlefile_bench.single_file(q),   # quick mode: the header read only
        "speculative": lambda: speculative.speculative(1 if q else 5, 48 if q else 300),   # issue 27
        "threads": lambda: threads.threads(1 if q else 3, 32 if q else 128, ("quiet",) if q else threads.CASES),
        "tools": lambda: tools_bench.tools_offered(1 if q else 5, 32 if q else 256),
        "tooldraw": lambda: tools_bench.tool_draw(5 if q else 20),   # the desktop's tool loop drawing
        "toolcall": lambda: tools_bench.call_speed(1 if q else 5, 200),   # writing a call: grammar last vs in the chain
    }
    rows: list[Row] = []
    for name, run in suites.items():
        if args.only and name not in args.only:
            continue
        t = time.time()
        try:
            rows += run()
        except Exception as exc:  # one broken bench must not hide the others' figures
            traceback.print_exc()
            rows.append(Row(f"{name} (failed)", float("nan"), "", note=f"{type(exc).__name__}: {exc}"))
        print(f"[bench] {name} done in {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if not q:
        args.out.write_text(with_section(args.out.read_text() if args.out.exists() else "", args.section,
                                         f"{header(args.section)}\n\n{text}\n"))
        print(f"wrote section {args.section!r} of {args.out}")
    failed = [r for r in rows if r.holds is False or r.name.endswith("(failed)")]
    sys.exit(1 if any(r.name.endswith("(failed)") for r in failed) else 0)


if __name__ == "__main__":
    main()
