"""Gradient (activation) checkpointing for a stack of layers.

Training keeps every intermediate tensor a layer needs for its backward pass.
A checkpointed layer keeps only its inputs, throws the rest away after the
forward pass, and runs its forward a second time during the backward pass to get
them back: memory for compute.

Contract of :class:`GradientCheckpointingLayer`:
    - When ``gradient_checkpointing`` is on, the module is training and gradients are
      enabled, ``forward`` runs through ``self._gradient_checkpointing_func`` (usually
      ``functools.partial(torch.utils.checkpoint.checkpoint, use_reentrant=...)``),
      with the keyword arguments bound and the positional arguments passed as the
      checkpoint's inputs.
    - Only ``forward`` is checkpointed, as in transformers' newest release: the module's
      hooks (forward pre-hooks, forward hooks, backward hooks; FSDP2's all-gather and
      reshard) run once a step, outside the checkpoint, not again in the recompute.
    - Then a KV cache makes no sense (the recompute would write it twice), so
      ``use_cache`` is set to ``False`` and ``past_key_values``, ``cache`` and
      ``layer_past`` to ``None`` when given, with one warning naming the layer and
      what changed. A layer that only *reads* its cache (an encoder's key/value states,
      a diffusion decoder's prompt cache) sets the class attribute
      ``_can_checkpoint_with_cache = True``, as in transformers 5.25: it keeps ``cache``,
      ``layer_past`` and ``past_key_values`` (the recompute reads the same states), and only
      ``use_cache`` is still switched off. A layer that writes its cache must leave it
      ``False``, or the recompute writes it a second time. (transformers 5.25 no longer
      checks ``past_key_values``, renamed ``cache``; the kit still treats both names alike.)
    - In eval mode, under ``torch.no_grad()``, or when off, the call is untouched.

Sharp edges (from ``torch.utils.checkpoint``):
    - ``use_reentrant=True`` only tracks *positional* tensor inputs. A tensor that
      requires grad passed by keyword gets no proper gradient: when it is the only
      input that needs one, the output is cut off from the graph; when it shares
      history with a positional input, ``backward`` fails with "Trying to backward
      through the graph a second time". This layer warns at the call. Pass it
      positionally, or use ``use_reentrant=False``.
    - The same holds for a tensor that requires grad *inside* a tuple, list or dict, passed by
      keyword or positionally: torch tracks only tensors passed as arguments of their own. The
      layer warns at the call too, naming the element (``extra[0]``, ``state['k']``).
    - ``use_reentrant=True`` also needs at least one positional input that requires
      grad; with frozen embeddings nothing does and the layer's parameters get no
      gradient (torch warns). ``use_reentrant=False`` has neither problem.
    - Keyword arguments are bound into the checkpointed call (``functools.partial``), so the
      tensors among them (an attention mask or bias, rotary ``cos``/``sin``) stay alive until the
      backward pass, like the positional inputs, but outside autograd's saved-tensor hooks. The
      layer reports them to :data:`BOUND_TENSOR_OBSERVERS` (the memory lab's ``SavedTensorCounter``
      counts them there); :func:`enable_gradient_checkpointing` does the same for transformers' layers.
    - Dropout draws the same mask in the recompute because the checkpoint saves and
      restores the RNG state (``preserve_rng_state=True``, the default).
    - Under ``DistributedDataParallel(find_unused_parameters=True)`` (without
      ``static_graph=True``) a re-entrant checkpoint fails in backward ("Expected to mark a
      variable ready only once"). The layer raises a ``ValueError`` at its first forward
      instead, naming both fixes: ``use_reentrant=False`` or ``static_graph=True``.
    - The wrapping happens when the class is made: a ``forward`` assigned to the class
      afterwards is not checkpointed unless wrapped with :func:`with_checkpointing`.

Nested layers: a :class:`GradientCheckpointingLayer` may contain smaller ones (the kit's
``TinyTransformerLayer`` contains its ``TinyTransformerAttentionCore``), so a policy can
checkpoint either. When both are switched on, the outermost wins: a checkpointed
layer that runs inside another checkpointed layer's forward (or its recompute) runs
plainly, because the outer checkpoint already recomputes it. Without this rule the
inner part would be recomputed twice.

Switch it on with transformers' ``model.gradient_checkpointing_enable(...)`` /
``activation_checkpointing_enable(...)`` on a ``PreTrainedModel`` that contains the
layer, or with :func:`enable_gradient_checkpointing` on any ``nn.Module``. transformers'
``every_n_layers`` counts only its own layer class; a model that sets
``_set_gradient_checkpointing = set_gradient_checkpointing`` (the kit's ``TinyTransformer``
does) has the kit's layers counted too.
"""

