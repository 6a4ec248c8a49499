"""The composer's pending pictures (a session part on the GUI thread): files and pastes decoded off it, staged copies
moved into the chat's folder when the message is sent, the chat's folder removed with the chat; #N / "the last picture"."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from ..branches import PICTURE_PART, text_of
from ..conversation import DONE, pictures_of
from ..parts import Notice
from ..workers import Calls
from . import intake

STILL_READING = "A picture is still being read; send the message once it shows above the box."
_REF = re.compile(r"(?<![\w&/])#(\d{1,6})\b")
_LAST = re.compile(r"\b(?:the|your|that) (?:last|latest|previous) (?:picture|image|drawing)\b", re.IGNORECASE)
_LAST_NOUNS = ("picture", "image", "drawing")   # what _LAST ends with, lower case


def user_folder(images: Path) -> Path:
    return Path(images) / "user"


def chat_folder(images: Path, conversation_id: int) -> Path:
    """Where a conversation's user pictures live (VISION_CONTRACT 1)."""
    return user_folder(images) / str(conversation_id)


def _decode_files(paths: list[str], folder: Path):
    """On the worker family: each file's (entry, None) or (None, the words why not), in the order given."""
    for path in paths:
        yield _taken(lambda: intake.take_file(path, folder), os.path.basename(path) or path, "file")


def _decode_bytes(data: bytes, name: str, folder: Path):
    yield _taken(lambda: intake.take_bytes(data, name, folder), name, "paste")


def _taken(take, name: str, source: str) -> tuple[dict | None, str | None]:
    try:
        picture, path = take()
    except intake.PictureError as exc:
        return None, str(exc)
    except OSError as exc:   # the staging folder: a full disk, a read-only data folder
        return None, f"{name} could not be stored: {exc.strerror or exc}."
    except Exception as exc:   # Pillow failing in a way it has no words for: that file alone, the others go on
        return None, f"{name} cannot be used as a picture: {type(exc).__name__}: {str(exc)[:200]}."
    return {"path": str(path), "name": name, "width": picture.width, "height": picture.height, "source": source}, None


