"""Debian's InfluxDB (the ``influxdb`` package: 1.6.7 on bookworm), started on demand.

Started by ``optional.ensure(base, "influxdb")``, never by ``sandbox up``. It serves the 1.x
HTTP API: ``/write`` (line protocol) and ``/query`` (InfluxQL). Flux arrived in InfluxDB 1.7
(``[http] flux-enabled``) and its 2.x compatibility endpoint ``/api/v2/query`` in 1.8, so this
server answers the Flux query path that Flagger's provider (and gitcanary's) uses with 404;
``flux-enabled`` is set anyway, so a newer 1.x binary on PATH serves that path too.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gitcanary_sandbox import processes

SERVICE = "influxdb"
SERVICES = (SERVICE,)
PORT_NAMES = ("influxdb_http", "influxdb_rpc")


@dataclass(frozen=True)
class Influx:
    url: str


def _binary() -> str:
    found = shutil.which("influxd") or ("/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None)
    if not found:
        raise processes.ServiceFailed(
            "influxd not found: install Debian's influxdb package (scripts/bootstrap.sh)"
        )
    return found


def start_influxdb(base: Path, ports: dict[str, int]) -> Influx:
    root = base / "influxdb"
    root.mkdir(parents=True, exist_ok=True)
    config = root / "influxdb.conf"
    config.write_text(
        f"""reporting-enabled = false
bind-address = "127.0.0.1:{ports["influxdb_rpc"]}"
[meta]
  dir = "{root / "meta"}"
[data]
  dir = "{root / "data"}"
  wal-dir = "{root / "wal"}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{ports["influxdb_http"]}"
  log-enabled = false
  flux-enabled = true
"""
    )
    svc = processes.start(base, SERVICE, [_binary(), "-config", str(config)])
    url = f"http://127.0.0.1:{ports['influxdb_http']}"
    processes.wait_until(svc, lambda: processes.http_ok(f"{url}/ping"), "influxd /ping", 60)
    return Influx(url=url)


def _post(url: str, body: bytes, timeout: float) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        data: bytes = resp.read(1 << 20)
        return data


def influxql(url: str, statement: str, database: str = "", timeout: float = 10.0) -> dict[str, object]:
    """Run one InfluxQL statement through ``/query``; raise on a statement error."""
    params = {"q": statement, **({"db": database} if database else {})}
    answer = json.loads(_post(f"{url}/query", urllib.parse.urlencode(params).encode(), timeout))
    for result in answer.get("results", []):
        if "error" in result:
            raise RuntimeError(f"influxql {statement!r}: {result['error']}")
    result_map: dict[str, object] = answer
    return result_map


def write_lines(url: str, database: str, lines: list[str], timeout: float = 10.0) -> None:
    """Write line protocol (nanosecond timestamps) to ``database``; 204 is success."""
    _post(f"{url}/write?{urllib.parse.urlencode({'db': database})}", "\n".join(lines).encode(), timeout)
