"""A ``}}`` in a query's text is literal, as in Go's text/template (Flagger renders queries with it):
compact JSON such as a CloudWatch MetricDataQuery list ends with ``}}]``."""

from __future__ import annotations

import json

import pytest

from controller.metrics.errors import TemplateError
from controller.metrics.template import TemplateContext, render_query


def context() -> TemplateContext:
    return TemplateContext.for_canary(name="podinfo", namespace="test", target="podinfo")


def test_closing_braces_in_text_are_literal() -> None:
    query = json.dumps(
        [{"Id": "e1", "MetricStat": {"Metric": {"Namespace": "{{ namespace }}", "MetricName": "Errors"}}}]
    )
    assert json.loads(render_query(query, context()))[0]["MetricStat"]["Metric"] == {
        "Namespace": "test",
        "MetricName": "Errors",
    }
    assert render_query('{"a": {"b": 1}}', context()) == '{"a": {"b": 1}}'


def test_an_unclosed_action_is_still_an_error() -> None:
    with pytest.raises(TemplateError, match="unbalanced"):
        render_query("x {{ target", context())
