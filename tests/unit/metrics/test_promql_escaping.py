"""Template variables cannot break out of a PromQL string literal or label matcher."""

from __future__ import annotations

import pytest

from controller.metrics.checks import MetricCheck, TemplateSpec, evaluate
from controller.metrics.errors import TemplateError
from controller.metrics.providers import ProviderConfig
from controller.metrics.template import TemplateContext, render_promql, render_query
from tests.recording_http import RecordingServer, Reply


def ctx(**variables: str) -> TemplateContext:
    return TemplateContext.for_canary(name="podinfo", namespace="test", target="podinfo", variables=variables)


QUERY = (
    'sum(rate(http_requests_total{namespace="{{ namespace }}",app=~"{{ variables.app }}"}[{{ interval }}]))'
)


def test_a_double_quote_cannot_close_the_label_matcher() -> None:
    rendered = render_promql(QUERY, ctx(app='x"} or vector(1) or up{a="'))
    assert rendered == (
        'sum(rate(http_requests_total{namespace="test",app=~"x\\"} or vector(1) or up{a=\\""}[1m]))'
    )


def test_a_trailing_backslash_cannot_escape_the_closing_quote() -> None:
    query = 'x{a="{{ variables.a }}",b="{{ variables.b }}"}'
    rendered = render_promql(query, ctx(a="\\", b="} or vector(1) #"))
    assert rendered == 'x{a="\\\\",b="} or vector(1) #"}'


def test_newlines_and_single_quotes_are_escaped_for_their_literal() -> None:
    assert render_promql("x{a='{{ variables.a }}'}", ctx(a="it's\nme")) == "x{a='it\\'s\\nme'}"
    assert render_promql('x{a="{{ variables.a }}"}', ctx(a="line1\nline2")) == 'x{a="line1\\nline2"}'


def test_a_backtick_cannot_end_a_raw_string() -> None:
    with pytest.raises(TemplateError, match="backtick"):
        render_promql("x{a=~`{{ variables.a }}`}", ctx(a="` or vector(1) or `"))


def test_values_written_for_flagger_with_regex_escapes_render_as_before() -> None:
    assert render_promql('x{path=~"{{ variables.p }}"}', ctx(p="/api/.*\\\\.json")) == (
        'x{path=~"/api/.*\\\\.json"}'
    )


def test_a_value_outside_any_string_must_be_a_plain_token() -> None:
    with pytest.raises(TemplateError, match="outside a quoted string"):
        render_promql("sum(rate({{ variables.metric }}[1m]))", ctx(metric="up[1m])) or vector(1) #"))
    assert render_promql("sum(rate({{ variables.metric }}[{{ interval }}]))", ctx(metric="http_total")) == (
        "sum(rate(http_total[1m]))"
    )


def test_quotes_inside_comments_do_not_change_the_context() -> None:
    query = '# a "comment\nx{a="{{ variables.a }}"}'
    assert render_promql(query, ctx(a='"')) == '# a "comment\nx{a="\\""}'


def test_plain_text_rendering_is_unchanged() -> None:
    assert render_query("{{ variables.a }}", ctx(a='a"b')) == 'a"b'


async def test_prometheus_template_checks_send_the_escaped_query(http_server: RecordingServer) -> None:
    http_server.reply_with(Reply(body={"status": "success", "data": {"resultType": "vector", "result": []}}))
    template = TemplateSpec(
        name="errors",
        namespace="test",
        provider=ProviderConfig(type="prometheus", address=http_server.url),
        query='sum(x{app="{{ variables.app }}"})',
    )
    check = MetricCheck(
        name="errors", template=template, threshold_max=1, template_variables={"app": 'a"} or vector(1) #'}
    )
    (result,) = await evaluate([check], ctx(), metrics_server=None)
    assert result.ok is False
    assert http_server.requests[0].query["query"] == ['sum(x{app="a\\"} or vector(1) #"})']
