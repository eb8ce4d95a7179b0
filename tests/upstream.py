"""Test data that comes from outside the project, found without anything beside the clone.

- ``SEEDS``: the seed documents, copied into ``tests/seeds`` (see its README).
- ``flagger_crd_file()``: Flagger's own CRDs, from the ``github.com/fluxcd/flagger``
  module at the pinned version, hash-checked (``sandbox/gitcanary_sandbox/upstream_crds.py``).
"""

from __future__ import annotations

from pathlib import Path

from gitcanary_sandbox import upstream_crds

SEEDS = Path(__file__).resolve().parent / "seeds"


def flagger_crd_file() -> Path:
    (path,) = upstream_crds.crd_files(("flagger",))
    return path
