"""tools/builtin.py: schemas that follow the image model's limits, arguments through the recipe's one validation,
errors the model can read, and the calls made on ToolServices (a recording fake stands for the session); at the end,
edit_picture's mask through the real session's door (which masks it takes, which it refuses)."""
import json
from dataclasses import replace

import pytest

from chatapp.recipes.a1111 import format_parameters
from chatapp.recipes.request import ImageRequest, ModelLimits
from chatapp.tools import TOOLS, Drawn, Passage, PictureRecipe, ToolRun, call, offered, openai_tool
from chatapp.tools.builtin import sizes

TINY = ModelLimits.from_defaults("tiny-shapes", {"width": 32, "height": 32, "max_size": 64}, steps=(1, 50))
SD = ModelLimits.from_defaults("sd15", {"width": 512, "height": 512, "max_size": 1024})


class FakeServices:
    """ToolServices for one call: records what the tool asked for; pictures are numbered from 1."""

    def __init__(self, limits=TINY, pictures=(), loras=("ink-lines",)):
        self.limits, self.pictures, self.calls, self.lora_names = limits, list(pictures), [], tuple(loras)

    def image_limits(self):
        return self.limits

    def loras(self):
        return self.lora_names

    def _made(self, request):
        request = replace(request, seed=request.seed if request.seed is not None else 1234,
                          steps=request.steps or 20, width=request.width or 32, height=request.height or 32)
        self.pictures.append(format_parameters(request))
        n = len(self.pictures)
        return Drawn((100 + n,), (n,), request)

    def draw(self, request):
        self.calls.append(("draw", request))
        return self._made(request)

    def edit(self, request, source):
        self.calls.append(("edit", request, source))
        return self._made(request)

    def search(self, query, scope):
        self.calls.append(("search", query, scope))
        return [Passage(1, "notes.txt", "lines 1-3", "Lighthouses are painted red and white.")] if "lighthouse" in query else []

    def recipe(self, picture):
        n = len(self.pictures) if picture == "last" else int(picture[1:])
        return PictureRecipe(n, 100 + n, self.pictures[n - 1]) if 1 <= n <= len(self.pictures) else None


def _call(name, args, services):
    run = ToolRun("call_1", 7, lambda: False, lambda line, fraction: None, services)
    return call(TOOLS[name], json.dumps(args), run)


def test_the_built_in_tools_are_registered_and_offered_in_openais_shape():
    assert {"draw_picture", "edit_picture", "search_documents", "read_recipe"} <= set(TOOLS)
    for tool in offered([TOOLS[n] for n in ("draw_picture", "edit_picture", "search_documents", "read_recipe")], TINY):
        entry = openai_tool(tool)["function"]
        assert entry["parameters"]["type"] == "object" and entry["description"]
        assert set(entry["parameters"]["required"]) <= set(entry["parameters"]["properties"])


def test_picture_schemas_follow_the_loaded_models_limits():
    tiny = {t.name: t.parameters for t in offered(None, TINY, ("ink-lines",))}
    sd = {t.name: t.parameters for t in offered(None, SD)}
    tiny_sizes = tiny["draw_picture"]["properties"]["size"]["enum"]
    assert tiny_sizes[0] == "32x32" and "64x64" in tiny_sizes
    assert all(max(map(int, s.split("x"))) <= 64 and all(int(v) % 8 == 0 for v in s.split("x")) for s in tiny_sizes)
    assert sd["draw_picture"]["properties"]["size"]["enum"][:3] == ["512x512", "448x576", "576x448"]
    assert tiny["draw_picture"]["properties"]["steps"]["maximum"] == 50
    assert sd["draw_picture"]["properties"]["steps"]["maximum"] == 150
    assert tiny["edit_picture"]["properties"]["scheduler"]["enum"] == list(TINY.schedulers)
    lora = tiny["draw_picture"]["properties"]["loras"]["items"]["properties"]["name"]
    assert lora["enum"] == ["ink-lines"] and "loras" not in sd["draw_picture"]["properties"]
    assert [s for s, _ in sizes(SD)] == sd["draw_picture"]["properties"]["size"]["enum"]


