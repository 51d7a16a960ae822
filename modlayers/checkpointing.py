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
      gradient (torch warns). On a ``PreTrainedModel`` both switches hook the input
      embeddings so that their output requires grad; a plain stack is not hooked.
      ``use_reentrant=False`` has neither problem.
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
does) has the kit's layers counted too. Like transformers' switch, :func:`enable_gradient_checkpointing`
sets every flag anew at each call, turns the base model's own flag on (no cache in training) and, on a
``PreTrainedModel``, hooks the input embeddings (frozen embeddings, re-entrant checkpoint: gradients still flow).
"""

import functools
import threading

import torch
import transformers.modeling_layers
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint
from transformers import PreTrainedModel
from transformers.utils import logging

# positional_call is imported from here too
from modlayers.reentrant_warnings import positional_call, warn_about_untracked_tensors  # noqa: F401

logger = logging.get_logger(__name__)

CACHE_ARGUMENTS = ("past_key_values", "cache", "layer_past")

# How many checkpointed layers are running their forward (or its recompute) in this thread.
# Autograd may recompute in another thread (one per CUDA device); the count follows the call.
class _ForwardDepth(threading.local):
    depth = 0  # a class default: every thread starts at 0, and torch.compile can read it before any write


_checkpointed_forwards = _ForwardDepth()

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
    # torch.compile cannot guard a thread-local that changes inside the frame: while tracing, each layer decides
    # alone (a nested layer checkpoints inside its parent's checkpoint; the numbers are the same)
    return not torch.compiler.is_compiling() and _checkpointed_forwards.depth > 0


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
            warn_about_untracked_tensors(self, forward, args, kwargs)

        # Keyword arguments are bound now (and kept with the call until backward); positional ones become the
        # checkpoint's inputs.
        _report_bound_tensors(kwargs)
        return self._gradient_checkpointing_func(functools.partial(_run_checkpointed, forward, self, **kwargs), *args)

    return forward_with_checkpointing


def _run_checkpointed(forward, layer, *args, **kwargs):
    """The call the checkpoint runs, in the forward pass and again in the recompute (no module hooks)."""
    if torch.compiler.is_compiling():  # no count while tracing (see _inside_checkpointed_layer)
        return forward(layer, *args, **kwargs)
    _checkpointed_forwards.depth += 1
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

    Each call describes the whole new state, as transformers' switch re-sets every module: the chosen layers
    (and the checkpointable layers nested in them) are switched on, every other checkpointable layer off, so
    nothing is left over from an earlier call. As transformers' ``activation_checkpointing_enable`` does:

    - every other module with a ``gradient_checkpointing`` flag (``LlamaModel``, ``BertEncoder``) is
      switched on too; such a model then turns ``use_cache=True`` off in training, with its warning, and
      returns no cache (a checkpointed layer cannot write one).
    - on a ``PreTrainedModel`` whose ``main_input_name`` is ``"input_ids"`` (or with PEFT adapters loaded),
      a forward hook makes the input embeddings' output require grad, so that a re-entrant checkpoint gets
      an input to differentiate and the layers' parameters get their gradients when the embeddings are
      frozen (LoRA). :func:`disable_gradient_checkpointing` removes the hook.

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
        The layers that are now checkpointed (the outermost ones that run their own checkpoint).

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
    chosen = layers[::every_n_layers]  # layers 0, n, 2n, ...
    _set_flags(model, checkpoint_func, enable=True)  # a new state: every layer off, every other flag on
    for layer in chosen:
        for module in _all_checkpointable(layer):  # the layer and the layers nested in it
            module.gradient_checkpointing = True
    _hook_input_embeddings(model)
    return chosen


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


def _set_flags(model: nn.Module, checkpoint_func, enable: bool) -> None:
    """Every checkpointable layer off; every other module with a ``gradient_checkpointing`` flag set to ``enable``."""
    for module in model.modules():
        if hasattr(module, "gradient_checkpointing"):
            if checkpoint_func is not None:
                module._gradient_checkpointing_func = checkpoint_func
            module.gradient_checkpointing = enable and not isinstance(module, CHECKPOINTABLE_LAYERS)


def _require_grad_of_output(module: nn.Module, inputs, output: torch.Tensor) -> None:
    """Forward hook on the input embeddings: their output requires grad, even when the embeddings are frozen."""
    output.requires_grad_(True)


def _hook_input_embeddings(model: nn.Module) -> None:
    """transformers 5.25's ``enable_input_require_grads`` where its switch calls it, without piling up hooks.

    The hooks are kept where transformers keeps them (``_require_grads_hooks``, ``_require_grads_hook``), so
    ``model.disable_input_require_grads()`` removes them too. A module-level hook: the model still pickles.
    """
    if not isinstance(model, PreTrainedModel):
        return
    if model.main_input_name != "input_ids" and not getattr(model, "_hf_peft_config_loaded", False):
        return
    _unhook_input_embeddings(model)
    hooks, seen = [], set()
    for module in model.modules():  # each PreTrainedModel inside (an encoder-decoder's parts), as transformers does
        if not (isinstance(module, PreTrainedModel) and hasattr(module, "get_input_embeddings")):
            continue
        try:
            embeddings = module.get_input_embeddings()
        except NotImplementedError:
            continue
        if embeddings is None or not hasattr(embeddings, "register_forward_hook") or id(embeddings) in seen:
            continue
        seen.add(id(embeddings))
        hooks.append(embeddings.register_forward_hook(_require_grad_of_output))
    if hooks:
        model._require_grads_hooks = hooks
        model._require_grads_hook = hooks[0]


def _unhook_input_embeddings(model: nn.Module) -> None:
    """Remove the hooks of :func:`_hook_input_embeddings` (or of transformers' ``enable_input_require_grads``)."""
    hooks = list(getattr(model, "_require_grads_hooks", None) or [])
    if getattr(model, "_require_grads_hook", None) is not None:
        hooks.append(model._require_grads_hook)
        del model._require_grads_hook
    for handle in hooks:
        handle.remove()  # (a handle already removed is skipped)
    if hasattr(model, "_require_grads_hooks"):
        model._require_grads_hooks = []


def disable_gradient_checkpointing(model: nn.Module) -> None:
    """Switch checkpointing off in ``model``: every module with a ``gradient_checkpointing`` flag, nested ones too.

    Also removes the input-embedding hook :func:`enable_gradient_checkpointing` adds to a ``PreTrainedModel``
    (transformers' ``activation_checkpointing_disable`` leaves it, except under PEFT).
    """
    _set_flags(model, None, enable=False)
    _unhook_input_embeddings(model)
