"""A small, typed, async Kubernetes access layer over httpx.

Objects are plain dicts. Writes use server-side apply (field manager
``gitcanary``) so every write is idempotent: applying the same object twice is
a no-op, which is what crash-safe reconciliation needs. Resource plurals come
from API discovery, cached per group/version. Every call has a timeout.

Connection settings (server, CA, client certificate, token, exec plugins) are
read by the official client's kubeconfig loader; the requests themselves go
through one shared ``httpx.AsyncClient``, so the event loop never blocks.

``shared_reads()`` lets one reconcile tick read each object once: inside it, a GET of an
object already read answers from that read (a private copy), until the block writes anything
(an Event aside), after which every object is read again. Outside it, every GET goes to the
API server.

``observe`` feeds a store of watched objects (the operator feeds it the targets and primaries
its Deployment and DaemonSet watch delivers). A GET of a stored object answers from the store
when the entry was refreshed (by a watch event, a GET or one of our writes) within
``WATCH_FRESH_S`` and no write happened yet in the tick (``shared_reads``); otherwise it goes
to the API server and refreshes the entry. An entry is only ever replaced by the same object
at a newer resourceVersion, and every write of ours stores the object it returned, so a tick
never reads an object older than its own last write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import httpx
from kubernetes import client, config

from controller.errors import TemporaryError
from controller.kube.reads import Key, WatchStore, current_reads, note_write
from controller.kube.reads import shared_reads as shared_reads  # the tick's block: re-exported

FIELD_MANAGER = "gitcanary"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
LEAN_DEADLINE_S = 30.0
"""A lean request's total deadline (connect, send, the whole answer)."""
LEAN_CONNECT_S = 5.0
"""A lean request's TCP (and TLS) connect; the wait for a free connection counts only in the total."""
LEAN_CONNECTIONS = 64
LEAN_MAX_BYTES = 64 * 1024 * 1024
"""The largest answer a lean request reads (a list of every object of a kind is the largest)."""

Obj = dict[str, Any]


class KubeError(TemporaryError, RuntimeError):
    """An API call failed; ``status`` is the HTTP status (0 when none). Temporary: the tick that
    met it keeps the old state and runs again (``controller.errors``)."""

    def __init__(self, message: str, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    cfg = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call,unused-ignore]
        return cfg
    try:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call,unused-ignore]
    except config.ConfigException:
        config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call,unused-ignore]
    return cfg


def _ssl_context(cfg: client.Configuration) -> ssl.SSLContext:
    if not cfg.verify_ssl:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    if cfg.cert_file and cfg.key_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    return ctx


def _error_detail(content: bytes) -> tuple[str, str]:
    """(message, reason) of a Kubernetes Status body, or the raw text of any other body."""
    text = content.decode(errors="replace")
    try:
        detail = json.loads(content)
    except ValueError:
        return text[:500], ""
    if not isinstance(detail, dict):
        return text[:500], ""
    return str(detail.get("message", text[:500])), str(detail.get("reason", ""))


