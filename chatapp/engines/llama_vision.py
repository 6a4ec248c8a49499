"""Pictures for the local llama.cpp engine: a projector (mmproj) through libmtmd, its checks, image-token counts."""
from __future__ import annotations

import ctypes
import hashlib
import io
from pathlib import Path

from ..picture_bytes import data_urls
from ..picture_bytes.formats import FORMATS
from .base import ContextOverflow, EngineError
from .context import image_urls
from .gguf_file import check_gguf_file

MAX_PICTURE_PIXELS = 50_000_000   # a picture's header claiming more is refused before stb_image decodes it
_COUNTS_KEPT = 256                # image-token counts remembered (by the picture's hash) for trimming


def check_messages(messages: list[dict], vision: bool) -> list[dict]:
    """The messages as this engine takes them: list content holds only text and data-URL picture parts
    (anything else is refused by name: the handler would urlopen a URL). Without a projector, text-only
    lists become strings and a picture is refused (a model that cannot see would make one up)."""
    out = []
    for m in messages:
        content = m.get("content")
        if not isinstance(content, list):
            out.append(m)
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            if kind not in ("text", "image_url"):
                raise EngineError(f"A message part of type {kind!r} cannot be sent to this model "
                                  "(only text and pictures).")
        urls = image_urls(m)
        if urls and m.get("role") != "user":   # the handler reads pictures from user messages only
            raise EngineError(f"A picture in a {m.get('role')!r} message cannot be sent: only the user's messages "
                              "may carry pictures.")
        for url in urls:
            if not url.startswith("data:"):
                scheme = url.split(":", 1)[0] if ":" in url else "no"
                raise EngineError(f"A picture must come as a data: URL; a {scheme}: URL is refused "
                                  "(chatapp never fetches a picture for the model).")
        if urls and not vision:
            raise EngineError("This model cannot see pictures: choose a model with a projector (mmproj) in Settings.")
        out.append(m if vision else {**m, "content": "".join(p.get("text") or "" for p in content)})
    return out


def check_projector(model_path: Path, projector: Path):
    """The projector's header entry, read before any weights load; EngineError if it is not a projector
    or does not belong to the model (llama.cpp would refuse it with a log line only)."""
    from ..models.gguf_info import read_gguf
    from ..models.projector import mismatch
    check_gguf_file(projector)
    entry = read_gguf(projector, "settings")
    problem = mismatch(read_gguf(model_path, "settings"), entry)
    if problem:
        raise EngineError(f"{problem[0].upper()}{problem[1:]}. Choose the model's own projector (mmproj) in "
                          "Settings, or leave the projector empty to pair the one beside the model.")
    return entry


def quiet_native_logs() -> None:
    """libmtmd logs through its own callback (every image prints a dozen lines on stderr): route it to
    llama-cpp-python's, which honours verbose=False."""
    import llama_cpp._logger as logger
    import llama_cpp.mtmd_cpp as mtmd
    mtmd.mtmd_log_set(logger.llama_log_callback, ctypes.c_void_p(0))
    mtmd.mtmd_helper_log_set(logger.llama_log_callback, ctypes.c_void_p(0))


