"""The built-in queries equal Flagger v1.44's, read from Flagger's own Go module.

Test data, not product code: the observer templates are the Go raw strings of
``pkg/metrics/observers/*.go`` in the ``github.com/fluxcd/flagger`` module, fetched and
hash-checked the way the sandbox fetches Flagger's CRDs (``gitcanary_sandbox.upstream_crds``).
For every provider Flagger knows (the ``-mesh-provider`` values of ``cmd/flagger/main.go`` and
the provider constants of ``pkg/apis/flagger/v1beta1/provider.go``), the test finds the observer
Flagger's factory (``factory.go``) picks, renders that observer's templates for a sample Canary
with the values Flagger's ``toMetricModel`` gives (``pkg/controller/scheduler_metrics.go``), and
compares them with gitcanary's rendering. Both are normalised: whitespace removed, and a comma
before ``}`` dropped (PromQL reads ``{a="b",}`` as ``{a="b"}``; some of Flagger's templates end a
selector with one). The unit of ``request-duration`` is compared too: Flagger's HTTP observer
multiplies the value by 1000 (seconds), the others read milliseconds.

Without the module the test fails naming the reason; ``go mod download`` needs the Go proxy once.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from controller.api import Canary
from controller.metrics.builtin import BUILTIN_METRICS, builtin_query, canary_context
from gitcanary_sandbox import upstream_crds

NAME, NAMESPACE, INTERVAL = "web", "shop-prod", "2m"
SAMPLE = {
    "apiVersion": "gitcanary.io/v1beta1",
    "kind": "Canary",
    "metadata": {"name": NAME, "namespace": NAMESPACE},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-app"},
        "ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "web-ing"},
        "routeRef": {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "web-route"},
        "service": {"name": "web-svc", "port": 80},
        "analysis": {
            "interval": "1m",
            "threshold": 5,
            "metrics": [
                {"name": "request-success-rate", "interval": INTERVAL, "thresholdRange": {"min": 99}},
                {"name": "request-duration", "interval": INTERVAL, "thresholdRange": {"max": 500}},
            ],
        },
    },
}
# Flagger's toMetricModel for SAMPLE: service, ingress and route from their refs, else the target.
FLAGGER_MODEL = {
    "name": NAME,
    "namespace": NAMESPACE,
    "target": "web-app",
    "service": "web-svc",
    "ingress": "web-ing",
    "route": "web-route",
    "interval": INTERVAL,
}


@cache
def flagger_dir() -> Path:
    modules = list(upstream_crds.SETS["flagger"])
    try:
        found = upstream_crds.download(modules, progress=lambda _: None)
    except (upstream_crds.ModuleMismatch, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"Flagger's Go module is not available, so its observers cannot be read: {exc}")
    return found[modules[0].ref]


def source(relative: str) -> str:
    path = flagger_dir() / relative
    assert path.is_file(), f"{path} is missing from Flagger's module: has the layout changed?"
    return path.read_text()


# ---- Flagger's providers and its observer factory -------------------------------------------------


def provider_constants() -> dict[str, str]:
    text = source("pkg/apis/flagger/v1beta1/provider.go")
    return dict(re.findall(r'(\w+Provider)\s+string\s*=\s*"([^"]+)"', text))


def flagger_providers() -> list[str]:
    help_text = re.search(r'"mesh-provider",\s*"[^"]*",\s*"([^"]+)"', source("cmd/flagger/main.go"))
    assert help_text, "cmd/flagger/main.go: no -mesh-provider flag"
    listed = re.findall(r"[a-z]+(?::v\w+)?", help_text.group(1).split("can be", 1)[1])
    return sorted({p for p in listed if p != "or"} | set(provider_constants().values()))


@dataclass(frozen=True)
class Case:
    conditions: tuple[tuple[str, str], ...]  # ("prefix" | "equal", value)
    observer: str


def factory_cases() -> tuple[list[Case], str]:
    """The factory's switch: its cases in order, and the default observer."""
    constants = provider_constants()
    text = source("pkg/metrics/observers/factory.go")
    body = text[text.index("switch {") :]
    cases: list[Case] = []
    for head, observer in re.findall(r"case (.+?):\s*return &(\w+)\{", body):
        conditions = []
        for part in head.split("||"):
            prefix = re.search(r"strings\.HasPrefix\(provider, flaggerv1\.(\w+)\)", part)
            equal = re.search(r"provider == flaggerv1\.(\w+)", part)
            match = prefix or equal
            assert match, f"factory.go: cannot read the condition {part!r}"
            conditions.append(("prefix" if prefix else "equal", constants[match.group(1)]))
        cases.append(Case(tuple(conditions), observer))
    default = re.search(r"default:\s*return &(\w+)\{", body)
    assert default and cases, "factory.go: no switch over the provider"
    return cases, default.group(1)


def flagger_observer(provider: str) -> str:
    cases, default = factory_cases()
    for case in cases:
        for kind, value in case.conditions:
            if provider.startswith(value) if kind == "prefix" else provider == value:
                return case.observer
    return default


# ---- the observers' templates -----------------------------------------------------------------------

_RAW = re.compile(r"`([^`]*)`")


@dataclass(frozen=True)
class Observer:
    templates: dict[str, str]
    duration_in_seconds: bool
    encoded_fields: tuple[str, ...]