def _base(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


class Kube:
    def __init__(
        self, cfg: client.Configuration, timeout: httpx.Timeout = DEFAULT_TIMEOUT, *, lean: bool = False
    ) -> None:
        """``lean``: the verbs go through one aiohttp session (a quarter of httpx's CPU per
        request; the operator's hot path, see ``_exchange``); ``http`` stays an httpx client
        for the callers that stream or build their own requests."""
        self.cfg = cfg
        self.lean = lean
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self.http = httpx.AsyncClient(
            base_url=cfg.host,
            verify=_ssl_context(cfg),
            timeout=timeout,
            # every connection kept: a connection closed after a burst is a TLS handshake later,
            # and fewer connections are cheaper for httpcore to scan on every request
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self._plurals: dict[tuple[str, str], tuple[str, bool]] = {}
        self._discovery_lock = asyncio.Lock()
        self.watched: WatchStore | None = None

    def watch_kinds(self, kinds: set[tuple[str, str]]) -> None:
        """Serve GETs of these (apiVersion, kind) from what ``observe`` is fed (see the module)."""
        self.watched = WatchStore(kinds)

    def observe(self, obj: Obj, deleted: bool = False) -> None:
        """A watch event of a watched kind: store the object (or forget it when deleted)."""
        if self.watched is None:
            return
        meta = obj.get("metadata") or {}
        if deleted:
            key = (
                str(obj.get("apiVersion")),
                str(obj.get("kind")),
                meta.get("namespace"),
                str(meta.get("name")),
            )
            self.watched.forget(key)
        else:
            self.watched.put(obj)

    def holds(self, obj: Obj) -> bool:
        """The store already holds this object at this resourceVersion or newer (``observe``)."""
        return self.watched is not None and self.watched.holds(obj)

    @contextlib.contextmanager
    def _forgotten_on_error(self, key: Key) -> Iterator[None]:
        """A write that failed (a 409 above all: someone else changed the object) leaves the
        stored copy in doubt: the next GET goes to the API server."""
        try:
            yield
        except KubeError:
            if self.watched is not None:
                self.watched.forget(key)
            raise

    def _stored(self, obj: Obj | None) -> None:
        if self.watched is not None and isinstance(obj, dict) and obj.get("metadata"):
            self.watched.put(obj)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None = None, *, lean: bool = False) -> Kube:
        return cls(load_configuration(kubeconfig), lean=lean)

    async def close(self) -> None:
        await self.http.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- transport ---------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        """The token header the official client would send: a kubeconfig token or the in-cluster
        ServiceAccount token (re-read by the loader's refresh hook when it rotates). The loaders
        keep it under ``api_key["BearerToken"]`` (``["authorization"]`` in older releases); both
        are read through ``auth_settings()``. Empty with a client certificate."""
        bearer = self.cfg.auth_settings().get("BearerToken")
        return {"Authorization": str(bearer["value"])} if bearer and bearer.get("value") else {}

    def _headers(self, content_type: str) -> dict[str, str]:
        return {"Accept": "application/json", "Content-Type": content_type, **self.auth_headers()}

    async def _call(
        self,
        method: str,
        path: str,
        body: object | None = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        status, content = await self._exchange(method, path, body, query, content_type)
        if status >= 400:
            message, reason = _error_detail(content)
            raise KubeError(f"{method} {path}: {message}", status, reason)
        return json.loads(content) if content else None

    async def _exchange(
        self, method: str, path: str, body: object | None, query: Mapping[str, str] | None, content_type: str
    ) -> tuple[int, bytes]:
        """One request: (status, body). Lean: aiohttp, a total deadline of ``LEAN_DEADLINE_S``
        and a body capped at ``LEAN_MAX_BYTES``; else the httpx client and its timeouts."""
        if not self.lean:
            try:
                resp = await self.http.request(
                    method, path, params=dict(query or {}), json=body, headers=self._headers(content_type)
                )
            except httpx.HTTPError as exc:
                raise KubeError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
            return resp.status_code, resp.content
        data = json.dumps(body).encode() if body is not None else None
        try:
            async with self._lean_session().request(
                method,
                self.cfg.host + path,
                params=dict(query or {}),
                data=data,
                headers=self._headers(content_type),
            ) as answer:
                if (answer.content_length or 0) > LEAN_MAX_BYTES:
                    raise KubeError(
                        f"{method} {path}: an answer of {answer.content_length} bytes is too large"
                    )
                chunks, size = [], 0
                async for chunk in answer.content.iter_chunked(1 << 16):
                    size += len(chunk)
                    if size > LEAN_MAX_BYTES:
                        raise KubeError(
                            f"{method} {path}: an answer over {LEAN_MAX_BYTES} bytes is too large"
                        )
                    chunks.append(chunk)
                return answer.status, b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(f"{method} {path}: {type(exc).__name__}: {exc}") from None

    def _lean_session(self) -> aiohttp.ClientSession:
        """One session per event loop (a session belongs to the loop it was made on)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session_loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=_ssl_context(self.cfg), limit=LEAN_CONNECTIONS)
            # connect=5 would count the wait for a free connection too, and time out the queue
            # of a burst (200 Canaries at once); sock_connect is the TCP connect alone
            timeout = aiohttp.ClientTimeout(total=LEAN_DEADLINE_S, connect=None, sock_connect=LEAN_CONNECT_S)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            self._session_loop = loop
        return self._session

    async def resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) for a kind, from discovery."""
        key = (api_version, kind)
        if key in self._plurals:
            return self._plurals[key]
        async with self._discovery_lock:
            if key not in self._plurals:
                listing = await self._call("GET", _base(api_version))
                for res in listing.get("resources", []):
                    if "/" not in res["name"]:
                        self._plurals[(api_version, res["kind"])] = (res["name"], bool(res["namespaced"]))
        if key not in self._plurals:
            raise KubeError(f"the API server does not serve {kind} in {api_version}", 404, "NotFound")
        return self._plurals[key]

    async def path(self, api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
        plural, namespaced = await self.resource(api_version, kind)
        parts = [_base(api_version)]
        if namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(plural)
        if name:
            parts.append(name)
        return "/".join(parts)

    # -- verbs ------------------------------------------------------------------------------
    async def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> Obj | None:
        reads, key = current_reads(), (api_version, kind, namespace, name)
        if reads is not None and key in reads.objects:
            found: Obj | None = json.loads(reads.objects[key])
            return found
        writes = reads.writes if reads is not None else 0
        if self.watched is not None and (api_version, kind) in self.watched.kinds and not writes:
            stored = self.watched.fresh(key)
            if stored is not None:
                if reads is not None:
                    reads.objects[key] = stored
                seen: Obj = json.loads(stored)
                return seen
        obj: Obj | None
        try:
            obj = await self._call("GET", await self.path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status != 404:
                raise
            obj = None
        if obj is None and self.watched is not None:
            self.watched.forget(key)
        self._stored(obj)
        if reads is not None and reads.open and reads.writes == writes:  # no write while it ran
            reads.objects[key] = json.dumps(obj)
        return obj

    async def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[Obj]:
        query = {"labelSelector": label_selector} if label_selector else None
        result = await self._call("GET", await self.path(api_version, kind, namespace), query=query)
        items: list[Obj] = result["items"]
        return items

    async def apply(self, obj: Obj, force: bool = True) -> Obj:
        """Server-side apply; returns the live object."""
        meta = obj["metadata"]
        note_write(obj["kind"])
        path = await self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        query = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        key = (obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        with self._forgotten_on_error(key):
            live: Obj = await self._call(
                "PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml"
            )
        self._stored(live)
        return live

    async def merge_patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Obj,
        subresource: str = "",
        *,
        resource_version: str | None = None,
    ) -> Obj:
        """JSON merge patch. With ``resource_version`` the write is conditional: it carries
        ``metadata.resourceVersion`` and fails with a 409 ``KubeError`` if the object changed."""
        note_write(kind)
        path = await self.path(api_version, kind, namespace, name) + (
            f"/{subresource}" if subresource else ""
        )
        if resource_version:
            patch = {
                **patch,
                "metadata": {**(patch.get("metadata") or {}), "resourceVersion": resource_version},
            }
        with self._forgotten_on_error((api_version, kind, namespace, name)):
            live: Obj = await self._call(
                "PATCH", path, body=patch, content_type="application/merge-patch+json"
            )
        self._stored(live)
        return live

    async def create(self, obj: Obj) -> Obj:
        meta = obj["metadata"]
        note_write(obj["kind"])
        path = await self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"))
        created: Obj = await self._call("POST", path, body=obj)
        self._stored(created)
        return created

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        note_write(kind)
        if self.watched is not None:
            self.watched.forget((api_version, kind, namespace, name))
        try:
            await self._call("DELETE", await self.path(api_version, kind, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True
