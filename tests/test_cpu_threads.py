"""torch's OpenMP threads wait passively once modlayers is imported (modlayers/lessons/cpu_threads.py), measured in a
fresh process by the CPU time OpenMP's worker thread burns while the main thread sleeps between parallel ops."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modlayers.lessons.cpu_threads import prefer_passive_waiting

ROOT = Path(__file__).resolve().parent.parent

# Prints the CPU seconds that threads other than the main one used while the main thread slept 100 x 5 ms
# between small parallel matrix products, then the policy in the environment and whether modlayers thinks
# passive waiting is in effect.
SPIN_PROBE = """
import sys, threading, time
if sys.argv[1] == "modlayers-first":
    import modlayers
import psutil, torch
import modlayers.lessons.cpu_threads
torch.set_num_threads(2)
x = torch.randn(256, 256)
me, main = psutil.Process(), threading.get_native_id()
def others_cpu():
    return sum(t.user_time + t.system_time for t in me.threads() if t.id != main)
for _ in range(3):
    x @ x
before = others_cpu()
for _ in range(100):
    x @ x
    time.sleep(0.005)
import os
print(others_cpu() - before, os.environ.get("OMP_WAIT_POLICY"), modlayers.lessons.cpu_threads.PASSIVE_WAITING_IN_EFFECT)
"""


def probe(order: str, policy: str | None) -> tuple[float, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", SPIN_PROBE, order], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout.split()
    return float(out[0]), out[1], out[2]


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU times and GNU OpenMP: Linux")
def test_importing_modlayers_first_makes_torch_threads_wait_without_spinning_and_a_users_policy_wins():
    spun, policy, in_effect = probe("modlayers-first", None)
    assert (policy, in_effect) == ("PASSIVE", "True")
    # The same probe with OpenMP's threads told to spin (what torch alone does here) burns about a second.
    spun_active, policy_active, in_effect_active = probe("modlayers-first", "ACTIVE")
    assert (policy_active, in_effect_active) == ("ACTIVE", "False"), "a policy the user set must be kept"
    assert spun < 0.1 < 0.3 < spun_active, (spun, spun_active)


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU times and GNU OpenMP: Linux")
def test_torch_imported_before_modlayers_keeps_spinning_and_modlayers_says_so():
    spun, policy, in_effect = probe("torch-first", None)
    assert (policy, in_effect) == ("PASSIVE", "False")  # set for child processes, too late for this one
    assert spun > 0.3


def test_prefer_passive_waiting_keeps_a_policy_already_set():
    environ = {"OMP_WAIT_POLICY": "active"}
    assert prefer_passive_waiting(environ, {}) is False and environ == {"OMP_WAIT_POLICY": "active"}
    environ = {}
    assert prefer_passive_waiting(environ, {}) is True and environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert prefer_passive_waiting({}, {"torch": object()}) is False
