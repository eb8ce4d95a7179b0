"""The Helm chart (charts/gitcanary) lints, renders, and cannot drift from the repository.

Rendered with the real helm built from its Go module (sandbox/gitcanary_sandbox/helm_binary.py). What
keeps the chart in step with the rest of the repository:
- its crds/ are byte-for-byte the repository's crds/*.yaml;
- its RBAC grants exactly what flux/'s install grants (compared as (group, resource, verb) sets,
  read from flux/ at test time);
- with default values its Deployment runs the same arguments, environment, probes, security
  contexts, volumes and replicas as flux/deployment.yaml;
- every option of ``gitcanary run`` is a value (read from the click command at test time);
- appVersion is the project version; tests/helm-values-all.yaml sets every key of values.yaml;
- the HelmRelease example (flux/helmrelease.yaml) points at this chart and sets only known values.
The server-side dry runs of these renders are in tests/integration/test_helm_chart.py.
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from controller import sharding
from controller.cli.main import run as run_command
from controller.url_policy import UrlPolicy
from gitcanary_sandbox.helm_binary import helm_path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "gitcanary"
ALL_VALUES = REPO / "tests" / "helm-values-all.yaml"
RELEASE = "gitcanary"
NAMESPACE = "gitcanary-system"
# Options of `gitcanary run` that are no chart value, and why.
NOT_VALUES = {
    "--kubeconfig": "in a Pod the controller uses its ServiceAccount (in-cluster config)",
    "--slack-token": "a credential: the key slack-token of controller.alerts.secretName, never an argument",
}
# values.yaml keys whose children are Kubernetes fields (documented upstream), not chart knobs.
KUBERNETES_BLOCKS = {
    "strategy",
    "podSecurityContext",
    "securityContext",
    "resources",
    "livenessProbe",
    "readinessProbe",
}
Obj = dict[str, Any]


def helm() -> Path:
    binary = helm_path()
    assert binary.exists(), f"{binary} is missing: run ./scripts/bootstrap.sh (it builds helm)"
    return binary


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm()), *args], capture_output=True, text=True, timeout=120)


def template_text(*args: str, release: str = RELEASE, namespace: str = NAMESPACE) -> str:
    proc = run_helm("template", release, str(CHART), "--namespace", namespace, *args)
    assert proc.returncode == 0, f"helm template {' '.join(args)}: {proc.stderr.strip()}"
    return proc.stdout


def render(*args: str, release: str = RELEASE, namespace: str = NAMESPACE) -> list[Obj]:
    text = template_text(*args, release=release, namespace=namespace)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def the(docs: list[Obj], kind: str) -> Obj:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kinds(docs: list[Obj]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def container(docs: list[Obj]) -> Obj:
    (only,) = the(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(only)


def load_yaml(path: Path) -> Obj:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


# -- flux/, read at test time ---------------------------------------------------------------------


def flux_install() -> list[Obj]:
    """Every object of the files flux/kustomization.yaml lists (../crds aside)."""
    kustomization = load_yaml(REPO / "flux" / "kustomization.yaml")
    docs: list[Obj] = []
    for resource in kustomization["resources"]:
        path = REPO / "flux" / resource
        if path.is_file():
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def grants(roles: list[Obj]) -> set[tuple[str, str, str]]:
    """The (apiGroup, resource, verb) triples the rules of these roles allow."""
    found: set[tuple[str, str, str]] = set()
    for role in roles:
        for rule in role.get("rules") or []:
            assert not rule.get("resourceNames") and not rule.get("nonResourceURLs"), rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    found |= {(group, resource, verb) for verb in rule["verbs"]}
    return found


def of_kind(docs: list[Obj], kind: str) -> list[Obj]:
    return [d for d in docs if d["kind"] == kind]


# -- lint and the basics --------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, ALL_VALUES], ids=["defaults", "all-values"])
def test_helm_lint_passes_strict(values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["--values", str(values)] if values else [])
    proc = run_helm(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


def test_app_version_is_the_project_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert load_yaml(CHART / "Chart.yaml")["appVersion"] == version
    assert container(render())["image"] == f"ghcr.io/gitcanary/gitcanary:{version}"


def test_chart_crds_are_the_repository_crds() -> None:
    repository = {
        p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml") if p.name != "kustomization.yaml"
    }
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").iterdir()}
    assert sorted(chart) == sorted(repository)
    for name, content in repository.items():
        assert chart[name] == content, f"charts/gitcanary/crds/{name} differs from crds/{name}: copy it again"
    rendered = render("--include-crds")
    names = {d["metadata"]["name"] for d in of_kind(rendered, "CustomResourceDefinition")}
    assert names == {"canaries.gitcanary.io", "metrictemplates.gitcanary.io", "alertproviders.gitcanary.io"}


def _values_lines() -> Iterator[tuple[int, list[str], str]]:
    """(line number, key path, previous non-blank line) of every key line of values.yaml."""
    stack: list[tuple[int, str]] = []
    previous = ""
    for number, raw in enumerate((CHART / "values.yaml").read_text().splitlines(), 1):
        stripped = raw.strip()
        if not stripped:
            continue
        indent = len(raw) - len(raw.lstrip())
        if not stripped.startswith(("#", "-")) and ":" in stripped:
            while stack and stack[-1][0] >= indent:
                stack.pop()
            key = stripped.split(":", 1)[0].strip().strip('"')
            stack.append((indent, key))
            yield number, [k for _, k in stack], previous
        previous = stripped


def test_every_value_has_a_comment() -> None:
    uncommented = [
        f"values.yaml:{number}: {'.'.join(path)}"
        for number, path, previous in _values_lines()
        if not previous.startswith("#") and not (set(path[:-1]) & KUBERNETES_BLOCKS)
        # A block's first key may share the block's comment only when the block is a Kubernetes one.
    ]
    assert not uncommented, "values without a comment above them:\n" + "\n".join(uncommented)


def chart_defaults() -> Obj:
    return load_yaml(CHART / "values.yaml")


def leaf_paths(values: Obj, shape: Obj | None = None, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Key paths of the chart's knobs, following the shape of values.yaml: a key whose default is
    a Kubernetes block or a free-form map (empty by default) counts as one value."""
    shape = chart_defaults() if shape is None else shape
    paths: set[tuple[str, ...]] = set()
    for key, value in values.items():
        path = (*prefix, key)
        default = shape.get(key)
        if isinstance(value, dict) and isinstance(default, dict) and default and key not in KUBERNETES_BLOCKS:
            paths |= leaf_paths(value, default, path)
        else:
            paths.add(path)
    return paths


