"""The door of `chatapp serve`: API key on every request, a body size limit, one log line per request."""
from __future__ import annotations

import hmac
import json
import logging
import time

log = logging.getLogger("chatapp.serve")
MAX_BODY = 4 << 20   # 4 MB: a long conversation fits many times over; a flood does not
MAX_UPLOAD = 32 << 20   # /v1/images/edits carries a picture and its mask: a 2048x2048 PNG pair fits
# Chat with pictures, where a served model sees: a few phone photos as base64 (4/3 of their bytes). A chat
# request without pictures is still held to MAX_BODY once read (chat.complete).
MAX_PICTURES_BODY = 20 << 20


async def _reply(send, status: int, message: str, kind: str = "invalid_request_error", extra_headers=()) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra_headers]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


async def _buffered(receive, limit: int, scope: dict):
    """A body sent without Content-Length (chunked) read whole, up to limit, and handed on as one message;
    its size noted in the scope (body_size)."""
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":   # the client left
            return None
        size += len(message.get("body", b""))
        if size > limit:
            raise _TooLarge
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    scope["chatapp.body_size"] = size
    pending = [{"type": "http.request", "body": b"".join(parts), "more_body": False}]

    async def replay():
        return pending.pop() if pending else await receive()   # then whatever comes: a disconnect
    return replay


def body_size(scope) -> int:
    """The request body's size in bytes, as the gate measured it (its Content-Length, or what it read)."""
    return scope.get("chatapp.body_size", 0)


class Gate:
    """Pure ASGI middleware, outermost: it sees every request before FastAPI does."""

    def __init__(self, app, api_key: str = "", max_body: int = MAX_BODY, pictures: bool = False):
        self.app, self.api_key, self.max_body = app, api_key, max_body
        self.chat_body = max(max_body, MAX_PICTURES_BODY) if pictures else max_body   # a served model sees

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [0]
        facts = scope.setdefault("chatapp.log", {})

        async def send_seen(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
        headers = dict(scope.get("headers") or [])
        try:
            if self.api_key and not self._authorised(headers):
                await _reply(send_seen, 401, "Missing or wrong API key: send 'Authorization: Bearer <key>'.",
                             "authentication_error", [(b"www-authenticate", b"Bearer")])
            elif scope["method"] == "POST" and b"content-length" not in headers:
                replay = await _buffered(receive, self._limit(scope["path"]), scope)
                if replay is not None:
                    await self.app(scope, replay, send_seen)
            elif (size := int(headers.get(b"content-length", b"0") or 0)) > (limit := self._limit(scope["path"])):
                await _reply(send_seen, 413, f"The request body is larger than {limit >> 20} MB.")
            else:
                scope["chatapp.body_size"] = size
                await self.app(scope, receive, send_seen)
        except ValueError:
            await _reply(send_seen, 400, "Bad Content-Length header.")
        except _TooLarge:
            await _reply(send_seen, 413, f"The request body is larger than {self._limit(scope['path']) >> 20} MB.")
        finally:
            client = scope.get("client") or ("?", 0)
            extra = " ".join(f"{k}={v}" for k, v in facts.items())
            log.info("%s:%s %s %s %s %.2fs %s", client[0], client[1], scope["method"], scope["path"], status[0] or "-",
                     time.perf_counter() - start, extra)

    def _limit(self, path: str) -> int:
        if path.endswith("/images/edits"):
            return max(self.max_body, MAX_UPLOAD)
        return self.chat_body if path.endswith("/chat/completions") else self.max_body

    def _authorised(self, headers: dict) -> bool:
        given = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())