def test_draw_checks_the_arguments_then_draws_and_says_what_it_drew():
    services = FakeServices()
    got = _call("draw_picture", {"prompt": "a lighthouse at dusk", "size": "32x32", "steps": 12.0, "seed": 5}, services)
    assert not got.is_error and got.message_ids == (101,)
    (kind, request), = services.calls
    assert kind == "draw" and (request.prompt, request.width, request.height, request.steps, request.seed) == \
        ("a lighthouse at dusk", 32, 32, 12, 5)
    assert "#1" in got.content and "seed 5" in got.content and "a lighthouse at dusk" in got.content


@pytest.mark.parametrize("args, field", [
    ({"prompt": "a cat", "steps": 500}, '"steps"'),
    ({"prompt": "a cat", "size": "4096x4096"}, '"size"'),
    ({"prompt": "a cat", "size": "33x33"}, '"size"'),
    ({"prompt": "a cat", "size": "big"}, '"size"'),
    ({"prompt": "a cat", "scheduler": "warp-drive"}, "scheduler"),
    ({"prompt": "a cat", "seed": -1}, '"seed"'),
    ({"prompt": "a cat", "steps": "many"}, '"steps"'),
    ({"prompt": "   "}, '"prompt"'),
    ({"prompt": "x" * 5000}, '"prompt"'),
])
def test_a_bad_draw_argument_is_an_error_result_naming_the_field_and_nothing_is_drawn(args, field):
    services = FakeServices()
    got = _call("draw_picture", args, services)
    assert got.is_error and field in got.content, got.content
    assert services.calls == []


def test_a_size_over_the_models_largest_lists_the_sizes_it_takes():
    got = _call("draw_picture", {"prompt": "a cat", "size": "128x128"}, FakeServices())
    assert got.is_error and "64x64" in got.content and "32x32" in got.content


def test_make_it_more_orange_edits_the_last_picture_with_its_seed():
    services = FakeServices()
    _call("draw_picture", {"prompt": "a lighthouse at dusk", "seed": 77, "steps": 10}, services)
    got = _call("edit_picture", {"picture": "last", "prompt": "a lighthouse at dusk, orange sky", "strength": 0.4},
                services)
    assert not got.is_error, got.content
    kind, request, source = services.calls[-1]
    assert (kind, source, request.init, request.source_id) == ("edit", "#1", "#1", 101)
    assert (request.seed, request.steps, request.strength, request.prompt) == (77, 10, 0.4, "a lighthouse at dusk, orange sky")
    assert "Edited #1" in got.content and "#2" in got.content


def test_edit_and_like_without_a_picture_say_so():
    for name, args in (("edit_picture", {"picture": "last", "prompt": "x"}), ("draw_picture", {"prompt": "x", "like": "#4"}),
                       ("read_recipe", {"picture": "#1"})):
        got = _call(name, args, FakeServices())
        assert got.is_error and "There is no picture" in got.content


def test_another_one_like_2_but_bigger_keeps_its_recipe_and_changes_the_size():
    services = FakeServices()
    _call("draw_picture", {"prompt": "a red fox", "seed": 3, "size": "32x32"}, services)
    _call("draw_picture", {"prompt": "a blue bird", "seed": 9, "size": "32x32"}, services)
    got = _call("draw_picture", {"like": "#2", "size": "64x64"}, services)
    assert not got.is_error, got.content
    request = services.calls[-1][1]
    assert (request.prompt, request.seed, request.width) == ("a blue bird", 9, 64) and request.init is None


def test_an_edit_strength_out_of_range_names_strength():
    services = FakeServices()
    _call("draw_picture", {"prompt": "a cat"}, services)
    got = _call("edit_picture", {"picture": "#1", "strength": 3}, services)
    assert got.is_error and '"strength"' in got.content and len(services.calls) == 1


