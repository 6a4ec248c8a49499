"""Subcommands of `chatapp` that need no window: export and import (no Qt, no ML library is imported)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

BAD_INPUT = 2     # like argparse: the user's input was wrong, nothing was changed
FAILED = 1        # the data folder could not be used (locked, read-only, damaged)


def _paths(data_dir: str | None):
    from .settings import resolve_paths
    return resolve_paths(data_dir)


def export_main(argv: list[str]) -> int:
    from .store import StoreError, exporters, open_storage
    from .store.export import export
    from .storage import StorageError
    p = argparse.ArgumentParser(prog="chatapp export", description="Write conversations to a file in one of the "
                                "formats --format lists. Works while the app is running.")
    p.add_argument("--data-dir", metavar="DIR", help="where chats are kept (env CHATAPP_DATA_DIR)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every conversation")
    which.add_argument("--conversation", metavar="ID", type=int, action="append",
                       help="one conversation by id (may be given more than once; --list shows the ids)")
    which.add_argument("--list", action="store_true", help="list the conversations with their ids and stop")
    p.add_argument("--format", choices=list(exporters.EXPORTERS), help=exporters.help_text())
    p.add_argument("--out", metavar="PATH", type=Path, help="the file to write")
    args = p.parse_args(argv)
    if not args.list and (args.format is None or args.out is None):
        p.error("--format and --out are required")
    paths = _paths(args.data_dir)
    if not paths.database.exists():
        print(f"chatapp export: no chats in {paths.data_dir} (no {paths.database.name}).", file=sys.stderr)
        return BAD_INPUT
    try:
        storage = open_storage(paths.database)
    except StorageError as exc:
        print(f"chatapp export: {exc}", file=sys.stderr)
        return FAILED
    try:
        if args.list:
            for c in storage.conversations():
                print(f"{c.id:>6}  {storage.count_messages(c.id):>6} messages  {c.title}")
            return 0
        summary = export(storage, None if args.all else args.conversation, args.format, args.out)
    except StoreError as exc:
        print(f"chatapp export: {exc}", file=sys.stderr)
        return BAD_INPUT
    except StorageError as exc:
        print(f"chatapp export: {exc}", file=sys.stderr)
        return FAILED
    finally:
        storage.close()
    print(f"Exported {summary.counts()} to {args.out}")
    if summary.warning:
        print(f"chatapp export: warning: {summary.warning}", file=sys.stderr)
    return 0


def import_main(argv: list[str]) -> int:
    from .store import StoreError, describe_import, open_storage
    from .store.ingest import import_file
    from .storage import StorageError
    p = argparse.ArgumentParser(prog="chatapp import", description="Add conversations from a chatapp JSON export or "
                                "a ChatGPT conversations.json. Importing a file again adds nothing twice.")
    p.add_argument("file", type=Path, help="the file to import")
    p.add_argument("--data-dir", metavar="DIR", help="where chats are kept (env CHATAPP_DATA_DIR)")
    args = p.parse_args(argv)
    paths = _paths(args.data_dir)
    try:
        storage = open_storage(paths.database)
    except StorageError as exc:
        print(f"chatapp import: {exc}", file=sys.stderr)
        return FAILED
    try:
        summary = import_file(storage, args.file, paths.images)
    except StoreError as exc:
        print(f"chatapp import: {exc}", file=sys.stderr)
        return BAD_INPUT
    except StorageError as exc:
        print(f"chatapp import: {exc} Nothing was imported.", file=sys.stderr)
        return FAILED
    finally:
        storage.close()
    print(describe_import(summary, args.file))
    return 0


COMMANDS = {"export": export_main, "import": import_main}


def dispatch(argv: list[str]) -> int | None:
    """Run the subcommand named by argv[0]; None when there is none (then the window starts)."""
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return None
