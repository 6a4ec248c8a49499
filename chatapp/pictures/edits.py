"""Editing a picture: picture numbers (#N), what --init names (#N, last, a path), file checks before queueing."""
from __future__ import annotations

import glob
import os
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..recipes.command import image_command, prompt_word
from ..conversation import DONE, ImageRequest, Message
from ..engines.base import EngineError
from ..workers import Calls


def mask_path(images_dir: str | Path, picture_path: str) -> Path:
    """A new mask file beside the pictures, named after its picture; earlier masks stay (recipes name them)."""
    stem = Path(picture_path).stem
    n = 1
    while (path := Path(images_dir) / f"{stem}-mask-{n}.png").exists():
        n += 1
    return path


def masks_of(picture_path: str, images_dir: str | Path) -> list[Path]:
    """The masks painted on a picture: they go when the picture goes."""
    return sorted(Path(images_dir).glob(f"{glob.escape(Path(picture_path).stem)}-mask-*.png"))


class EditError(Exception):
    """An --init / --mask that cannot be used; the message is for the user."""


def find_picture(storage, conversation_id: int | None, ref: str) -> Message:
    """The finished picture message that "#N" or "last" names in this conversation."""
    if ref == "last":
        message = storage.last_picture(conversation_id) if conversation_id else None
        if message is None:
            raise EditError("There is no picture in this chat yet to edit. Draw one first, or give --init a file path.")
    else:
        message = storage.picture_numbered(conversation_id, int(ref[1:])) if conversation_id else None
        if message is None:
            raise EditError(f"There is no picture {ref} in this chat; each picture's number is shown above it.")
    if message.status != DONE or not message.image_path:
        raise EditError(f"Picture {ref} is not finished, so it cannot be edited yet.")
    return message


def resolve(storage, conversation_id: int | None, request: ImageRequest) -> ImageRequest:
    """#N / last -> that picture's file and message id; paths made absolute. DB look-ups only, no file reads."""
    init, source_id = request.init or "", request.source_id
    if init == "last" or init.startswith("#"):
        source = find_picture(storage, conversation_id, init)
        init, source_id = source.image_path, source.id
    elif not init:
        raise EditError("--init needs a picture: #N of this chat, last, or a file path.")
    mask = os.path.abspath(request.mask) if request.mask else None
    return replace(request, init=os.path.abspath(init), mask=mask, source_id=source_id)


def number_meta(storage, conversation_id: int, request: ImageRequest) -> dict:
    """A new picture's number and, for an edit of one of ours, the number it was edited from."""
    meta = {"number": storage.next_picture_number(conversation_id)}
    if request.source_id is not None:
        meta["source_id"] = request.source_id
        source = storage.message(request.source_id)
        if source is not None and source.meta.get("number"):
            meta["edited_from"] = source.meta["number"]
    return meta


def edit_command(message: Message) -> str:
    """What the Edit action puts in the message box for this picture."""
    import shlex
    prompt = message.meta.get("request", {}).get("prompt", message.content)
    number = message.meta.get("number")
    source = f"#{number}" if number else shlex.quote(message.image_path or "")
    return f"/image {prompt_word(prompt)} --init {source} --strength 0.6"   # its text stays text


class EditChecks(QObject):
    """An /image with --init: resolved on the GUI thread (a DB look-up), its files' headers read on the
    thread pool, and only then queued (checked); a bad file is a notice and the command goes back in the box."""
    checked = Signal(object, object, object)   # resolved ImageRequest, command typed (or None), conversation id
    refused = Signal(str)                      # the /image command to put back in the box, to fix

    def __init__(self, log, notice):
        super().__init__()
        self.storage, self.notice = log.storage, notice   # reads only: the pictures #N and last name
        self.pool = Calls()
        self.pool.done.connect(self._on_checked)
        self._pending: dict[int, tuple[ImageRequest, str | None, int | None]] = {}

    def submit(self, conv_id: int | None, request: ImageRequest, command: str | None) -> bool:
        """Check an edit for conversation conv_id (None: a new one); the answer is checked or refused."""
        # An image server edits through OpenAI's /images/edits (engines/openai_images.py); one without
        # that endpoint answers with an error that the picture's bubble shows.
        try:
            resolved = resolve(self.storage, conv_id, request)
        except EditError as exc:
            self.notice(str(exc))
            return False
        from ..engines.img2img import check_files   # PIL only when used
        call = self.pool.call(check_files, resolved.init, resolved.mask)
        self._pending[call] = (resolved, command, conv_id)
        return True

    def resolve_now(self, conversation_id: int, request: ImageRequest) -> ImageRequest | None:
        """#N / last of a request that skipped submit (an edited message); None after a notice."""
        try:
            return resolve(self.storage, conversation_id, request)
        except EditError as exc:
            self.notice(str(exc))
            return None

    def _on_checked(self, call_id: int, _size, error) -> None:
        resolved, command, conv_id = self._pending.pop(call_id, (None, None, None))
        if resolved is None:
            return
        if error is not None:
            self.notice(str(error) if isinstance(error, EngineError) else f"Could not read the picture: {error}")
            self.refused.emit(command or image_command(resolved))   # back in the box, to fix
            return
        self.checked.emit(resolved, command, conv_id)

    @property
    def waiting(self) -> int:
        return len(self._pending)
