"""Chat search, third round (issue 28 item 8): any script's capitals, emoji, and every word typed."""
import pytest

from chatapp.conversation import MAX_WORDS, SEARCH_CHARS, search_words
from chatapp.storage import Storage


@pytest.fixture
def st(tmp_path):
    st = Storage(tmp_path / "db.sqlite3")
    anger = st.create_conversation("Ärger im Büro")
    st.add_message(anger.id, "user", "Wir feiern heute 🎉 mit Kuchen ❤️")
    school = st.create_conversation("ÉCOLE ΣΟΦΙΑ")
    st.add_message(school.id, "user", "Daumen hoch 👍🏽 für alle")
    yield st
    st.close()


def titles(found):
    return sorted(c.title for c in found)


@pytest.mark.parametrize("query, expected", [
    ("ärger", ["Ärger im Büro"]),            # as found: a non-ASCII capital in the title
    ("ÄRGER", ["Ärger im Büro"]),
    ("arger", ["Ärger im Büro"]),            # without the accent, as the message index does
    ("école", ["ÉCOLE ΣΟΦΙΑ"]),
    ("σοφια", ["ÉCOLE ΣΟΦΙΑ"]),              # one of my own: Greek capitals
    ("büro kuchen", ["Ärger im Büro"]),      # title word + message word
])
def test_title_words_match_in_any_case_of_any_script(st, query, expected):
    assert titles(st.search_conversations(query)) == expected


@pytest.mark.parametrize("query, expected", [
    ("🎉", ["Ärger im Büro"]),               # as found: an emoji in a message
    ("❤", ["Ärger im Büro"]),                # the heart without its emoji-presentation selector
    ("❤️", ["Ärger im Büro"]),
    ("👍🏽", ["ÉCOLE ΣΟΦΙΑ"]),                 # one of my own: a skin-tone sequence, and its base
    ("👍", ["ÉCOLE ΣΟΦΙΑ"]),
    ("🎉 kuchen", ["Ärger im Büro"]),
    ("🎉 👍", []),                            # both, in different chats: no chat has both
    ("🦄", []),
])
def test_emoji_in_messages_are_found(st, query, expected):
    assert titles(st.search_conversations(query)) == expected


def test_words_after_the_twelfth_are_searched(st):
    words = "wir wi feiern feier feie fei fe heute heut mit kuchen kuch".split()
    assert titles(st.search_conversations(" ".join(words))) == ["Ärger im Büro"]
    # As found: a 13th word that is nowhere was ignored, so the chat was still listed.
    assert titles(st.search_conversations(" ".join(words + ["nirgends"]))) == []
    # One of my own: 30-odd word starts that are all there, then one that is not.
    starts = [w[:n] for w in "feiern heute kuchen ärger büro".split() for n in range(1, len(w) + 1)]
    assert 25 < len(search_words(" ".join(starts))[0]) < MAX_WORDS
    assert titles(st.search_conversations(" ".join(starts))) == ["Ärger im Büro"]
    assert titles(st.search_conversations(" ".join(starts + ["fehlt"]))) == []


def test_words_past_the_limit_are_named_in_the_search_box(qtbot):
    from chatapp.ui.sidebar import Sidebar
    bar = Sidebar()
    qtbot.addWidget(bar)
    bar.show()
    assert bar.search.maxLength() == SEARCH_CHARS        # the box takes no more than is read
    bar.search.setText(" ".join(f"w{i}" for i in range(MAX_WORDS)))
    assert not bar.search_note.isVisible()
    bar.search.setText(" ".join(f"w{i}" for i in range(MAX_WORDS + 3)))
    note = bar.search_note.text()
    assert bar.search_note.isVisible() and f"first {MAX_WORDS} words" in note
    assert note.endswith(f"w{MAX_WORDS} w{MAX_WORDS + 1} w{MAX_WORDS + 2}")
    bar.search.setText("kuchen")
    assert not bar.search_note.isVisible()
