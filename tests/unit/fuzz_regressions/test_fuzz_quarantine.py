"""ImagePolicies the quarantine fuzz campaign (bench/chaos/fuzz_semver.py) found, as regressions.

The contract (controller.gitops.edits.quarantine): the edited file still parses, and the range now
excludes the tag.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.gitops.edits.quarantine import quarantine_tag
from controller.gitops.edits.semver_range import satisfies

POLICY = """\
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app
  namespace: ns
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver: {semver}
"""


@pytest.mark.parametrize(
    ("semver", "tag"),
    [
        # Found: ", != 10.0.0-rc.1" appended to a plain scalar inside a flow mapping ends the
        # scalar at the comma, and "!=" then reads as a YAML tag: the file no longer parses.
        ("{range: v10-rc.1 - vX.X.X}", "v10-rc.1"),
        # (Not "{range: >=1.0.0}": a plain scalar cannot start with ">", so that file is not
        # YAML to libyaml, PyYAML or ruamel.yaml before any edit; the quoted case below covers it.)
        ("{range: ^1.0.0}", "1.2.3"),
        ("{range: 1.0.0 - 2.0.0, other: x}", "1.2.3"),
        ("{range: '>=1.0.0', other: x}", "1.2.3"),
    ],
)
def test_a_range_in_a_flow_mapping_still_parses_after_quarantine(
    tmp_path: Path, semver: str, tag: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(semver=semver))
    assert quarantine_tag(tmp_path, "ns:app", tag) == [path]
    document = yaml.safe_load(path.read_text())
    new_range = document["spec"]["policy"]["semver"]["range"]
    assert not satisfies(new_range, tag)
