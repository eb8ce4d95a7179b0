"""What a write-back intent changes in a checked-out repository (real files, no git needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.gitops.edits.apply import EditPolicy, apply_intent, policies_pointing_at, record_file
from controller.gitops.edits.semver_range import satisfies
from controller.gitops.workflow.intents import Intent, make_intent

FAILED = "ghcr.io/stefanprodan/podinfo:6.0.2"
PRIMARY = "ghcr.io/stefanprodan/podinfo:6.0.1"

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: test
spec:
  template:
    spec:
      containers:
        - name: podinfod
          image: ghcr.io/stefanprodan/podinfo:6.0.2 # {"$imagepolicy": "flux-system:podinfo"}
"""

# kustomization images: a name + tag pair for the same policy
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [deployment.yaml]
images:
  - name: podinfo
    newName: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
    newTag: 6.0.2 # {"$imagepolicy": "flux-system:podinfo:tag"}
"""

# another policy on the same repository that still holds the good tag
STABLE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo-stable
  namespace: test
spec:
  template:
    spec:
      containers:
        - name: podinfod
          image: ghcr.io/stefanprodan/podinfo:6.0.1 # {"$imagepolicy": "flux-system:podinfo-stable"}
"""

# a digest-pinned image elsewhere in the repository
PINNED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: redis
  namespace: test
spec:
  template:
    spec:
      containers:
        - name: redis
          image: docker.io/library/redis:7.2 # {"$imagepolicy": "flux-system:redis"}
          env:
            - name: PINNED_DIGEST
              value: sha256:%s # {"$imagepolicy": "flux-system:redis:digest"}
""" % ("ab" * 32)

POLICIES = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: podinfo
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: '>=6.0.0 <7.0.0'
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: podinfo-stable
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: podinfo
  policy:
    semver:
      range: '~6.0.0'
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: redis
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: redis
  policy:
    alphabetical:
      order: asc
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: redis
  namespace: flux-system
spec:
  image: docker.io/library/redis
  interval: 5m
"""

CANARY_PINS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: prod
spec:
  template:
    spec:
      containers:
        - name: podinfod
          image: ghcr.io/stefanprodan/podinfo:6.0.0 # {"$gitcanary": "test:podinfo"}
        - name: sidecar
          image: ghcr.io/stefanprodan/podinfo:6.0.0 # {"$gitcanary": "prod:other"}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: versions
data:
  tag: 6.0.0 # {"$gitcanary": "test:podinfo:tag"}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    files = {
        "apps/podinfo/deployment.yaml": APP,
        "apps/podinfo/kustomization.yaml": KUSTOMIZATION,
        "apps/stable/deployment.yaml": STABLE,
        "apps/redis/deployment.yaml": PINNED,
        "clusters/prod/pins.yaml": CANARY_PINS,
        "flux-system/image-automation.yaml": POLICIES,
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def intent(kind: str = "rollback", path: str = "./", image: str = PRIMARY, previous: str = FAILED) -> Intent:
    return make_intent(
        kind=kind,  # type: ignore[arg-type]
        canary="test/podinfo",
        revision="rev-b",
        repository="https://git.example.com/fleet.git",
        branch="main",
        path=path,
        image=image,
        previous_image=previous,
        result="rolled-back" if kind == "rollback" else "promoted",
        analysis="error-rate 69.17% > 1% (5/5 failed checks)",
        source_revision="main@sha1:0123abcd",
        now=1_700_000_000.0,
    )


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def policy_range(root: Path, name: str) -> str:
    docs = yaml.safe_load_all((root / "flux-system/image-automation.yaml").read_text())
    (policy,) = [d for d in docs if d["kind"] == "ImagePolicy" and d["metadata"]["name"] == name]
    return str(policy["spec"]["policy"]["semver"]["range"])


# -- policies_pointing_at --------------------------------------------------------------------------
def test_only_policies_holding_the_failed_image_are_found(repo: Path) -> None:
    assert policies_pointing_at(repo, FAILED) == ["flux-system:podinfo"]
    assert policies_pointing_at(repo, PRIMARY) == ["flux-system:podinfo-stable"]
    assert policies_pointing_at(repo, "ghcr.io/stefanprodan/podinfo:9.9.9") == []


def test_a_repository_name_alone_does_not_point_at_an_image(repo: Path) -> None:
    """The `:name` marker holds only the repository, which every tag of it shares."""
    (repo / "apps/podinfo/deployment.yaml").unlink()
    (repo / "apps/podinfo/kustomization.yaml").write_text(
        KUSTOMIZATION.replace("newTag: 6.0.2", "newTag: 6.0.1")
    )
    assert policies_pointing_at(repo, FAILED) == []


