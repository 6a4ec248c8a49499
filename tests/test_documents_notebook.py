"""The Jupyter notebook reader (documents/notebook.py, one READERS line) on a real nbformat 4.5 file, and JSON that is not one."""
import json

import pytest

from chatapp.commands import help_text
from chatapp.documents import readers
from chatapp.documents.extract import DocumentError, extract

from .test_documents_real_files import DATA, _index

NOTEBOOK = DATA / "chatapp-tides.ipynb"   # tests/data/documents/README.md: written for these tests


def test_cells_come_out_in_order_with_their_numbers_as_locations():
    doc = extract(NOTEBOOK)
    assert doc.kind == "ipynb" and doc.pages == 8
    by_cell = {s.page: s.text for s in doc.sections}
    assert sorted(by_cell) == [1, 2, 3, 4, 5, 7, 8]       # cell 6 is an empty code cell
    assert by_cell[1].startswith("Cell 1 (markdown):\n# Tide tables for Brest")
    assert "range(8760)" in by_cell[2] and "loaded 8760 hourly readings" in by_cell[2]   # code, then stdout
    assert "'M2 amplitude: 3.10 m'" in by_cell[3] and "<b>" not in by_cell[3]          # the result's text/plain
    assert by_cell[4] == "Cell 4 (code):\nplot(readings[:48])  # two days of the semidiurnal tide"   # no figure repr
    assert "ZeroDivisionError: division by zero" in by_cell[5] and "\x1b" not in by_cell[5]    # colours stripped
    assert by_cell[7] == "Cell 7 (raw):\nPublished table: high water 06:12, 7.6 m; low water 12:31, 0.9 m."
    assert "11 minutes early" in by_cell[8]


def test_a_question_finds_the_cell_it_is_answered_in(tmp_path):
    index, conv = _index(tmp_path / "db.sqlite3", ["chatapp-tides.ipynb", "crazyones-pdfa.pdf"])
    hits = index.search("why is the high water early? overtides", conv)
    assert hits and hits[0].name == "chatapp-tides.ipynb" and hits[0].location() == "page 8"
    index.close()


@pytest.mark.parametrize("content, words", [
    ('{"cells": [', "not valid JSON"),
    ('{"name": "chatapp", "version": "1.0"}', 'not a Jupyter notebook (it has no "nbformat")'),
    ('[{"cell_type": "code"}]', 'not a Jupyter notebook (it has no "nbformat")'),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "has no list of cells"),
    ('{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": []}]}', "old format 3"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}', "The notebook has no text in it."),
])
def test_json_that_is_not_a_readable_notebook_is_refused_clearly(tmp_path, content, words):
    path = tmp_path / "data.ipynb"
    path.write_text(content)
    with pytest.raises(DocumentError) as caught:
        extract(path)
    assert words in str(caught.value)


def test_the_registry_line_reaches_the_dialog_the_help_and_plain_json_stays_text(tmp_path):
    assert readers.reader_for("Analysis.IPYNB").label == "Jupyter notebooks"
    assert "*.ipynb" in readers.file_filter() and "Jupyter notebooks" in help_text()
    plain = tmp_path / "settings.json"                    # .json is still read as text, not as a notebook
    plain.write_text(json.dumps({"nbformat": "not a notebook"}))
    assert extract(plain).kind == "text"
