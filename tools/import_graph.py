"""chatapp's import graph from the `import`/`from` lines (ast, nothing imported): the arrows between its parts.

    python tools/import_graph.py              arrows between parts, with the importing modules
    python tools/import_graph.py --modules    every module-to-module arrow
    python tools/import_graph.py --external   the third-party packages each part imports

A part is a package under chatapp/ (ui, storage, documents...) or a top-level module (session, cli...).
Imports inside functions count as much as those at the top: a lazy import is still an arrow.
tests/test_import_graph.py checks the house rules against it.
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "chatapp"


def module_name(path: Path, root: Path = ROOT) -> str:
    """chatapp/ui/sidebar.py -> chatapp.ui.sidebar; chatapp/storage/__init__.py -> chatapp.storage."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part(module: str) -> str:
    """chatapp.ui.sidebar -> ui; chatapp.session -> session; chatapp -> chatapp."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else pieces[0]


def imports(path: Path, root: Path = ROOT) -> list[tuple[str, int]]:
    """(absolute module name, line) for every import in the file; `from .x import y` is resolved and,
    where y is a module of the package (from . import cjk), named down to it."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((target, node.lineno))
            for alias in node.names:   # `from . import cjk`: the arrow goes to chatapp.documents.cjk
                sub = root.parent.joinpath(*f"{target}.{alias.name}".split("."))
                if sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file():
                    found.append((f"{target}.{alias.name}", node.lineno))
    return found


def module_arrows(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(importer module, imported module) -> ["path:line", ...] for imports of chatapp's own modules."""
    arrows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        for target, line in imports(path, root):
            if target == "chatapp" or target.startswith("chatapp."):
                if target != me:
                    arrows[me, target].append(f"{path.relative_to(root.parent)}:{line}")
    return dict(arrows)


def external(root: Path = ROOT) -> dict[str, dict[str, list[str]]]:
    """part -> third-party top-level package -> ["path:line", ...] (the standard library left out)."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(root.rglob("*.py")):
        me = module_name(path, root)
        for target, line in imports(path, root):
            top = target.split(".")[0]
            if top != "chatapp" and top not in sys.stdlib_module_names and top != "__future__":
                found[part(me)][top].append(f"{path.relative_to(root.parent)}:{line}")
    return found


def part_arrows(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(importing part, imported part) -> the importing modules, for arrows between different parts."""
    arrows: dict[tuple[str, str], set[str]] = defaultdict(set)
    for (src, dst), _where in module_arrows(root).items():
        if part(src) != part(dst) and part(dst) != "chatapp":
            arrows[part(src), part(dst)].add(src)
    return {k: sorted(v) for k, v in sorted(arrows.items())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="every module-to-module arrow")
    parser.add_argument("--external", action="store_true", help="third-party packages per part")
    args = parser.parse_args(argv)
    if args.modules:
        for (src, dst), where in sorted(module_arrows().items()):
            print(f"{src} -> {dst}    ({', '.join(where)})")
    elif args.external:
        for name, packages in sorted(external().items()):
            print(f"{name}: {', '.join(sorted(packages))}")
    else:
        for (src, dst), modules in part_arrows().items():
            print(f"{src} -> {dst}    ({', '.join(m.removeprefix('chatapp.') for m in modules)})")


if __name__ == "__main__":
    main()
