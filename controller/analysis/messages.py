"""Event and alert wording, kept identical to Flagger's so that dashboards and habits carry over.

Invariants:
- Flagger names some events after the Canary (`name.namespace`) and others after the target
  workload (`target.namespace`); each function here uses the same one Flagger does.
- Messages about inconclusive checks have no Flagger counterpart (Flagger has no such outcome):
  `checks_answer_again`, `rolling_back_inconclusive`, `rolling_back_hold_deadline`.
- The other messages without a Flagger counterpart are `revision_matches_primary` and the
  kubernetes-provider notices' one-shot timing (Flagger repeats them every tick).
"""

from __future__ import annotations

from controller.analysis.model import AnalysisSpec

__all__ = [
    "advance_canary_weight",
    "advance_iteration",
    "advance_primary_weight",
    "analysis_skipped_alert",
    "canary_failed",
    "checks_answer_again",
    "copying_spec",
    "external_check_failed",
    "halt_not_ready",
    "halt_waiting_approval",
    "halt_waiting_promotion_approval",
    "halt_waiting_traffic_approval",
    "halt_with",
    "initialization_done",
    "initialization_done_alert",
    "new_revision",
    "new_revision_alert",
    "pre_rollout_failed",
    "promotion_completed",
    "promotion_completed_alert",
    "promotion_skipped",
    "restarting_analysis",
    "revision_matches_primary",
    "rolling_back_deadline",
    "rolling_back_hold_deadline",
    "rolling_back_inconclusive",
    "rolling_back_manual",
    "rolling_back_threshold",
    "starting_analysis",
]


def _canary(spec: AnalysisSpec) -> str:
    return f"{spec.name}.{spec.namespace}"


def _target(spec: AnalysisSpec) -> str:
    return f"{spec.target}.{spec.namespace}"


def _primary(spec: AnalysisSpec) -> str:
    return f"{spec.target}-primary.{spec.namespace}"


def initialization_done(spec: AnalysisSpec) -> str:
    return f"Initialization done! {_canary(spec)}"


def initialization_done_alert(spec: AnalysisSpec) -> str:
    return f"New {spec.target_kind} detected, initialization completed."


def new_revision(spec: AnalysisSpec) -> str:
    return f"New revision detected! Scaling up {_target(spec)}"


def new_revision_alert() -> str:
    return "New revision detected, progressing canary analysis."


def restarting_analysis(spec: AnalysisSpec) -> str:
    return f"New revision detected! Restarting analysis for {_target(spec)}"


def revision_matches_primary(spec: AnalysisSpec) -> str:
    return f"Revision of {_target(spec)} matches {_primary(spec)}, no analysis needed"


def starting_analysis(spec: AnalysisSpec) -> str:
    return f"Starting canary analysis for {_target(spec)}"


def halt_not_ready(spec: AnalysisSpec, which: str, detail: str) -> str:
    workload = _primary(spec) if which == "primary" else _target(spec)
    return f"Halt advancement {workload} {detail}".rstrip()


def halt_with(spec: AnalysisSpec, detail: str) -> str:
    """A failed check, e.g. "Halt podinfo.test advancement error rate 69.17% > 1%"."""
    return f"Halt {_canary(spec)} advancement {detail}"


def external_check_failed(spec: AnalysisSpec, webhook: str, error: str) -> str:
    return halt_with(spec, f"external check {webhook} failed {error}".rstrip())


def pre_rollout_failed(spec: AnalysisSpec, webhook: str, error: str) -> str:
    return halt_with(spec, f"pre-rollout check {webhook} failed {error}".rstrip())


def halt_waiting_slot(spec: AnalysisSpec) -> str:
    return halt_with(spec, "waiting for an analysis slot (max-concurrent-canaries reached)")


def halt_waiting_approval(spec: AnalysisSpec, webhook: str) -> str:
    return halt_with(spec, f"waiting for approval {webhook}").rstrip()


def halt_waiting_traffic_approval(spec: AnalysisSpec, webhook: str) -> str:
    return halt_with(spec, f"waiting for traffic increase approval {webhook}").rstrip()


def halt_waiting_promotion_approval(spec: AnalysisSpec, webhook: str) -> str:
    return halt_with(spec, f"waiting for promotion approval {webhook}").rstrip()


def advance_canary_weight(spec: AnalysisSpec, weight: int) -> str:
    return f"Advance {_canary(spec)} canary weight {weight}"


def advance_iteration(spec: AnalysisSpec, iteration: int, total: int) -> str:
    return f"Advance {_canary(spec)} canary iteration {iteration}/{total}"


def advance_primary_weight(spec: AnalysisSpec, weight: int) -> str:
    return f"Advance {_canary(spec)} primary weight {weight}"


def copying_spec(spec: AnalysisSpec) -> str:
    return f"Copying {_target(spec)} template spec to {_primary(spec)}"


def rolling_back_threshold(spec: AnalysisSpec, failed_checks: int) -> str:
    return f"Rolling back {_canary(spec)} failed checks threshold reached {failed_checks}"


def rolling_back_deadline(spec: AnalysisSpec, detail: str) -> str:
    return f"Rolling back {_canary(spec)} progress deadline exceeded {detail}".rstrip()


def rolling_back_manual(spec: AnalysisSpec) -> str:
    return f"Rolling back {_canary(spec)} manual webhook invoked"


def canary_failed(spec: AnalysisSpec) -> str:
    return f"Canary failed! Scaling down {_canary(spec)}"


def promotion_completed(spec: AnalysisSpec) -> str:
    return f"Promotion completed! Scaling down {_target(spec)}"


def promotion_completed_alert() -> str:
    return "Canary analysis completed successfully, promotion finished."


def promotion_skipped(spec: AnalysisSpec) -> str:
    return f"Promotion completed! Canary analysis was skipped for {_target(spec)}"


def analysis_skipped_alert() -> str:
    return "Canary analysis was skipped, promotion finished."


def checks_answer_again(spec: AnalysisSpec, held: int) -> str:
    return f"Checks of {_canary(spec)} answer again after {held} inconclusive interval(s): resuming"


def rolling_back_inconclusive(spec: AnalysisSpec, count: int) -> str:
    return f"Rolling back {_canary(spec)} inconclusive checks threshold reached {count}"


def rolling_back_hold_deadline(spec: AnalysisSpec, held: float) -> str:
    return (
        f"Rolling back {_canary(spec)} checks inconclusive for {held:.0f}s, "
        f"past the progress deadline of {spec.progress_deadline_seconds:.0f}s"
    )
