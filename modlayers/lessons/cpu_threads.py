"""How torch's CPU threads wait: passively, so a busy machine costs the kit no more than its share of the cores.

torch runs its CPU operators on OpenMP threads (``torch.__config__.parallel_info()``: "ATen parallel backend:
OpenMP"). Between two parallel regions GNU OpenMP lets its threads spin for a while before they sleep. On an
idle machine that saves a wake-up; on a shared one (Binder, Colab's free tier, a laptop running other work) a
spinning thread holds a core that the thread with real work waits for. Measured on 2 cores beside two busy
processes: notebook 04 took 20 to 61 s instead of 9 s, and 9 to 10 s with ``OMP_WAIT_POLICY=PASSIVE``.

:func:`prefer_passive_waiting` sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already names a policy
(a user's choice wins). It changes when idle threads sleep, never how work is split, so every number a run
computes stays the same; the thread count, which can change the order of a float sum, is left alone.

OpenMP reads the variable once, when torch's OpenMP runtime is loaded, that is at ``import torch``. So
``import modlayers`` sets it before it imports torch itself; a process that imported torch *before* modlayers
keeps the policy it started with (then :data:`PASSIVE_WAITING_IN_EFFECT` is ``False``; set
``OMP_WAIT_POLICY=PASSIVE`` in the environment, or import modlayers first). Processes the kit starts (the
``torchrun`` ranks) inherit the environment and wait passively too.
"""

from __future__ import annotations

import os
import sys

WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"


def prefer_passive_waiting(environ=os.environ, modules=sys.modules) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless one is set; return whether the policy is passive for this process.

    Returns ``False`` when torch was imported first (OpenMP has read its settings already) or when the
    environment asks for another policy.

    Example:
        >>> prefer_passive_waiting({}, {})
        True
        >>> prefer_passive_waiting({"OMP_WAIT_POLICY": "ACTIVE"}, {})
        False
    """
    torch_loaded_already = "torch" in modules
    environ.setdefault(WAIT_POLICY_VARIABLE, "PASSIVE")
    return environ[WAIT_POLICY_VARIABLE].strip().upper() == "PASSIVE" and not torch_loaded_already


# Importing this module (``import modlayers`` does it first) chooses the policy for this process.
PASSIVE_WAITING_IN_EFFECT: bool = prefer_passive_waiting()
