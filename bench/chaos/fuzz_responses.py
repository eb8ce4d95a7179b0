"""Fuzz forge and metric provider responses through their parsers, over real loopback HTTP.

A scripted server on 127.0.0.1 (``loopback.ScriptedServer``) answers each request with drawn
bytes: any status, hostile headers (``Retry-After: inf``, bogus charsets, a lying
Content-Length) and bodies shaped like the real API with junk in any field, or raw JSON, deep
nesting, numbers with thousands of digits, invalid UTF-8.

Targets:

- ``forges``: GitHub, GitLab and Gitea adapters (``get``, ``open_or_adopt``, ``comment``).
  Only ``ForgeError`` may escape, with a readable message that never holds the token and a
  ``retry_after`` that is None or a finite number of seconds; an answer is a well-typed
  ``PullRequest`` (int number, state open/merged/closed, text fields).
- ``providers``: Prometheus, Datadog and Graphite (``run_query``, ``is_online``). Only
  ``MetricsError`` may escape (readable, no credential); ``run_query`` returns a float that is
  not NaN, ``is_online`` a bool.
- ``remote_urls``: ``RepoRef.parse`` on drawn Git remote URLs: a ``RepoRef`` with a host and an
  owner/name path, or ``RemoteURLError`` (readable).

Run: ``.venv/bin/python bench/chaos/fuzz_responses.py --smoke`` (CI), or ``--cases 10000``.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_support import Target, Violation, main, require_readable
from fuzz_values import junk, sometimes, text
from loopback import ScriptedServer, response

from controller.gitops.forges import (
    ForgeError,
    PullRequest,
    RemoteURLError,
    RepoRef,
    forge_for,
)
from controller.metrics.errors import MetricsError
from controller.metrics.providers import ProviderConfig, provider_for

TOKEN = "tok-9f2c1d7e-secret"
HEAD, BASE = "gitcanary/promote/ns/app/abc123", "main"
SECRETS = {
    "prometheus": {"token": "prom-secret-token"},
    "datadog": {"datadog_api_key": "dd-api-secret", "datadog_application_key": "dd-app-secret"},
    "graphite": {"username": "graphite-user", "password": "graphite-secret-pw"},
}
STATUSES = st.one_of(
    st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503]),
    st.integers(100, 999),
)
HEADERS = st.lists(
    st.one_of(
        st.tuples(
            st.just("Content-Type"),
            st.sampled_from(
                [
                    "application/json",
                    "application/json; charset=utf-16",
                    "text/plain; charset=bogus",
                    "text/html",
                    "application/json; charset=rot13",
                ]
            ),
        ),
        st.tuples(
            st.sampled_from(["Retry-After", "x-ratelimit-reset"]),
            st.sampled_from(
                ["5", "0", "-1", "nan", "inf", "-inf", "1e999", "abc", "", "99999999999999999999"]
            ),
        ),
        st.tuples(st.just("x-ratelimit-remaining"), st.sampled_from(["0", "1"])),
    ),
    max_size=3,
)


def _branch(name: str) -> st.SearchStrategy[Any]:
    repo = st.fixed_dictionaries(
        {}, optional={"full_name": sometimes(st.sampled_from(["org/repo", "other/x"]))}
    )
    return st.fixed_dictionaries({"ref": sometimes(st.just(name))}, optional={"repo": repo})


PR_FIELDS = {
    "number": st.integers(1, 10_000),
    "iid": st.integers(1, 10_000),
    "state": st.sampled_from(["open", "closed", "opened", "merged", "locked", "weird"]),
    "merged": st.booleans(),
    "merged_at": st.sampled_from([None, "2024-01-01T00:00:00Z"]),
    "merge_commit_sha": st.sampled_from([None, "a" * 40, ""]),
    "squash_commit_sha": st.sampled_from([None, "b" * 40]),
    "html_url": st.just("http://forge.test/pr/1"),
    "web_url": st.just("http://forge.test/mr/1"),
    "source_branch": st.just(HEAD),
    "target_branch": st.just(BASE),
    "head": _branch(HEAD),
    "base": _branch(BASE),
}
PULL = st.fixed_dictionaries({}, optional={key: sometimes(value, 6) for key, value in PR_FIELDS.items()})


def _huge_number(digits: int) -> bytes:
    return b'{"number": ' + b"7" * digits + b', "iid": ' + b"7" * digits + b"}"


RAW_BODIES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"", b"null", b"[]", b"{}", b"NaN", b'"text"', b"\xff\xfe{", b'{"message": "\x1b[2J"}']),
    st.integers(1_000, 200_000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([400, 5_000]).map(_huge_number),
)


def _json(value: Any) -> bytes:
    return json.dumps(value, default=str, allow_nan=True).encode()


FORGE_BODIES = st.one_of(
    PULL.map(_json),
    PULL.map(_json),
    st.lists(PULL, max_size=3).map(_json),
    st.lists(PULL, max_size=3).map(_json),
    st.dictionaries(st.sampled_from(["message", "error", "errors"]), junk(), max_size=2).map(_json),
    RAW_BODIES,
)


def _answers(bodies: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    one = st.builds(
        lambda status, headers, body, lie: response(
            status, headers, body, length=len(body) + lie if lie else None
        ),
        STATUSES,
        HEADERS,
        bodies,
        st.sampled_from([0, 0, 0, 0, 0, 0, -1, 5]),
    )
    return st.lists(one, min_size=1, max_size=4)


@cache
def _server() -> ScriptedServer:
    return ScriptedServer()


def _readable_error(where: str, error: Exception, secrets: tuple[str, ...]) -> None:
    message = str(error)
    require_readable(where, message)
    for secret in secrets:
        if secret in message:
            raise Violation("no-credentials", f"{where}: message holds a credential: {message[:200]!r}")


def _check_pull(where: str, pull: object) -> None:
    if not isinstance(pull, PullRequest):
        raise Violation("forge-answer-typed", f"{where} returned {type(pull).__name__}")
    if not (isinstance(pull.number, int) and pull.state in ("open", "merged", "closed")):
        raise Violation("forge-answer-typed", f"{where} returned {pull!r}")
    if not all(isinstance(v, str) for v in (pull.url, pull.head, pull.base)):
        raise Violation("forge-answer-typed", f"{where} returned {pull!r}")


async def _forge_call(provider: str, operation: str) -> object:
    server = _server()
    forge = forge_for(provider, server.url, TOKEN)
    repo = RepoRef("127.0.0.1", "org/repo", "http", server.port)
    if operation == "get":
        return await forge.get(repo, 7)
    if operation == "comment":
        return await forge.comment(repo, 7, "analysis passed")
    return await forge.open_or_adopt(repo, HEAD, BASE, "Promote app", "body")


def check_forge(case: tuple[str, str, list[bytes]]) -> None:
    provider, operation, answers = case
    _server().play(answers)
    where = f"{provider} {operation}"
    try:
        result = asyncio.run(_forge_call(provider, operation))
    except ForgeError as error:
        _readable_error(where, error, (TOKEN,))
        delay = error.retry_after
        if delay is not None and not (math.isfinite(delay) and delay >= 0):
            raise Violation("retry-after-finite", f"{where}: retry_after {delay!r}") from None
        return
    if operation != "comment":
        _check_pull(where, result)


FORGE_CASES = st.tuples(
    st.sampled_from(["github", "gitlab", "gitea"]),
    st.sampled_from(["get", "open_or_adopt", "comment"]),
    _answers(FORGE_BODIES),
)

# --- metric providers ----------------------------------------------------------------------

SAMPLE = st.one_of(
    st.sampled_from(["1", "0.5", "NaN", "+Inf", "-Inf", "1e999", "abc", "", "0x10"]),
    st.floats(allow_nan=True).map(str),
    junk(),
)
PROMETHEUS = st.fixed_dictionaries(
    {"status": sometimes(st.sampled_from(["success", "error"]))},
    optional={
        "data": sometimes(
            st.fixed_dictionaries(
                {"resultType": sometimes(st.sampled_from(["vector", "scalar", "matrix"]))},
                optional={
                    "result": sometimes(
                        st.one_of(
                            st.lists(
                                st.fixed_dictionaries({"value": st.tuples(st.floats(), SAMPLE).map(list)})
                            ),
                            st.tuples(st.floats(), SAMPLE).map(list),
                        )
                    )
                },
            )
        ),
        "errorType": text(),
        "error": text(),
    },
)
POINT = st.lists(
    st.one_of(st.floats(allow_nan=True), st.integers(), st.sampled_from([10**400, None]), junk()), max_size=3
)
DATADOG = st.fixed_dictionaries(
    {},
    optional={
        "series": sometimes(
            st.lists(
                st.fixed_dictionaries({}, optional={"pointlist": sometimes(st.lists(POINT, max_size=3))}),
                max_size=2,
            )
        )
    },
)
GRAPHITE = st.lists(
    st.fixed_dictionaries(
        {}, optional={"target": text(), "datapoints": sometimes(st.lists(POINT, max_size=4))}
    ),
    max_size=3,
)
PROVIDER_BODIES = st.one_of(
    PROMETHEUS.map(_json), DATADOG.map(_json), GRAPHITE.map(_json), RAW_BODIES, junk().map(_json)
)


async def _provider_call(kind: str, operation: str) -> object:
    config = ProviderConfig(kind, _server().url, has_secret=True, timeout=5.0)
    provider = provider_for(config, SECRETS[kind], interval="1m")
    if operation == "is_online":
        return await provider.is_online()
    return await provider.run_query("sum(rate(http_requests_total[1m]))")


def check_provider(case: tuple[str, str, list[bytes]]) -> None:
    kind, operation, answers = case
    _server().play(answers)
    where = f"{kind} {operation}"
    try:
        result = asyncio.run(_provider_call(kind, operation))
    except MetricsError as error:
        _readable_error(where, error, tuple(SECRETS[kind].values()))
        return
    if operation == "is_online":
        if not isinstance(result, bool):
            raise Violation("provider-answer-typed", f"{where} returned {result!r}")
    elif not isinstance(result, float) or math.isnan(result):
        raise Violation("provider-answer-typed", f"{where} returned {result!r}")


PROVIDER_CASES = st.tuples(
    st.sampled_from(["prometheus", "datadog", "graphite"]),
    st.sampled_from(["run_query", "run_query", "is_online"]),
    _answers(PROVIDER_BODIES),
)

# --- remote URLs ---------------------------------------------------------------------------

REMOTES = st.one_of(
    st.builds(
        lambda scheme, user, host, port, path: f"{scheme}{user}{host}{port}{path}",
        st.sampled_from(["https://", "http://", "ssh://", "git://", "ftp://", "", "HTTPS://", "git+ssh://"]),
        st.sampled_from(["", "git@", "user:pw@", "@", "a@b@"]),
        st.sampled_from(["github.com", "gitlab.example.com", "[::1]", "127.0.0.1", "", "host", "[bad"]),
        st.sampled_from(["", ":22", ":8443", ":99999", ":abc", ":"]),
        st.sampled_from(
            ["/org/repo.git", ":org/repo", "/group/sub/project", "/", "/org", "//x//y", "/.git", ""]
        ),
    ),
    text(40),
)


def check_remote(url: str) -> None:
    try:
        repo = RepoRef.parse(url)
    except RemoteURLError as error:
        require_readable("RepoRef.parse", str(error))
        return
    if not repo.host or "/" not in repo.path or not repo.owner or not repo.name:
        raise Violation("remote-ref", f"{url!r} parsed as {repo!r}")


TARGETS = [
    Target("forges", FORGE_CASES, check_forge, smoke_cases=120),
    Target("providers", PROVIDER_CASES, check_provider, smoke_cases=120),
    Target("remote_urls", REMOTES, check_remote, smoke_cases=300),
]

if __name__ == "__main__":
    sys.exit(main("responses", TARGETS))