def test_search_and_read_recipe_answer_in_text_the_model_reads():
    services = FakeServices()
    found = _call("search_documents", {"query": "lighthouse colours", "scope": "chat"}, services)
    assert "[1] notes.txt, lines 1-3" in found.content and services.calls[-1] == ("search", "lighthouse colours", "chat")
    assert "Nothing" in _call("search_documents", {"query": "volcano"}, services).content
    assert _call("search_documents", {"query": "x", "scope": "web"}, services).is_error
    _call("draw_picture", {"prompt": "a green square", "seed": 42}, services)
    recipe = _call("read_recipe", {"picture": "#1"}, services)
    assert "a green square" in recipe.content and "Seed: 42" in recipe.content and "/image" in recipe.content


def test_a_lora_that_exists_is_drawn_with_and_one_that_does_not_is_refused_by_name():
    services = FakeServices(loras=("ink-lines", "Pastel"))
    got = _call("draw_picture", {"prompt": "a cat", "loras": [{"name": "ink-lines", "weight": 0.5}]}, services)
    assert not got.is_error, got.content
    assert services.calls[-1][1].loras == [("ink-lines", 0.5)]
    assert not _call("draw_picture", {"prompt": "a cat <lora:pastel:0.8>"}, services).is_error   # as find() matches
    for args in ({"prompt": "a cat", "loras": [{"name": "watercolour"}]}, {"prompt": "a cat <lora:watercolour:0.8>"}):
        got = _call("draw_picture", args, services)
        assert got.is_error and "There is no LoRA named 'watercolour'" in got.content, got.content
        assert "ink-lines, Pastel" in got.content and '"loras" corrected' in got.content
    assert len(services.calls) == 2   # nothing drawn for the refused ones


def test_an_edit_of_a_picture_whose_lora_is_gone_says_so_and_leaving_it_out_works():
    services = FakeServices()
    _call("draw_picture", {"prompt": "a cat", "loras": [{"name": "ink-lines"}]}, services)
    services.lora_names = ()   # the file was removed since
    got = _call("edit_picture", {"picture": "#1", "prompt": "a cat, orange"}, services)
    assert got.is_error and "There is no LoRA named 'ink-lines'" in got.content and 'leave "loras" out' in got.content
    assert not _call("edit_picture", {"picture": "#1", "prompt": "a cat, orange", "loras": []}, services).is_error


# The mask argument through the session's own door (assistant/services.py CallServices.edit): the real app with
# a scripted chat model and a recording fake image engine, as tests/test_gui_tools.py drives it.

MASK_REFUSED = "A mask must be one painted on a picture of this chat."


def _drawn_chat(make_app, qtbot):
    """A chat whose picture #1 (32x32, seed 3) the assistant drew; the chat engine takes more scripted replies."""
    from chatapp.engines.fake import FakeChatEngine

    from .test_gui_tools import Recording, call, finished_reply
    chat, images = FakeChatEngine([call("draw_picture", {"prompt": "a red circle", "seed": 3}), "Drawn."]), Recording()
    parts = make_app(chat, images)
    assert parts.session.submit("draw a red circle")
    qtbot.waitUntil(lambda: finished_reply(parts, "Drawn.") is not None, timeout=30000)
    [first] = [m for m in parts.storage.branch(parts.session.current.id) if m.kind == "image"]
    assert len(images.asked) == 1 and images.asked[0].mask is None
    return parts, chat, images, first


def _edit_with_mask(parts, chat, qtbot, mask: str):
    """The user asks for an edit; the model calls edit_picture on #1 with this mask: its card once the reply ended."""
    from .test_gui_tools import call, card_of, finished_reply
    chat.enqueue(call("edit_picture", {"picture": "#1", "prompt": "an orange circle", "strength": 0.5, "mask": mask},
                      "call_2"), "Edited.")
    assert parts.session.submit("make the middle orange, with my mask")
    qtbot.waitUntil(lambda: finished_reply(parts, "Edited.") is not None, timeout=30000)
    return card_of(parts, "edit_picture")


