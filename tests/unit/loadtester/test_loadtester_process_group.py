"""The deadline kills the whole process group, not only the program it started.

Orphans are reparented to PID 1, and some container inits kill what they inherit, which would hide
a leftover. So the check runs in a child Python that is a subreaper (prctl PR_SET_CHILD_SUBREAPER):
the orphans become its children and stay alive unless the load tester killed them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from controller.loadtester.commands import run_command
from tests.process_table import processes_mentioning

SCRIPT = r"""
import asyncio, ctypes, json, os, signal, sys, time
from controller.loadtester import commands
from tests.process_table import processes_mentioning

PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
if sys.argv[1] == "leader-only":  # the defect the test must catch: kill the program alone
    def leader_only(pgid):
        try:
            os.kill(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
    commands._kill_group = leader_only
marker = sys.argv[2]
result = asyncio.run(commands.run_command(["sh", "-c", f"sleep {marker} & sleep {marker}; wait"], 0.5, 100))
time.sleep(0.3)
left = processes_mentioning(f"sleep {marker}")
for pid in left:
    os.kill(pid, signal.SIGKILL)
for pid in left:
    os.waitpid(pid, 0)
print(json.dumps({"timed_out": result.timed_out, "left": len(left)}))
"""


def run(mode: str, marker: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, marker], capture_output=True, text=True, timeout=60, cwd="."
    )
    assert proc.returncode == 0, proc.stderr
    loaded: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return loaded


def test_the_deadline_leaves_no_process_of_the_group_alive() -> None:
    assert run("group", "37.0001") == {"timed_out": True, "left": 0}


def test_the_check_sees_leftovers_when_only_the_program_is_killed() -> None:
    """The same check against the defect: killing only the program leaves both sleeps."""
    assert run("leader-only", "37.0002") == {"timed_out": True, "left": 2}


async def test_a_program_that_exits_is_done_even_if_it_left_a_child_holding_its_output() -> None:
    """The program's exit ends the run: a background child it left (holding the output pipe) is
    killed, instead of keeping the run, and the webhook, waiting until the deadline."""
    started = time.monotonic()
    result = await run_command(["sh", "-c", "echo started; sleep 38.5 & exit 0"], 20, 100)
    assert result.ok and result.output == b"started\n"
    assert time.monotonic() - started < 5
    assert processes_mentioning("sleep 38.5") == []
