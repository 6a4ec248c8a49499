"""Bad input, app level: a clear message in the UI, the app keeps running, nothing saved is lost."""
import errno
import subprocess
import sys

import pytest
from PySide6.QtWidgets import QMessageBox

from chatapp.conversation import DONE, ERROR
from chatapp.backends.local import llm_factory
from chatapp.engines.defaults import default_llm_path
from chatapp.engines.diffusion import DiffusionImageEngine
from chatapp.engines.fake import FakeChatEngine, FakeImageEngine
from chatapp.settings import Settings

from .hostile_files import gguf_with_template


def notices(parts):
    seen = []
    parts.session.notice.connect(seen.append)
    return seen


def last(parts):
    return parts.storage.messages(parts.session.current.id)[-1]


def still_works(parts, qtbot):
    """The app keeps running: /help answers, and the saved history is intact."""
    seen = notices(parts)
    assert parts.session.submit("/help")
    assert "/image" in seen[-1]


def real_llm_app(make_app, qtbot, model_path, **settings):
    s = Settings(llm_model=str(model_path), **settings)
    parts = make_app(chat_engine=llm_factory(s)(), settings=s, load=False)
    parts.session.load_models()
    qtbot.waitUntil(lambda: parts.session.llm_status in ("ready", "error"), timeout=60000)
    return parts


@pytest.mark.parametrize("make_file, words", [
    (lambda d: d / "missing.gguf", "not found"),
    (lambda d: (d / "zip.gguf").write_bytes(b"PK\x03\x04 not a model") and d / "zip.gguf", "not a GGUF"),
    (lambda d: (d / "cut.gguf").write_bytes(default_llm_path().read_bytes()[:2_000_000]) and d / "cut.gguf",
     "truncated"),
    (lambda d: gguf_with_template(default_llm_path(), d / "evil.gguf"), "unsafe"),
])
def test_bad_chat_model_file(make_app, qtbot, tmp_path, make_file, words):
    parts = real_llm_app(make_app, qtbot, make_file(tmp_path))
    assert parts.session.llm_status == "error"
    assert "unavailable" in parts.window.model_label.text()
    assert words in parts.window.model_label.toolTip()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("hello?")
    reply = last(parts)
    assert reply.status == ERROR and words in reply.content
    assert parts.storage.messages(parts.session.current.id)[0].content == "hello?"   # the question is kept
    still_works(parts, qtbot)


def test_prompt_longer_than_the_whole_context(make_app, qtbot):
    parts = real_llm_app(make_app, qtbot, default_llm_path(), n_ctx=512)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("tell me about this: " + "lorem ipsum " * 1500)
    reply = last(parts)
    assert reply.status == ERROR and "context holds 512" in reply.content
    still_works(parts, qtbot)


def image_app(make_app, qtbot, model):
    parts = make_app(image_engine=None)
    parts.session.images.set_factory(lambda: DiffusionImageEngine(model))
    parts.session.submit("/image a red circle --steps 2")
    qtbot.waitUntil(lambda: last(parts).status in (ERROR, DONE), timeout=60000)
    return parts


def test_diffusers_folder_with_a_missing_part(make_app, qtbot, tmp_path, random_sd_folder):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(random_sd_folder, broken)
    shutil.rmtree(broken / "text_encoder")
    parts = image_app(make_app, qtbot, broken)
    assert last(parts).status == ERROR and "Could not load the image model" in last(parts).content
    assert parts.session.images.status == "error"
    still_works(parts, qtbot)


def test_pickle_checkpoint_is_refused(make_app, qtbot, tmp_path):
    ckpt = tmp_path / "dreamy.ckpt"
    ckpt.write_bytes(b"\x80\x04\x95 pickle that could run code")
    parts = image_app(make_app, qtbot, ckpt)
    assert last(parts).status == ERROR and "pickle" in last(parts).content
    still_works(parts, qtbot)


def test_a_megabyte_paste_is_saved_whole_and_shown_clipped(make_app, qtbot):
    parts = make_app(FakeChatEngine(["got it"]))
    big = ("word " * 200 + "\n") * 1000
    with qtbot.waitSignal(parts.session.reply_finished, timeout=60000):
        parts.session.submit(big)
    user = parts.storage.messages(parts.session.current.id)[0]
    assert user.content == big
    bubble = parts.window.view.widgets[user.id]
    assert "more characters not shown" in bubble.footer.text() and len(bubble.label.text()) < 200_000


def test_broken_unicode_and_mixed_scripts(make_app, qtbot):
    parts = make_app(FakeChatEngine(["שלום 👋 مرحبا \udcff done"]))
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("emoji 🧪 RTL עברית العربية and a lone surrogate \ud800 here")
    user, reply = parts.storage.messages(parts.session.current.id)
    assert "🧪" in user.content and "עברית" in user.content and "\ufffd" in user.content
    assert reply.status == DONE and "👋" in reply.content and "مرحبا" in reply.content


