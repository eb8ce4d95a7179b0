r"""Render Flagger MetricTemplate queries (Go ``text/template`` subset).

Flagger renders a MetricTemplate query with Go's ``text/template`` and a function map
with one entry per model field. The variables available in a query are exactly:

* ``{{ name }}``       canary name (``metadata.name``)
* ``{{ namespace }}``  canary namespace
* ``{{ target }}``     ``spec.targetRef.name``
* ``{{ service }}``    ``spec.service.name``, defaulting to the target name
* ``{{ ingress }}``    ``spec.ingressRef.name``, defaulting to the target name
* ``{{ interval }}``   the metric's ``interval`` (Flagger's default is ``1m``)
* ``{{ variables.KEY }}`` a key of the metric's ``templateVariables``;
  ``{{ index variables "KEY" }}`` also works for keys that are not identifiers.

Go's trim markers (``{{-`` and ``-}}``) are honoured and comments (``{{/* ... */}}``)
render to nothing. Anything else (pipelines, conditionals, ``.Field`` access) is
outside what Flagger documents, and raises ``TemplateError`` rather than being passed
through silently, as does an unknown variable or a missing ``templateVariables`` key.
Rendering is pure: no I/O, and the same inputs always give the same text.

``render_promql`` renders a Prometheus query so that no value can change the query's
structure. It follows the quoting context of the template text around each action:

* inside ``"..."`` or ``'...'``: a value is inserted as is when it is already a valid body of
  that string literal (every backslash starts an escape pair, no bare quote of that kind, no
  newline), so values written for Flagger, such as ``/api/.*\\.json`` in a regex, render as
  before; any other value is escaped (``\`` becomes ``\\``, the quote ``\"``, a newline ``\n``);
* inside a raw ```...``` string: a value containing a backtick raises ``TemplateError``;
* outside any string, where PromQL reads code: only letters, digits, ``_``, ``:`` and ``.``
  are allowed (metric names, durations such as ``{{ interval }}``); anything else raises
  ``TemplateError``, naming the variable;
* inside a ``#`` comment: a value with a newline raises ``TemplateError``.

A rendered value therefore never opens or closes a string literal, a label matcher or a
comment. ``render_query`` inserts values verbatim, for the other providers' query languages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from controller.metrics.errors import TemplateError

__all__ = ["MODEL_VARIABLES", "TemplateContext", "render_promql", "render_query"]

MODEL_VARIABLES: tuple[str, ...] = ("name", "namespace", "target", "service", "ingress", "interval")
"""The plain variables Flagger exposes to query templates, besides ``variables``."""

DEFAULT_METRIC_INTERVAL = "1m"

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_VARIABLE_FIELD = re.compile(r"^variables\.([A-Za-z_][A-Za-z0-9_]*)$")
_VARIABLE_INDEX = re.compile(r'^index\s+variables\s+"((?:[^"\\]|\\.)*)"$')


@dataclass(frozen=True)
class TemplateContext:
    """The values a query template may reference (Flagger's ``MetricTemplateModel``)."""

    name: str
    """Canary name."""
    namespace: str
    """Canary namespace."""
    target: str
    """Name of the target workload (``spec.targetRef.name``)."""
    service: str
    """Service name; Flagger defaults it to the target name."""
    ingress: str
    """Ingress name; Flagger defaults it to the target name."""
    interval: str = DEFAULT_METRIC_INTERVAL
    """Query window of the metric being evaluated, a Go duration string."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """The metric's ``templateVariables``."""

    @classmethod
    def for_canary(
        cls,
        *,
        name: str,
        namespace: str,
        target: str,
        service: str | None = None,
        ingress: str | None = None,
        interval: str = DEFAULT_METRIC_INTERVAL,
        variables: Mapping[str, str] | None = None,
    ) -> TemplateContext:
        """Build a context applying Flagger's defaults for ``service`` and ``ingress``."""
        return cls(
            name=name,
            namespace=namespace,
            target=target,
            service=service or target,
            ingress=ingress or target,
            interval=interval or DEFAULT_METRIC_INTERVAL,
            variables=dict(variables or {}),
        )

    def model_value(self, variable: str) -> str:
        """Return the value of one of ``MODEL_VARIABLES``."""
        values = {
            "name": self.name,
            "namespace": self.namespace,
            "target": self.target,
            "service": self.service,
            "ingress": self.ingress,
            "interval": self.interval,
        }
        return values[variable]


def render_query(template: str, context: TemplateContext) -> str:
    """Render ``template`` with ``context``, values verbatim; raise ``TemplateError`` on anything unknown."""
    return _render(template, context, promql=False)


def render_promql(template: str, context: TemplateContext) -> str:
    """Render a PromQL ``template``; values are escaped for where they land (module docstring)."""
    return _render(template, context, promql=True)


def _render(template: str, context: TemplateContext, *, promql: bool) -> str:
    pieces: list[str] = []
    position = 0
    trim_next = False
    where: _Where = "code"
    for match in _ACTION.finditer(template):
        literal = template[position : match.start()]
        if trim_next:
            literal = literal.lstrip()
        if match.group(1):
            literal = literal.rstrip()
        pieces.append(literal)
        where = _scan(literal, where)
        action = match.group(2).strip()
        value = _evaluate(action, context, template)
        pieces.append(_promql_value(action, value, where) if promql else value)
        trim_next = bool(match.group(3))
        position = match.end()
    tail = template[position:]
    if trim_next:
        tail = tail.lstrip()
    # As in Go's text/template, only ``{{`` opens an action: a ``}}`` in text is literal (compact
    # JSON, such as a CloudWatch query, ends in ``}}]``); a ``{{`` left open is an error.
    if "{{" in tail:
        raise TemplateError(f"unbalanced template delimiters in query: {_excerpt(tail)}")
    pieces.append(tail)
    return "".join(pieces)


_Where = Literal["code", '"', "'", "`", "#"]
_CLOSERS: dict[str, _Where] = {'"': '"', "'": "'", "`": "`"}
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_:.]*")
_STRING_BODY = {
    '"': re.compile(r'(?:[^"\\\n]|\\[^\n])*'),
    "'": re.compile(r"(?:[^'\\\n]|\\[^\n])*"),
}


