"""``gitcanary check`` and ``status``, and the registration of the repository tools.

Invariants:
- ``check`` is offline; a file that cannot be parsed is reported and the others are still checked.
  A flagger.app document is judged as if already converted (its apiVersion alone is not a problem).
  Only files whose text mentions ``flagger.app`` or ``gitcanary.io`` are parsed.
- ``status`` only reads: one list call through :class:`controller.kube.Kube`.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from controller.api import (
    API_VERSION,
    GROUP,
    validate_alert_provider,
    validate_canary,
    validate_metric_template,
)
from controller.cli.convert import FLAGGER_API_VERSION, FLAGGER_GROUP, convert, one_line, walk_yaml
from controller.gitops.edits.splice import decode_yaml

VALIDATORS: dict[str, Callable[[Any], list[str]]] = {
    "Canary": validate_canary,
    "MetricTemplate": validate_metric_template,
    "AlertProvider": validate_alert_provider,
}


def _plain_data(value: Any) -> Any:
    """ruamel round-trip data as the plain types the API models expect."""
    if isinstance(value, Mapping):
        return {str(k): _plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_data(v) for v in value]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _problem_line(doc: CommentedMap, path: str) -> int:
    """The 1-based line of the deepest part of ``spec.analysis.metrics[1].interval`` found in ``doc``."""
    line = int(doc.lc.line)
    node: Any = doc
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("[") and isinstance(node, CommentedSeq) and int(part[1:-1]) < len(node):
            line, node = int(node.lc.item(int(part[1:-1]))[0]), node[int(part[1:-1])]
        elif isinstance(node, CommentedMap) and part in node:
            line, node = int(node.lc.key(part)[0]), node[part]
        else:
            break
    return line + 1


def check_text(text: str, where: str) -> list[str]:
    """``file:line: kind ns/name: problem`` for every invalid document (raises on bad YAML)."""
    loader = YAML(typ="rt")
    loader.version = (1, 1)  # as Kubernetes tooling reads it: `yes` is a boolean
    problems: list[str] = []
    for doc in loader.load_all(text):
        items = doc.get("items") if isinstance(doc, CommentedMap) and doc.get("kind") == "List" else [doc]
        for obj in items if isinstance(items, list) else []:
            if not isinstance(obj, CommentedMap) or obj.get("kind") not in VALIDATORS:
                continue
            api_version = obj.get("apiVersion")
            if api_version not in (API_VERSION, FLAGGER_API_VERSION):
                continue
            data = _plain_data(obj)
            data["apiVersion"] = API_VERSION
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            name = f"{obj['kind']} {meta.get('namespace') or '-'}/{meta.get('name') or '?'}"
            for problem in VALIDATORS[obj["kind"]](data):
                problems.append(f"{where}:{_problem_line(obj, problem.split(': ', 1)[0])}: {name}: {problem}")
    return problems


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def check(paths: tuple[Path, ...]) -> None:
    """Validate every Canary, MetricTemplate and AlertProvider offline; exit 1 on any problem."""
    failed = documents = 0
    for path in walk_yaml(paths):
        data = path.read_bytes()
        if GROUP.encode() not in data and FLAGGER_GROUP.encode() not in data:
            continue
        try:
            problems = check_text(decode_yaml(data), str(path))
        except (UnicodeDecodeError, YAMLError) as error:
            problems = [f"{path}: cannot parse YAML: {one_line(error)}"]
        documents += 1
        failed += len(problems)
        for problem in problems:
            click.echo(problem)
    click.echo(f"checked {documents} file(s): {failed} problem(s)", err=True)
    sys.exit(1 if failed else 0)


def _default_namespace(kubeconfig: str | None) -> str:
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call,unused-ignore]
    except (config.ConfigException, OSError):
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")


_CAUSE = re.compile(r"\binconclusive \(([a-z-]+)\)")


def inconclusive_cell(status: Mapping[str, Any]) -> str:
    """``status.inconclusiveChecks``, with the latest cause when there is one: ``2(timeout)``."""
    count = int(status.get("inconclusiveChecks") or 0)
    cause = _CAUSE.search(str((status.get("engine") or {}).get("lastInconclusive") or ""))
    return f"{count}({cause.group(1)})" if count and cause else str(count)


def status_row(canary: Mapping[str, Any]) -> tuple[str, ...]:
    """One table row: NAMESPACE NAME STATUS WEIGHT FAILED INCONCLUSIVE LAST-WRITE-BACK REVISION
    LAST-TRANSITION. INCONCLUSIVE is the count of checks that could not measure, with the cause of
    the latest one, e.g. ``2(timeout)``."""
    meta, status = canary.get("metadata") or {}, canary.get("status") or {}
    gitops = status.get("gitops") or {}
    write_back = gitops.get("lastWriteBack") or {}
    written = " ".join(
        part for part in (write_back.get("result"), (write_back.get("commit") or "")[:7]) if part
    )
    return (
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
        str(status.get("phase") or "-"),
        str(status.get("canaryWeight", 0)),
        str(status.get("failedChecks", 0)),
        inconclusive_cell(status),
        written or "-",
        str((gitops.get("source") or {}).get("revision") or "-"),
        str(status.get("lastTransitionTime") or "-"),
    )


STATUS_HEADERS = (
    "NAMESPACE",
    "NAME",
    "STATUS",
    "WEIGHT",
    "FAILED",
    "INCONCLUSIVE",
    "LAST-WRITE-BACK",
    "REVISION",
    "LAST-TRANSITION",
)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    )


def status_table(canaries: Sequence[Mapping[str, Any]]) -> str:
    """The status table of ``canaries``, sorted by namespace and name."""
    rows = sorted((status_row(c) for c in canaries), key=lambda row: (row[0], row[1]))
    return render_table(STATUS_HEADERS, rows)


async def list_canaries(kubeconfig: str | None, namespace: str | None) -> list[dict[str, Any]]:
    from controller.kube import Kube

    kube = Kube.from_kubeconfig(kubeconfig)
    try:
        return await kube.list(API_VERSION, "Canary", namespace)
    finally:
        await kube.close()


@click.command("status")
@click.option(
    "--kubeconfig", type=click.Path(exists=True), default=None, help="Default: in-cluster, then $KUBECONFIG."
)
@click.option("-n", "--namespace", default=None, help="Default: the kubeconfig context's namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="List Canaries in every namespace.")
@click.option("-w", "--watch", is_flag=True, help="Keep watching: draw the table again on every change.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="With -w: stop after this many seconds (default: until Ctrl-C).",
)
def status(
    kubeconfig: str | None, namespace: str | None, all_namespaces: bool, watch: bool, timeout: float | None
) -> None:
    """A table of Canaries: phase, weight, failed checks, last write-back and Git revision."""
    from controller.kube import KubeError

    if all_namespaces and namespace:
        raise click.UsageError("use either -n/--namespace or -A/--all-namespaces")
    if timeout is not None and not watch:
        raise click.UsageError("--timeout only applies with -w/--watch")
    scope = None if all_namespaces else namespace or _default_namespace(kubeconfig)
    if watch:
        from controller.cli.watch import watch_status

        sys.exit(watch_status(kubeconfig, scope, timeout, status_table))
    try:
        canaries = asyncio.run(list_canaries(kubeconfig, scope))
    except KubeError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if not canaries:
        click.echo(f"No canaries found{'' if scope is None else f' in namespace {scope}'}.", err=True)
        return
    click.echo(status_table(canaries))


def register(group: click.Group) -> None:
    """Add ``convert``, ``check`` and ``status`` to the ``gitcanary`` command group."""
    for command in (convert, check, status):
        group.add_command(command)
