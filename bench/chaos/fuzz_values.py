"""Hypothesis strategies for hostile values, shared by the fuzz campaigns.

``junk`` draws anything a manifest can hold after JSON or YAML decoding (and more): wrong types,
huge and non-finite numbers, control characters, dates, bytes, non-string keys, deep nesting and
self-referencing lists (what ``yaml.safe_load`` builds from ``&a [*a]``). ``sometimes(good)``
mostly draws ``good`` and now and then junk, so that most inputs get past the first check.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

HUGE_INTS = (2**31, 2**63, -(2**63) - 1, 10**30, 10**400)
NASTY_TEXT = (
    "",
    " ",
    "\x00",
    "\x1b[31mred\x1b[0m",
    "a\nb",
    "\r\n",
    "\u202e",
    "\ufeff",
    "💥",
    "{{ name }}",
    "${HOME}",
    "'\"",
    "NaN",
    "Infinity",
    "0x10",
    "1e999",
    "~",
    "null",
    "- x",
    "a: b",
    "#",
)


def text(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=max_size), st.sampled_from(NASTY_TEXT))


def long_text() -> st.SearchStrategy[str]:
    return st.integers(1_000, 200_000).map(lambda n: "x" * n)


def numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-1000, 1000),
        st.integers(),
        st.sampled_from(HUGE_INTS),
        st.floats(allow_nan=True, allow_infinity=True),
    )


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for index in range(depth):
        value = [value] if index % 2 else {"k": value}
    return value


def _self_referencing(seed: Any) -> list[Any]:
    outer: list[Any] = [seed]
    outer.append(outer)
    return outer


def leaves() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        numbers(),
        text(),
        st.dates(),
        st.datetimes(),
        st.binary(max_size=16),
    )


def junk() -> st.SearchStrategy[Any]:
    """Any small value of any shape (see the module docstring; large shapes: ``pathological``)."""
    keys = st.one_of(text(10), st.integers(-5, 5), st.none(), st.booleans())
    return st.recursive(
        leaves(),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(keys, children, max_size=4),
        ),
        max_leaves=8,
    )


def pathological() -> st.SearchStrategy[Any]:
    """Huge text, deep nesting, a self-referencing list."""
    return st.one_of(long_text(), st.integers(50, 3_000).map(_nested), leaves().map(_self_referencing))


def _plant(case: tuple[Any, Any, int]) -> Any:
    """Replace one node of ``value`` (picked by ``where``) with ``bad``."""
    value, bad, where = case
    nodes: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            nodes.append((node, key))
            stack.append(node[key])
    if not nodes:
        return bad
    node, key = nodes[where % len(nodes)]
    node[key] = bad
    return value


def planted(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` with one of its nodes (picked at random) replaced by a ``bad`` value."""
    return st.tuples(good, bad, st.integers(0, 10_000)).map(_plant)


def with_pathological(good: st.SearchStrategy[Any], every: int = 25) -> st.SearchStrategy[Any]:
    """``good``, and about once in ``every`` draws one of its nodes replaced by a pathological value."""
    planted = st.tuples(good, pathological(), st.integers(0, 10_000)).map(_plant)
    return st.one_of(*([good] * (every - 1)), planted)


def sometimes(good: st.SearchStrategy[Any], weight: int = 4) -> st.SearchStrategy[Any]:
    """``good`` about ``weight`` times out of ``weight + 1``, otherwise junk."""
    return st.one_of(*([good] * weight), junk())


def objects(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[Any, Any]]:
    """A mapping with these keys (each value possibly junk), now and then an unknown key."""
    base = st.fixed_dictionaries(
        {key: sometimes(value, 8) for key, value in required.items()},
        optional={key: sometimes(value, 8) for key, value in optional.items()},
    )
    extra = st.dictionaries(text(12), junk(), max_size=1)
    return st.one_of(*([base] * 6), st.tuples(base, extra).map(lambda pair: {**pair[1], **pair[0]}))
