from __future__ import annotations

import pytest

from controller.metrics.errors import TemplateError
from controller.metrics.template import MODEL_VARIABLES, TemplateContext, render_query


def context(**overrides: object) -> TemplateContext:
    values: dict[str, object] = {
        "name": "podinfo",
        "namespace": "test",
        "target": "podinfo-deploy",
        "service": "podinfo-svc",
        "ingress": "podinfo-ing",
        "interval": "2m",
        "variables": {"direction": "inbound", "my-key": "dashed"},
    }
    values.update(overrides)
    return TemplateContext(**values)  # type: ignore[arg-type]


def test_every_model_variable_renders_its_own_value() -> None:
    ctx = context()
    rendered = render_query(" ".join(f"{{{{ {v} }}}}" for v in MODEL_VARIABLES), ctx)
    assert rendered == "podinfo test podinfo-deploy podinfo-svc podinfo-ing 2m"


def test_variables_field_access_and_index_form() -> None:
    query = 'x{direction="{{ variables.direction }}",k="{{ index variables "my-key" }}"}'
    assert render_query(query, context()) == 'x{direction="inbound",k="dashed"}'


def test_documented_flagger_example_renders() -> None:
    query = """histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{
        namespace="{{ namespace }}", deployment=~"{{ target }}",
        direction="{{ variables.direction }}" }[{{ interval }}])) by (le))"""
    rendered = render_query(query, context())
    assert 'namespace="test"' in rendered
    assert 'deployment=~"podinfo-deploy"' in rendered
    assert 'direction="inbound"' in rendered
    assert "[2m]" in rendered
    assert "{{" not in rendered


def test_spacing_inside_braces_is_optional() -> None:
    assert render_query("{{target}}/{{  namespace  }}", context()) == "podinfo-deploy/test"


def test_trim_markers_remove_adjacent_whitespace() -> None:
    assert render_query("a   {{- target -}}   b", context()) == "apodinfo-deployb"
    assert render_query("a {{- target }} b", context()) == "apodinfo-deploy b"


def test_comments_render_to_nothing() -> None:
    assert render_query("a{{/* note */}}b", context()) == "ab"


def test_unknown_variable_raises_with_the_available_names() -> None:
    with pytest.raises(TemplateError, match=r"unknown template variable 'canary'.*namespace"):
        render_query("{{ canary }}", context())


def test_missing_template_variable_names_the_key() -> None:
    with pytest.raises(TemplateError, match="'missing' is not set in templateVariables"):
        render_query("{{ variables.missing }}", context())


def test_unsupported_go_template_actions_are_rejected() -> None:
    with pytest.raises(TemplateError, match="unsupported template action"):
        render_query("{{ .Target }}", context())
    with pytest.raises(TemplateError, match="unsupported template action"):
        render_query('{{ printf "%s" target }}', context())


def test_unbalanced_delimiters_are_rejected() -> None:
    with pytest.raises(TemplateError, match="unbalanced"):
        render_query("sum(x) {{ target", context())


def test_values_are_inserted_literally_not_rendered_again() -> None:
    ctx = context(variables={"v": "{{ target }}"})
    assert render_query("{{ variables.v }}", ctx) == "{{ target }}"


def test_plain_promql_braces_pass_through() -> None:
    query = 'sum(rate(x{a="1"}[1m])) by (le)'
    assert render_query(query, context()) == query


def test_for_canary_applies_flagger_defaults() -> None:
    ctx = TemplateContext.for_canary(name="podinfo", namespace="test", target="podinfo-deploy")
    assert (ctx.service, ctx.ingress, ctx.interval) == ("podinfo-deploy", "podinfo-deploy", "1m")
    explicit = TemplateContext.for_canary(
        name="p", namespace="n", target="t", service="s", ingress="i", interval="30s", variables={"a": "b"}
    )
    assert (explicit.service, explicit.ingress, explicit.interval) == ("s", "i", "30s")
    assert dict(explicit.variables) == {"a": "b"}