class Vision:
    """The projector loaded beside one Llama: its chat handler, and what each picture costs in tokens."""

    def __init__(self, projector: Path, llm, header, use_gpu: bool):
        from llama_cpp.llama_chat_format import MTMDChatHandler
        quiet_native_logs()
        self.image_side = int(header.details.get("image_size") or 0)
        self.handler = MTMDChatHandler(str(projector), verbose=False, use_gpu=use_gpu)
        try:   # at load, so a projector llama.cpp refuses is an error now, not at the first picture
            self.handler._init_mtmd_context(llm)
        except ValueError as exc:
            raise EngineError(f"llama.cpp could not load the projector {projector.name} beside this model "
                              f"({exc}). It may not belong to this model, or be of an unsupported kind.") from exc
        llm.chat_handler = self.handler
        self._costs: dict[str, tuple[int, int]] = {}

    def cost(self, url: str) -> tuple[int, int]:
        """(KV cells, positions) one picture takes in the prompt, its markers included: libmtmd's own
        tokenization of a one-picture prompt (no encoding), remembered by the picture's hash."""
        key = hashlib.sha256(url.encode("utf-8", "replace")).hexdigest()
        if key not in self._costs:
            if len(self._costs) >= _COUNTS_KEPT:
                self._costs.pop(next(iter(self._costs)))
            self._costs[key] = self._measure(_picture_bytes(url))
        return self._costs[key]

    def check(self, messages: list[dict]) -> None:
        """Every picture read and measured before the handler sees one (a bad one is an EngineError here)."""
        self.prompt_cells(messages, 0)

    def image_tokens(self, url: str) -> int:
        return self.cost(url)[0]

    def prompt_cells(self, messages: list[dict], positions: int) -> int:
        """The prompt's size in KV cells, from the handler's position count (Qwen2-VL's pictures take
        fewer positions than cells): what fills the context and what the meter shows."""
        return positions + sum(c - p for c, p in (self.cost(u) for m in messages for u in image_urls(m)))

    def _measure(self, data: bytes) -> tuple[int, int]:
        mt, h = self.handler._mtmd_cpp, self.handler
        try:
            bitmap = h._create_bitmap_from_bytes(data)
        except ValueError as exc:
            raise EngineError(f"A picture could not be read by the model's projector ({exc}).") from exc
        chunks = mt.mtmd_input_chunks_init()
        try:
            marker = mt.mtmd_default_marker()
            text = mt.mtmd_input_text()
            text.text, text.text_len, text.add_special, text.parse_special = marker, len(marker), False, True
            bitmaps = (mt.mtmd_bitmap_p_ctypes * 1)(bitmap)
            if mt.mtmd_tokenize(h.mtmd_ctx, chunks, ctypes.byref(text), bitmaps, 1) != 0:
                raise EngineError("The model's projector could not take this picture.")
            cells = positions = 0
            for i in range(mt.mtmd_input_chunks_size(chunks)):
                chunk = mt.mtmd_input_chunks_get(chunks, i)
                cells += mt.mtmd_input_chunk_get_n_tokens(chunk)
                positions += mt.mtmd_input_chunk_get_n_pos(chunk)
            return cells, positions
        finally:
            mt.mtmd_input_chunks_free(chunks)
            mt.mtmd_bitmap_free(bitmap)

    @staticmethod
    def error(exc: ValueError) -> EngineError:
        """The handler's ValueErrors in words: a prompt too long, a picture it cannot take, or the template's own."""
        text = str(exc)
        if "exceeds n_ctx" in text:
            return ContextOverflow(f"The conversation and its pictures do not fit the model's context ({text}). "
                                   "Remove a picture, or raise the context length in Settings.")
        if "bitmap" in text or "tokenize input" in text or "evaluate chunk" in text:
            return EngineError(f"The model's projector could not take a picture of this conversation ({text}).")
        return EngineError(f"This model's chat template refused the conversation ({text}).")


def _picture_bytes(url: str) -> bytes:
    """A data URL's picture, its header checked with Pillow (lazily: no pixels decoded) so a damaged or
    enormous picture is refused here, never handed to stb_image."""
    from PIL import Image, UnidentifiedImageError
    try:
        data = data_urls.decode(url).data
    except data_urls.DataUrlError as exc:
        raise EngineError(f"A picture's data URL is damaged ({exc}).") from exc
    too_large = "A picture of {} is too large for the model; scale it down first."
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as im:
            width, height = im.size
    except Image.DecompressionBombError as exc:   # Pillow's own limit, beyond ours
        raise EngineError(too_large.format("more than 50 million pixels")) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise EngineError(f"A picture could not be read: it is damaged or not a picture ({exc}).") from exc
    if width * height > MAX_PICTURE_PIXELS:
        raise EngineError(too_large.format(f"{width} x {height} pixels"))
    return data
