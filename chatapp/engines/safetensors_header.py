"""The JSON header of a .safetensors file (tensor names, dtypes, shapes, metadata), read without any tensor."""
from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

MAX_HEADER = 100 * 1024 * 1024   # safetensors' own limit; a real header is a few hundred KB


class NotRegularFile(ValueError):
    """A FIFO, a device or a folder where a file was expected."""


class BadHeader(ValueError):
    """The file is there but its header cannot be read; the message says what is wrong."""


def read_header(path: Path) -> dict:
    """Tensor name -> {"dtype", "shape", "data_offsets"}, plus "__metadata__" when the file has it.

    OSError when the file cannot be opened; NotRegularFile (opened without blocking, so a FIFO never
    hangs the caller); BadHeader for anything else (short file, impossible length, not JSON, not a table).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise NotRegularFile("not a regular file")
        try:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError("the file is too short")
            (length,) = struct.unpack("<Q", head)
            if not 2 <= length <= min(MAX_HEADER, os.fstat(f.fileno()).st_size - 8):
                raise ValueError("its header length is impossible")
            header = json.loads(f.read(length))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise BadHeader(str(exc)) from None
    if not isinstance(header, dict):
        raise BadHeader("its header is not a table of tensors")
    return header
