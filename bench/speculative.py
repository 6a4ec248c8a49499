"""Prompt-lookup drafting (issue 27): the engine's loop with drafting against the same loop without it."""
from __future__ import annotations

import time

from chatapp.engines.cpu import default_llm_threads

from .common import Row, median

SYSTEM = "You are a helpful assistant."

CODE = '''def load_orders(path):
    """Read the orders file and return a list of dictionaries."""
    orders = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split(",")
            if len(fields) != 4:
                raise ValueError(f"line {line_number}: expected 4 fields, got {len(fields)}")
            customer, item, quantity, price = fields
            orders.append({
                "customer": customer.strip(),
                "item": item.strip(),
                "quantity": int(quantity),
                "price": float(price),
            })
    return orders


def total_by_customer(orders):
    """Sum the value of the orders of each customer."""
    totals = {}
    for order in orders:
        value = order["quantity"] * order["price"]
        totals[order["customer"]] = totals.get(order["customer"], 0.0) + value
    return totals


def print_report(totals):
    for customer, total in sorted(totals.items(), key=lambda pair: pair[1], reverse=True):
        print(f"{customer:20} {total:10.2f}")
'''

DOCUMENT = (
    "The lighthouse on Gull Rock was built in 1871 from granite quarried on the mainland and carried out "
    "by barge during the calm summer months. Its lamp was first lit with whale oil, later with kerosene, "
    "and since 1932 with electricity brought across the channel by an undersea cable. The keeper's cottage "
    "stands on the north side of the rock, sheltered from the westerly gales, and has three rooms and a "
    "small kitchen garden where the keepers grew potatoes and cabbages.\n\n"
    "In the winter of 1899 a storm cut the rock off from the mainland for six weeks. The keeper, Thomas "
    "Avery, kept the lamp burning every night by rationing the oil and trimming the wick himself every "
    "four hours. When the supply boat finally reached the rock in March, the crew found him thin but well, "
    "with the logbook filled in for every single night of the storm.\n\n"
    "The light was automated in 1987 and the last keeper left the rock that autumn. Today the cottage is "
    "a small museum, open on summer weekends, and the logbooks of all the keepers are kept in the county "
    "archive, where visitors may read them by appointment.")

WORKLOADS = {
    "code": ("quoting: repeat a 300-token code block with one change",
             f"Here is my code:\n\n```python\n{CODE}```\n\nRewrite the whole code exactly as it is, but rename the "
             "function total_by_customer to totals_per_customer. Output only the code."),
    "document": ("quoting: answer with a passage from an attached document",
                 f"Attached document:\n\n{DOCUMENT}\n\nQuote, word for word, the paragraph of the document "
                 "about the winter of 1899."),
    "story": ("ordinary reply (no quoting)", "Write a long, detailed story about a lighthouse keeper and a storm."),
}


def _run(engine, text, max_tokens, draft):
    from chatapp.conversation import GenParams
    from chatapp.engines.base import ChatStats
    from chatapp.engines.events import Reply
    engine.prompt_lookup = draft
    engine.llm.reset()                      # both start from an empty cache
    params = GenParams(temperature=0.0, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1, max_tokens=max_tokens,
                       seed=1)
    stats, first, reply = ChatStats(), None, Reply()
    for event in engine.stream([{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}], params,
                               lambda: False, stats):
        reply.add(event)
        if first is None:
            first, cpu0 = time.perf_counter(), time.thread_time()
    end, cpu1 = time.perf_counter(), time.thread_time()
    # Tokens per CPU-second of the decoding thread (one llama.cpp thread computes on it): what other
    # programs' load on the machine stretches least.
    _run.cpu = (stats.completion_tokens - 1) / (cpu1 - cpu0)
    return (stats.completion_tokens - 1) / (end - first), stats.completion_tokens, reply.text, engine.draft_stats


def speculative(runs: int, max_tokens: int) -> list[Row]:
    """Per workload: drafting on vs off, interleaved, greedy, same engine; the replies must be identical."""
    from chatapp.engines.defaults import default_llm_path
    from chatapp.engines.llama import LlamaChatEngine
    engine = LlamaChatEngine(default_llm_path(), n_ctx=2048, n_threads=default_llm_threads())
    engine.load()
    rows = []
    for key, (label, text) in WORKLOADS.items():
        on, off, counts, acceptance, batches, cpu, same = [], [], [], [], [], [], True
        for _ in range(runs):
            tps_off, n_off, text_off, _ = _run(engine, text, max_tokens, False)
            cpu_off = _run.cpu
            tps_on, n_on, text_on, ds = _run(engine, text, max_tokens, True)
            cpu.append(_run.cpu / cpu_off)
            off.append(tps_off)
            on.append(tps_on)
            counts.append(n_on)
            acceptance.append(ds.acceptance)
            batches.append(ds.batches)
            same = same and text_on == text_off and n_on == n_off
        ratio = median(on) / median(off)
        bar = 1.5 if key != "story" else 0.98
        paired = median([a / b for a, b in zip(on, off)])
        rows.append(Row(f"Prompt-lookup drafting, {label}", median(on), "tok/s", median(off), ratio, f">= {bar:.2f}",
                        ratio >= bar and same,
                        f"reference: the same loop without drafting; {median(counts):.0f}-token greedy replies, "
                        f"median of {runs}, interleaved; acceptance {median(acceptance):.0%}; "
                        f"{median(batches):.0f} decode calls; per-pair ratio {paired:.3f}; per CPU-second "
                        f"{median(cpu):.3f}; a batch of 1+k costs 1+{engine._draft_costs.line()[0]:.2f}+"
                        f"{engine._draft_costs.line()[1]:.2f}k tokens' time (measured); "
                        f"replies identical: {'yes' if same else 'NO'}"))
    return rows
