"""Conversations as trees: a branch from root to leaf, children, subtrees, the leaf a chat shows (a Storage mixin)."""
from __future__ import annotations

from ..conversation import Message
from .errors import guarded

# add_message's default parent: the conversation's current leaf.
LEAF = object()

# The path from a message up to its root, with each message's place among its siblings. The limit
# stops the walk itself: as an outer LIMIT it walked all 10,000 messages of a long chat for a page of 12.
_PATH_SQL = """
WITH RECURSIVE up(id, depth) AS (
    SELECT ?, 0
    UNION ALL
    SELECT m.parent_id, up.depth + 1 FROM messages m JOIN up ON m.id = up.id
    WHERE m.parent_id IS NOT NULL AND up.id IS NOT ? AND up.depth + 1 < ?)
SELECT msg.*, up.depth AS depth,
    (SELECT COUNT(*) FROM messages s WHERE s.conversation_id = msg.conversation_id
        AND s.parent_id IS msg.parent_id) AS n_siblings,
    (SELECT COUNT(*) FROM messages s WHERE s.conversation_id = msg.conversation_id
        AND s.parent_id IS msg.parent_id AND s.id <= msg.id) AS sibling_index
FROM up JOIN messages msg ON msg.id = up.id
ORDER BY up.depth"""

_SUBTREE_SQL = """
WITH RECURSIVE sub(id) AS (
    SELECT id FROM messages WHERE id = ?
    UNION ALL
    SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id)
SELECT id FROM sub"""

# The most recent leaf of a subtree: where the user last was in it. Not simply its highest id: a
# picture spliced into a branch is newer than the messages below it.
_NEWEST_LEAF_SQL = """
WITH RECURSIVE sub(id) AS (
    SELECT id FROM messages WHERE id = ?
    UNION ALL
    SELECT m.id FROM messages m JOIN sub ON m.parent_id = sub.id)
SELECT MAX(id) FROM sub WHERE NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = sub.id)"""


@guarded
class TreeQueries:
    """Storage's tree reads and writes; expects Storage's _db, _run, _transaction, conversation and _to_message."""

    def branch(self, conversation_id: int, leaf_id: int | None = LEAF, *, limit: int | None = None,
               stop_at: int | None = None) -> list[Message]:
        """The branch from the root down to leaf_id (default: the current leaf).

        With limit, only its newest part; with stop_at, only the part below that message.
        """
        if leaf_id is LEAF:
            conv = self.conversation(conversation_id)
            leaf_id = conv.current_leaf if conv else None
        if leaf_id is None or limit == 0:
            return []
        rows = self._run(_PATH_SQL, (leaf_id, stop_at, 2**62 if limit is None else limit)).fetchall()
        return [self._to_message(r) for r in reversed(rows)
                if r["conversation_id"] == conversation_id and r["id"] != stop_at]

    def children(self, message_id: int | None, conversation_id: int) -> list[Message]:
        rows = self._run("SELECT * FROM messages WHERE conversation_id=? AND parent_id IS ? ORDER BY id",
                         (conversation_id, message_id)).fetchall()
        return [self._to_message(r) for r in rows]

    def subtree(self, message_id: int) -> list[Message]:
        ids = [r[0] for r in self._run(_SUBTREE_SQL, (message_id,))]
        rows = self._run(f"SELECT * FROM messages WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id", ids).fetchall()
        return [self._to_message(r) for r in rows]

    def newest_leaf_under(self, message_id: int) -> int:
        """The most recent leaf of a subtree (the message itself when it has no children)."""
        return self._run(_NEWEST_LEAF_SQL, (message_id,)).fetchone()[0]

    def set_current_leaf(self, conversation_id: int, leaf_id: int | None) -> None:
        self._run("UPDATE conversations SET current_leaf=? WHERE id=?", (leaf_id, conversation_id))

    def delete_subtree(self, message_id: int) -> list[str]:
        """Delete a message and everything under it; returns the picture files they owned.

        The conversation then shows the newest remaining leaf under the deleted message's parent.
        """
        with self._transaction():
            row = self._db.execute("SELECT conversation_id, parent_id FROM messages WHERE id=?",
                                   (message_id,)).fetchone()
            if row is None:
                return []
            cid, parent = row
            ids = [r[0] for r in self._db.execute(_SUBTREE_SQL, (message_id,))]
            marks = ",".join("?" * len(ids))
            paths = [r[0] for r in self._db.execute(
                f"SELECT image_path FROM messages WHERE id IN ({marks}) AND image_path IS NOT NULL", ids)]
            self._db.execute(f"DELETE FROM messages WHERE id IN ({marks})", ids)
            leaf = self._db.execute("SELECT current_leaf FROM conversations WHERE id=?", (cid,)).fetchone()[0]
            if leaf in ids or leaf is None:
                if parent is not None:
                    leaf = self._db.execute(_NEWEST_LEAF_SQL, (parent,)).fetchone()[0]
                else:
                    leaf = self._db.execute(
                        "SELECT MAX(id) FROM messages m WHERE conversation_id=? AND NOT EXISTS "
                        "(SELECT 1 FROM messages c WHERE c.parent_id = m.id)", (cid,)).fetchone()[0]
                self._db.execute("UPDATE conversations SET current_leaf=? WHERE id=?", (leaf, cid))
        return paths
