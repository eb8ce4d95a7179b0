"""Evaluate a template parsed by :mod:`controller.api.gotemplate.syntax` over plain data, safely.

Values a template sees: ``None``, ``str``, ``int``, ``float``, ``bool``, lists, string-keyed
dicts (Go maps: ``.key`` reads a key, ``range`` visits the keys in sorted order) and
:class:`Struct` objects, whose readable fields are exactly what :meth:`Struct.template_fields`
returns. No Python attribute is ever looked up by a name from the template.

Semantics follow Go's ``text/template``: truth (``false``, ``0``, ``nil`` and empty strings,
lists and maps are false), variables scoped to their block, ``and``/``or`` returning an
operand and stopping early, ``print`` spacing, ``<no value>`` for a missing map key. A field
a :class:`Struct` does not have is an error, as in Go.

Bounds: at most :data:`MAX_OUTPUT_CHARS` characters of output (also for any one function's
result) and :data:`MAX_STEPS` evaluation steps (each action, block, command and ``range``
iteration counts); recursion is bounded by the parser's nesting limit. Every failure is a
:class:`TemplateRenderError` naming the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.api.gotemplate.syntax import (
    Action,
    Branch,
    Command,
    Constant,
    Control,
    Dot,
    Function,
    Node,
    Operand,
    Pipeline,
    SubPipeline,
    Template,
    Text,
    Variable,
)
from controller.api.gotemplate.values import FUNCS, Struct, go_string, truth

__all__ = ["MAX_OUTPUT_CHARS", "MAX_STEPS", "Struct", "TemplateRenderError", "go_string", "render"]

MAX_OUTPUT_CHARS = 16384
MAX_STEPS = 20000


class TemplateRenderError(ValueError):
    """The template failed on this data (a missing field, a bad argument, a limit)."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Run:
    def __init__(self, template: Template, data: Any) -> None:
        self.template = template
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.line = 1
        self.variables: list[tuple[str, Any]] = [("$", data)]

    def fail(self, message: str) -> TemplateRenderError:
        return TemplateRenderError(f"line {self.line}: {message}")

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(f"template took more than {MAX_STEPS} steps")

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT_CHARS:
            raise self.fail(f"output is longer than {MAX_OUTPUT_CHARS} characters")
        self.out.append(text)

    # -- nodes ---------------------------------------------------------------------------

    def nodes(self, nodes: Sequence[Node], dot: Any) -> None:
        for node in nodes:
            self.step()
            if isinstance(node, Text):
                self.write(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipeline, dot)
                if not node.pipeline.declare:
                    self.write(go_string(value))
            elif isinstance(node, Control):
                self.line = node.line
                raise _Break() if node.word == "break" else _Continue()
            else:
                self.branch(node, dot)

    def branch(self, node: Branch, dot: Any) -> None:
        mark = len(self.variables)
        try:
            if node.kind == "range":
                self.range(node, dot)
                return
            value = self.pipeline(node.pipeline, dot)
            if truth(value):
                self.nodes(node.body, value if node.kind == "with" else dot)
            else:
                self.nodes(node.orelse, dot)
        finally:
            del self.variables[mark:]

    def range(self, node: Branch, dot: Any) -> None:
        pipeline = node.pipeline
        value = self.pipeline(Pipeline(pipeline.commands, line=pipeline.line), dot)
        if value is None:
            items: list[tuple[Any, Any]] = []
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        elif isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value)]
        else:
            raise self.fail(f"range can't iterate over {go_string(value)}")
        if not items:
            self.nodes(node.orelse, dot)
            return
        mark = len(self.variables)
        for key, item in items:
            self.step()
            del self.variables[mark:]
            if len(pipeline.declare) == 1:
                self.variables.append((pipeline.declare[0], item))
            elif len(pipeline.declare) == 2:
                self.variables += [(pipeline.declare[0], key), (pipeline.declare[1], item)]
            try:
                self.nodes(node.body, item)
            except _Break:
                break
            except _Continue:
                continue

    # -- pipelines -----------------------------------------------------------------------

    def pipeline(self, pipeline: Pipeline, dot: Any) -> Any:
        self.line = pipeline.line
        value: Any = None
        for index, command in enumerate(pipeline.commands):
            self.step()
            value = self.command(command, dot, (value,) if index else ())
        for name in pipeline.declare:
            if pipeline.assign:
                slot = next(
                    (i for i in range(len(self.variables) - 1, -1, -1) if self.variables[i][0] == name), None
                )
                if slot is None:
                    raise self.fail(f"undefined variable: {name}")
                self.variables[slot] = (name, value)
            else:
                self.variables.append((name, value))
        return value

    def command(self, command: Command, dot: Any, piped: tuple[Any, ...]) -> Any:
        first = command.args[0]
        if isinstance(first, Function):
            return self.call(first.name, command.args[1:], dot, piped)
        if piped:
            raise self.fail("can't give argument to non-function")
        return self.operand(first, dot)

    def operand(self, operand: Operand, dot: Any) -> Any:
        if isinstance(operand, Dot):
            return dot
        if isinstance(operand, Constant):
            return operand.value
        if isinstance(operand, Variable):
            for name, value in reversed(self.variables):
                if name == operand.name:
                    return value
            raise self.fail(f"undefined variable: {operand.name}")
        if isinstance(operand, SubPipeline):
            return self.pipeline(operand.pipeline, dot)
        if isinstance(operand, Function):
            return self.call(operand.name, (), dot, ())
        value = self.operand(operand.receiver, dot)
        for name in operand.names:
            value = self.field(value, name)
        return value

    def field(self, value: Any, name: str) -> Any:
        if isinstance(value, Struct):
            fields = value.template_fields()
            if name not in fields:
                raise self.fail(f"can't evaluate field {name} in type {type(value).__name__}")
            return fields[name]
        if isinstance(value, dict):
            return value.get(name)
        if value is None:
            raise self.fail(f"nil pointer evaluating .{name}")
        raise self.fail(f"can't evaluate field {name} in {go_string(value)[:40]!r}")

    def call(self, name: str, args: Sequence[Operand], dot: Any, piped: tuple[Any, ...]) -> Any:
        if name in ("and", "or"):
            return self.and_or(name, [*args], dot, piped)
        values = [self.operand(arg, dot) for arg in args] + list(piped)
        try:
            result = FUNCS[name](values)
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise self.fail(f"error calling {name}: {exc}") from None
        if isinstance(result, str) and len(result) > MAX_OUTPUT_CHARS:
            raise self.fail(f"{name} returned more than {MAX_OUTPUT_CHARS} characters")
        return result

    def and_or(self, name: str, args: list[Operand], dot: Any, piped: tuple[Any, ...]) -> Any:
        if len(args) + len(piped) < 1:
            raise self.fail(f"wrong number of args for {name}: want at least 1 got 0")
        value: Any = None
        for index in range(len(args) + len(piped)):
            value = self.operand(args[index], dot) if index < len(args) else piped[0]
            if truth(value) != (name == "and"):
                return value
        return value
        return value


def render(template: Template, data: Any) -> str:
    """Run ``template`` with ``.`` and ``$`` set to ``data``; raises :class:`TemplateRenderError`."""
    run = _Run(template, data)
    try:
        run.nodes(template.nodes, data)
    except (_Break, _Continue):
        raise run.fail("break or continue outside range") from None
    except RecursionError:
        raise run.fail("template nests too deeply") from None
    return "".join(run.out)
