"""Debian's Graphite: ``carbon-cache`` (graphite-carbon) storing whisper files, and the
graphite-web Django application (graphite-web) serving its render API.

Both are started on demand (``optional.ensure(base, "graphite")``), not by ``sandbox up``:
nothing but the Graphite tests needs them. carbon-cache listens for the plaintext protocol
(``<path> <value> <unix time>\\n``) and answers graphite-web's cache queries, so a point is
readable through ``/render`` as soon as carbon has received it, before it reaches disk.
graphite-web runs in Twisted's WSGI container (python3-twisted, a dependency of
graphite-carbon) under the system Python, where Debian installs both packages.
Retention is one point per second for six hours.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gitcanary_sandbox import processes

CARBON = "carbon-cache"
WEB = "graphite-web"
SERVICES = (CARBON, WEB)
PORT_NAMES = ("carbon_line", "carbon_pickle", "carbon_query", "graphite_web")
SYSTEM_PYTHON = "/usr/bin/python3"
SETTINGS_MODULE = "gitcanary_graphite_settings"


@dataclass(frozen=True)
class Graphite:
    url: str
    """graphite-web's base URL (``<url>/render``)."""
    line_port: int
    """carbon-cache's plaintext receiver on 127.0.0.1."""


def _require_packages() -> None:
    missing = [
        what
        for what, path in (
            ("graphite-carbon", "/usr/bin/carbon-cache"),
            ("graphite-web", "/usr/lib/python3/dist-packages/graphite/wsgi.py"),
        )
        if not Path(path).exists()
    ]
    if missing:
        raise processes.ServiceFailed(
            f"Graphite needs Debian's {' and '.join(missing)} (scripts/bootstrap.sh installs them)"
        )


def _write_config(root: Path, ports: dict[str, int]) -> Path:
    conf, storage = root / "conf", root / "storage"
    for directory in (conf, storage / "whisper", root / "log", root / "pid"):
        directory.mkdir(parents=True, exist_ok=True)
    (conf / "carbon.conf").write_text(
        f"""[cache]
STORAGE_DIR = {storage}/
LOCAL_DATA_DIR = {storage}/whisper/
CONF_DIR = {conf}/
LOG_DIR = {root}/log/
PID_DIR = {root}/pid/
DATABASE = whisper
ENABLE_LOGROTATION = False
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 5000
MAX_CREATES_PER_MINUTE = inf
ENABLE_UDP_LISTENER = False
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {ports["carbon_line"]}
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {ports["carbon_pickle"]}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {ports["carbon_query"]}
LOG_LISTENER_CONN_SUCCESS = False
"""
    )
    (conf / "storage-schemas.conf").write_text("[default]\npattern = .*\nretentions = 1s:6h\n")
    (root / f"{SETTINGS_MODULE}.py").write_text(
        f"""# graphite-web's local settings for the gitcanary sandbox (generated).
import secrets
SECRET_KEY = secrets.token_hex(32)
GRAPHITE_ROOT = "/usr/share/graphite-web"
STATIC_ROOT = "/usr/share/graphite-web/static"
CONF_DIR = {str(conf)!r}
STORAGE_DIR = {str(storage)!r}
WHISPER_DIR = {str(storage / "whisper")!r}
INDEX_FILE = {str(storage / "index")!r}
LOG_DIR = {str(root / "log")!r}
CARBONLINK_HOSTS = ["127.0.0.1:{ports["carbon_query"]}"]
DATABASES = {{"default": {{"NAME": {str(storage / "graphite.db")!r}, "ENGINE": "django.db.backends.sqlite3"}}}}
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
"""
    )
    return conf / "carbon.conf"


def start_graphite(base: Path, ports: dict[str, int]) -> Graphite:
    """Start carbon-cache and graphite-web under ``<base>/graphite``; wait until both answer."""
    _require_packages()
    root = base / "graphite"
    carbon_conf = _write_config(root, ports)
    carbon = processes.start(
        base, CARBON, ["/usr/bin/carbon-cache", f"--config={carbon_conf}", "--debug", "start"]
    )
    processes.wait_until(
        carbon, lambda: processes.port_open(ports["carbon_line"]), "carbon line receiver", 60
    )
    env = {
        "PYTHONPATH": str(root),
        "GRAPHITE_SETTINGS_MODULE": SETTINGS_MODULE,
        "DJANGO_SETTINGS_MODULE": "graphite.settings",
    }
    # graphite-web's tag and URL-shortener tables; the render API needs the schema to exist.
    migrate = processes.start(
        base, "graphite-migrate", [SYSTEM_PYTHON, "-m", "django", "migrate", "--run-syncdb"], env=env
    )
    deadline = time.monotonic() + 120
    while processes.pid_alive(migrate.pid):
        if time.monotonic() > deadline:
            processes.stop(base, "graphite-migrate")
            raise processes.ServiceFailed(
                f"graphite-web migrate timed out:\n{processes.log_tail(migrate.log)}"
            )
        time.sleep(0.2)
    (base / "pids" / "graphite-migrate.pid").unlink(missing_ok=True)
    port = ports["graphite_web"]
    web = processes.start(
        base,
        WEB,
        [
            SYSTEM_PYTHON,
            "-m",
            "twisted",
            "web",
            "--wsgi",
            "graphite.wsgi.application",
            "--listen",
            f"tcp:{port}:interface=127.0.0.1",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    processes.wait_until(
        web, lambda: processes.http_ok(f"{url}/render?target=test&format=json"), "graphite-web /render", 60
    )
    return Graphite(url=url, line_port=ports["carbon_line"])


def send(line_port: int, points: Iterable[tuple[str, float, float]], timeout: float = 5.0) -> None:
    """Write ``(path, value, unix time)`` points to carbon's plaintext receiver."""
    payload = "".join(f"{path} {value!r} {int(ts)}\n" for path, value, ts in points).encode()
    with socket.create_connection(("127.0.0.1", line_port), timeout=timeout) as sock:
        sock.sendall(payload)
