"""`gitcanary convert`, `check` and `status` (table rendering) on real files in temporary directories.

The seed documents' YAML blocks (from tests/seeds) are written
out as files; a corpus of tricky files pins the exact bytes convert must produce.
"""

from __future__ import annotations

import difflib
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from controller.api import validate_alert_provider, validate_canary, validate_metric_template
from controller.cli.main import main
from controller.cli.tools import STATUS_HEADERS, render_table, status_row
from tests.builders import canary
from tests.upstream import SEEDS

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
KINDS = {
    "Canary": validate_canary,
    "MetricTemplate": validate_metric_template,
    "AlertProvider": validate_alert_provider,
}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write_seeds(directory: Path) -> dict[Path, bytes]:
    """Every seed YAML block mentioning flagger.app/v1beta1 that is YAML at all, one file per block."""
    written: dict[Path, bytes] = {}
    for md in sorted(SEEDS.glob("*.md")):
        for index, block in enumerate(FENCE.findall(md.read_text())):
            text = block.replace("\u00a0", " ")  # the docs indent with non-breaking spaces
            if "flagger.app/v1beta1" not in text:
                continue
            try:
                list(yaml.safe_load_all(text))
            except yaml.YAMLError:
                continue  # shell snippets
            path = directory / f"{md.stem}--{index:03d}.yaml"
            path.write_text(text)
            written[path] = path.read_bytes()
    assert len(written) >= 20, f"only {len(written)} seed blocks found under {SEEDS}"
    return written


def docs_of(data: bytes) -> list[Any]:
    return [d for d in yaml.safe_load_all(data.decode()) if d is not None]


def test_convert_seeds_changes_only_the_api_versions_and_is_idempotent(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path)
    expected_converted = sum(
        1
        for data in seeds.values()
        for doc in docs_of(data)
        if isinstance(doc, dict)
        and doc.get("apiVersion") == "flagger.app/v1beta1"
        and doc.get("kind") in KINDS
    )
    assert run("convert", "--check", str(tmp_path)).exit_code == 1
    assert all(path.read_bytes() == data for path, data in seeds.items()), "--check must not write"

    result = run("convert", "--write", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert f"{expected_converted} apiVersion(s)" in result.stderr
    for path, before in seeds.items():
        after = path.read_bytes()
        old, new = docs_of(before), docs_of(after)
        for old_doc, new_doc in zip(old, new, strict=True):
            if (
                isinstance(old_doc, dict)
                and old_doc.get("kind") in KINDS
                and "flagger.app/" in old_doc["apiVersion"]
            ):
                assert new_doc["apiVersion"] == "gitcanary.io/v1beta1"
                old_doc["apiVersion"] = "gitcanary.io/v1beta1"
            assert new_doc == old_doc
        changed = [
            line
            for line in difflib.ndiff(before.decode().splitlines(), after.decode().splitlines())
            if line.startswith(("-", "+"))
        ]
        assert all(line[2:].strip().startswith("apiVersion:") for line in changed), changed
    # The ADR's imaginary `Alert` kind stays flagger.app and is reported.
    assert "Alert -/governor-canary-alert: flagger.app/v1beta1 has no gitcanary equivalent" in result.stderr

    snapshot = {path: path.read_bytes() for path in seeds}
    again = run("convert", "--check", "--write", str(tmp_path))
    assert again.exit_code == 0 and again.stdout == ""
    assert {path: path.read_bytes() for path in seeds} == snapshot


def test_check_on_the_seeds_agrees_with_the_validators_and_points_at_lines(tmp_path: Path) -> None:
    seeds = write_seeds(tmp_path)
    expected: set[tuple[str, str]] = set()
    for path, data in seeds.items():
        for doc in docs_of(data):
            if (
                isinstance(doc, dict)
                and doc.get("kind") in KINDS
                and doc.get("apiVersion") == "flagger.app/v1beta1"
            ):
                doc["apiVersion"] = "gitcanary.io/v1beta1"
                meta = doc.get("metadata") or {}
                if KINDS[doc["kind"]](doc):
                    expected.add(
                        (path.name, f"{doc['kind']} {meta.get('namespace') or '-'}/{meta.get('name')}")
                    )
    assert 5 <= len(expected) < sum(1 for _ in seeds), "the seeds hold both valid and invalid manifests"

    result = run("check", str(tmp_path))
    assert result.exit_code == 1
    reported = set()
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"(.+?):(\d+): (\w+ [^ ]+): (.+)", line)
        assert match, line
        reported.add((Path(match[1]).name, match[3]))
    assert reported == expected

    adr = next(p for p in seeds if p.name.startswith("adr-canary-with-keda") and "governor" in p.read_text())
    metrics_line = adr.read_text().splitlines().index("  metrics:") + 1
    assert f"{adr}:{metrics_line}: Canary tai-system/governor: spec.metrics: unknown field" in result.stdout


