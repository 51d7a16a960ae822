"""Counting the activations autograd keeps for the backward pass.

Every tensor an operation needs for its gradient (the input of a ``Linear``, the
output of a ``softmax``, a dropout mask) is handed to autograd's *pack* hook when the
operation runs in the forward pass, and stays alive until the backward pass uses it.
:class:`SavedTensorCounter` installs such a hook with
``torch.autograd.graph.saved_tensors_hooks`` and adds up what it sees:

- each **storage** is counted once (``q``, ``q.view(...)`` and ``q.t()`` share one
  storage; what is held in memory is the storage, whatever views point into it);
- **parameters and buffers** are left out (they are in memory anyway; pass the model
  as ``exclude``);
- only what is packed **while the counter is open** is counted. Open it around the
  forward pass and the loss, close it before ``backward()``: that is exactly what is
  held between forward and backward. Under checkpointing the backward pass runs the
  forward a second time and packs again; those tensors live only for the backward of
  one layer and are not part of this count (the peak measurements in
  :mod:`modlayers.lessons.memory.measure` see them).

Inside a non-reentrant checkpoint ``torch.utils.checkpoint`` installs its own pack
hooks, which take precedence over an outer pair: the counter then sees only the
checkpoint's positional inputs. A checkpoint holds more than those: the keyword
arguments of a checkpointed layer (an attention mask or bias, rotary ``cos``/``sin``)
are bound into the call it keeps for the recompute, alive until backward and packed by
no hook. Checkpointed layers report them (:data:`modlayers.checkpointing.BOUND_TENSOR_OBSERVERS`)
and the counter adds them. Outputs kept by torch's *selective* activation checkpointing
are not packed by any hook either; the kit's ``selective`` policy reports them with
:func:`hold_for_backward` so they are counted too.

The count is exact and deterministic on any device, which is why the CPU plots and
the tests rest on it.
"""

import dataclasses
from collections.abc import Iterable

import torch
from torch._subclasses.fake_tensor import FakeTensor

from modlayers.checkpointing import BOUND_TENSOR_OBSERVERS
from modlayers.offloading import OFFLOAD_OBSERVERS

_ACTIVE_COUNTERS: list["SavedTensorCounter"] = []


