"""Values, printing, truth and the functions of :mod:`controller.api.gotemplate.evaluate`.

How Go's ``text/template`` prints (``fmt.Sprint``) and tests values, and the functions listed in
:data:`controller.api.gotemplate.syntax.FUNCTIONS` except ``and``/``or`` (the evaluator runs those, as
they stop early). A function gets its evaluated arguments (the piped value last) and raises
``TypeError``, ``ValueError``, ``IndexError`` or ``KeyError`` on bad ones.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FUNCS", "MAX_INDENT", "NO_VALUE", "Struct", "go_string", "truth"]

MAX_INDENT = 64
NO_VALUE = "<no value>"


class Struct(ABC):
    """A value with named fields a template may read (and nothing else)."""

    @abstractmethod
    def template_fields(self) -> Mapping[str, Any]:
        """The fields by their template names."""

    def __str__(self) -> str:
        return "{" + " ".join(go_string(v) for v in self.template_fields().values()) + "}"


def go_string(value: Any) -> str:
    """How Go's ``fmt.Sprint`` prints ``value``."""
    if value is None:
        return NO_VALUE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return {True: "+Inf", False: "-Inf"}[value > 0] if not math.isnan(value) else "NaN"
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_string(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def truth(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (bool, int, float)):
        return bool(value)
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) > 0
    return True


def _arity(values: list[Any], *counts: int) -> None:
    if len(values) not in counts:
        raise TypeError(f"wrong number of args: want {' or '.join(map(str, counts))} got {len(values)}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _comparable(a: Any, b: Any) -> None:
    if not ((_number(a) and _number(b)) or type(a) is type(b) or a is None or b is None):
        raise TypeError("incompatible types for comparison")


def _eq(values: list[Any]) -> bool:
    if len(values) < 2:
        raise TypeError("missing argument for comparison")
    for other in values[1:]:
        _comparable(values[0], other)
    return any(values[0] == other for other in values[1:])


def _not(values: list[Any]) -> bool:
    _arity(values, 1)
    return not truth(values[0])


def _ne(values: list[Any]) -> bool:
    _arity(values, 2)
    return not _eq(values)


def _order(test: Callable[[Any, Any], bool]) -> Callable[[list[Any]], bool]:
    def compare(values: list[Any]) -> bool:
        _arity(values, 2)
        a, b = values
        if not ((_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str))):
            raise TypeError("invalid type for comparison")
        return test(a, b)

    return compare


def _sprint(values: list[Any]) -> str:
    out: list[str] = []
    for index, value in enumerate(values):
        if index and not isinstance(value, str) and not isinstance(values[index - 1], str):
            out.append(" ")
        out.append(go_string(value))
    return "".join(out)


def _printf(values: list[Any]) -> str:
    if not values or not isinstance(values[0], str):
        raise TypeError("printf needs a format string")
    fmt, args, out = values[0], list(values[1:]), []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        verb = fmt[i + 1 : i + 2]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        if verb not in ("s", "v", "d", "q"):
            raise ValueError(f"unsupported verb %{verb} (use %s, %v, %d, %q or %%)")
        if not args:
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args.pop(0)
        if verb == "d" and not _number(arg):
            out.append(f"%!d({go_string(arg)})")
        else:
            out.append(json.dumps(go_string(arg), ensure_ascii=False) if verb == "q" else go_string(arg))
    if args:
        out.append("%!(EXTRA " + ", ".join(go_string(a) for a in args) + ")")
    return "".join(out)


def _len(values: list[Any]) -> int:
    _arity(values, 1)
    if not isinstance(values[0], (str, list, tuple, dict)):
        raise TypeError(f"len of {go_string(values[0])[:40]}")
    return len(values[0])


def _index(values: list[Any]) -> Any:
    if not values:
        raise TypeError("index needs an argument")
    item = values[0]
    for key in values[1:]:
        if isinstance(item, (list, tuple)) and _number(key) and int(key) == key:
            if not 0 <= int(key) < len(item):
                raise IndexError(f"index out of range: {int(key)}")
            item = item[int(key)]
        elif isinstance(item, dict) and isinstance(key, str):
            item = item.get(key)
        else:
            raise TypeError(f"can't index {go_string(item)[:40]} with {go_string(key)}")
    return item


def _strings(count: int, fn: Callable[..., Any]) -> Callable[[list[Any]], Any]:
    def call(values: list[Any]) -> Any:
        _arity(values, count)
        return fn(*(go_string(v) if v is not None else "" for v in values))

    return call


def _trunc(values: list[Any]) -> str:
    _arity(values, 2)
    count, text = values[0], go_string(values[1])
    if not _number(count):
        raise TypeError("trunc needs a number first")
    count = int(count)
    return text[:count] if count >= 0 else text[count:]


def _indent(values: list[Any]) -> str:
    _arity(values, 2)
    if not _number(values[0]) or not 0 <= int(values[0]) <= MAX_INDENT:
        raise ValueError(f"indent needs a number from 0 to {MAX_INDENT}")
    pad = " " * int(values[0])
    return "\n".join(pad + line for line in go_string(values[1]).split("\n"))


def _join(values: list[Any]) -> str:
    _arity(values, 2)
    items = values[1]
    if isinstance(items, str):
        return items
    if not isinstance(items, (list, tuple)):
        raise TypeError("join needs a list")
    return go_string(values[0]).join(go_string(item) for item in items)


def _default(values: list[Any]) -> Any:
    _arity(values, 1, 2)
    return values[-1] if len(values) == 2 and truth(values[-1]) else values[0]


def _end(pick: int) -> Callable[[list[Any]], Any]:
    def call(values: list[Any]) -> Any:
        _arity(values, 1)
        if not isinstance(values[0], (list, tuple)):
            raise TypeError("needs a list")
        return values[0][pick] if values[0] else None

    return call


FUNCS: dict[str, Callable[[list[Any]], Any]] = {
    "not": _not,
    "len": _len,
    "index": _index,
    "print": _sprint,
    "println": lambda v: " ".join(go_string(x) for x in v) + "\n",
    "printf": _printf,
    "eq": _eq,
    "ne": _ne,
    "lt": _order(lambda a, b: bool(a < b)),
    "le": _order(lambda a, b: bool(a <= b)),
    "gt": _order(lambda a, b: bool(a > b)),
    "ge": _order(lambda a, b: bool(a >= b)),
    "lower": _strings(1, str.lower),
    "upper": _strings(1, str.upper),
    "title": _strings(1, lambda s: " ".join(w[:1].upper() + w[1:] for w in s.split(" "))),
    "trim": _strings(1, str.strip),
    "trimPrefix": _strings(2, lambda p, s: s.removeprefix(p)),
    "trimSuffix": _strings(2, lambda p, s: s.removesuffix(p)),
    "contains": _strings(2, lambda sub, s: sub in s),
    "hasPrefix": _strings(2, lambda p, s: s.startswith(p)),
    "hasSuffix": _strings(2, lambda p, s: s.endswith(p)),
    "replace": _strings(3, lambda old, new, s: s.replace(old, new) if old else s),
    "join": _join,
    "default": _default,
    "trunc": _trunc,
    "quote": _strings(1, lambda s: json.dumps(s, ensure_ascii=False)),
    "indent": _indent,
    "first": _end(0),
    "last": _end(-1),
    "splitList": _strings(2, lambda sep, s: s.split(sep) if sep else list(s)),
}
