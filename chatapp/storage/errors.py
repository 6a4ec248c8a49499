"""Known SQLite errors (locked, full, read-only, corrupt, I/O) told apart from bugs by error code.

Storage and DocumentIndex both go through `known_errors`: an error that comes from the machine or the
file (the user can act on it) becomes a StorageError, which the window shows as a notice; anything else
(an SQL typo, a constraint a bug broke, misuse of the connection) is raised as it is, so it is seen and
fixed rather than shown as "could not save". As qutebrowser's misc/sql.py does (KnownError vs BugError).
"""
from __future__ import annotations

import inspect
import sqlite3
from contextlib import ContextDecorator, contextmanager


class StorageError(Exception):
    """A storage problem the user can act on (locked, read-only, corrupt, disk full)."""


class CorruptDatabase(StorageError):
    pass


class DiskFull(StorageError):
    """SQLITE_FULL: nothing was written (SQLite rolled the transaction back itself); free space, try again."""


class ChatDeleted(StorageError):
    """A write into a chat deleted meanwhile (another window, or while a file was being read)."""


DISK_FULL = "The disk holding your chats is full, so this could not be saved. Free some space, then try again."
LOCKED = "The database is locked by another program. Close other copies of chatapp and try again."

# By SQLite's primary result code (sqlite3 errors carry it since Python 3.11), never by message text:
# "unable to open database file" is a read-only folder, not a failed save. Everything not named here
# (SQLITE_ERROR: an SQL typo or a missing table; SQLITE_CONSTRAINT; SQLITE_MISUSE, SQLITE_RANGE...) is a bug.
KNOWN = {
    sqlite3.SQLITE_BUSY: LOCKED,
    sqlite3.SQLITE_LOCKED: LOCKED,
    sqlite3.SQLITE_READONLY: "The data folder is read-only, so nothing new can be saved.",
    sqlite3.SQLITE_CANTOPEN: "The database could not be opened: the data folder is read-only, missing or not a folder.",
    sqlite3.SQLITE_PERM: "chatapp has no permission to use the database file in the data folder.",
    sqlite3.SQLITE_IOERR: "The disk reported an error while reading or writing the database.",
    sqlite3.SQLITE_PROTOCOL: "The database's locks failed (a network folder?). Try again.",
    sqlite3.SQLITE_NOMEM: "The computer ran out of memory while using the database.",
    sqlite3.SQLITE_TOOBIG: "That is too large for the database.",
}


def known(exc: BaseException, full: type[DiskFull] = DiskFull) -> StorageError | None:
    """The user-readable error for an SQLite error the machine or the file caused; None for a bug."""
    if isinstance(exc, StorageError):
        return exc
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    if code is None:
        return None   # raised by the sqlite3 module itself (closed connection, wrong bindings): misuse
    if code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
        # The one constraint the app meets without a bug: the chat went while something was written to it.
        return ChatDeleted("That chat was deleted, so this could not be saved in it.")
    primary = code & 0xFF
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return CorruptDatabase("The database file is damaged.")
    if primary == sqlite3.SQLITE_FULL:
        return full(DISK_FULL)
    return StorageError(KNOWN[primary]) if primary in KNOWN else None


class known_errors(ContextDecorator):
    """Around a storage call (as `with` or as a decorator): a known SQLite error is raised as its
    StorageError (prefix put in front of its words); a bug goes on as the sqlite3 error it is."""

    def __init__(self, prefix: str = "", full: type[DiskFull] = DiskFull):
        self.prefix, self.full = prefix, full

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, sqlite3.Error):
            return False
        err = known(exc, self.full)
        if err is None:
            return False
        if self.prefix:
            err = type(err)(self.prefix + str(err))
        raise err from exc


def guarded(cls=None, *, full: type[DiskFull] = DiskFull):
    """Class decorator: every public method of the class runs under known_errors(full=full), so no
    caller sees a raw sqlite3 error for a known problem, whichever statement or fetch met it."""
    def wrap(cls):
        for name, fn in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(fn):
                setattr(cls, name, known_errors(full=full)(fn))
        return cls
    return wrap(cls) if cls is not None else wrap


@contextmanager
def transaction(db: sqlite3.Connection, full: type[DiskFull] = DiskFull):
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any error, known errors raised as StorageErrors (the body's
    too: a caller can tell a deleted chat apart). On an autocommit connection `with db:` opens no transaction."""
    with known_errors(full=full):
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            # After SQLITE_FULL (and some I/O errors) SQLite has already rolled the transaction back; a
            # second ROLLBACK would replace the real error with "cannot rollback - no transaction is active".
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