@dataclasses.dataclass(frozen=True)
class SavedStorage:
    """One storage kept for backward: the first tensor seen on it, and where it is held."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    nbytes: int
    device: str  # where the storage lives while it waits for the backward pass


def _storage_key(tensor: torch.Tensor) -> tuple[str, int]:
    storage = tensor.untyped_storage()
    if isinstance(tensor, FakeTensor) or tensor.device.type == "meta":
        # a fake (FakeTensorMode) or meta storage holds no data and has no address: tell storages apart by their object
        return (str(tensor.device), storage._cdata)
    return (str(tensor.device), storage.data_ptr())


def _tensors_in(packed) -> list[torch.Tensor]:
    """The tensors inside whatever a pack hook returned (a tensor, or a tuple holding some)."""
    if isinstance(packed, torch.Tensor):
        return [packed]
    if isinstance(packed, (tuple, list)):
        return [t for item in packed for t in _tensors_in(item)]
    return []


class SavedTensorCounter:
    """Context manager that adds up the storages autograd saves for backward.

    Args:
        exclude: tensors (usually ``model.parameters()`` and ``model.buffers()``, or
            the model itself) whose storages are not counted.
        inner: optional ``torch.autograd.graph.saved_tensors_hooks`` instance, such as
            ``torch.autograd.graph.save_on_cpu()``, whose hooks still run: the counter
            records each tensor where ``inner`` put it. (Only the innermost pair of
            saved-tensor hooks runs, so the counter has to call ``inner`` itself.)

    After the ``with`` block:
        ``saved_bytes``: bytes of distinct storages held, all devices together;
        ``bytes_by_device``: the same split by the type of device that holds them
        (``{"cpu": ..., "cuda": ...}``);
        ``storages``: one :class:`SavedStorage` per distinct storage, in packing order;
        ``offloaded_bytes``: bytes a checkpoint-and-offload handed to host memory (counted in
        ``saved_bytes`` where they are held: under ``"cpu"``);
        ``copied_to_host_bytes``: the part of them actually copied (all of it from a GPU; none on
        a CPU, where the host tensor is the saved tensor itself).

    The counter keeps no tensor alive after the block.

    Example:
        >>> layer = torch.nn.Linear(8, 8)
        >>> x = torch.randn(4, 8, requires_grad=True)
        >>> with SavedTensorCounter(exclude=layer) as counter:
        ...     loss = torch.relu(layer(x)).sum()
        >>> counter.saved_bytes  # x (4*8*4 bytes) and the relu output (4*8*4 bytes)
        256
    """

    def __init__(self, exclude: torch.nn.Module | Iterable[torch.Tensor] = (), inner=None):
        if isinstance(exclude, torch.nn.Module):
            exclude = [*exclude.parameters(), *exclude.buffers()]
        self._excluded = {_storage_key(t) for t in exclude}
        if inner is not None and not isinstance(inner, torch.autograd.graph.saved_tensors_hooks):
            raise TypeError(
                f"inner must be a torch.autograd.graph.saved_tensors_hooks instance (e.g. save_on_cpu()), "
                f"got {type(inner).__name__}."
            )
        self._inner = inner
        self._held: dict[tuple[str, int], torch.UntypedStorage] = {}
        self.storages: list[SavedStorage] = []
        self.saved_bytes = 0
        self.bytes_by_device: dict[str, int] = {}
        self.offloaded_bytes = 0
        self.copied_to_host_bytes = 0

    def _record(self, tensor: torch.Tensor) -> None:
        key = _storage_key(tensor)
        if key in self._excluded or key in self._held:
            return
        storage = tensor.untyped_storage()
        self._held[key] = storage  # holding the storage stops its address being reused while counting
        entry = SavedStorage(tuple(tensor.shape), tensor.dtype, storage.nbytes(), str(tensor.device))
        self.storages.append(entry)
        self.saved_bytes += entry.nbytes
        kind = tensor.device.type  # "cpu", "cuda": what the memory tables compare
        self.bytes_by_device[kind] = self.bytes_by_device.get(kind, 0) + entry.nbytes

    def _pack(self, tensor: torch.Tensor):
        if self._inner is None:
            self._record(tensor)
            return tensor
        if _storage_key(tensor) in self._excluded:
            return tensor, False  # parameters stay where they are
        packed = self._inner.pack_hook(tensor)
        for held in _tensors_in(packed):
            self._record(held)
        return packed, True

    def _unpack(self, packed):
        if self._inner is None:
            return packed
        value, was_packed_by_inner = packed
        return self._inner.unpack_hook(value) if was_packed_by_inner else value

    def _offloaded(self, tensor: torch.Tensor, held: torch.Tensor) -> None:
        """A checkpoint-and-offload moved ``tensor`` to host memory as ``held`` (the same tensor on a CPU)."""
        if _storage_key(held) in self._held:
            return
        self._record(held)
        self.offloaded_bytes += held.untyped_storage().nbytes()
        if held.untyped_storage().data_ptr() != tensor.untyped_storage().data_ptr():
            self.copied_to_host_bytes += held.untyped_storage().nbytes()

    def hold(self, tensor: torch.Tensor) -> None:
        """Count a tensor kept for backward without going through a pack hook."""
        self._record(tensor)

    def __enter__(self) -> "SavedTensorCounter":
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        _ACTIVE_COUNTERS.append(self)
        BOUND_TENSOR_OBSERVERS.append(self.hold)  # what checkpointed layers keep by keyword
        OFFLOAD_OBSERVERS.append(self._offloaded)  # what a checkpoint-and-offload holds in host memory
        return self

    def __exit__(self, *exc) -> None:
        BOUND_TENSOR_OBSERVERS.remove(self.hold)
        OFFLOAD_OBSERVERS.remove(self._offloaded)
        _ACTIVE_COUNTERS.remove(self)
        self._hooks.__exit__(*exc)
        self._held.clear()


def hold_for_backward(tensor: torch.Tensor) -> None:
    """Report a tensor kept for backward outside the pack hooks to the open counters, if any."""
    for counter in _ACTIVE_COUNTERS:
        counter.hold(tensor)


def saved_tensor_table(counter: SavedTensorCounter) -> list[dict]:
    """The counter's storages as rows (shape, dtype, device, bytes) for printing or a DataFrame."""
    return [
        {"shape": entry.shape, "dtype": str(entry.dtype).removeprefix("torch."), "device": entry.device, "bytes": entry.nbytes}
        for entry in counter.storages
    ]
