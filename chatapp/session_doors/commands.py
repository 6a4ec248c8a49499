"""ChatSession's door for what the user types: a message goes to the model, a command runs through its registered
handler (commands.COMMANDS) and the public methods here, which are all a command may ask (commands.CommandHost)."""
from __future__ import annotations

from .. import commands
from ..picture_bytes.formats import looks_like_picture


class CommandDoors:
    """Mixed into ChatSession (its notice signal, parts and _send_turn)."""

    def submit(self, text: str) -> bool:
        """Handle what the user typed. Returns True when it was accepted (the composer clears)."""
        if not text.strip() and self.pictures.pending:
            return self._send_turn("")   # pictures only
        read = self._read(text)
        if read is None:
            return False
        command, request = read
        return command.run(self, request, text) if command else self._send_turn(text)

    def _read(self, text: str):
        """(command or None, request) for what was typed; None after a notice for a mistake."""
        try:
            return commands.read_input(text, self.images.limits())
        except commands.CommandError as exc:
            self.notice.emit(str(exc))
            return None

    # --- what a command may ask (commands.CommandHost; submit_image is the session's own) ------------
    def attach_paths(self, request: commands.AttachRequest) -> bool:
        """/attach (or pasted paths): picture files join the pending pictures, the others are attached documents."""
        shown = [p for p in request.paths if looks_like_picture(p)]
        others = [p for p in request.paths if not looks_like_picture(p)]
        if shown:
            self.attach_pictures(shown)
        if not others:
            return True
        accepted = self.documents.attach_command(others)
        if accepted:
            self.conversations_changed.emit()
        return accepted

    def use_library(self, request: commands.LibraryRequest) -> bool:
        """/library on|off (or its status, with neither)."""
        return self.documents.library_command(request.enabled)

    def show_loras(self) -> bool:
        """/loras: the LoRA folder's listing arrives as a notice (read on the thread pool)."""
        self.images.list_loras()
        return True

    def show_help(self) -> bool:
        self.notice.emit(commands.help_text())
        return True
