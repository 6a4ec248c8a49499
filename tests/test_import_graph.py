"""Issue 22 item 9: the house rules over chatapp's import lines (tools/import_graph.py reads them with ast).

Parts sit in LAYERS, lowest first; a part may import its own layer and those below, never one above.
KNOWN lists today's breaks that another item of issue 22 is removing: it may only shrink. A test
fails when a KNOWN arrow is gone (remove it here then), so the list never hides a fixed one.
"""
import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "import_graph.py"
_spec = importlib.util.spec_from_file_location("import_graph", TOOL)
graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(graph)

# Lowest first (docs/ARCHITECTURE.md, "Layers"). A part is a package under chatapp/ or a top-level module.
LAYERS = [
    {"conversation", "recipes", "registry", "picture_bytes"},   # the domain's words
    {"storage", "engines", "models", "tools"},                  # SQLite; inference (no Qt); model files; tools
    {"documents", "store", "checks", "settings", "backends", "commands"},   # built on those: files, in/out, options
    {"workers"},                                                # the only place that crosses threads
    {"message_log", "parts", "pictures", "branches", "transfer", "desktop", "assistant"},   # session parts
    {"session", "session_doors"},                               # the conductor (and its door mixins): the window's one door
    {"ui"},                                                     # widgets
    {"app", "cli", "serve", "__main__", "chatapp"},             # entry points
]
LAYER = {name: n for n, layer in enumerate(LAYERS) for name in layer}

# What the session owns: the window reaches these only through the session. transfer (export/import jobs) and
# desktop (the instance lock, the menu entry) sit in the same layer as app services the window may call itself.
SESSION_INTERNALS = {"message_log", "parts", "pictures", "branches", "assistant", "session_doors"}
ML_LIBRARIES = {"llama_cpp", "torch", "diffusers", "transformers", "peft", "accelerate"}
QT = {"PySide6", "shiboken6"}

# (importing module, imported module): breaks on main today, each named with the item removing it.
KNOWN: set[tuple[str, str]] = set()   # none left

ARROWS = graph.module_arrows()
EXTERNAL = graph.external()


def part(module: str) -> str:
    return graph.part(module)


def breaks() -> dict[tuple[str, str], str]:
    """Every arrow that breaks a rule, with the rule's words."""
    found = {}
    for (src, dst), _where in ARROWS.items():
        a, b = part(src), part(dst)
        if a == b or dst == "chatapp":
            continue
        if LAYER[b] > LAYER[a]:
            found[src, dst] = f"upward: {a} (layer {LAYER[a]}) imports {b} (layer {LAYER[b]})"
        if a in ("engines", "tools") and b in {"ui", "workers", "session"} | SESSION_INTERNALS:
            found[src, dst] = f"{a} import no ui, workers or session"
        if a == "ui" and b in {"storage", "store", "cli"} | SESSION_INTERNALS:
            found[src, dst] = f"ui imports {b}: the window goes through the session's public methods"
    return found


def where(arrow) -> str:
    return ", ".join(ARROWS[arrow])


def test_the_graph_reads_real_arrows():
    # The reader itself: a relative import resolved, a module named in `from . import x`, a lazy import.
    assert ("chatapp.documents.index", "chatapp.documents.extract") in ARROWS
    assert ("chatapp.documents.index", "chatapp.documents.cjk") in ARROWS
    assert ("chatapp.app", "chatapp.ui.main_window") in ARROWS      # imported inside build()
    assert "llama_cpp" in EXTERNAL["engines"] and "PySide6" in EXTERNAL["ui"]


def test_every_part_has_a_layer():
    parts = {part(m) for arrow in ARROWS for m in arrow} | set(EXTERNAL)
    unplaced = sorted(parts - set(LAYER))
    assert not unplaced, f"put these in LAYERS (tests/test_import_graph.py and docs/ARCHITECTURE.md): {unplaced}"


def test_no_new_upward_or_forbidden_arrow():
    new = {arrow: why for arrow, why in breaks().items() if arrow not in KNOWN}
    assert not new, "\n".join(f"{s} -> {d}: {why} ({where((s, d))})" for (s, d), why in sorted(new.items()))


def test_known_breaks_still_exist_so_the_list_only_shrinks():
    gone = sorted(KNOWN - set(breaks()))
    assert not gone, f"fixed, so remove them from KNOWN in tests/test_import_graph.py: {gone}"


def test_engines_import_no_qt():
    assert not QT & set(EXTERNAL["engines"]), {k: EXTERNAL["engines"][k] for k in QT & set(EXTERNAL["engines"])}


def test_tools_import_no_qt():
    # A tool runs on a worker thread and reaches the session only through ToolServices.
    assert not QT & set(EXTERNAL["tools"]), {k: EXTERNAL["tools"][k] for k in QT & set(EXTERNAL["tools"])}


def test_ui_imports_no_ml_library():
    assert not ML_LIBRARIES & set(EXTERNAL["ui"]), {k: EXTERNAL["ui"][k] for k in ML_LIBRARIES & set(EXTERNAL["ui"])}


def test_storage_imports_nothing_above_it():
    # The arrow storage/migrations.py -> documents/schema.py was the one upward arrow issue 22 named.
    above = {(s, d) for s, d in ARROWS if part(s) == "storage" and part(d) not in ("storage", "conversation", "chatapp")}
    assert not above, above
