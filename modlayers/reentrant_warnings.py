"""What a re-entrant checkpoint cannot track, said at the call: the warnings of ``use_reentrant=True``.

``torch.utils.checkpoint.checkpoint(..., use_reentrant=True)`` tracks only the tensors passed to it
positionally, each on its own. A tensor that requires grad and reaches a checkpointed layer by keyword, or
inside a tuple, list or dict, gets no proper gradient. :func:`warn_about_untracked_tensors` names each one
and the fix; :func:`positional_call` writes the call that passes them positionally.
"""

import inspect
import warnings

import torch
from torch import nn


def _grad_tensors_inside(value, path: str):
    """``(path, tensor)`` for each tensor that requires grad inside tuples, lists and dicts in ``value``."""
    if isinstance(value, (tuple, list)):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = ((repr(key), item) for key, item in value.items())
    else:
        return
    for key, item in items:
        if isinstance(item, torch.Tensor):
            if item.requires_grad:
                yield f"{path}[{key}]", item
        else:
            yield from _grad_tensors_inside(item, f"{path}[{key}]")


def warn_about_untracked_tensors(layer: nn.Module, forward, args: tuple, kwargs: dict) -> None:
    """Warn for each grad tensor a re-entrant checkpoint of ``layer`` cannot track, before it runs.

    A tensor that requires grad and is passed by keyword, or sits inside a tuple, list or dict (passed either
    way), gets no proper gradient: one ``UserWarning`` each, naming it and the fix. Called by the checkpointing
    wrapper of ``forward``; the warnings point at the caller of ``layer(...)``.
    """
    containers = [(f"positional argument {index}", value) for index, value in enumerate(args)]
    containers += [(f"`{name}`", value) for name, value in kwargs.items()]
    for where, value in containers:
        for path, _ in _grad_tensors_inside(value, "" if where.startswith("positional") else where.strip("`")):
            shown = f"{where}{path}" if where.startswith("positional") else f"`{path}`"
            warnings.warn(
                f"{layer.__class__.__name__}: {shown} requires grad but sits inside a {type(value).__name__}. With "
                "use_reentrant=True a checkpoint only tracks tensors passed positionally on their own, not inside "
                "a tuple, list or dict: gradients do not reach it properly (the output is cut off from the graph, "
                "or backward fails with 'backward through the graph a second time' when it shares history with "
                "a positional input). Pass the tensor as a positional argument of its own, or enable "
                "checkpointing with use_reentrant=False.",
                UserWarning,
                stacklevel=5,  # the caller of layer(...), past nn.Module's call and the checkpointing wrapper
            )
    by_keyword = [n for n, v in kwargs.items() if isinstance(v, torch.Tensor) and v.requires_grad]
    if by_keyword:
        call = positional_call(forward, len(args), kwargs, by_keyword)
        fix = (f"Pass it positionally, in the order forward takes its arguments: {call}; or enable "
               if call else "Enable ")
        for name in by_keyword:
            warnings.warn(
                f"{layer.__class__.__name__}: `{name}` requires grad but was passed by keyword. With "
                "use_reentrant=True a checkpoint only tracks its positional inputs, so gradients do not "
                f"reach `{name}` properly: the output is cut off from the graph when no positional input "
                "requires grad, and backward fails ('backward through the graph a second time') when "
                f"`{name}` shares history with them. {fix}checkpointing with use_reentrant=False.",
                UserWarning,
                stacklevel=5,  # the caller of layer(...), past nn.Module's call and the checkpointing wrapper
            )


def positional_call(forward, num_positional: int, kwargs: dict, names: list[str]) -> str | None:
    """The call that passes ``names`` positionally, in ``forward``'s own order, as text: ``layer(x, gate)``.

    Every parameter up to the last of ``names`` is written positionally (by its name when the caller gave
    it, by its default otherwise); the other keyword arguments stay keywords. ``None`` when no such call
    exists (a keyword-only parameter, ``**kwargs``, a required parameter the caller did not give).

    Example:
        >>> def forward(self, x, mask=None, gate=None, scale=1.0):
        ...     pass
        >>> positional_call(forward, 1, {"gate": 0, "scale": 2.0}, ["gate"])
        'layer(x, None, gate, scale=scale)'
    """
    parameters = list(inspect.signature(forward).parameters.values())[1:]  # without self
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    order = [p.name for p in positional]
    if any(name not in order for name in names):
        return None
    last = max(order.index(name) for name in names)
    written = []
    for index, parameter in enumerate(positional[: last + 1]):
        if index < num_positional or parameter.name in kwargs:
            written.append(parameter.name)
        elif parameter.default is not parameter.empty:
            written.append(repr(parameter.default))
        else:
            return None
    written += [f"{name}={name}" for name in kwargs if name not in order[: last + 1]]
    return f"layer({', '.join(written)})"
