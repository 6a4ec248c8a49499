"""Settings: saved and read back, garbage moved aside (never deleted), dirs overridable."""
import json

from chatapp.settings import SETTINGS_VERSION, Settings, load_settings, resolve_paths, save_settings


def test_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    s = Settings(temperature=1.3, llm_model="/m.gguf", n_ctx=8192, cpu_offload=True)
    save_settings(s, path)
    loaded, note = load_settings(path)
    assert loaded == s and note is None


def test_garbage_file_is_moved_aside(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    loaded, note = load_settings(path)
    assert loaded == Settings()
    assert "could not be read" in note
    assert (tmp_path / "settings.json.bad").read_text() == "{not json"


def test_bad_values_are_ignored_one_by_one(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"temperature": "hot", "top_k": 7, "unknown": 1}))
    loaded, note = load_settings(path)
    assert loaded.temperature == Settings().temperature and loaded.top_k == 7
    assert "temperature" in note


def test_dirs_from_cli_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATAPP_DATA_DIR", str(tmp_path / "env"))
    assert resolve_paths().data_dir == tmp_path / "env"
    p = resolve_paths(str(tmp_path / "cli"))
    assert p.data_dir == tmp_path / "cli" and p.config_dir == tmp_path / "cli" / "config"
    assert p.database.parent == p.data_dir


def test_the_context_default_is_4096_and_an_older_files_old_default_becomes_it(tmp_path):
    # Older versions wrote every setting, so their 2048 was the default then, not a choice; other values were.
    path = tmp_path / "settings.json"
    assert Settings().n_ctx == 4096
    for written, n_ctx, read in (({}, 2048, 4096), ({}, 3072, 3072), ({"settings_version": 1}, 2048, 4096),
                                 ({"settings_version": 2}, 2048, 2048), ({"settings_version": True}, 2048, 4096)):
        path.write_text(json.dumps({**written, "n_ctx": n_ctx, "top_k": 7}))
        loaded, note = load_settings(path)
        assert (loaded.n_ctx, loaded.top_k, note) == (read, 7, None), written
    save_settings(Settings(n_ctx=2048), path)   # chosen now: kept, as the file says who wrote it
    assert json.loads(path.read_text())["settings_version"] == SETTINGS_VERSION and load_settings(path)[0].n_ctx == 2048