def _go_string_expr(expr: str, consts: dict[str, str]) -> str:
    """A Go concatenation of raw strings and constant names (``routePattern + `...```)."""
    parts = []
    for piece in re.findall(r"`[^`]*`|\w+", expr):
        parts.append(piece[1:-1] if piece.startswith("`") else consts[piece])
    return "".join(parts)


def observer(name: str) -> Observer:
    for path in sorted((flagger_dir() / "pkg/metrics/observers").glob("*.go")):
        text = path.read_text()
        if path.name.endswith("_test.go") or f"type {name} struct" not in text:
            continue
        consts = {k: v for k, v in re.findall(r"const (\w+) = `([^`]*)`", text)}
        used = set(re.findall(rf"func \(ob \*{name}\).*?RenderQuery\((\w+)\[", text, re.DOTALL))
        assert len(used) == 1, f"{path.name}: {name} renders from {used}"
        table = re.search(rf"var {used.pop()} = map\[string\]string\{{(.*?)\n\}}", text, re.DOTALL)
        assert table, f"{path.name}: no query table"
        entries = re.split(r'\n\t"([\w-]+)":', "\n" + table.group(1))
        templates = {
            key: _go_string_expr(expr.rstrip().rstrip(","), consts)
            for key, expr in zip(entries[1::2], entries[2::2], strict=True)
        }
        duration = text[text.index(f"func (ob *{name}) GetRequestDuration") :]
        duration = duration[: duration.index("\n}\n")]
        encode = re.findall(r'model\.(\w+) = nonWord\.ReplaceAllString\(model\.\1, "_"\)', text)
        return Observer(
            templates, "int64(value*1000)" in duration, tuple(encode) if "encodeModel" in duration else ()
        )
    raise AssertionError(f"no pkg/metrics/observers file declares {name}")


def render_go(template: str, model: dict[str, str]) -> str:
    """Go text/template, as far as Flagger's observers use it: functions, ``$x := printf``, ``$x``."""
    variables: dict[str, str] = {}
    out: list[str] = []
    position = 0
    for match in re.finditer(r"\{\{(-\s)?(.*?)(\s-)?\}\}", template, re.DOTALL):
        text = template[position : match.start()]
        out.append(text.rstrip() if match.group(1) else text)
        action = match.group(2).strip()
        assign = re.fullmatch(r'\$(\w+) := printf "([^"]*)" ((?:\w+\s*)+)', action)
        if assign:
            args = tuple(model[a] for a in assign.group(3).split())
            variables[assign.group(1)] = assign.group(2) % args
        elif action.startswith("$"):
            out.append(variables[action[1:]])
        else:
            out.append(model[action])  # KeyError: Flagger's missingkey=error
        position = match.end()
        if match.group(3):
            rest = template[position:]
            position += len(rest) - len(rest.lstrip())
    out.append(template[position:])
    return "".join(out)


def normalised(query: str) -> str:
    return re.sub(r",}", "}", re.sub(r"\s+", "", query))


# ---- the comparison -----------------------------------------------------------------------------------


def flagger_query(provider: str, metric: str) -> tuple[str, bool]:
    found = observer(flagger_observer(provider))
    model = dict(FLAGGER_MODEL)
    for field in found.encoded_fields:
        key = field.lower()
        model[key] = re.sub(r"\W", "_", model[key], flags=re.ASCII)
    return render_go(found.templates[metric], model), found.duration_in_seconds


def gitcanary_query(provider: str, metric: str) -> tuple[str, bool]:
    canary = Canary.from_k8s(SAMPLE)
    context = canary_context(NAME, NAMESPACE, canary.spec, INTERVAL)
    built = builtin_query(metric, provider, context)
    return built.query, built.seconds_to_ms


def test_every_provider_the_issue_names_is_among_flaggers() -> None:
    providers = flagger_providers()
    for name in ("gatewayapi", "gatewayapi:v1", "osm", "kuma", "apisix", "knative", "kubernetes", "skipper"):
        assert name in providers, providers


def test_flagger_maps_gatewayapi_to_its_http_observer() -> None:
    assert flagger_observer("gatewayapi:v1") == "HttpObserver" == flagger_observer("kubernetes")


@pytest.mark.parametrize("metric", BUILTIN_METRICS)
def test_builtin_queries_equal_flaggers_for_every_provider(metric: str) -> None:
    differences = []
    for provider in flagger_providers():
        theirs, their_seconds = flagger_query(provider, metric)
        ours, our_seconds = gitcanary_query(provider, metric)
        if normalised(theirs) != normalised(ours):
            differences.append(
                f"{provider}:\n  flagger:   {normalised(theirs)}\n  gitcanary: {normalised(ours)}"
            )
        if metric == "request-duration" and their_seconds != our_seconds:
            differences.append(f"{provider}: flagger reads seconds={their_seconds}, gitcanary {our_seconds}")
    assert not differences, "\n".join(differences)


def test_the_go_template_reader_renders_skippers_route_pattern() -> None:
    template = '{{- $r := printf "a_%s__%s" namespace service }}\n\tq{r=~"{{ $r }}"}[{{ interval }}]'
    assert render_go(template, FLAGGER_MODEL) == '\n\tq{r=~"a_shop-prod__web-svc"}[2m]'