import functools
import inspect
import threading
import warnings

import torch
import transformers.modeling_layers
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint
from transformers.utils import logging

logger = logging.get_logger(__name__)

CACHE_ARGUMENTS = ("past_key_values", "cache", "layer_past")

# How many checkpointed layers are running their forward (or its recompute) in this thread.
# Autograd may recompute in another thread (one per CUDA device); the count follows the call.
_checkpointed_forwards = threading.local()

# Called with every tensor a checkpointed call keeps alive outside autograd's saved-tensor hooks: the tensors
# bound into the call as keyword arguments. The memory lab's SavedTensorCounter adds itself while it counts.
BOUND_TENSOR_OBSERVERS: list = []


def tensors_within(value) -> list[torch.Tensor]:
    """The tensors in ``value``: a tensor, or tuples, lists and dicts holding some (at any depth), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [tensor for item in value for tensor in tensors_within(item)]
    return []


def _report_bound_tensors(kwargs: dict) -> None:
    """Tell :data:`BOUND_TENSOR_OBSERVERS` about the tensors in the keyword arguments a checkpoint is about to bind."""
    if BOUND_TENSOR_OBSERVERS:
        for tensor in tensors_within(kwargs):
            for observer in list(BOUND_TENSOR_OBSERVERS):
                observer(tensor)


def checkpoint_reporting_bound_tensors(function, *args, **kwargs):
    """``torch.utils.checkpoint.checkpoint(function, *args, **kwargs)``, first reporting what ``function`` binds.

    transformers' ``GradientCheckpointingLayer`` passes its keyword arguments bound into
    ``functools.partial(forward, self, **kwargs)``; the checkpoint keeps that partial, and the tensors in it,
    until the backward pass. :func:`enable_gradient_checkpointing` uses this function so that the memory
    lab's count sees those tensors too (the kit's own layers report them themselves).
    """
    if BOUND_TENSOR_OBSERVERS:
        bound, inner = [], function
        while isinstance(inner, functools.partial):  # (the kit's layers bind their keywords the same way)
            bound += [*inner.args, *inner.keywords.values()]
            inner = inner.func
        _report_bound_tensors({"bound": bound})
    return checkpoint(function, *args, **kwargs)


def _inside_checkpointed_layer() -> bool:
    return getattr(_checkpointed_forwards, "depth", 0) > 0


def _uses_reentrant(checkpoint_func) -> bool:
    """Whether a checkpoint function built with functools.partial asks for use_reentrant=True."""
    while isinstance(checkpoint_func, functools.partial):
        if "use_reentrant" in checkpoint_func.keywords:
            return bool(checkpoint_func.keywords["use_reentrant"])
        checkpoint_func = checkpoint_func.func
    return False


def _check_not_under_ddp_finding_unused_parameters(layer: nn.Module) -> None:
    """Raise before the step when DDP would fail in backward: re-entrant checkpoint + find_unused_parameters."""
    ddp = getattr(DistributedDataParallel, "_active_ddp_module", None)  # the DDP whose forward is running, or None
    if ddp is None or not getattr(ddp, "find_unused_parameters", False) or getattr(ddp, "static_graph", False):
        return
    raise ValueError(
        f"{layer.__class__.__name__} is checkpointed with use_reentrant=True inside DistributedDataParallel("
        "find_unused_parameters=True). That combination fails in the backward pass with 'Expected to mark a "
        "variable ready only once': DDP looks for unused parameters before the re-entrant checkpoint recomputes the "
        "layer, marks the layer's parameters unused, and then sees their gradients arrive. Fix it either way: "
        "enable checkpointing with use_reentrant=False (e.g. model.gradient_checkpointing_enable("
        "gradient_checkpointing_kwargs={'use_reentrant': False})), or wrap the model with "
        "DistributedDataParallel(model, static_graph=True) (or find_unused_parameters=False when every parameter "
        "gets a gradient)."
    )


def with_checkpointing(forward):
    """Wrap a layer's ``forward`` so that it runs through the checkpoint when checkpointing is on.

    :class:`GradientCheckpointingLayer` applies it to the ``forward`` of every subclass when the class
    is made. Only ``forward`` is checkpointed, not the module call: forward pre-hooks and forward hooks
    (FSDP2's all-gather and reshard among them) run once, outside the checkpoint, and are not run again by
    the recompute. Call it yourself only if you replace a layer's ``forward`` after its class is made
    (``Layer.forward = with_checkpointing(new_forward)``); a plain function put there is not checkpointed.

    Example:
        >>> class Block(GradientCheckpointingLayer):
        ...     def forward(self, hidden_states):
        ...         return hidden_states * 2
        >>> Block.forward.__wrapped__.__name__
        'forward'
    """

    @functools.wraps(forward)
    def forward_with_checkpointing(self, *args, **kwargs):
        # A subclass's forward is wrapped too (e.g. the FSDP<Layer> class fully_shard makes), so a call can pass
        # through several wrappers: only the outermost one checkpoints.
        is_outermost = type(self).forward is forward_with_checkpointing
        checkpointing = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        if not (checkpointing and is_outermost) or _inside_checkpointed_layer():
            return forward(self, *args, **kwargs)  # inside a checkpointed layer, the outer checkpoint recomputes this one

        changed = []
        if kwargs.get("use_cache"):
            kwargs["use_cache"] = False
            changed.append("`use_cache=False`")
        if not self._can_checkpoint_with_cache:  # a layer that only reads its cache keeps it
            for name in CACHE_ARGUMENTS:
                if kwargs.get(name) is not None:
                    kwargs[name] = None
                    changed.append(f"`{name}=None`")
        if changed:
            logger.warning_once(
                f"Caching is incompatible with gradient checkpointing in {self.__class__.__name__}. "
                f"Setting {', '.join(changed)}."
            )

        if _uses_reentrant(self._gradient_checkpointing_func):
            _check_not_under_ddp_finding_unused_parameters(self)
            _warn_about_untracked_tensors(self, args, kwargs)
            by_keyword = [n for n, v in kwargs.items() if isinstance(v, torch.Tensor) and v.requires_grad]
            if by_keyword:
                call = positional_call(forward, len(args), kwargs, by_keyword)
                fix = (f"Pass it positionally, in the order forward takes its arguments: {call}; or enable "
                       if call else "Enable ")
                for name in by_keyword:
                    warnings.warn(
                        f"{self.__class__.__name__}: `{name}` requires grad but was passed by keyword. With "
                        "use_reentrant=True a checkpoint only tracks its positional inputs, so gradients do not "
                        f"reach `{name}` properly: the output is cut off from the graph when no positional input "
                        "requires grad, and backward fails ('backward through the graph a second time') when "
                        f"`{name}` shares history with them. {fix}checkpointing with use_reentrant=False.",
                        UserWarning,
                        stacklevel=4,  # the caller of layer(...), past nn.Module's call
                    )

        # Keyword arguments are bound now (and kept with the call until backward); positional ones become the
        # checkpoint's inputs.
        _report_bound_tensors(kwargs)
        return self._gradient_checkpointing_func(functools.partial(_run_checkpointed, forward, self, **kwargs), *args)

    return forward_with_checkpointing


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


def _warn_about_untracked_tensors(layer: nn.Module, args: tuple, kwargs: dict) -> None:
    """Warn for each grad tensor a re-entrant checkpoint cannot track: inside a container, positional or keyword."""
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


def _run_checkpointed(forward, layer, *args, **kwargs):
    """The call the checkpoint runs, in the forward pass and again in the recompute (no module hooks)."""
    _checkpointed_forwards.depth = getattr(_checkpointed_forwards, "depth", 0) + 1
    try:
        return forward(layer, *args, **kwargs)
    finally:
        _checkpointed_forwards.depth -= 1


class GradientCheckpointingLayer(nn.Module):
    """Base class for a layer that can recompute its activations in the backward pass.

    Subclass it instead of ``nn.Module`` and write ``forward`` as usual; pass the
    tensors that need gradients (the hidden states) positionally::

        class Block(GradientCheckpointingLayer):
            def forward(self, hidden_states, attention_mask=None):
                ...

        out = block(hidden_states, attention_mask=mask)  # not hidden_states=...

    Each subclass's ``forward`` is wrapped by :func:`with_checkpointing` when the class is made, as in
    transformers' newest ``GradientCheckpointingLayer``: the checkpoint holds ``forward`` only, and the
    module's hooks run once per step, outside it.

    Attributes:
        gradient_checkpointing: class default ``False``; set per instance by
            :func:`enable_gradient_checkpointing` or transformers' enable methods.
        _gradient_checkpointing_func: the function that runs the checkpointed call,
            ``func(function, *args)``; set alongside ``gradient_checkpointing``.
        _can_checkpoint_with_cache: class default ``False``: the cache arguments are set to
            ``None`` under checkpointing. ``True`` for a layer that only reads its cache.
    """

    gradient_checkpointing = False
    # A layer that only reads its KV cache sets this to keep the cache under checkpointing (the recompute reads the
    # same states); one that writes it leaves it False, or the recompute would write it a second time.
    _can_checkpoint_with_cache = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.forward = with_checkpointing(cls.forward)


CHECKPOINTABLE_LAYERS = (GradientCheckpointingLayer, transformers.modeling_layers.GradientCheckpointingLayer)


def checkpointable_layers(model: nn.Module) -> list[nn.Module]:
    """The layers of ``model`` that can be checkpointed, in order: the kit's and transformers' own.

    Only the outermost count: a checkpointable layer inside another one (the kit's
    ``TinyTransformerAttentionCore`` inside ``TinyTransformerLayer``) is part of that layer.
    """
    if isinstance(model, CHECKPOINTABLE_LAYERS):
        return [model]
    return [layer for child in model.children() for layer in checkpointable_layers(child)]


def _all_checkpointable(model: nn.Module) -> list[nn.Module]:
    return [module for module in model.modules() if isinstance(module, CHECKPOINTABLE_LAYERS)]


def enable_gradient_checkpointing(
    model: nn.Module,
    use_reentrant: bool = False,
    every_n_layers: int = 1,
    layer_type: type[nn.Module] | None = None,
    offload: bool = False,
    **checkpoint_kwargs,
) -> list[nn.Module]:
    """Switch checkpointing on for the layers of any ``nn.Module`` stack.

    Args:
        model: a module containing :class:`GradientCheckpointingLayer` s (transformers'
            own ``GradientCheckpointingLayer`` s count too).
        use_reentrant: which ``torch.utils.checkpoint`` implementation to use. ``False``
            (the default, and torch's recommendation) handles keyword tensors, frozen
            inputs and ``torch.autograd.grad``; ``True`` is the older autograd-Function one.
        every_n_layers: checkpoint layers 0, n, 2n, ... and let the others keep their
            activations. ``1`` checkpoints every layer.
        layer_type: checkpoint the modules of this :class:`GradientCheckpointingLayer`
            subclass, at any depth, instead of the outermost layers; e.g.
            ``TinyTransformerAttentionCore`` to recompute only the attention core.
        offload: also hold what each checkpoint saves (its positional inputs) in host memory until the
            backward pass, as transformers' ``offload=True`` does
            (:func:`~modlayers.offloading.checkpoint_offloading_saved_tensors`). Saves device memory on a GPU
            only; on a CPU nothing moves.
        **checkpoint_kwargs: passed on to ``torch.utils.checkpoint.checkpoint``, e.g.
            ``context_fn`` for a selective policy or ``preserve_rng_state``.

    Returns:
        The layers that are now checkpointed.

    Raises:
        ValueError: ``every_n_layers < 1``, or ``model`` has no checkpointable layer (of
            ``layer_type``, when given).
        TypeError: ``layer_type`` is not a :class:`GradientCheckpointingLayer` subclass.

    Example:
        >>> stack = nn.Sequential(*[Block() for _ in range(4)])
        >>> enable_gradient_checkpointing(stack, every_n_layers=2)  # layers 0 and 2
    """
    if not isinstance(every_n_layers, int) or every_n_layers < 1:
        raise ValueError(f"every_n_layers must be an integer >= 1, got {every_n_layers!r}.")
    if layer_type is not None:
        if not (isinstance(layer_type, type) and issubclass(layer_type, CHECKPOINTABLE_LAYERS)):
            raise TypeError(
                f"layer_type must be a GradientCheckpointingLayer subclass (such as TinyTransformerAttentionCore), "
                f"got {layer_type!r}."
            )
        layers = [module for module in model.modules() if isinstance(module, layer_type)]
        if not layers:
            raise ValueError(
                f"{type(model).__name__} contains no {layer_type.__name__}; nothing to checkpoint. Leave layer_type "
                "out to checkpoint the model's layers."
            )
    else:
        layers = checkpointable_layers(model)
        if not layers:
            raise ValueError(
                f"{type(model).__name__} contains no GradientCheckpointingLayer. Make the repeated blocks subclass "
                "modlayers.GradientCheckpointingLayer to let them be checkpointed."
            )
    if not isinstance(offload, bool):
        raise TypeError(f"offload must be True or False, got {offload!r}.")
    if offload:
        from modlayers.offloading import checkpoint_offloading_saved_tensors as run_checkpoint
    else:
        run_checkpoint = checkpoint_reporting_bound_tensors
    checkpoint_func = functools.partial(run_checkpoint, use_reentrant=use_reentrant, **checkpoint_kwargs)
    for index, layer in enumerate(layers):
        layer._gradient_checkpointing_func = checkpoint_func
        layer.gradient_checkpointing = index % every_n_layers == 0
    return [layer for layer in layers if layer.gradient_checkpointing]


def set_gradient_checkpointing(
    model: nn.Module,
    enable: bool = True,
    gradient_checkpointing_func=checkpoint,
    every_n_layers: int = 1,
) -> None:
    """transformers' ``PreTrainedModel._set_gradient_checkpointing``, counting the kit's layers too.

    transformers' ``activation_checkpointing_enable(every_n_layers=n)`` (and
    ``gradient_checkpointing_enable``) call ``model._set_gradient_checkpointing``, which counts only
    transformers' own ``GradientCheckpointingLayer`` s and switches every other module with a
    ``gradient_checkpointing`` flag on: the kit's layers would all be checkpointed whatever ``n``.
    A ``PreTrainedModel`` built from the kit's layers sets ``_set_gradient_checkpointing =
    set_gradient_checkpointing`` (``TinyTransformerPreTrainedModel`` does), and then ``every_n_layers``
    means what it says: the outermost checkpointable layers (the kit's and transformers') are counted in
    order and layers ``0, n, 2n, ...`` are checkpointed, exactly like :func:`enable_gradient_checkpointing`.
    A nested layer (an attention core) follows the layer it sits in, so a layer that is not chosen keeps
    all its activations; other modules with the flag are set to ``enable``, as transformers does.

    Args:
        model: the model (``self`` when used as the method).
        enable: switch on (``True``) or off.
        gradient_checkpointing_func: ``func(function, *args)``, usually
            ``functools.partial(torch.utils.checkpoint.checkpoint, use_reentrant=...)``.
        every_n_layers: checkpoint every n-th layer (ignored when switching off).

    Raises:
        ValueError: ``every_n_layers < 1``, or no module of ``model`` can be checkpointed.

    Example:
        >>> class MyModel(PreTrainedModel):  # doctest: +SKIP
        ...     _set_gradient_checkpointing = set_gradient_checkpointing
    """
    if not isinstance(every_n_layers, int) or every_n_layers < 1:
        raise ValueError(f"every_n_layers must be an integer >= 1, got {every_n_layers!r}.")
    found = False
    for module in model.modules():  # other modules with the flag (and the model itself), as transformers does
        if hasattr(module, "gradient_checkpointing") and not isinstance(module, CHECKPOINTABLE_LAYERS):
            module._gradient_checkpointing_func = gradient_checkpointing_func
            module.gradient_checkpointing = enable
            found = True
    for index, layer in enumerate(checkpointable_layers(model)):
        chosen = enable and index % every_n_layers == 0
        for module in _all_checkpointable(layer):  # the layer and the layers nested in it
            module._gradient_checkpointing_func = gradient_checkpointing_func
            module.gradient_checkpointing = chosen
            found = True
    if not found:
        raise ValueError(
            f"{type(model).__name__} is not compatible with gradient checkpointing: it contains no "
            "GradientCheckpointingLayer. Make the repeated blocks subclass modlayers.GradientCheckpointingLayer."
        )


def disable_gradient_checkpointing(model: nn.Module) -> None:
    """Switch checkpointing off for every checkpointable layer in ``model``, nested ones included."""
    for layer in _all_checkpointable(model):
        layer.gradient_checkpointing = False
