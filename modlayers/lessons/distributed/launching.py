"""Processes and the process group: who am I, how many are we, and how do we talk.

``torchrun --nproc_per_node=N script.py`` starts ``N`` copies of ``script.py`` and gives each one its place in
environment variables: ``RANK`` (0 .. N-1 across all machines), ``LOCAL_RANK`` (on this machine), ``WORLD_SIZE``
(N times the number of machines), ``MASTER_ADDR`` / ``MASTER_PORT`` (where rank 0 listens). Each copy then calls
``torch.distributed.init_process_group(backend)`` to join the others:

- **gloo** on CPUs: collectives (all-reduce, all-gather, reduce-scatter) go through ordinary sockets;
- **NCCL** on NVIDIA GPUs: collectives run on the GPUs themselves, over NVLink or InfiniBand where there is one.

:func:`init_distributed` picks the backend from the device, so the same code runs on a laptop and on a GPU node.
Without torchrun's variables it returns a one-process context and starts no process group, so a script also runs
plainly with ``python``. :func:`launch` starts the processes from Python (a notebook cell, a test) with the same variables, without
torchrun's own process in between; :func:`torchrun_command` is the same launch from a terminal.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import torch
import torch.distributed as dist

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Where this process stands among the others.

    Attributes:
        rank: this process's number, 0 .. ``world_size - 1`` (rank 0 prints, draws the progress bar, writes files).
        local_rank: its number on this machine (which GPU it drives).
        world_size: how many processes train together.
        device: the device this process computes on (``cuda:<local_rank>`` or ``cpu``).
        backend: ``"nccl"``, ``"gloo"``, or ``None`` for a single process without a process group.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when a process group is running (even with a world of one)."""
        return self.backend is not None


def backend_for(device: torch.device | str) -> str:
    """The collective backend for ``device``: ``"nccl"`` for CUDA, ``"gloo"`` for the CPU.

    Raises:
        ValueError: a device type with no backend here (e.g. ``"mps"``).

    Example:
        >>> backend_for("cpu")
        'gloo'
    """
    kind = torch.device(device).type
    if kind == "cuda":
        return "nccl"
    if kind == "cpu":
        return "gloo"
    raise ValueError(f"No collective backend for device type {kind!r}: use 'cuda' (NCCL) or 'cpu' (gloo).")


def launched_by_torchrun() -> bool:
    """True when torchrun's variables (``RANK``, ``WORLD_SIZE``, ...) are set for this process."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def init_distributed(device: str | None = None) -> DistributedContext:
    """Join the process group torchrun set up, or describe a single process when there is none.

    Args:
        device: ``"cpu"``, ``"cuda"``, or ``None`` to use a GPU when one is visible. Under torchrun on GPUs each
            process takes ``cuda:<LOCAL_RANK>``.

    Returns:
        A :class:`DistributedContext`. Under torchrun the process group is initialised (gloo or NCCL, from the
        device); call :func:`shutdown` at the end.

    Raises:
        ValueError: ``device="cuda"`` without a visible GPU, or more local processes than GPUs.

    Example:
        >>> context = init_distributed("cpu")  # plain python: rank 0 of 1, no process group
        >>> (context.rank, context.world_size, context.backend)
        (0, 1, None)
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or None (pick automatically), got {device!r}.")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch sees no GPU. Use device='cpu' (gloo) instead.")
    if not launched_by_torchrun():
        return DistributedContext(device=torch.device(device))
    rank, local_rank, world_size = (int(os.environ[name]) for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if device == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"LOCAL_RANK {local_rank} has no GPU: torch sees {torch.cuda.device_count()}. Start at most that "
                "many processes per node (torchrun --nproc_per_node), or train on the CPU."
            )
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    backend = backend_for(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, device_id=chosen if chosen.type == "cuda" else None)
    return DistributedContext(rank, local_rank, world_size, chosen, backend)


def shutdown(exit_at_once: bool = False) -> None:
    """Leave the process group, if one is running (call once, as the last thing a distributed script does).

    Every rank must call it: without ``exit_at_once`` the ranks wait for each other (a barrier) before the
    group is destroyed.

    Args:
        exit_at_once: flush the output and end the process with status 0 right away, leaving the sockets to
            the operating system. For a script whose results are all written: after a training step failed
            inside a collective (a gradient all-reduce may still wait for a partner that will never send),
            and on a loaded machine, tearing gloo down can abort a rank at exit ("terminate called without
            an active exception") and fail the whole launch.
    """
    if exit_at_once and dist.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    if dist.is_initialized():
        # Leave together: a rank that tears its gloo connections down while another still writes its
        # report can abort at exit ("terminate called without an active exception").
        dist.barrier()
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port nobody listens on right now, for rank 0 to listen on (``--master_port``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_command(program: Sequence[str], nproc_per_node: int = 2, port: int | None = None) -> list[str]:
    """The command line that starts ``program`` ``nproc_per_node`` times on this machine with torchrun.

    Args:
        program: what each process runs, e.g. ``["-m", "modlayers", "train", "--strategy", "ddp"]`` or
            ``["script.py", "--flag"]``.
        nproc_per_node: processes to start.
        port: the port rank 0 listens on; ``None`` picks a free one (so two launches never collide).

    Raises:
        ValueError: ``nproc_per_node < 1`` or an empty ``program``.

    Example:
        >>> torchrun_command(["-m", "modlayers", "train"], 2, port=29500)[1:]
        ['-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2', '--master_addr=127.0.0.1', '--master_port=29500', '-m', 'modlayers', 'train']
    """
    if not isinstance(nproc_per_node, int) or nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be a positive integer, got {nproc_per_node!r}.")
    if not program:
        raise ValueError("program is empty: give a script path or ['-m', 'module', ...] for each process to run.")
    port = free_port() if port is None else port
    return [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc_per_node}",
        "--master_addr=127.0.0.1", f"--master_port={port}", *program,
    ]


