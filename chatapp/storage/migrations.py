"""The database schema's history: one SQL script per version, applied in order by Storage."""
from __future__ import annotations

from .documents_schema import MIGRATION as DOCUMENTS_MIGRATION
from .documents_schema import CJK_MIGRATION, VECTORS_MIGRATION

# Append-only: each entry moves the schema one version up. Never edit a released step.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- ids are never reused: late signals cannot hit a newer row
        title TEXT NOT NULL,
        system_prompt TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'text',
        content TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'done',
        image_path TEXT,
        meta TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    """,
    # 2: full-text search over message text, kept in step by triggers.
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id');
    INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    """,
    # 3: conversations become trees. Each message has a parent (NULL for the first one); a
    # conversation remembers the leaf it shows. No foreign key on parent_id: a cascade down a
    # long chain would hit SQLite's trigger depth limit, so subtrees are deleted by a recursive
    # query instead. Existing flat chats become one branch: each message's parent is the one before.
    """
    ALTER TABLE messages ADD COLUMN parent_id INTEGER;
    ALTER TABLE conversations ADD COLUMN current_leaf INTEGER;
    UPDATE messages SET parent_id = (SELECT MAX(p.id) FROM messages p
                                     WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id);
    UPDATE conversations SET current_leaf = (SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = conversations.id);
    CREATE INDEX messages_by_parent ON messages(conversation_id, parent_id);
    CREATE INDEX messages_by_parent_id ON messages(parent_id);
    """,
    # Import keys: where an imported conversation came from (source + its id there), so a file imports once.
    "CREATE TABLE IF NOT EXISTS imported (source TEXT NOT NULL, key TEXT NOT NULL, conversation_id INTEGER NOT NULL"
    " REFERENCES conversations(id) ON DELETE CASCADE, PRIMARY KEY (source, key));",
    DOCUMENTS_MIGRATION,  # attached files, library, chunks + FTS5 (documents_schema.py)
    VECTORS_MIGRATION,  # chunk vectors for hybrid search, per embedding model (documents_schema.py)
    CJK_MIGRATION,  # a trigram index over chunks with CJK text: words inside a run found (documents_schema.py)
    # 8: a chat's own tools switch (issue 23: "a conversation can turn tools off"): it goes with the chat (deleted,
    # exported and imported with it); before, Settings.tools_off_chats listed the chats (moved in at start).
    "ALTER TABLE conversations ADD COLUMN tools_off INTEGER NOT NULL DEFAULT 0;",
]
