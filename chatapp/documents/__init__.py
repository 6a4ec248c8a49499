"""Chat with your files: extraction, chunking, indexing and retrieval (Qt-free)."""