def _png(path, size=(32, 32), colour=(255, 255, 255)):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def test_a_mask_painted_in_this_chats_picture_folder_goes_with_the_edit_to_the_image_engine(make_app, qtbot):
    parts, chat, images, first = _drawn_chat(make_app, qtbot)
    mask = _png(parts.session.new_mask_path(first))   # where the picture viewer saves a mask painted on #1
    card = _edit_with_mask(parts, chat, qtbot, str(mask))
    assert card.meta["state"] == "done", card.content
    asked = images.asked[-1]   # the picture job the image engine got: #1 redrawn under the mask
    assert (asked.init, asked.mask, asked.strength, asked.seed) == (first.image_path, str(mask.resolve()), 0.5, 3)
    edited = next(m for m in parts.storage.branch(parts.session.current.id) if m.kind == "image" and m.id != first.id)
    assert edited.parent_id == card.id and edited.meta["number"] == 2 and "Edited #1" in card.content


@pytest.mark.parametrize("where", ["outside", "system", "dotdot", "symlink"])
def test_a_mask_outside_this_chats_picture_folder_is_refused_in_the_result_and_nothing_is_drawn(
        make_app, qtbot, tmp_path, where):
    parts, chat, images, first = _drawn_chat(make_app, qtbot)
    folder = parts.paths.images
    outside = _png(tmp_path / "elsewhere" / "mask.png")   # a good mask of the right size: only its place is wrong
    mask = {"outside": str(outside), "system": "/etc/passwd",
            "dotdot": str(folder / ".." / "mask.png"),   # in the data folder, named through the picture folder
            "symlink": str(folder / "1-mask-9.png")}[where]
    if where == "dotdot":
        _png(folder.parent / "mask.png")
    if where == "symlink":
        (folder / "1-mask-9.png").symlink_to(outside)
    card = _edit_with_mask(parts, chat, qtbot, mask)
    assert card.meta["state"] == "failed" and MASK_REFUSED in card.content, card.content
    assert len(images.asked) == 1   # nothing drawn: the edit never reached the image engine
    # The model reads the refusal as the call's result.
    [result] = [m for m in chat.received[-1] if m["role"] == "tool" and m.get("tool_call_id") == "call_2"]
    assert MASK_REFUSED in result["content"]


@pytest.mark.parametrize("content, said", [
    (b"white where it is redrawn\n", "is not a picture chatapp can read"),
    (None, "a mask must be the same size as the picture it covers"),
])
def test_a_mask_in_the_folder_that_is_not_a_picture_of_the_right_size_is_refused(make_app, qtbot, content, said):
    parts, chat, images, first = _drawn_chat(make_app, qtbot)
    mask = parts.session.new_mask_path(first)
    if content is None:
        _png(mask, size=(48, 32))
    else:
        mask.write_bytes(content)
    card = _edit_with_mask(parts, chat, qtbot, str(mask))
    assert card.meta["state"] == "failed" and said in card.content, card.content
    assert len(images.asked) == 1
    [result] = [m for m in chat.received[-1] if m["role"] == "tool" and m.get("tool_call_id") == "call_2"]
    assert said in result["content"]


@pytest.mark.parametrize("name", ["another-chat-picture.png", "2-mask-1.png"])
def test_a_picture_in_the_folder_that_is_not_a_mask_of_the_edited_picture_is_refused(make_app, qtbot, name):
    # The picture folder is every chat's: a same-size PNG there (another chat's picture, or a mask painted on
    # another picture) is not a mask painted on the picture this call edits.
    parts, chat, images, first = _drawn_chat(make_app, qtbot)
    mask = _png(parts.paths.images / name)
    card = _edit_with_mask(parts, chat, qtbot, str(mask))
    assert card.meta["state"] == "failed" and "painted on the picture it edits (#1)" in card.content, card.content
    assert len(images.asked) == 1
