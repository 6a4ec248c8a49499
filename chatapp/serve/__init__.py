"""`chatapp serve`: chatapp's own engines behind the OpenAI HTTP API (FastAPI + uvicorn), no Qt."""
