"""The Go text/template subset: every construct, Go's printing and truth, errors and limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from controller.api.gotemplate.evaluate import MAX_OUTPUT_CHARS, MAX_STEPS, TemplateRenderError, render
from controller.api.gotemplate.syntax import (
    FUNCTIONS,
    MAX_NESTING,
    MAX_SOURCE_CHARS,
    TemplateSyntaxError,
    parse,
)
from controller.api.gotemplate.values import FUNCS, Struct


class Obj(Struct):
    def __init__(self, **fields: Any) -> None:
        self.fields = fields

    def template_fields(self) -> Mapping[str, Any]:
        return self.fields


DATA = Obj(
    Name="podinfo",
    Image="ghcr.io/stefanprodan/podinfo:6.0.2",
    Empty="",
    Zero=0,
    Items=["a", "b", "c"],
    Map={"b": 2, "a": 1},
    Inner=Obj(Name="inner", Deep=Obj(Value="deep")),
    Nil=None,
    Flag=True,
)


def run(source: str, data: Any = DATA) -> str:
    return render(parse(source), data)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),
        ("{{ .Name }}", "podinfo"),
        ("{{ .Inner.Deep.Value }}", "deep"),
        ("{{ $.Name }}/{{ $ := 1 }}{{ $ }}", "podinfo/1"),
        ("{{ .Map.a }}{{ .Map.zz }}", "1<no value>"),
        ("{{ .Items }} {{ .Map }} {{ .Flag }} {{ .Nil }}", "[a b c] map[a:1 b:2] true <no value>"),
        ("{{ .Inner.Deep }}", "{deep}"),
        ('{{ "a\\tb\\"" }}{{ `raw\\n` }}{{ 42 }}{{ 1.5 }}{{ true }}', 'a\tb"raw\\n421.5true'),
        # trim markers and comments
        ("a  {{- .Name -}}  \n b", "apodinfob"),
        ("a {{/* a comment */}}b", "a b"),
        ("a {{- /* trimmed */ -}} b", "ab"),
        ("{{-3}}", "-3"),
        # if / else if / else
        ("{{ if .Flag }}yes{{ end }}", "yes"),
        ("{{ if .Empty }}x{{ else }}empty{{ end }}", "empty"),
        ('{{ if eq .Name "x" }}1{{ else if eq .Name "podinfo" }}2{{ else }}3{{ end }}', "2"),
        ("{{ if .Zero }}1{{ else if .Nil }}2{{ else }}3{{ end }}", "3"),
        ("{{ if .Items }}{{ if .Map }}both{{ end }}{{ end }}", "both"),
        # range
        ("{{ range .Items }}<{{ . }}>{{ end }}", "<a><b><c>"),
        ("{{ range $i, $v := .Items }}{{ $i }}={{ $v }} {{ end }}", "0=a 1=b 2=c "),
        ("{{ range $v := .Items }}{{ $v }}{{ end }}", "abc"),
        ("{{ range $k, $v := .Map }}{{ $k }}:{{ $v }},{{ end }}", "a:1,b:2,"),
        ("{{ range .Nil }}x{{ else }}none{{ end }}", "none"),
        ('{{ range .Items }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}', "ac"),
        ('{{ range .Items }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', "a"),
        ("{{ range .Items }}{{ $.Name }}{{ end }}", "podinfopodinfopodinfo"),
        # with
        ("{{ with .Inner }}{{ .Name }}{{ end }}", "inner"),
        ("{{ with .Empty }}x{{ else with .Inner }}{{ .Name }}{{ else }}y{{ end }}", "inner"),
        ("{{ with $x := .Inner.Deep }}{{ $x.Value }}{{ end }}", "deep"),
        # variables: declaration, assignment, scope
        ("{{ $x := .Name }}{{ $x }}", "podinfo"),
        ("{{ $n := 0 }}{{ range .Items }}{{ $n = . }}{{ end }}{{ $n }}", "c"),
        ("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", "21"),
        # pipelines and parentheses
        ("{{ .Name | upper }}", "PODINFO"),
        ('{{ .Image | trimPrefix "ghcr.io/" | printf "%s!" }}', "stefanprodan/podinfo:6.0.2!"),
        ('{{ printf "%s has %d items" .Name (len .Items) }}', "podinfo has 3 items"),
        ("{{ (index .Items 1) }}{{ (.Inner).Name }}", "binner"),
        ('{{ index .Map "b" }}', "2"),
    ],
)
def test_constructs(source: str, expected: str) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ and .Flag .Name }}|{{ and .Empty .Nil.Missing }}", "podinfo|"),
        ("{{ or .Empty .Name }}|{{ or .Name .Nil.Missing }}", "podinfo|podinfo"),
        ("{{ not .Flag }}{{ not .Empty }}", "falsetrue"),
        ('{{ eq .Zero 0 }}{{ eq .Name "a" "podinfo" }}{{ ne 1 2 }}', "truetruetrue"),
        ('{{ lt 1 2 }}{{ le 2 2 }}{{ gt 1.5 2 }}{{ ge "b" "a" }}', "truetruefalsetrue"),
        ('{{ print 1 2 "a" 3 "b" }}', "1 2a3b"),
        ("{{ println .Name 1 }}", "podinfo 1\n"),
        ('{{ printf "%v %q %% %s" .Items .Name }}', '[a b c] "podinfo" % %!s(MISSING)'),
        ('{{ .Name | title }} {{ "A B" | lower }}', "Podinfo a b"),
        ('{{ "  x  " | trim }}{{ trimSuffix ":6.0.2" .Image }}', "xghcr.io/stefanprodan/podinfo"),
        ('{{ contains "info" .Name }}{{ hasPrefix "pod" .Name }}{{ hasSuffix "x" .Name }}', "truetruefalse"),
        ('{{ replace "o" "0" .Name }}', "p0dinf0"),
        ('{{ join ", " .Items }}', "a, b, c"),
        ('{{ .Empty | default "none" }}{{ .Name | default "none" }}', "nonepodinfo"),
        ("{{ trunc 3 .Name }}{{ trunc -4 .Name }}", "podinfo"),
        ("{{ quote .Name }}", '"podinfo"'),
        ('{{ indent 2 "a\\nb" }}', "  a\n  b"),
        ("{{ first .Items }}{{ last .Items }}", "ac"),
        ('{{ splitList ":" .Image | last }}', "6.0.2"),
    ],
)
def test_functions(source: str, expected: str) -> None:
    assert run(source) == expected


def test_every_parsed_function_is_implemented() -> None:
    assert set(FUNCS) | {"and", "or"} == FUNCTIONS


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ if .Flag }}x", "line 1: {{if}} has no {{end}}"),
        ("a\n{{ end }}", "line 2: unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ if 1 }}{{ else }}{{ else }}{{ end }}", "unexpected {{else}}"),
        ("{{ range .Items }}{{ else if 1 }}{{ end }}", "{{else if}} inside {{range}}"),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ exec .Name }}", 'function "exec" not defined'),
        ("{{ .Name .Image }}", "can't give argument to non-function"),
        ("{{ .Name", "unclosed action"),
        ("{{ (len .Items }}", "unclosed left parenthesis"),
        ('{{ define "x" }}{{ end }}', "{{define}} is not supported"),
        ('{{ template "x" }}', "{{template}} is not supported"),
        ("{{ /* open }}", "unclosed comment"),
        ('{{ "\\q" }}', "unsupported escape"),
        ("{{ ; }}", "unexpected '; ' in action"),
        ("{{ }}", "missing value for command"),
        ("{{ $a, $b := .Items }}", "unexpected ','"),
        ("{{ .Name | }}", "missing value for command"),
    ],
)
def test_syntax_errors_name_the_problem(source: str, problem: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=problem.replace("{", r"\{").replace("(", r"\(")):
        parse(source)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ .Updated }}", "line 1: can't evaluate field Updated in type Obj"),
        ("\n{{ .Nil.Name }}", "line 2: nil pointer evaluating .Name"),
        ("{{ .Name.Length }}", "can't evaluate field Length"),
        ("{{ $nope }}", "undefined variable: \\$nope"),
        ("{{ $nope = 1 }}", "undefined variable"),
        ("{{ index .Items 5 }}", "index out of range: 5"),
        ("{{ len .Zero }}", "error calling len"),
        ("{{ eq .Name 1 }}", "incompatible types for comparison"),
        ("{{ lt .Name 1 }}", "invalid type for comparison"),
        ('{{ printf "%x" 1 }}', "unsupported verb %x"),
        ("{{ range .Name }}{{ end }}", "range can't iterate over podinfo"),
        ("{{ indent 1000 .Name }}", "indent needs a number from 0 to 64"),
        ("{{ upper }}", "wrong number of args"),
        ("{{ .Name | .Image }}", "can't give argument to non-function"),
    ],
)
def test_render_errors_name_the_problem(source: str, problem: str) -> None:
    with pytest.raises(TemplateRenderError, match=problem):
        run(source)


def test_attribute_names_of_python_objects_are_unreachable() -> None:
    """Only template_fields() is read: dunder and method names are just missing fields."""
    for name in ("__class__", "template_fields", "fields", "__dict__"):
        with pytest.raises((TemplateRenderError, TemplateSyntaxError)):
            run(f"{{{{ .{name} }}}}")
    assert run("{{ .Map.__class__ }}") == "<no value>", "a map is read by key only"


def test_the_source_size_is_bounded() -> None:
    with pytest.raises(TemplateSyntaxError, match=f"at most {MAX_SOURCE_CHARS}"):
        parse("x" * (MAX_SOURCE_CHARS + 1))


def test_nesting_is_bounded() -> None:
    deep = "{{ if true }}" * (MAX_NESTING + 1) + "{{ end }}" * (MAX_NESTING + 1)
    with pytest.raises(TemplateSyntaxError, match="nested blocks"):
        parse(deep)
    parens = "{{ " + "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1) + " }}"
    with pytest.raises(TemplateSyntaxError, match="nested parentheses"):
        parse(parens)
    ok = "{{ if true }}" * MAX_NESTING + "x" + "{{ end }}" * MAX_NESTING
    assert run(ok) == "x"


def test_output_is_bounded() -> None:
    many = Obj(Items=["x" * 1000] * 100)
    with pytest.raises(TemplateRenderError, match=f"longer than {MAX_OUTPUT_CHARS}"):
        run("{{ range .Items }}{{ . }}{{ end }}", many)
    with pytest.raises(TemplateRenderError, match=f"join returned more than {MAX_OUTPUT_CHARS}"):
        run('{{ $x := join "" .Items }}', many)


def test_loops_are_bounded() -> None:
    """Nested ranges multiply: the step budget stops them long before the output would."""
    wide = Obj(Items=list(range(200)))
    with pytest.raises(TemplateRenderError, match=f"more than {MAX_STEPS} steps"):
        run("{{ range .Items }}{{ range $.Items }}{{ end }}{{ end }}", wide)


def test_parsing_a_hostile_template_is_fast() -> None:
    """Quadratic blow-ups in the lexer or parser would show here."""
    import time

    source = ("{{ if true }}" + "{{ (print 1) }}" * 200 + "{{ end }}") * 10
    source = source[:MAX_SOURCE_CHARS]
    start = time.monotonic()
    with pytest.raises(TemplateSyntaxError):
        parse(source + "{{")
    assert time.monotonic() - start < 1.0


def test_flux_documentation_examples_parse_and_render() -> None:
    """The messageTemplate examples of Flux's ImageUpdateAutomation docs, with our data shape."""
    change = Obj(OldValue="6.0.0", NewValue="6.0.1", Setter="flux-system:podinfo:tag")
    data = Obj(
        AutomationObject="flux-system/podinfo",
        Changed=Obj(FileChanges={"apps/podinfo.yaml": [change]}, Changes=[change]),
    )
    source = (
        "Automated image update\n\nAutomation name: {{ .AutomationObject }}\n\nFiles:\n"
        "{{ range $filename, $_ := .Changed.FileChanges -}}\n- {{ $filename }}\n{{ end -}}\n"
    )
    assert run(source, data) == (
        "Automated image update\n\nAutomation name: flux-system/podinfo\n\nFiles:\n- apps/podinfo.yaml\n"
    )
    one_liner = "{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}"
    assert run(one_liner, data) == "6.0.0 -> 6.0.1\n"


def test_validation_refuses_a_template_that_does_not_parse() -> None:
    from controller.api import validate_canary
    from tests.builders import canary

    good, bad = canary("test", "podinfo", iterations=2), canary("test", "podinfo", iterations=2)
    good["spec"]["gitops"] = {"commit": {"messageTemplate": "Roll {{ .AutomationObject }} {{ .Result }}"}}
    bad["spec"]["gitops"] = {"commit": {"messageTemplate": "{{ range .Decisions }}{{ .Image }}"}}
    assert validate_canary(good) == []
    assert validate_canary(bad) == ["spec.gitops.commit.messageTemplate: line 1: {{range}} has no {{end}}"]
