"""chatapp.registry: the one shape every door registers through."""
import pytest

from chatapp.registry import Registry


def test_entries_keep_their_order_and_names_are_unique():
    reg = Registry("exporter")
    reg.register("json", 1)

    @reg.register("md")
    def markdown():
        return 2
    assert list(reg) == ["json", "md"] and reg["md"] is markdown and len(reg) == 2
    with pytest.raises(ValueError, match="exporter 'json' is registered already"):
        reg.register("json", 3)
    reg.register("json", 3, replace=True)
    assert reg["json"] == 3 and list(reg) == ["json", "md"]
    with pytest.raises(ValueError):
        reg.register("", 4)


def test_a_registration_for_a_block_only_leaves_the_registry_as_it_was():
    reg = Registry("backend")
    reg.register("local", "L")
    with reg.registered("fake", "F"):
        assert tuple(reg) == ("local", "fake")
    assert tuple(reg) == ("local",)
    assert reg.find("gone", default="local") == "L"
    with pytest.raises(KeyError, match="backend 'gone' is not registered; there are: local"):
        reg.find("gone")
    assert reg.where(lambda e: e == "L") == ["L"] and "local" in reg and "fake" not in reg