def test_all_values_file_sets_every_value() -> None:
    defaults = leaf_paths(chart_defaults())
    everything = leaf_paths(load_yaml(ALL_VALUES))
    missing = sorted(".".join(p) for p in defaults - everything)
    assert not missing, f"tests/helm-values-all.yaml does not set: {missing}"
    unknown = sorted(".".join(p) for p in everything - defaults)
    assert not unknown, f"tests/helm-values-all.yaml sets values the chart does not have: {unknown}"


# -- what the defaults render ---------------------------------------------------------------------


def test_defaults_render_the_flux_install_without_options() -> None:
    docs = render()
    assert kinds(docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    assert {d["metadata"]["name"] for d in docs if d["kind"] not in {"Role", "RoleBinding"}} == {"gitcanary"}
    for doc in docs:
        if doc["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]


def test_default_deployment_runs_like_flux_deployment() -> None:
    (flux,) = of_kind(flux_install(), "Deployment")
    chart = the(render(), "Deployment")
    flux_pod, chart_pod = flux["spec"]["template"]["spec"], chart["spec"]["template"]["spec"]
    (flux_container,) = flux_pod["containers"]
    chart_container = chart_pod["containers"][0]
    assert chart["spec"]["replicas"] == flux["spec"]["replicas"]
    assert chart["spec"]["strategy"] == flux["spec"]["strategy"]
    for key in ("securityContext", "terminationGracePeriodSeconds", "volumes", "serviceAccountName"):
        assert chart_pod[key] == flux_pod[key], key
    for key in (
        "image",
        "args",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "securityContext",
        "volumeMounts",
        "imagePullPolicy",
    ):
        assert chart_container[key] == flux_container[key], key
    by_name = {e["name"]: e for e in chart_container["env"]}
    assert by_name == {e["name"]: e for e in flux_container["env"]}


def test_default_rbac_grants_exactly_what_flux_grants() -> None:
    flux, chart = flux_install(), render()
    assert grants(of_kind(chart, "ClusterRole")) == grants(of_kind(flux, "ClusterRole"))
    assert grants(of_kind(chart, "Role")) == grants(of_kind(flux, "Role"))
    assert ("coordination.k8s.io", "leases", "create") in grants(of_kind(chart, "Role"))
    service_account = the(chart, "ServiceAccount")["metadata"]
    expected = {"kind": "ServiceAccount", "name": service_account["name"], "namespace": NAMESPACE}
    for binding in of_kind(chart, "ClusterRoleBinding") + of_kind(chart, "RoleBinding"):
        assert binding["subjects"] == [expected]
        roles = of_kind(chart, binding["roleRef"]["kind"])
        assert binding["roleRef"]["name"] in {r["metadata"]["name"] for r in roles}


def test_default_security_context_is_locked_down() -> None:
    docs = render()
    pod = the(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(docs)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_default_service_serves_health_and_metrics() -> None:
    docs = render()
    service = the(docs, "Service")
    pod_labels = the(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("http", 8080), ("metrics", 8081)]
    assert service["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8081",
    }


def test_default_pdb_keeps_one_replica_like_flux() -> None:
    docs = render()
    pdb = the(docs, "PodDisruptionBudget")["spec"]
    (flux,) = of_kind(flux_install(), "PodDisruptionBudget")
    assert {k: v for k, v in pdb.items() if k != "selector"} == {
        k: v for k, v in flux["spec"].items() if k != "selector"
    }
    assert pdb == {
        "minAvailable": 1,
        "selector": the(docs, "Deployment")["spec"]["selector"],
    }


# -- every controller flag is a value -------------------------------------------------------------


def run_options() -> list[str]:
    """The long option names of `gitcanary run`, from the click command itself."""
    names: list[str] = []
    for param in run_command.params:
        if isinstance(param, click.Option):
            names += [o for o in param.opts if o.startswith("--")]
    return names


def test_every_run_flag_is_set_by_the_all_values_render() -> None:
    args = container(render("--values", str(ALL_VALUES)))["args"]
    for option in run_options():
        if option in NOT_VALUES:
            continue
        assert any(a == option or a.startswith(f"{option}=") for a in args), (
            f"`gitcanary run {option}` is no chart value: add it to controller in values.yaml "
            "and one line to gitcanary.args in templates/_helpers.tpl"
        )


def test_all_values_render_exact_arguments() -> None:
    assert container(render("--values", str(ALL_VALUES)))["args"] == [
        "run",
        "--namespace=team-a",
        "--namespace=team-b",
        "--metrics-server=http://prometheus.monitoring:9090",
        "--mesh-provider=istio",
        "--health=http://0.0.0.0:9080/healthz",
        "--metrics-addr=0.0.0.0:9081",
        "--max-concurrent-canaries=1000000",
        "--allow-cross-namespace-refs",
        "--allow-file-remotes",
        "--leader-elect",
        "--leader-election-namespace=gitcanary-leases",
        "--watch-label-selector=sharding.fluxcd.io/key=shard1",
        "--allowed-url=https://hooks.example.com/gitcanary/",
        "--allowed-url=10.0.0.0/8",
        "--verbose",
        "--slack-url=https://hooks.slack.com/services/T0/B0/example",
        "--slack-proxy-url=http://proxy.example.com:3128",
        "--slack-user=gitcanary-prod",
        "--slack-channel=deploys",
        "--msteams-url=https://example.webhook.office.com/webhookb2/example",
        "--msteams-proxy-url=http://proxy.example.com:3129",
        "--discord-url=https://discord.com/api/webhooks/1/example",
        "--discord-proxy-url=http://proxy.example.com:3130",
        "--event-webhook=https://events.example.com/gitcanary",
        "--cluster-name=prod-eu-1",
        "--verbose",
    ]


def test_rendered_args_are_accepted_by_gitcanary_run() -> None:
    """The all-values arguments parse with the real click command (no unknown or bad flag)."""
    args = container(render("--values", str(ALL_VALUES)))["args"]
    assert args[0] == "run"
    context = run_command.make_context("run", list(args[1:]))
    assert context.params["namespaces"] == ("team-a", "team-b")
    assert context.params["leader_elect"] is True
    assert context.params["max_concurrent_canaries"] == 1000000
    assert context.params["allowed_urls"] == ("https://hooks.example.com/gitcanary/", "10.0.0.0/8")
    # What `run` validates after parsing: the allow-list and the shard selector.
    UrlPolicy.from_entries(context.params["allowed_urls"])
    sharding.parse(context.params["watch_label_selector"])


# -- every other value ----------------------------------------------------------------------------


def test_all_values_render_every_object() -> None:
    docs = render("--values", str(ALL_VALUES))
    assert kinds(docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    ]
    values = load_yaml(ALL_VALUES)
    deployment = the(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    ctr = container(docs)
    assert deployment["metadata"]["name"] == "gc-all"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == values["strategy"]
    assert ctr["image"] == f"registry.example.com/platform/gitcanary@{values['image']['digest']}"
    assert ctr["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["serviceAccountName"] == "gc-all-controller"
    assert pod["securityContext"] == values["podSecurityContext"]
    assert ctr["securityContext"] == values["securityContext"]
    assert ctr["resources"] == values["resources"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "priorityClassName"):
        assert pod[key] == values[key], key
    assert pod["terminationGracePeriodSeconds"] == 45
    template_meta = deployment["spec"]["template"]["metadata"]
    assert template_meta["annotations"] == values["podAnnotations"]
    assert template_meta["labels"]["example.com/tier"] == "control"
    assert template_meta["labels"]["app.kubernetes.io/name"] == "canary-controller"
    assert values["extraEnv"][0] in ctr["env"]
    assert ctr["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "http"},
        **values["livenessProbe"],
    }
    assert ctr["readinessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "http"},
        **values["readinessProbe"],
    }
    assert [p["containerPort"] for p in ctr["ports"]] == [9080, 9081]
    limits = {v["name"]: v["emptyDir"]["sizeLimit"] for v in pod["volumes"]}
    assert limits == {"git-cache": "5Gi", "home": "32Mi", "tmp": "32Mi"}
    account = the(docs, "ServiceAccount")["metadata"]
    assert account["annotations"] == values["serviceAccount"]["annotations"]
    service = the(docs, "Service")
    assert service["spec"]["type"] == "NodePort"
    assert service["metadata"]["annotations"] == {"example.com/owner": "platform"}
    assert [p["port"] for p in service["spec"]["ports"]] == [9080, 9081]
    assert the(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 2
    for kind in ("Role", "RoleBinding"):
        assert the(docs, kind)["metadata"]["namespace"] == "gitcanary-leases"


def test_namespaces_value_adds_namespace_watch_to_the_cluster_role() -> None:
    docs = render("--values", str(ALL_VALUES))
    extra = grants(of_kind(docs, "ClusterRole")) - grants(of_kind(flux_install(), "ClusterRole"))
    assert extra == {("", "namespaces", "list"), ("", "namespaces", "watch")}


def test_service_monitor_scrapes_the_metrics_port_of_the_service() -> None:
    docs = render("--values", str(ALL_VALUES))
    monitor, service = the(docs, "ServiceMonitor"), the(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    values = load_yaml(ALL_VALUES)["serviceMonitor"]
    assert endpoint == {
        "port": "metrics",
        "path": "/metrics",
        "interval": values["interval"],
        "scrapeTimeout": values["scrapeTimeout"],
        "honorLabels": True,
        "relabelings": values["relabelings"],
        "metricRelabelings": values["metricRelabelings"],
    }


def test_image_tag_value_wins_over_app_version_without_digest() -> None:
    docs = render("--set", "image.tag=9.9.9", "--set", "image.repository=example.com/gc")
    assert container(docs)["image"] == "example.com/gc:9.9.9"


def test_single_instance_without_leader_election() -> None:
    docs = render(
        "--set",
        "replicaCount=1",
        "--set",
        "controller.leaderElect=false",
        "--set",
        "strategy.type=Recreate",
        "--set",
        "strategy.rollingUpdate=null",
    )
    assert kinds(docs) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount"]
    deployment = the(docs, "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--leader-elect" not in container(docs)["args"]


def test_more_than_one_replica_without_leader_election_is_refused() -> None:
    proc = run_helm(
        "template", RELEASE, str(CHART), "--set", "replicaCount=2", "--set", "controller.leaderElect=false"
    )
    assert proc.returncode != 0
    assert "replicaCount above 1 needs controller.leaderElect" in proc.stderr


def test_pdb_can_be_forced_on_or_off() -> None:
    assert of_kind(render("--set", "podDisruptionBudget.enabled=false"), "PodDisruptionBudget") == []
    single = render(
        "--set",
        "replicaCount=1",
        "--set",
        "podDisruptionBudget.enabled=true",
        "--set",
        "podDisruptionBudget.minAvailable=null",
        "--set",
        "podDisruptionBudget.maxUnavailable=1",
    )
    spec = the(single, "PodDisruptionBudget")["spec"]
    assert spec["maxUnavailable"] == 1
    assert "minAvailable" not in spec


def test_existing_service_account_and_no_rbac() -> None:
    docs = render(
        "--set",
        "serviceAccount.create=false",
        "--set",
        "serviceAccount.name=shared",
        "--set",
        "rbac.create=false",
    )
    assert kinds(docs) == ["Deployment", "PodDisruptionBudget", "Service"]
    assert the(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "shared"


# -- the Flux HelmRelease example -----------------------------------------------------------------


def helm_release_example() -> list[Obj]:
    return [d for d in yaml.safe_load_all((REPO / "flux" / "helmrelease.yaml").read_text()) if d]


def test_helm_release_example_installs_this_chart_with_known_values(tmp_path: Path) -> None:
    docs = helm_release_example()
    release = the(docs, "HelmRelease")
    source = the(docs, "GitRepository")
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2"
    chart = release["spec"]["chart"]["spec"]
    assert (REPO / chart["chart"] / "Chart.yaml").is_file()
    assert chart["sourceRef"] == {"kind": "GitRepository", "name": source["metadata"]["name"]}
    assert source["metadata"]["namespace"] == release["metadata"]["namespace"]
    namespace = the(docs, "Namespace")["metadata"]
    assert release["spec"]["targetNamespace"] == namespace["name"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    values = release["spec"]["values"]
    unknown = leaf_paths(values) - leaf_paths(chart_defaults())
    assert not unknown, f"the HelmRelease sets values the chart does not have: {sorted(unknown)}"
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    args = container(render("--values", str(values_file)))["args"]
    assert "--mesh-provider=istio" in args


def test_helm_release_example_is_not_part_of_the_flux_kustomization() -> None:
    """flux/ is applied as-is by `kubectl apply -k flux/`; the chart is the alternative to it."""
    assert "helmrelease.yaml" not in load_yaml(REPO / "flux" / "kustomization.yaml")["resources"]
