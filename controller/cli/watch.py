"""``gitcanary status -w``: the status table, drawn again whenever a Canary changes.

One list call gives the first table and a resourceVersion; then one watch stream from that
resourceVersion feeds every ADDED, MODIFIED and DELETED event into the table, which is drawn
again when its text changed. Nothing is polled: between events nothing is read.

The API server ends each watch after its ``timeoutSeconds``; the loop then watches again from
the last resourceVersion it saw (BOOKMARK events keep it recent). A ``410 Gone`` (that version
was compacted away) starts over with a fresh list. Any other API or transport error ends the
command with exit status 1: a watch that silently stopped would show a stale table.

Invariants:
- ``--timeout`` bounds the whole run, not one stream; reaching it exits 0.
- Ctrl-C exits 0 without a traceback; the HTTP client is closed either way.
- On a terminal each table replaces the previous one (cursor home, clear screen); into a pipe
  or file every table is printed in turn, followed by a blank line, so no state is lost.
- Rendering is the caller's (``gitcanary status`` passes its own table), so the watch and the
  one-shot command cannot drift apart.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final, TextIO

import httpx

from controller.api import API_VERSION
from controller.kube import Kube, KubeError

__all__ = ["CanaryTable", "watch_status"]

Obj = dict[str, Any]
Render = Callable[[Sequence[Obj]], str]

WATCH_WINDOW_S: Final = 300
"""Longest single watch request; the server closes it and the loop watches again."""
CLEAR_SCREEN: Final = "\x1b[H\x1b[2J"


class WatchExpired(Exception):
    """The resourceVersion the watch started from is too old (410 Gone): list again."""


class CanaryTable:
    """The Canaries last seen, keyed by namespace and name, and the text last drawn."""

    def __init__(self, render: Render) -> None:
        self.render = render
        self.canaries: dict[tuple[str, str], Obj] = {}
        self.drawn: str | None = None

    def reset(self, items: Sequence[Obj]) -> None:
        self.canaries = {_key(obj): obj for obj in items}

    def apply(self, event_type: str, obj: Obj) -> None:
        if event_type == "DELETED":
            self.canaries.pop(_key(obj), None)
        elif event_type in ("ADDED", "MODIFIED"):
            self.canaries[_key(obj)] = obj

    def changed_text(self) -> str | None:
        """The table's text if it differs from the text last drawn (then it counts as drawn)."""
        text = self.render(list(self.canaries.values()))
        if text == self.drawn:
            return None
        self.drawn = text
        return text


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def _headers(kube: Kube) -> dict[str, str]:
    return {"Accept": "application/json", **kube.auth_headers()}


async def _list(kube: Kube, path: str) -> tuple[list[Obj], str]:
    """The Canaries and the list's resourceVersion."""
    try:
        resp = await kube.http.get(path, headers=_headers(kube))
    except httpx.HTTPError as exc:
        raise KubeError(f"GET {path}: {type(exc).__name__}: {exc}") from None
    if resp.status_code >= 400:
        raise KubeError(f"GET {path}: {resp.text[:500]}", resp.status_code)
    body = resp.json()
    return list(body.get("items") or []), str((body.get("metadata") or {}).get("resourceVersion") or "")


async def _events(kube: Kube, path: str, resource_version: str, seconds: int) -> AsyncIterator[Obj]:
    """The events of one watch request, until the server ends it (after ``seconds``)."""
    query = {
        "watch": "1",
        "resourceVersion": resource_version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(seconds),
    }
    # The server closes the stream after `seconds`; reads may idle that long between events.
    timeout = httpx.Timeout(connect=5.0, read=seconds + 15.0, write=15.0, pool=5.0)
    try:
        async with kube.http.stream(
            "GET", path, params=query, headers=_headers(kube), timeout=timeout
        ) as resp:
            if resp.status_code == 410:
                raise WatchExpired()
            if resp.status_code >= 400:
                text = (await resp.aread()).decode(errors="replace")[:500]
                raise KubeError(f"watch {path}: {text}", resp.status_code)
            async for line in resp.aiter_lines():
                if line.strip():
                    yield json.loads(line)
    except httpx.HTTPError as exc:
        raise KubeError(f"watch {path}: {type(exc).__name__}: {exc}") from None


async def _follow(kube: Kube, namespace: str | None, table: CanaryTable, draw: Callable[[str], None]) -> None:
    """Draw the table, then draw it again after every change, until cancelled."""
    path = await kube.path(API_VERSION, "Canary", namespace)
    while True:  # one list, then watches from its resourceVersion until it expires
        items, version = await _list(kube, path)
        table.reset(items)
        text = table.changed_text()
        if text is not None:
            draw(text)
        try:
            while True:
                async for event in _events(kube, path, version, WATCH_WINDOW_S):
                    kind, obj = str(event.get("type", "")), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise WatchExpired()
                        raise KubeError(f"watch {path}: {obj.get('message', obj)}", int(obj.get("code") or 0))
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    table.apply(kind, obj)
                    text = table.changed_text()
                    if text is not None:
                        draw(text)
        except WatchExpired:
            continue


def _drawer(out: TextIO) -> Callable[[str], None]:
    terminal = out.isatty()

    def draw(text: str) -> None:
        out.write(f"{CLEAR_SCREEN}{text}\n" if terminal else f"{text}\n\n")
        out.flush()

    return draw


async def _watch(
    kubeconfig: str | None, namespace: str | None, timeout: float | None, render: Render
) -> None:
    kube = Kube.from_kubeconfig(kubeconfig)
    try:
        follow = _follow(kube, namespace, CanaryTable(render), _drawer(sys.stdout))
        try:
            await asyncio.wait_for(follow, timeout)
        except TimeoutError:
            return  # --timeout reached: a normal end
    finally:
        await kube.close()


def watch_status(kubeconfig: str | None, namespace: str | None, timeout: float | None, render: Render) -> int:
    """Watch the Canaries of ``namespace`` (None: all) and draw ``render(canaries)`` on every
    change, for at most ``timeout`` seconds (None: until Ctrl-C). Returns the exit status."""
    try:
        asyncio.run(_watch(kubeconfig, namespace, timeout, render))
    except KeyboardInterrupt:
        return 0
    except KubeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
