"""End to end with the real embedded model: a 40-page PDF with one fact on page 21; the reply finds it and cites it."""
import random
import re

import pytest

from chatapp.conversation import DONE, GenParams

from .conftest import close_app
from .pdf_maker import write_pdf

pytestmark = pytest.mark.real

TOPICS = ["the weather", "road repairs", "the school calendar", "library opening hours", "the bus timetable",
          "recycling collection", "the farmers market", "park maintenance", "the swimming pool", "street lighting"]


def bulletin(path, fact_page: int = 21):
    rng = random.Random(0)
    pages = []
    for i in range(1, 41):
        topic = TOPICS[i % len(TOPICS)]
        pages.append(f"Town bulletin, page {i}. This page covers {topic}. " + " ".join(
            f"Residents asked about {topic} at the meeting in week {rng.randrange(1, 52)}, and the council "
            "promised an update." for _ in range(12)))
    pages[fact_page - 1] += " Note: the harbour master's boat is called the Silver Petrel."
    return write_pdf(path, pages)


def test_buried_fact_is_found_and_cited_with_its_page(qtbot, tmp_path):
    from chatapp.app import build
    from chatapp.settings import Settings, resolve_paths
    greedy = GenParams(temperature=0.0)
    settings = Settings(temperature=greedy.temperature, max_tokens=60)
    pdf = bulletin(tmp_path / "bulletin.pdf")
    parts = build(resolve_paths(str(tmp_path / "data")), settings)
    qtbot.addWidget(parts.window)
    parts.window.show()
    s = parts.session
    s.load_models()
    qtbot.waitUntil(lambda: s.llm_status == "ready", timeout=120000)
    try:
        assert s.submit(f"/attach {pdf}")
        qtbot.waitUntil(lambda: not s.documents.index.pending(), timeout=60000)
        doc = s.documents.index.documents(s.current.id)[0]
        assert (doc.status, doc.pages) == ("ready", 40)
        with qtbot.waitSignal(s.reply_finished, timeout=120000):
            s.submit("What is the harbour master's boat called?")
        reply = s.storage.messages(s.current.id)[-1]
        qtbot.waitUntil(lambda: "sources" in s.storage.message(reply.id).meta, timeout=30000)
        reply = s.storage.message(reply.id)
        assert reply.status == DONE
        assert "Silver Petrel" in reply.content, reply.content
        sources = {src["n"]: src for src in reply.meta["sources"]}
        cited = [int(n) for n in re.findall(r"\[(\d+)\]", reply.content)]
        assert cited, f"the reply cites no source: {reply.content!r}"
        assert all(sources[n]["location"] == "page 21" and sources[n]["name"] == "bulletin.pdf" for n in cited)
        bubble = parts.window.view.widgets[reply.id]
        assert "bulletin.pdf, page 21" in bubble.sources.text()
    finally:
        close_app(parts)