CORPUS: dict[str, tuple[bytes, bytes]] = {
    "bom-crlf-no-final-newline.yaml": (
        b'\xef\xbb\xbf# keep me\r\napiVersion: "flagger.app/v1beta1"   # comment\r\nkind: Canary\r\n'
        b"metadata: {name: a}",
        b'\xef\xbb\xbf# keep me\r\napiVersion: "gitcanary.io/v1beta1"   # comment\r\nkind: Canary\r\n'
        b"metadata: {name: a}",
    ),
    "single-quoted-kind-first.yml": (
        b"kind: MetricTemplate\nmetadata:\n  name: m\napiVersion: 'flagger.app/v1beta1'\n",
        b"kind: MetricTemplate\nmetadata:\n  name: m\napiVersion: 'gitcanary.io/v1beta1'\n",
    ),
    "flow.yaml": (
        b"{apiVersion: flagger.app/v1beta1, kind: AlertProvider, metadata: {name: s}}\n",
        b"{apiVersion: gitcanary.io/v1beta1, kind: AlertProvider, metadata: {name: s}}\n",
    ),
    "multi-doc.yaml": (
        b"%YAML 1.2\n---\n# apiVersion: flagger.app/v1beta1\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        b"  name: doc\n  annotations:\n    flagger.app/config-tracking: disabled\ndata:\n  example: |\n"
        b"    apiVersion: flagger.app/v1beta1\n    kind: Canary\n---\napiVersion:   flagger.app/v1beta1\n"
        b"kind: Canary\nmetadata:\n  name: b\n...\n---\napiVersion: gitcanary.io/v1beta1\nkind: Canary\n",
        b"%YAML 1.2\n---\n# apiVersion: flagger.app/v1beta1\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        b"  name: doc\n  annotations:\n    flagger.app/config-tracking: disabled\ndata:\n  example: |\n"
        b"    apiVersion: flagger.app/v1beta1\n    kind: Canary\n---\napiVersion:   gitcanary.io/v1beta1\n"
        b"kind: Canary\nmetadata:\n  name: b\n...\n---\napiVersion: gitcanary.io/v1beta1\nkind: Canary\n",
    ),
    "list.yaml": (
        b"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: &v flagger.app/v1beta1\n    kind: Canary\n"
        b"  - apiVersion: *v\n    kind: MetricTemplate\n",
        b"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: &v gitcanary.io/v1beta1\n    kind: Canary\n"
        b"  - apiVersion: *v\n    kind: MetricTemplate\n",
    ),
    "kustomization.yaml": (
        b"resources: [canary.yaml]\npatches:\n  - target: {group: flagger.app, kind: Canary}  # c\n"
        b"    patch: |\r\n      apiVersion: flagger.app/v1beta1 # x\r\n      kind: Canary\r\n      metadata:\r\n"
        b"        name: a\r\n  - target:\n      group: apps\n      kind: Deployment\n    path: p.yaml\n"
        b'patchesJson6902:\n  - target:\n      group: "flagger.app"\n      version: v1beta1\n'
        b"      kind: MetricTemplate\n    path: m.yaml\n",
        b"resources: [canary.yaml]\npatches:\n  - target: {group: gitcanary.io, kind: Canary}  # c\n"
        b"    patch: |\r\n      apiVersion: gitcanary.io/v1beta1 # x\r\n      kind: Canary\r\n      metadata:\r\n"
        b"        name: a\r\n  - target:\n      group: apps\n      kind: Deployment\n    path: p.yaml\n"
        b'patchesJson6902:\n  - target:\n      group: "gitcanary.io"\n      version: v1beta1\n'
        b"      kind: MetricTemplate\n    path: m.yaml\n",
    ),
    "flux-kustomization.yaml": (
        b"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\nspec:\n"
        b'  patches:\n    - patch: \'[{"op": "replace", "path": "/spec/analysis/threshold", "value": 3}]\'\n'
        b"      target:\n        group: flagger.app\n        kind: Canary\n",
        b"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\nspec:\n"
        b'  patches:\n    - patch: \'[{"op": "replace", "path": "/spec/analysis/threshold", "value": 3}]\'\n'
        b"      target:\n        group: gitcanary.io\n        kind: Canary\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_convert_writes_exactly_the_expected_bytes(tmp_path: Path, name: str) -> None:
    original, expected = CORPUS[name]
    path = tmp_path / name
    path.write_bytes(original)
    result = run("convert", "--write", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes() == expected
    assert run("convert", "--check", str(tmp_path)).exit_code == 0, "converting twice changes nothing"
    assert path.read_bytes() == expected


def test_convert_by_default_prints_a_diff_and_writes_nothing(tmp_path: Path) -> None:
    original, _ = CORPUS["bom-crlf-no-final-newline.yaml"]
    (tmp_path / "a.yaml").write_bytes(original)
    result = run("convert", str(tmp_path))
    assert result.exit_code == 0
    assert (tmp_path / "a.yaml").read_bytes() == original
    assert f"--- {tmp_path / 'a.yaml'}\n+++ {tmp_path / 'a.yaml'}\n".encode() in result.stdout_bytes
    assert b'-apiVersion: "flagger.app/v1beta1"   # comment\r\n+apiVersion: "gitcanary.io/v1beta1"' in (
        result.stdout_bytes
    )
    assert result.stdout_bytes.endswith(b"metadata: {name: a}\n\\ No newline at end of file\n")
    assert "would convert 1 file(s): 1 apiVersion(s), 0 kustomize patch(es)" in result.stderr
    assert run("convert", "--check", str(tmp_path)).exit_code == 1


def test_convert_reports_what_it_cannot_convert_and_leaves_it(tmp_path: Path) -> None:
    deployment = (
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\n  annotations:\n"
        b"    flagger.app/config-tracking: disabled\n  labels:\n    flagger.kubernetes.io/owned: 'x'\n"
    )
    old = b"apiVersion: flagger.app/v1alpha3\nkind: Canary\nmetadata:\n  name: old\n"
    inline = (
        b"patches:\n  - target: {kind: Canary}\n    patch: >\n      apiVersion: flagger.app/v1beta1\n"
        b"      kind: Canary\n"
    )
    (tmp_path / "deployment.yaml").write_bytes(deployment)
    (tmp_path / "old.yaml").write_bytes(old)
    (tmp_path / "kustomization.yaml").write_bytes(inline)
    result = run("convert", "--write", "--check", str(tmp_path))
    assert result.exit_code == 0, "nothing here can be converted"
    assert (tmp_path / "deployment.yaml").read_bytes() == deployment
    assert (tmp_path / "old.yaml").read_bytes() == old
    assert (tmp_path / "kustomization.yaml").read_bytes() == inline
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert notes == [
        f"note: {tmp_path / 'deployment.yaml'}:9: Deployment prod/web: label flagger.kubernetes.io/owned "
        "is Flagger-only; gitcanary ignores it",
        f"note: {tmp_path / 'kustomization.yaml'}:3: inline patch is not YAML; edit it by hand",
        f"note: {tmp_path / 'old.yaml'}:1: Canary -/old: flagger.app/v1alpha3 has no gitcanary equivalent",
    ]


def test_convert_skips_git_and_non_yaml_and_reports_unparsable_flagger_files(tmp_path: Path) -> None:
    canary_text = CORPUS["single-quoted-kind-first.yml"][0]
    for relative in (".git/a.yaml", "notes.txt", "chart.json"):
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        (tmp_path / relative).write_bytes(canary_text)
    helm = b"apiVersion: v1\nkind: ConfigMap\n{{- if .Values.x }}\ndata: {}\n{{- end }}\n"
    broken = b"apiVersion: flagger.app/v1beta1\nkind: Canary\n  metadata: [\n"
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "cm.yaml").write_bytes(helm)
    (tmp_path / "broken.yaml").write_bytes(broken)
    (tmp_path / "z-good.yaml").write_bytes(canary_text)

    result = run("convert", "--write", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path / 'broken.yaml'}: cannot convert, not valid YAML" in result.stderr
    assert "cm.yaml" not in result.stderr, "files that never mention flagger.app are not parsed"
    assert (tmp_path / "z-good.yaml").read_bytes() == CORPUS["single-quoted-kind-first.yml"][1]
    for relative in (".git/a.yaml", "notes.txt", "chart.json"):
        assert (tmp_path / relative).read_bytes() == canary_text
    assert (tmp_path / "broken.yaml").read_bytes() == broken


def test_convert_leaves_the_write_back_corpus_untouched(tmp_path: Path) -> None:
    corpus = Path(__file__).parent / "gitops" / "corpus"
    files = sorted(corpus.glob("*.y*ml"))
    assert len(files) >= 10
    shutil.copytree(corpus, tmp_path / "corpus")
    result = run("convert", "--write", "--check", str(tmp_path / "corpus"))
    assert result.exit_code == 0 and result.stdout == ""
    for path in files:
        assert (tmp_path / "corpus" / path.name).read_bytes() == path.read_bytes()


def _manifest(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False)


def test_check_reports_problems_with_lines_and_keeps_going_past_broken_files(tmp_path: Path) -> None:
    good = canary("prod", "web", step_weight=10)
    flagger = {**canary("prod", "api", iterations=5, template=None), "apiVersion": "flagger.app/v1beta1"}
    bad = canary("prod", "bad", step_weight=10)
    bad["spec"]["analysis"]["threshold"] = "five"
    (tmp_path / "a-broken.yaml").write_text("apiVersion: gitcanary.io/v1beta1\nkind: Canary\n  x: [\n")
    (tmp_path / "b.yaml").write_text(_manifest(good) + "---\n" + _manifest(flagger))
    (tmp_path / "c.yaml").write_text("# leading comment\n" + _manifest(bad))
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "x.yaml").write_text("{{ .Values.x }}: [\n")

    result = run("check", str(tmp_path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'a-broken.yaml'}: cannot parse YAML: ")
    threshold_line = (tmp_path / "c.yaml").read_text().splitlines().index("    threshold: five") + 1
    assert lines[1:] == [
        f"{tmp_path / 'c.yaml'}:{threshold_line}: Canary prod/bad: spec.analysis.threshold: "
        "Input should be a valid integer, got 'five'"
    ]
    assert "checked 3 file(s): 2 problem(s)" in result.stderr

    (tmp_path / "a-broken.yaml").unlink()
    (tmp_path / "c.yaml").unlink()
    clean = run("check", str(tmp_path / "b.yaml"))
    assert (clean.exit_code, clean.stdout) == (0, ""), "a valid flagger.app Canary is judged as converted"


def test_status_row_and_table() -> None:
    live = canary("prod", "web", step_weight=10)
    live["status"] = {
        "phase": "Progressing",
        "canaryWeight": 20,
        "failedChecks": 1,
        "lastTransitionTime": "2024-05-01T10:00:00Z",
        "gitops": {
            "source": {"revision": "main@sha1:0123abcd"},
            "lastWriteBack": {"result": "applied", "commit": "89abcdef0123"},
        },
    }
    fresh = canary("dev", "api-with-a-long-name", step_weight=10)
    rows = [status_row(live), status_row(fresh)]
    assert rows == [
        (
            "prod",
            "web",
            "Progressing",
            "20",
            "1",
            "0",
            "applied 89abcde",
            "main@sha1:0123abcd",
            "2024-05-01T10:00:00Z",
        ),
        ("dev", "api-with-a-long-name", "-", "0", "0", "0", "-", "-", "-"),
    ]
    table = render_table(STATUS_HEADERS, rows).splitlines()
    assert table[0].split() == list(STATUS_HEADERS)
    assert [line.index("STATUS") for line in table[:1]] == [line.index("Progressing") for line in table[1:2]]
    assert all(line == line.rstrip() for line in table)


def test_status_row_shows_inconclusive_checks_and_their_cause() -> None:
    held = canary("prod", "web", step_weight=10)
    held["status"] = {
        "phase": "Progressing",
        "failedChecks": 0,
        "inconclusiveChecks": 2,
        "engine": {
            "lastInconclusive": "request-success-rate inconclusive (timeout): Prometheus query failed"
        },
        "gitops": {"lastWriteBack": {"result": "inconclusive", "commit": "89abcdef0123"}},
    }
    row = status_row(held)
    assert row[STATUS_HEADERS.index("FAILED")] == "0"
    assert row[STATUS_HEADERS.index("INCONCLUSIVE")] == "2(timeout)"
    assert row[STATUS_HEADERS.index("LAST-WRITE-BACK")] == "inconclusive 89abcde"
