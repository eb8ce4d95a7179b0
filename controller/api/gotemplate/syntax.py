"""A small, safe subset of Go's ``text/template`` syntax: the parser.

Used for ``spec.gitops.commit.messageTemplate`` (the syntax family of Flux's image automation
commit templates). Validation parses a template here, before any write-back; the evaluator is
:mod:`controller.api.gotemplate.evaluate`. Nothing is ever passed to ``eval``: a template is a tree
of the nodes below, and the evaluator reads only the fields the data model lists.

Supported (as in Go): text and ``{{ actions }}``; trim markers ``{{-`` and ``-}}``; comments
``{{/* ... */}}``; ``.``, ``.Field.Chain``, ``$``, ``$var.Field``; string (``"..."``, raw
```...```), number, ``true``/``false``/``nil`` constants; function calls with arguments;
pipelines ``a | f b``; parenthesised pipelines ``(f .X).Field``; ``$x := pipeline`` and
``$x = pipeline``; ``if``/``else if``/``else``/``end``; ``range``, ``range $v := ...``,
``range $i, $v := ...`` with ``else``, ``break`` and ``continue``; ``with``/``else with``/``else``.
Not supported: ``define``, ``template``, ``block`` (no recursion), method calls with arguments,
character constants, complex numbers.

Limits: :data:`MAX_SOURCE_CHARS` of source, :data:`MAX_NESTING` nested blocks or parentheses,
and only the functions in :data:`FUNCTIONS`. Every problem is a :class:`TemplateSyntaxError`
naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "FUNCTIONS",
    "MAX_NESTING",
    "MAX_SOURCE_CHARS",
    "Action",
    "Branch",
    "Command",
    "Constant",
    "Control",
    "Dot",
    "FieldChain",
    "Function",
    "Node",
    "Pipeline",
    "SubPipeline",
    "Template",
    "TemplateSyntaxError",
    "Text",
    "Variable",
    "parse",
]

MAX_SOURCE_CHARS = 8192
"""The longest template accepted (a commit message template needs a few hundred)."""
MAX_NESTING = 16
"""Most nested ``if``/``range``/``with`` blocks and parentheses."""

FUNCTIONS = frozenset(
    {
        # Go's text/template builtins
        "and", "or", "not", "len", "index", "print", "printf", "println",
        "eq", "ne", "lt", "le", "gt", "ge",
        # Sprig's, with Sprig's argument order (the piped value last)
        "lower", "upper", "title", "trim", "trimPrefix", "trimSuffix", "contains", "hasPrefix",
        "hasSuffix", "replace", "join", "default", "trunc", "quote", "indent", "first", "last",
        "splitList",
    }
)  # fmt: skip
"""Every function a template may call; the evaluator implements exactly these."""


class TemplateSyntaxError(ValueError):
    """The template does not parse; the message names the line."""


@dataclass(frozen=True)
class Dot:
    """``.``: the current value."""


@dataclass(frozen=True)
class Constant:
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Function:
    name: str


@dataclass(frozen=True)
class Variable:
    name: str
    """``$`` or ``$name``."""


@dataclass(frozen=True)
class FieldChain:
    """``receiver.A.B``; the receiver is :class:`Dot` for a plain ``.A.B``."""

    receiver: Operand
    names: tuple[str, ...]


@dataclass(frozen=True)
class SubPipeline:
    pipeline: Pipeline


Operand = Dot | Constant | Function | Variable | FieldChain | SubPipeline


@dataclass(frozen=True)
class Command:
    args: tuple[Operand, ...]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    declare: tuple[str, ...] = ()
    """Variables this pipeline declares (``:=``) or assigns (``=``, see ``assign``)."""
    assign: bool = False
    line: int = 1


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Action:
    pipeline: Pipeline


@dataclass(frozen=True)
class Control:
    """``break`` or ``continue`` inside a ``range``."""

    word: str
    line: int


@dataclass
class Branch:
    """``if``, ``range`` or ``with``: ``body`` when the pipeline is true (or per element), else ``orelse``."""

    kind: str
    pipeline: Pipeline
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


Node = Text | Action | Control | Branch


@dataclass(frozen=True)
class Template:
    nodes: tuple[Node, ...]
    source: str


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
    |(?P<declare>:=)
    |(?P<assign>=)
    |(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    |(?P<dot>\.)
    |(?P<variable>\$[A-Za-z0-9_]*)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>[|(),])""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}


class _Tokens:
    def __init__(self, body: str, line: int) -> None:
        self.line = line
        self.items: list[tuple[str, str]] = []
        pos = last_end = 0
        while pos < len(body):
            match = _TOKEN.match(body, pos)
            if match is None:
                raise TemplateSyntaxError(f"line {line}: unexpected {body[pos : pos + 10]!r} in action")
            kind = match.lastgroup or ""
            after_term = self.items[-1:] == [("punct", ")")] or (
                bool(self.items) and self.items[-1][0] == "variable"
            )
            if kind == "field" and after_term and pos == last_end:
                kind = "chain"  # ``$x.A``, ``(...).A``: a field of the term just before
            if kind != "space":
                self.items.append((kind, match.group()))
                last_end = match.end()
            pos = match.end()
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.items[self.pos] if self.pos < len(self.items) else ("eof", "")

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def fail(self, what: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(f"line {self.line}: {what}")


def _unquote(token: str, line: int) -> str:
    if token.startswith("`"):
        return token[1:-1]
    out: list[str] = []
    chars = iter(token[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                raise TemplateSyntaxError(f"line {line}: unsupported escape \\{escaped} in string")
            out.append(_ESCAPES[escaped])
        else:
            out.append(char)
    return "".join(out)


def _operand(tokens: _Tokens, depth: int) -> Operand | None:
    kind, value = tokens.peek()
    term: Operand
    if kind == "field":
        tokens.next()
        return FieldChain(Dot(), tuple(value[1:].split(".")))
    if kind == "dot":
        tokens.next()
        term = Dot()
    elif kind == "variable":
        tokens.next()
        term = Variable(value)
    elif kind in ("string", "raw"):
        tokens.next()
        term = Constant(_unquote(value, tokens.line))
    elif kind == "number":
        tokens.next()
        term = Constant(float(value) if any(c in value for c in ".eE") else int(value))
    elif kind == "ident" and value in ("true", "false", "nil"):
        tokens.next()
        term = Constant({"true": True, "false": False, "nil": None}[value])
    elif kind == "ident" and value in _KEYWORDS:
        raise tokens.fail(f"unexpected keyword {value!r}")
    elif kind == "ident":
        if value not in FUNCTIONS:
            raise tokens.fail(f'function "{value}" not defined')
        tokens.next()
        return Function(value)
    elif kind == "punct" and value == "(":
        tokens.next()
        if depth >= MAX_NESTING:
            raise tokens.fail(f"more than {MAX_NESTING} nested parentheses")
        inner = _pipeline(tokens, depth + 1, allow_declare=False)
        if tokens.next() != ("punct", ")"):
            raise tokens.fail("unclosed left parenthesis")
        term = SubPipeline(inner)
    else:
        return None
    if tokens.peek()[0] == "chain":
        return FieldChain(term, tuple(tokens.next()[1][1:].split(".")))
    return term


def _command(tokens: _Tokens, depth: int) -> Command:
    args: list[Operand] = []
    while (operand := _operand(tokens, depth)) is not None:
        args.append(operand)
    if not args:
        kind, value = tokens.peek()
        raise tokens.fail("missing value for command" if kind == "eof" else f"unexpected {value!r}")
    if len(args) > 1 and not isinstance(args[0], Function):
        raise tokens.fail("can't give argument to non-function")
    return Command(tuple(args))


def _pipeline(tokens: _Tokens, depth: int, *, allow_declare: bool, pair: bool = False) -> Pipeline:
    declare: tuple[str, ...] = ()
    assign = False
    start = tokens.pos
    if allow_declare and tokens.peek()[0] == "variable":
        names = [tokens.next()[1]]
        if pair and tokens.peek() == ("punct", ","):
            tokens.next()
            kind, value = tokens.next()
            if kind != "variable":
                raise tokens.fail("range can only initialize variables")
            names.append(value)
        kind, _ = tokens.peek()
        if kind in ("declare", "assign"):
            tokens.next()
            declare, assign = tuple(names), kind == "assign"
        else:
            tokens.pos = start
    commands = [_command(tokens, depth)]
    while tokens.peek() == ("punct", "|"):
        tokens.next()
        commands.append(_command(tokens, depth))
    return Pipeline(tuple(commands), declare, assign, tokens.line)


def _parse_action(body: str, line: int, depth: int) -> tuple[str, Pipeline | None]:
    """(keyword or "", its pipeline): ``else`` may carry ``if``/``with``, ``end`` none."""
    tokens = _Tokens(body, line)
    kind, word = tokens.peek()
    keyword = word if kind == "ident" and word in _KEYWORDS else ""
    if keyword in ("define", "template", "block"):
        raise tokens.fail(f"{{{{{keyword}}}}} is not supported")
    if keyword:
        tokens.next()
    if keyword == "else" and tokens.peek() in (("ident", "if"), ("ident", "with")):
        keyword = "else " + tokens.next()[1]
    pipeline = None
    if keyword in ("", "if", "range", "with", "else if", "else with"):
        pipeline = _pipeline(tokens, depth, allow_declare=True, pair=keyword == "range")
    if tokens.peek()[0] != "eof":
        raise tokens.fail(f"unexpected {tokens.peek()[1]!r} after {keyword or 'pipeline'}")
    return keyword, pipeline


def parse(source: str) -> Template:
    """Parse ``source``; raises :class:`TemplateSyntaxError`."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateSyntaxError(f"template is {len(source)} characters long; at most {MAX_SOURCE_CHARS}")
    root: list[Node] = []
    stack: list[tuple[Branch, list[Node], int]] = []  # open block, where its parent collects, its line
    current = root
    pos, trim_next = 0, False
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            current.append(Text(text))
        pos, trim_next = match.end(), bool(match.group(3))
        line = source.count("\n", 0, match.start()) + 1
        body = match.group(2)
        if body.strip().startswith("/*"):
            if not body.strip().endswith("*/"):
                raise TemplateSyntaxError(f"line {line}: unclosed comment")
            continue
        keyword, pipeline = _parse_action(body, line, len(stack))
        if keyword in ("if", "range", "with"):
            assert pipeline is not None
            if len(stack) >= MAX_NESTING:
                raise TemplateSyntaxError(f"line {line}: more than {MAX_NESTING} nested blocks")
            block = Branch(keyword, pipeline)
            current.append(block)
            stack.append((block, current, line))
            current = block.body
        elif keyword.startswith("else"):
            if not stack or current is stack[-1][0].orelse:
                raise TemplateSyntaxError(f"line {line}: unexpected {{{{else}}}}")
            block = stack[-1][0]
            current = block.orelse
            if pipeline is not None:
                chained = Branch(keyword.split()[1], pipeline)
                if chained.kind != block.kind:
                    raise TemplateSyntaxError(f"line {line}: {{{{{keyword}}}}} inside {{{{{block.kind}}}}}")
                current.append(chained)
                # the chained branch's own else and end close the whole chain
                stack[-1] = (chained, stack[-1][1], stack[-1][2])
                current = chained.body
        elif keyword == "end":
            if not stack:
                raise TemplateSyntaxError(f"line {line}: unexpected {{{{end}}}}")
            current = stack.pop()[1]
        elif keyword in ("break", "continue"):
            if not any(block.kind == "range" for block, _, _ in stack):
                raise TemplateSyntaxError(f"line {line}: {{{{{keyword}}}}} outside {{{{range}}}}")
            current.append(Control(keyword, line))
        else:
            assert pipeline is not None
            current.append(Action(pipeline))
    text = source[pos:]
    if trim_next:
        text = text.lstrip()
    if "{{" in text:
        raise TemplateSyntaxError(f"line {source.count(chr(10), 0, pos) + 1}: unclosed action")
    if text:
        current.append(Text(text))
    if stack:
        raise TemplateSyntaxError(f"line {stack[-1][2]}: {{{{{stack[-1][0].kind}}}}} has no {{{{end}}}}")
    return Template(tuple(root), source)
