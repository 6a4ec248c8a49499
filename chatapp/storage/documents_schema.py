"""The documents' tables (attached files, the library, chunks, FTS5 and trigram indexes, vectors): steps of MIGRATIONS.

They live with storage, which owns the one schema history, so storage imports nothing above it; chatapp/documents
reads and writes these tables (DocumentIndex) and takes CJK_CHARS from here.
"""

MIGRATION = """
CREATE TABLE documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER REFERENCES conversations(id) ON DELETE CASCADE,  -- NULL: a library file
    message_id INTEGER,                  -- the message it was attached with (no FK: messages may be reshaped)
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | ready | error
    error TEXT,
    kind TEXT,
    pages INTEGER,
    chars INTEGER NOT NULL DEFAULT 0,
    added_at REAL NOT NULL
);
CREATE INDEX documents_by_conversation ON documents(conversation_id, status);
CREATE UNIQUE INDEX documents_library_path ON documents(path) WHERE conversation_id IS NULL;
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    page INTEGER,
    line_start INTEGER,
    line_end INTEGER,
    vector BLOB,                         -- float32 embedding, when an embedding model is set
    UNIQUE(document_id, seq)
);
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id',
                                           tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TABLE common_terms (            -- index terms in over a tenth of all chunks (refreshed after indexing):
    term TEXT PRIMARY KEY,               -- left out of queries on big indexes, where scoring them costs
    doc INTEGER NOT NULL                 -- more than their near-zero BM25 weight is worth
) WITHOUT ROWID;
CREATE TABLE conversation_library (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    enabled INTEGER NOT NULL
);
"""

# Vectors for hybrid search (an embedding model set in Settings): one per chunk, from the model named
# by model_id. Written in batches after the chunks (resumable: a kill leaves some chunks without a
# vector, and the next run embeds them); a model change replaces them in the background.
VECTORS_MIGRATION = """
CREATE TABLE embedding_models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity TEXT NOT NULL UNIQUE,       -- file name, size and a hash of its first MiB (llama_embed.model_identity)
    dim INTEGER NOT NULL
);
CREATE TABLE chunk_vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL REFERENCES embedding_models(id) ON DELETE CASCADE,
    vector BLOB NOT NULL CHECK (length(vector) > 0 AND length(vector) % 4 = 0)   -- float32, unit length
);
CREATE INDEX chunk_vectors_by_model ON chunk_vectors(model_id, chunk_id);
"""

# CJK search (issue 25): unicode61 keeps a run of Chinese or Japanese characters (no spaces between
# words) as ONE token, so no word inside it could be found. A second FTS5 index with SQLite's trigram
# tokenizer finds any substring of three or more characters; only chunks with CJK (or Hangul) text
# go in it, so it costs nothing for other languages. The chunks already indexed are added here.
CJK_CHARS = "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
CJK_MIGRATION = f"""
CREATE VIRTUAL TABLE chunks_cjk USING fts5(text, content='chunks', content_rowid='id', tokenize='trigram');
CREATE TRIGGER chunks_cjk_insert AFTER INSERT ON chunks WHEN new.text GLOB '*{CJK_CHARS}*' BEGIN
    INSERT INTO chunks_cjk(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chunks_cjk_delete AFTER DELETE ON chunks WHEN old.text GLOB '*{CJK_CHARS}*' BEGIN
    INSERT INTO chunks_cjk(chunks_cjk, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER chunks_cjk_update_old AFTER UPDATE OF text ON chunks WHEN old.text GLOB '*{CJK_CHARS}*' BEGIN
    INSERT INTO chunks_cjk(chunks_cjk, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER chunks_cjk_update_new AFTER UPDATE OF text ON chunks WHEN new.text GLOB '*{CJK_CHARS}*' BEGIN
    INSERT INTO chunks_cjk(rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO chunks_cjk(rowid, text) SELECT id, text FROM chunks WHERE text GLOB '*{CJK_CHARS}*';
"""