def test_images_without_tag_or_digest_do_not_break_the_search(repo: Path) -> None:
    """A digest marker elsewhere, and a failed image lacking a tag, are simply not matches."""
    digest_only = "ghcr.io/stefanprodan/podinfo@sha256:" + "cd" * 32
    assert policies_pointing_at(repo, digest_only) == []
    assert policies_pointing_at(repo, "docker.io/library/redis@sha256:" + "ab" * 32) == ["flux-system:redis"]


# -- rollback --------------------------------------------------------------------------------------
def test_rollback_reverts_quarantines_and_records(repo: Path) -> None:
    before = snapshot(repo)
    todo = intent()
    changed = apply_intent(repo, todo)
    after = snapshot(repo)
    changed_rel = sorted(str(p.relative_to(repo)) for p in changed)
    assert changed_rel == sorted(
        [
            "apps/podinfo/deployment.yaml",
            "apps/podinfo/kustomization.yaml",
            "flux-system/image-automation.yaml",
            ".gitcanary/test/podinfo.txt",
        ]
    )
    assert after["apps/podinfo/deployment.yaml"] == APP.replace(FAILED, PRIMARY)
    assert after["apps/podinfo/kustomization.yaml"] == KUSTOMIZATION.replace("newTag: 6.0.2", "newTag: 6.0.1")
    # other policies untouched, even the one on the same image repository
    for untouched in ("apps/stable/deployment.yaml", "apps/redis/deployment.yaml", "clusters/prod/pins.yaml"):
        assert after[untouched] == before[untouched]
    # quarantine: the failed version is excluded from podinfo's range only
    assert not satisfies(policy_range(repo, "podinfo"), "6.0.2")
    assert satisfies(policy_range(repo, "podinfo"), "6.0.3")
    assert policy_range(repo, "podinfo-stable") == "~6.0.0"
    record = after[".gitcanary/test/podinfo.txt"]
    assert record.splitlines() == [
        "canary: test/podinfo",
        "result: rolled-back",
        f"image: {PRIMARY}",
        f"previous-image: {FAILED}",
        "analysis: error-rate 69.17% > 1% (5/5 failed checks)",
        "source: main@sha1:0123abcd",
        f"intent: {todo.id}",
    ]
    assert record_file(repo, "test/podinfo") == repo / ".gitcanary/test/podinfo.txt"


def test_reapplying_a_rollback_changes_nothing(repo: Path) -> None:
    apply_intent(repo, intent())
    before = snapshot(repo)
    assert apply_intent(repo, intent()) == []
    assert snapshot(repo) == before


def test_rollback_of_a_non_semver_policy_uses_the_exclusion_list(repo: Path) -> None:
    failed = "docker.io/library/redis:7.2"
    good = "docker.io/library/redis:7.1@sha256:" + "ef" * 32
    changed = apply_intent(repo, intent(image=good, previous=failed))
    assert repo / "flux-system/image-automation.yaml" in changed
    docs = list(yaml.safe_load_all((repo / "flux-system/image-automation.yaml").read_text()))
    (repository,) = [d for d in docs if d["kind"] == "ImageRepository"]
    assert repository["spec"]["exclusionList"] == [r"^.*\.sig$", r"^7\.2$"]
    deployment = (repo / "apps/redis/deployment.yaml").read_text()
    assert f"image: {good} #" in deployment
    assert "value: sha256:" + "ef" * 32 + " #" in deployment


def test_rollback_scoped_to_a_path_leaves_other_directories(repo: Path) -> None:
    # the same failed image under apps/stable is outside the intent's path
    (repo / "apps/stable/deployment.yaml").write_text(STABLE.replace(PRIMARY, FAILED))
    apply_intent(repo, intent(path="./apps/podinfo"))
    assert FAILED in (repo / "apps/stable/deployment.yaml").read_text()
    assert FAILED not in (repo / "apps/podinfo/deployment.yaml").read_text()


@pytest.mark.parametrize(
    ("policy", "reverted", "quarantined", "recorded"),
    [
        (EditPolicy(revert=False), False, True, True),
        (EditPolicy(quarantine=False), True, False, True),
        (EditPolicy(record=False), True, True, False),
        (EditPolicy(revert=False, quarantine=False, record=False), False, False, False),
    ],
)
def test_rollback_switches_are_respected(
    repo: Path, policy: EditPolicy, reverted: bool, quarantined: bool, recorded: bool
) -> None:
    changed = apply_intent(repo, intent(), policy)
    assert (FAILED not in (repo / "apps/podinfo/deployment.yaml").read_text()) is reverted
    assert (not satisfies(policy_range(repo, "podinfo"), "6.0.2")) is quarantined
    assert record_file(repo, "test/podinfo").exists() is recorded
    assert (changed == []) is not (reverted or quarantined or recorded)


