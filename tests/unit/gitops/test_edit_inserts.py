"""The insertions quarantine and the approval annotation share (gitops/edits/inserts.py)."""

from __future__ import annotations

from controller.gitops.edits.inserts import block_indent, insert_after_opening, insert_line_after, is_null
from controller.gitops.edits.splice import child, compose_documents


def test_insert_after_opening_adds_a_separator_only_before_existing_items() -> None:
    text = "spec: {a: 1}\nlist: []\n"
    doc = compose_documents(text)[0]
    spec, items = child(doc, "spec"), child(doc, "list")
    assert spec is not None and items is not None
    assert insert_after_opening(text, spec, "b: 2") == "spec: {b: 2, a: 1}\nlist: []\n"
    assert insert_after_opening(text, items, "'x'") == "spec: {a: 1}\nlist: ['x']\n"


def test_insert_line_after_keeps_crlf_and_a_missing_final_newline() -> None:
    assert insert_line_after("a: 1\r\nb: 2\r\n", 0, "c: 3") == "a: 1\r\nc: 3\r\nb: 2\r\n"
    assert insert_line_after("a: 1", 0, "c: 3") == "a: 1\nc: 3"


def test_block_indent_is_none_when_the_node_does_not_start_its_line() -> None:
    text = "spec:\n  a: 1\nflow: [x, y]\n"
    doc = compose_documents(text)[0]
    spec, flow = child(doc, "spec"), child(doc, "flow")
    assert spec is not None and flow is not None
    assert block_indent(text, spec.value[0][0]) == "  "
    assert block_indent(text, flow.value[1]) is None


def test_is_null_knows_yaml_nulls_only() -> None:
    doc = compose_documents("a:\nb: ~\nc: Null\ne: none\n")[0]
    assert [is_null(child(doc, key)) for key in "abce"] == [True, True, True, False]
    assert not is_null(None)
