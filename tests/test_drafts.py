"""Drafts: a tab's work on disk, read back whole or not at all."""

from __future__ import annotations

import pytest

from flowclass.ui.drafts import Draft, DraftStore


def test_a_draft_reads_back_as_written_and_a_broken_one_is_no_draft(tmp_path):
    store = DraftStore(tmp_path / "drafts")
    draft = Draft(workflow='{"schema_version": 1, "name": "Mine", "nodes": [], "edges": []}\n', saved_text="",
                  selected="embed", viewport={"x": 1.0, "y": 2.0, "zoom": 0.5}, offered=True)
    store.write("tab-12345", draft)
    assert store.read("tab-12345") == draft
    assert [(tab, kept.title) for tab, kept, _ in store.unsaved()] == [("tab-12345", "Mine")]
    assert not [p for p in store.folder.iterdir() if p.name != "tab-12345.json"]  # no temporary file left

    store.file("tab-12345").write_text('{"workflow": ', encoding="utf-8")  # cut short (not by FlowClass)
    assert store.read("tab-12345") is None and store.unsaved() == []
    store.file("tab-12345").write_text('{"workflow": 3}', encoding="utf-8")
    assert store.read("tab-12345") is None
    assert store.read("no-such-tab") is None


@pytest.mark.parametrize("tab_id", ["../../etc/passwd", "short", "a/b-cdefgh", ""])
def test_a_tab_id_never_names_a_file_outside_the_drafts(tmp_path, tab_id):
    with pytest.raises(ValueError, match="not a tab id"):
        DraftStore(tmp_path).file(tab_id)
