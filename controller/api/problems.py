"""Problems users can read, from any input: paths in the manifest's own keys, values echoed
printable and cut, pydantic errors turned into ``path: problem`` lines, unknown fields found.

The building blocks of :mod:`controller.api.validation`; nothing here raises on any input.
"""

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from controller.api.canary import API_VERSION
from controller.api.model import plain, shape_problem

__all__: list[str] = []

ECHO = 40
"""Most characters of a key or value echoed in a message."""
M = TypeVar("M", bound=BaseModel)


def shape_problems(obj: Any) -> list[str]:
    found = shape_problem(obj)
    if found is None:
        return []
    path, reason = found
    return [f"{path_text(path)}: {reason}"]


def path_text(parts: tuple[Any, ...]) -> str:
    """``spec.analysis.metrics[0]``: each key printable and cut, the whole path cut."""
    text = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            key = printable(str(part))
            key = key if len(key) <= ECHO else key[: ECHO - 3] + "..."
            text = f"{text}.{key}" if text else key
    return cut(text) or "<root>"


def parse_manifest(model: type[M], obj: Any, kind: str) -> tuple[list[str], M | None]:
    if not isinstance(obj, Mapping):
        return [f"<root>: must be an object, got {type(obj).__name__}"], None
    data = plain(obj)
    problems: list[str] = []
    api_version = data.get("apiVersion")
    if api_version is not None and api_version != API_VERSION:
        problems.append(f"apiVersion: must be {API_VERSION}, got {show(api_version)}")
    if data.get("kind") is not None and data.get("kind") != kind:
        problems.append(f"kind: must be {kind}, got {show(data.get('kind'))}")
    problems += unknown_fields(model, data, "")
    try:
        parsed = model.model_validate(data)
    except ValidationError as error:
        return problems + format_errors(error, data), None
    return problems, parsed


def format_errors(error: ValidationError, data: Any) -> list[str]:
    by_path: dict[str, list[str]] = {}
    for item in error.errors():
        path, value, found = locate(data, item["loc"], item["type"] == "missing")
        message = "Required value" if item["type"] == "missing" else item["msg"]
        if item["type"] != "missing" and found:
            message = f"{message}, got {show(value)}"
        by_path.setdefault(path, [])
        if message not in by_path[path]:
            by_path[path].append(message)
    return [f"{path}: {' or '.join(messages)}" for path, messages in by_path.items()]


def locate(data: Any, loc: tuple[int | str, ...], missing: bool) -> tuple[str, Any, bool]:
    """Follow `loc` through the input; trailing union tags (e.g. 'int') are dropped."""
    path: list[int | str] = []
    value = data
    for part in loc:
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            path.append(part)
            value = value[part]
        elif isinstance(value, dict) and part in value:
            path.append(str(part))
            value = value[part]
        elif missing and isinstance(value, dict) and isinstance(part, str):
            return path_text((*path, part)), None, False
        else:
            break
    return path_text(tuple(path)), value, True


def model_of(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """('model'|'list'|'dict'|'other', model class) for a field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            shape, model = model_of(arg)
            if model is not None:
                return shape, model
        return "other", None
    if origin is list:
        inner = model_of(typing.get_args(annotation)[0])
        return ("list", inner[1]) if inner[0] == "model" else ("other", None)
    if origin is dict:
        inner = model_of(typing.get_args(annotation)[1])
        return ("dict", inner[1]) if inner[0] == "model" else ("other", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    return "other", None


def unknown_fields(model: type[BaseModel], data: Any, path: str) -> list[str]:
    if not isinstance(data, dict) or model.model_config.get("extra") == "allow":
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    problems = []
    for key, value in data.items():
        where = f"{path}.{path_text((key,))}" if path else path_text((key,))
        field = fields.get(key)
        if field is None:
            problems.append(f"{where}: unknown field (the API server drops or rejects it)")
            continue
        shape, sub = model_of(field.annotation)
        if sub is None:
            continue
        if shape == "model":
            problems += unknown_fields(sub, value, where)
        elif shape == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                problems += unknown_fields(sub, item, f"{where}[{index}]")
        elif shape == "dict" and isinstance(value, dict):
            for name, item in value.items():
                problems += unknown_fields(sub, item, f"{where}.{path_text((name,))}")
    return problems


def cut(text: str) -> str:
    return text if len(text) <= 2 * ECHO + 100 else text[: 2 * ECHO + 97] + "..."


def printable(text: str) -> str:
    """``text`` with every character that is not printable written as its escape (``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def show(value: Any) -> str:
    """``repr(value)``, printable and cut; an integer too long for ``repr`` by its size."""
    try:
        text = repr(value)
    except ValueError:  # an int past sys.get_int_max_str_digits()
        text = f"<an integer of {value.bit_length()} bits>"
    return cut(printable(text))


def echo(text: str) -> str:
    """``repr(text)``, cut to ``ECHO`` characters."""
    return repr(text) if len(text) <= ECHO else repr(text[: ECHO - 3] + "...")
