"""Request bodies of the OpenAI API as chatapp serves it, with the checks that turn bad input into a 400."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..conversation import GenParams
from ..engines.schedulers import SCHEDULERS

_DEFAULTS = GenParams()


class ApiError(Exception):
    """An error for the client, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict] | None = ""

    def text(self) -> str:
        """OpenAI allows content as a list of parts; the text parts are what a chat model reads."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="ignore")   # other clients' fields (n, stop, tools, ...) are ignored
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=1 << 20)
    max_completion_tokens: int | None = Field(None, ge=1, le=1 << 20)
    temperature: float = Field(_DEFAULTS.temperature, ge=0, le=2)
    top_p: float = Field(_DEFAULTS.top_p, ge=0, le=1)
    top_k: int = Field(_DEFAULTS.top_k, ge=0)
    min_p: float = Field(_DEFAULTS.min_p, ge=0, le=1)
    repeat_penalty: float = Field(_DEFAULTS.repeat_penalty, gt=0, le=4)
    seed: int | None = None

    def params(self) -> GenParams:
        return GenParams(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k, min_p=self.min_p,
                         repeat_penalty=self.repeat_penalty,
                         max_tokens=self.max_completion_tokens or self.max_tokens or _DEFAULTS.max_tokens,
                         seed=self.seed if self.seed is not None and self.seed >= 0 else -1)

    def dict_messages(self) -> list[dict]:
        # "developer" is OpenAI's newer name for the system role.
        return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in self.messages]


class ImageBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompt: str = Field(min_length=1, max_length=4000)
    model: str | None = None
    n: int = Field(1, ge=1, le=4)
    size: str | None = None
    response_format: Literal["b64_json"] = "b64_json"   # no "url": this server keeps no files
    # chatapp's recipe fields, which the OpenAI API lacks (other servers ignore them).
    negative_prompt: str = Field("", max_length=4000)
    steps: int | None = Field(None, ge=1, le=150)
    cfg_scale: float | None = Field(None, ge=0, le=30)
    seed: int | None = Field(None, ge=0, lt=2**32)
    scheduler: str | None = None

    @field_validator("size")
    @classmethod
    def _size(cls, value):
        if value is None or value == "auto":
            return None
        m = re.fullmatch(r"(\d+)x(\d+)", value)
        if not m:
            raise ValueError(f"size must look like 512x512, not {value!r}")
        w, h = int(m[1]), int(m[2])
        if w % 8 or h % 8 or not (8 <= w <= 2048 and 8 <= h <= 2048):
            raise ValueError(f"width and height must be multiples of 8 between 8 and 2048, not {value}")
        return value

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value):
        if value is not None and value not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {value!r}; one of {', '.join(SCHEDULERS)}")
        return value

    def width_height(self) -> tuple[int | None, int | None]:
        if not self.size:
            return None, None
        w, _, h = self.size.partition("x")
        return int(w), int(h)