def test_read_only_storage(make_app, qtbot):
    parts = make_app()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("first, saved")
    # A real read-only database: SQLite refuses every write with SQLITE_READONLY.
    parts.storage._db.execute("PRAGMA query_only=ON")
    seen = notices(parts)
    parts.window.composer.set_text("second, not saved")
    parts.window._submit("second, not saved")
    assert "read-only" in seen[-1]
    assert parts.window.composer.editor.toPlainText() == "second, not saved"   # nothing typed is lost
    parts.storage._db.execute("PRAGMA query_only=OFF")
    assert [m.content for m in parts.storage.messages(parts.session.current.id)][0] == "first, saved"


def test_database_locked_by_another_process(make_app, qtbot):
    parts = make_app()
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("before the lock")
    parts.storage._db.execute("PRAGMA busy_timeout=200")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3,sys,time; db=sqlite3.connect(sys.argv[1], isolation_level=None); "
        "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline()"), str(parts.paths.database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    seen = notices(parts)
    assert not parts.session.submit("while locked")
    assert "locked by another program" in seen[-1]
    holder.stdin.write("release\n")     # the lock is held until the test says so, not for a fixed time
    holder.stdin.flush()
    holder.wait(60)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        assert parts.session.submit("after the lock")
    contents = [m.content for m in parts.storage.messages(parts.session.current.id)]
    assert contents[0] == "before the lock" and "after the lock" in contents


def test_disk_full_when_saving_a_picture(make_app, qtbot, monkeypatch):
    from PIL import Image
    parts = make_app(image_engine=FakeImageEngine())

    def full(self, fp, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", full)
    parts.session.submit("/image a red circle")
    qtbot.waitUntil(lambda: last(parts).status == ERROR, timeout=30000)
    assert "No space left on device" in last(parts).content and "Free some disk space" in last(parts).content
    assert not list(parts.paths.images.glob("*"))
    still_works(parts, qtbot)


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No])
def test_corrupt_database_is_moved_aside_only_when_asked(qtbot, tmp_path, monkeypatch, answer):
    from chatapp.app import build
    from chatapp.settings import resolve_paths
    paths = resolve_paths(str(tmp_path / "data"))
    paths.data_dir.mkdir(parents=True)
    garbage = b"this is not a database " * 100
    paths.database.write_bytes(garbage)
    monkeypatch.setattr("PySide6.QtWidgets.QMessageBox.question", lambda *a, **k: answer)
    parts = build(paths, Settings(), llm_engine_factory=FakeChatEngine, image_engine_factory=FakeImageEngine)
    qtbot.addWidget(parts.window)
    try:
        aside = list(paths.data_dir.glob("chatapp.sqlite3.damaged-*"))
        if answer == QMessageBox.StandardButton.Yes:
            assert len(aside) == 1 and aside[0].read_bytes() == garbage
            assert parts.storage.integrity_ok() and parts.storage.path == paths.database
        else:
            assert not aside and paths.database.read_bytes() == garbage    # untouched
        texts = [n.label.text() for n in parts.window.view._notices]
        assert any("damaged" in t for t in texts)
        assert parts.session.submit("/help")
    finally:
        parts.session.shutdown()
        parts.storage.close()


def test_garbage_config_file(qtbot, tmp_path):
    from chatapp.app import build
    from chatapp.settings import load_settings, resolve_paths
    paths = resolve_paths(str(tmp_path / "data"))
    paths.config_dir.mkdir(parents=True)
    paths.settings_file.write_bytes(b"\x00\xff{{{ garbage")
    settings, note = load_settings(paths.settings_file)
    parts = build(paths, settings, note, llm_engine_factory=FakeChatEngine, image_engine_factory=FakeImageEngine)
    qtbot.addWidget(parts.window)
    try:
        assert settings == Settings()
        assert any("using defaults" in n.label.text() for n in parts.window.view._notices)
        assert (paths.config_dir / "settings.json.bad").exists()
    finally:
        parts.session.shutdown()
        parts.storage.close()


def test_image_model_failure_does_not_stop_the_chat(make_app, qtbot, tmp_path):
    parts = make_app(FakeChatEngine(["still here"]))
    parts.session.images.set_factory(lambda: DiffusionImageEngine(tmp_path / "nope"))
    parts.session.submit("/image a red circle")
    qtbot.waitUntil(lambda: last(parts).status == ERROR, timeout=30000)
    with qtbot.waitSignal(parts.session.reply_finished, timeout=30000):
        parts.session.submit("are you there?")
    assert last(parts).content == "still here"
