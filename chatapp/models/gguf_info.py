"""Read a GGUF file's header (types and sizes from the `gguf` package): name, quantization, context, template."""
from __future__ import annotations

import os
import struct
from pathlib import Path

from .entry import CHAT, ModelEntry

GGUF_MAGIC = b"GGUF"
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}  # GGUFValueType
KEEP_STRING = 4096          # longer strings (chat templates) are skipped; only their presence matters
MAX_STRING = 256 * 2**20    # sanity limits: a damaged header must not make us read gigabytes
MAX_ITEMS = 2**26
# Architectures llama.cpp loads that cannot hold a conversation on their own.
NOT_CHAT_ARCHITECTURES = {"clip": "a vision projector (mmproj), used beside a chat model",
                          "bert": "an embedding model, not a chat model",
                          "nomic-bert": "an embedding model, not a chat model",
                          "jina-bert-v2": "an embedding model, not a chat model",
                          "t5encoder": "a text encoder, not a chat model"}


class HeaderError(Exception):
    pass


class _Header:
    """A GGUF header read field by field, skipping arrays (a vocabulary is 50,000+ strings) without
    building them: gguf.GGUFReader would materialise every one (~3 s for a small model)."""

    def __init__(self, f, size: int):
        import gguf
        self.f, self.size, self.gguf = f, size, gguf
        self.values: dict = {}
        self.keys: set[str] = set()
        self.tensor_end = 0
        self.n_tensors = 0

    def _read(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise HeaderError("truncated: the file ends inside its header")
        return data

    def _u(self, fmt: str):
        return struct.unpack("<" + fmt, self._read(struct.calcsize(fmt)))[0]

    def _str(self, keep: bool = True) -> str | None:
        n = self._u("Q")
        if n > MAX_STRING:
            raise HeaderError("damaged header (a string field is impossibly long)")
        if keep and n <= KEEP_STRING:
            return self._read(n).decode("utf-8", "replace")
        self.f.seek(n, 1)
        return None

    def _value(self, vtype: int):
        T = self.gguf.GGUFValueType
        if vtype == T.STRING:
            return self._str()
        if vtype == T.ARRAY:
            etype, count = self._u("I"), self._u("Q")
            if count > MAX_ITEMS:
                raise HeaderError("damaged header (an array is impossibly long)")
            if etype == T.STRING:
                for _ in range(count):
                    self._str(keep=False)
            elif etype in SCALARS:
                self.f.seek(struct.calcsize(SCALARS[etype]) * count, 1)
            else:
                for _ in range(count):
                    self._value(etype)
            return None
        if vtype not in SCALARS:
            raise HeaderError(f"damaged header (unknown value type {vtype})")
        return self._u(SCALARS[vtype])

    def read(self) -> "_Header":
        if self._read(4) != GGUF_MAGIC:
            raise HeaderError("not a GGUF file")
        version = self._u("I")
        if version not in (2, 3):
            raise HeaderError(f"GGUF version {version} is not supported")
        self.n_tensors, n_kv = self._u("Q"), self._u("Q")
        if self.n_tensors > MAX_ITEMS or n_kv > MAX_ITEMS:
            raise HeaderError("damaged header (impossible counts)")
        for _ in range(n_kv):
            key = self._str() or ""
            self.keys.add(key)
            self.values[key] = self._value(self._u("I"))
        infos = []
        for _ in range(self.n_tensors):
            self._str(keep=False)
            dims = [self._u("Q") for _ in range(self._u("I"))]
            infos.append((dims, self._u("I"), self._u("Q")))
        align = int(self.values.get("general.alignment") or 32)
        start = -(-self.f.tell() // align) * align
        for dims, qtype, offset in infos:
            try:
                block, type_size = self.gguf.GGML_QUANT_SIZES[self.gguf.GGMLQuantizationType(qtype)]
            except (ValueError, KeyError):
                raise HeaderError(f"uses tensor type {qtype}, unknown to this version of llama.cpp") from None
            elements = 1
            for d in dims:
                elements *= d
            self.tensor_end = max(self.tensor_end, start + offset + elements // block * type_size)
        return self


def quantization_name(file_type) -> str:
    import gguf
    if file_type is None:
        return ""
    try:
        name = gguf.LlamaFileType(int(file_type)).name
    except ValueError:
        return f"type {file_type}"
    return name.removeprefix("MOSTLY_").replace("ALL_", "")


def read_gguf(path: Path, source: str, name: str | None = None) -> ModelEntry:
    """An entry for one GGUF file; a damaged or unusable one gets usable=False and a reason."""
    entry = ModelEntry(kind=CHAT, path=str(path), name=name or path.stem, source=source)
    try:
        entry.size_bytes = os.path.getsize(path)
    except OSError as exc:
        return _unusable(entry, f"cannot be read ({exc.strerror or exc})")
    try:
        with open(path, "rb") as f:
            header = _Header(f, entry.size_bytes).read()
    except HeaderError as exc:
        return _unusable(entry, str(exc))
    except (OSError, ValueError, struct.error) as exc:
        return _unusable(entry, f"damaged GGUF header ({exc})")
    v = header.values
    arch = str(v.get("general.architecture") or "")
    entry.architecture = arch
    entry.details["general.name"] = str(v.get("general.name") or "")
    entry.quantization = quantization_name(v.get("general.file_type"))
    ctx = v.get(f"{arch}.context_length") if arch else None
    entry.context_length = int(ctx) if isinstance(ctx, (int, float)) else 0
    entry.chat_template = "tokenizer.chat_template" in header.keys
    end = header.tensor_end
    split_no, split_count = v.get("split.no"), v.get("split.count")
    if not arch:
        return _unusable(entry, "no architecture in the header")
    # What pairs a model with its projector (models/projector.py): equal widths, as llama.cpp checks at load.
    entry.details["embedding_length"] = _int(v.get(f"{arch}.embedding_length"))
    if v.get("clip.has_vision_encoder"):
        entry.details.update(projection_dim=_int(v.get("clip.vision.projection_dim")),
                             image_size=_int(v.get("clip.vision.image_size")))
    if arch in NOT_CHAT_ARCHITECTURES or v.get("general.type") == "mmproj":
        return _unusable(entry, NOT_CHAT_ARCHITECTURES.get(arch, "a vision projector (mmproj)"))
    if split_count and int(split_count) > 1 and int(split_no or 0) > 0:
        return _unusable(entry, f"part {int(split_no) + 1} of {int(split_count)} of a split model; choose part 1")
    if end > entry.size_bytes:
        return _unusable(entry, "truncated: the file is shorter than its tensors")
    if not header.n_tensors and not split_count:
        return _unusable(entry, "holds no weights (a vocabulary-only file)")
    if not entry.chat_template:
        entry.reason = "no chat template in the file: a generic format is used"
    return entry


def _int(value) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _unusable(entry: ModelEntry, reason: str) -> ModelEntry:
    entry.usable, entry.reason = False, reason
    return entry