class IncomingPictures(QObject):
    """Pending pictures of the composer; given the data folder's images path and a notice sink, never the session."""
    changed = Signal(list)   # the pending pictures now (VISION_CONTRACT 1 dicts, paths of staged copies)

    def __init__(self, images: Path, notice: Notice):
        super().__init__()
        self.images, self.notice = Path(images), notice
        self.staging = user_folder(images) / "staged"
        self.pending: list[dict] = []
        self._reading: dict[int, int] = {}   # call id -> pictures of it not decoded yet
        self.decoder = Calls(self, own_thread=True)   # one after another: pictures arrive in the order given
        self.decoder.yielded.connect(self._on_decoded)
        self.decoder.done.connect(self._on_done)
        # Copies staged for a message a crash or a kill never sent: nobody else uses this folder (one app per data
        # folder; imports stage elsewhere). First in the decoder's queue, so no new copy can go with them.
        self.decoder.call(shutil.rmtree, self.staging, True)
        self.encoder = Calls(self)   # a reply's pictures as data URLs, on the shared pool
        self.encoder.done.connect(self._on_encoded)
        self._sending: dict[int, tuple[list[dict], Callable[[list[dict]], None]]] = {}

    # --- what the composer gives --------------------------------------------------------------
    def attach(self, paths: list[str]) -> None:
        if paths:
            self._reading[self.decoder.call(_decode_files, list(paths), self.staging)] = len(paths)

    def paste(self, data: bytes, name: str = "pasted picture") -> None:
        self._reading[self.decoder.call(_decode_bytes, bytes(data), name or "pasted picture", self.staging)] = 1

    def remove(self, index: int) -> None:
        if 0 <= index < len(self.pending):
            _unlink(self.pending.pop(index)["path"])
            self.changed.emit(list(self.pending))

    @property
    def reading(self) -> bool:
        return bool(self._reading)

    def _on_decoded(self, call_id: int, item) -> None:
        # The last picture shown is no longer "being read", even before its call's done arrives.
        if self._reading.get(call_id, 0) > 1:
            self._reading[call_id] -= 1
        else:
            self._reading.pop(call_id, None)
        entry, why = item
        if entry is None:
            self.notice(why)
            return
        self.pending.append(entry)
        self.changed.emit(list(self.pending))

    def _on_done(self, call_id: int, _result, error) -> None:
        self._reading.pop(call_id, None)
        if error is not None:
            self.notice(f"The picture could not be read: {self.decoder.message(error)}")

    # --- sending --------------------------------------------------------------------------------
    def take(self, conversation_id: int) -> list[dict] | None:
        """The pending pictures moved into the chat's folder (renames: same disk), for the message's meta; None
        after a notice (they stay pending)."""
        if not self.pending:
            return []
        folder = chat_folder(self.images, conversation_id)
        moved: list[tuple[str, str]] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for entry in self.pending:
                target = str(folder / Path(entry["path"]).name)
                os.replace(entry["path"], target)
                moved.append((entry["path"], target))
        except OSError as exc:
            for staged, target in moved:   # put back what moved: the pictures stay pending, whole
                try:
                    os.replace(target, staged)
                except OSError:
                    pass
            self.notice(f"The pictures could not be stored with the chat: {exc.strerror or exc}. They are still "
                        "above the box.")
            return None
        taken = [{**entry, "path": target} for entry, (_, target) in zip(self.pending, moved)]
        self.pending = []
        self.changed.emit([])
        return taken

    def put_back(self, taken: list[dict]) -> None:
        """A message that was not saved: its pictures go back above the box (files stay in the chat's folder)."""
        self.pending = taken + self.pending
        self.changed.emit(list(self.pending))

    def references(self, storage, conversation_id: int | None, text: str) -> list[dict]:
        """The chat's pictures that text names (#N, "the last picture"), each once, as message parts."""
        if conversation_id is None:
            return []
        found, parts = [], []
        # Plain substring tests first: a pasted 100,000-line log would cost the patterns ~45 ms of the GUI thread.
        for m in (_REF.finditer(text) if "#" in text else ()):
            found.append((f"#{m[1]}", storage.picture_numbered(conversation_id, int(m[1]))))
        lowered = text.lower()
        if any(word in lowered for word in _LAST_NOUNS) and _LAST.search(text):
            last = storage.last_picture(conversation_id)
            found.append((f"#{last.meta.get('number')}" if last and last.meta.get("number") else "the last picture",
                          last))
        seen, missing = set(), []
        for name, message in found:
            if message is None or message.status != DONE or not message.image_path:
                missing.append(name)
                continue
            if message.id in seen:
                continue
            seen.add(message.id)
            request = message.meta.get("request") if isinstance(message.meta.get("request"), dict) else {}
            parts.append({"path": message.image_path, "name": name, "width": int(request.get("width") or 0),
                          "height": int(request.get("height") or 0), "source": "#N"})
        if missing and storage.last_picture(conversation_id) is not None:
            # Said only in a chat that has pictures: elsewhere "#7" is likelier an issue's number than a picture's.
            top = storage.next_picture_number(conversation_id) - 1
            named = ", ".join(dict.fromkeys(missing))   # "#7 and #7 again" names it once
            self.notice(f"This chat has no finished picture {named} (its pictures go up to #{top}): the message went "
                        "without it.")
        return parts

    def encode(self, messages: list[dict], side: int, send: Callable[[list[dict]], None]) -> None:
        """send(messages with their pictures as data URLs at most side px), once they are made off the GUI thread."""
        self._sending[self.encoder.call(intake.with_data_urls, messages, side, PICTURE_PART)] = messages, send

    def _on_encoded(self, call_id: int, encoded, error) -> None:
        messages, send = self._sending.pop(call_id, (None, None))
        if send is None:
            return
        if error is not None:   # a picture's own problem is text already: this is a bug; the reply goes without them
            self.notice(f"The pictures could not be prepared for the model: {self.encoder.message(error)}")
            encoded = [{**m, "content": text_of(m["content"])} if isinstance(m.get("content"), list) else m
                       for m in messages]
        send(encoded)

    # --- the chat's folder ----------------------------------------------------------------------
    def forget_chat(self, conversation_id: int) -> None:
        """The chat was deleted: its pictures go with it."""
        shutil.rmtree(chat_folder(self.images, conversation_id), ignore_errors=True)

    def forget_messages(self, messages, keep: set[str] = frozenset()) -> None:
        """Deleted messages' own pictures but those in keep (not the drawn pictures #N refers to: those go with their
        message)."""
        for m in messages:
            for entry in pictures_of(m):
                if entry.get("source") in ("file", "paste") and entry["path"] not in keep:
                    _unlink(entry["path"])

    def discard_pending(self) -> None:
        """At quit: staged copies no message took."""
        for entry in self.pending:
            _unlink(entry["path"])
        self.pending = []


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
