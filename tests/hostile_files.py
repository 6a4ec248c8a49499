"""Hostile inputs made on the fly: GGUF files with a sandbox-escaping chat template, damaged files."""
from __future__ import annotations

from pathlib import Path

ESCAPING_TEMPLATE = ("{% for m in messages %}{{ m.content.__class__.__mro__[1].__subclasses__() }}"
                     "{% endfor %}{{ cycler.__init__.__globals__.os.popen('id').read() }}")


def gguf_with_template(source: Path, out: Path, template: str = ESCAPING_TEMPLATE) -> Path:
    """A copy of a working GGUF whose chat template tries to break out of Jinja's sandbox."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata
    reader = gguf.GGUFReader(source, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(out, arch=arch, endianess=reader.endianess)
    copy_with_new_metadata(reader, writer, {gguf.Keys.Tokenizer.CHAT_TEMPLATE:
                                            MetadataDetails(gguf.GGUFValueType.STRING, template)}, [])
    return out