def rank_environments(nproc_per_node: int, port: int | None = None, base: dict[str, str] | None = None
                      ) -> list[dict[str, str]]:
    """The environment of each of ``nproc_per_node`` processes on one machine, as torchrun gives it.

    torchrun's variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``,
    ``MASTER_PORT``) on top of ``base`` (default: this process's environment, less any torchrun variables of
    its own), and ``OMP_NUM_THREADS=1`` unless set (processes sharing a CPU should not each start a thread per
    core).

    Example:
        >>> [(e["RANK"], e["WORLD_SIZE"], e["MASTER_PORT"]) for e in rank_environments(2, port=29500, base={})]
        [('0', '2', '29500'), ('1', '2', '29500')]
    """
    if not isinstance(nproc_per_node, int) or nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be a positive integer, got {nproc_per_node!r}.")
    base = {k: v for k, v in (os.environ if base is None else base).items()
            if k not in (*TORCHRUN_VARIABLES, "LOCAL_WORLD_SIZE")}  # a launch from a rank starts a group of its own
    base.setdefault("OMP_NUM_THREADS", "1")
    port = free_port() if port is None else port
    return [{**base, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc_per_node),
             "LOCAL_WORLD_SIZE": str(nproc_per_node), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
            for rank in range(nproc_per_node)]


def launch(program: Sequence[str], nproc_per_node: int = 2, timeout: float = 300, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Start ``program`` ``nproc_per_node`` times, as torchrun does, and wait for them (a notebook cell, a test).

    The caller is the launcher: each process gets torchrun's variables (:func:`rank_environments`) and there is
    no ``torchrun`` process in between. torchrun's agent is a Python process that imports torch (270 MiB
    resident) only to start the ranks and watch them; on a 2-core, 2 GB machine (Binder) a notebook cannot
    afford it beside two ranks. From a terminal, :func:`torchrun_command` gives the same launch with torchrun.
    When one process fails, the others are stopped (as torchrun does).

    Returns:
        The finished launch: ``.returncode`` (the status of a process that failed, else 0), ``.stdout`` and
        ``.stderr`` as text, every process's output one after the other (rank 0 first).

    Raises:
        RuntimeError: with ``check=True``, when a process failed; the message ends with its output.
        subprocess.TimeoutExpired: the processes ran longer than ``timeout`` seconds (they are stopped).

    Example:
        >>> result = launch(["-m", "modlayers", "train", "--strategy", "ddp", "--steps", "3"])  # doctest: +SKIP
    """
    if not program:
        raise ValueError("program is empty: give a script path or ['-m', 'module', ...] for each process to run.")
    environments = rank_environments(nproc_per_node, base={**os.environ, **(env or {})})
    ranks = [subprocess.Popen([sys.executable, "-u", *program], env=environment, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for environment in environments]
    outputs = [None] * len(ranks)
    try:
        outputs = _wait_for_ranks(ranks, timeout)
    finally:
        for rank in ranks:
            if rank.poll() is None:
                rank.kill()
                rank.wait()
    statuses = [rank.returncode for rank in ranks]
    # The rank that failed, not one stopped after it (a negative status: the signal that stopped it).
    returncode = next((s for s in statuses if s > 0), next((s for s in statuses if s != 0), 0))
    result = subprocess.CompletedProcess(program, returncode, "".join(out for out, _ in outputs),
                                         "".join(err for _, err in outputs))
    if check and returncode != 0:
        raise RuntimeError(
            f"a process exited with status {returncode} (statuses by rank: {statuses}) running {' '.join(program)}.\n"
            f"--- stdout (end) ---\n{result.stdout[-3000:]}\n--- stderr (end) ---\n{result.stderr[-6000:]}"
        )
    return result


def _wait_for_ranks(ranks: list[subprocess.Popen], timeout: float) -> list[tuple[str, str]]:
    """Read every rank's output until all have exited; stop the rest when one fails or time runs out."""
    outputs: list[list[str]] = [["", ""] for _ in ranks]

    def drain(index: int, stream_index: int, stream) -> None:  # a full pipe would block the rank
        outputs[index][stream_index] = stream.read()

    readers = [threading.Thread(target=drain, args=(i, j, stream), daemon=True)
               for i, rank in enumerate(ranks) for j, stream in enumerate((rank.stdout, rank.stderr))]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    while any(rank.poll() is None for rank in ranks):
        if any(rank.poll() not in (None, 0) for rank in ranks):
            time.sleep(5)  # torchrun too gives the others a moment, then stops them
            for rank in ranks:
                if rank.poll() is None:
                    rank.terminate()
            break
        if time.monotonic() > deadline:
            for rank in ranks:
                rank.kill()
            raise subprocess.TimeoutExpired([r.args for r in ranks], timeout)
        time.sleep(0.05)
    for rank in ranks:
        rank.wait()
    for reader in readers:
        reader.join()
    return [(out, err) for out, err in outputs]