def _scan(text: str, where: _Where) -> _Where:
    """The PromQL lexical context at the end of ``text``, starting in ``where``."""
    index = 0
    while index < len(text):
        char = text[index]
        if where == "code":
            if char in _CLOSERS:
                where = _CLOSERS[char]
            elif char == "#":
                where = "#"
        elif where == "#":
            if char == "\n":
                where = "code"
        elif where in ('"', "'") and char == "\\":
            index += 1  # an escape pair: the next character never closes the string
        elif char == where:
            where = "code"
        index += 1
    return where


def _promql_value(action: str, value: str, where: _Where) -> str:
    if where in _STRING_BODY:
        if _STRING_BODY[where].fullmatch(value):
            return value
        escaped = value.replace("\\", "\\\\").replace(where, "\\" + where)
        return escaped.replace("\n", "\\n").replace("\r", "\\r")
    if where == "`":
        if "`" in value:
            raise TemplateError(
                f"{{{{ {action} }}}}: a value inside a `raw string` cannot contain a backtick"
            )
        return value
    if where == "#":
        if "\n" in value or "\r" in value:
            raise TemplateError(f"{{{{ {action} }}}}: a value inside a # comment cannot contain a newline")
        return value
    if not _PLAIN_TOKEN.fullmatch(value):
        raise TemplateError(
            f"{{{{ {action} }}}} is outside a quoted string in a PromQL query, so its value may only "
            f"hold letters, digits, '_', ':' and '.', got {_excerpt(value)!r}"
        )
    return value


def _evaluate(action: str, context: TemplateContext, template: str) -> str:
    if action.startswith("/*") and action.endswith("*/"):
        return ""
    if action in MODEL_VARIABLES:
        return context.model_value(action)
    key = _variable_key(action)
    if key is not None:
        if key not in context.variables:
            known = ", ".join(sorted(context.variables)) or "none"
            raise TemplateError(f"template variable {key!r} is not set in templateVariables (set: {known})")
        return context.variables[key]
    if _IDENT.match(action):
        raise TemplateError(
            f"unknown template variable {action!r}; available: {', '.join(MODEL_VARIABLES)}, variables.<key>"
        )
    raise TemplateError(f"unsupported template action {{{{ {action} }}}} in query {_excerpt(template)}")


def _variable_key(action: str) -> str | None:
    field_match = _VARIABLE_FIELD.match(action)
    if field_match:
        return field_match.group(1)
    index_match = _VARIABLE_INDEX.match(action)
    if index_match:
        return index_match.group(1).replace('\\"', '"').replace("\\\\", "\\")
    return None


def _excerpt(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