def test_rollback_without_previous_image_only_records(repo: Path) -> None:
    before = snapshot(repo)
    changed = apply_intent(repo, intent(previous=""))
    assert changed == [record_file(repo, "test/podinfo")]
    after = snapshot(repo)
    del after[".gitcanary/test/podinfo.txt"]
    assert after == before


def test_rollback_of_a_revision_that_kept_the_image_never_quarantines_the_primary_tag(repo: Path) -> None:
    """A failed config-only revision: the primary's tag must stay selectable by image automation."""
    before = snapshot(repo)
    notes: list[str] = []
    changed = apply_intent(repo, intent(image=PRIMARY, previous=PRIMARY), notes=notes)
    assert changed == [record_file(repo, "test/podinfo")]
    after = snapshot(repo)
    del after[".gitcanary/test/podinfo.txt"]
    assert after == before
    assert notes and "kept the image" in notes[0] and PRIMARY in notes[0]


# -- promotion -------------------------------------------------------------------------------------
def test_promotion_pins_gitcanary_markers_of_this_canary(repo: Path) -> None:
    promoted = "ghcr.io/stefanprodan/podinfo:6.0.2"
    changed = apply_intent(repo, intent("promotion", image=promoted, previous=PRIMARY))
    assert sorted(str(p.relative_to(repo)) for p in changed) == [
        ".gitcanary/test/podinfo.txt",
        "clusters/prod/pins.yaml",
    ]
    pins = (repo / "clusters/prod/pins.yaml").read_text()
    expected = CANARY_PINS.replace(
        'podinfo:6.0.0 # {"$gitcanary": "test:podinfo"}', 'podinfo:6.0.2 # {"$gitcanary": "test:podinfo"}'
    ).replace(
        'tag: 6.0.0 # {"$gitcanary": "test:podinfo:tag"}', 'tag: 6.0.2 # {"$gitcanary": "test:podinfo:tag"}'
    )
    assert pins == expected
    assert 'podinfo:6.0.0 # {"$gitcanary": "prod:other"}' in pins  # another canary's marker
    assert FAILED in (repo / "apps/podinfo/deployment.yaml").read_text()  # $imagepolicy left alone
    assert "result: promoted" in record_file(repo, "test/podinfo").read_text()
    assert apply_intent(repo, intent("promotion", image=promoted, previous=PRIMARY)) == []


def test_promotion_pin_switch(repo: Path) -> None:
    promoted = "ghcr.io/stefanprodan/podinfo:6.0.2"
    changed = apply_intent(repo, intent("promotion", image=promoted), EditPolicy(pin=False))
    assert changed == [record_file(repo, "test/podinfo")]
    assert "6.0.2" not in (repo / "clusters/prod/pins.yaml").read_text()


# -- scope -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["../outside", "apps/../../outside", "./../outside", "apps/../.."])
def test_a_path_leaving_the_repository_is_refused(repo: Path, path: str) -> None:
    (repo.parent / "outside").mkdir(exist_ok=True)
    before = snapshot(repo)
    with pytest.raises(ValueError, match="leaves the repository"):
        apply_intent(repo, intent(path=path))
    assert snapshot(repo) == before


def test_a_symlink_out_of_the_repository_is_refused(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    (repo / "apps/escape").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="leaves the repository"):
        apply_intent(repo, intent(path="./apps/escape"))


@pytest.mark.parametrize(
    "path", ["", ".", "./", "/", "apps/..", "./apps/podinfo", "apps/podinfo/", "/apps/podinfo"]
)
def test_paths_inside_the_repository_are_accepted(repo: Path, path: str) -> None:
    apply_intent(repo, intent(path=path))
    assert FAILED not in (repo / "apps/podinfo/deployment.yaml").read_text()


def test_a_dot_directory_is_not_mistaken_for_its_undotted_name(repo: Path) -> None:
    """`./.hidden` is `.hidden`, not `hidden`."""
    for name in (".hidden", "hidden"):
        (repo / name).mkdir()
        (repo / name / "deployment.yaml").write_text(APP)
    (repo / "apps/podinfo/deployment.yaml").unlink()
    (repo / "apps/podinfo/kustomization.yaml").unlink()
    apply_intent(repo, intent(path="./.hidden"))
    assert FAILED not in (repo / ".hidden/deployment.yaml").read_text()
    assert FAILED in (repo / "hidden/deployment.yaml").read_text()


def test_intent_kind_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown intent kind"):
        Intent(
            id="x",
            kind="revert",  # type: ignore[arg-type]
            canary="test/podinfo",
            repository="",
            branch="main",
            path="./",
            image=PRIMARY,
            previous_image=FAILED,
            result="",
            analysis="",
            source_revision="",
            created_at=0.0,
        )
