"""Your own checkpoint for the lessons' fine-tunes: any local folder or hub id, encoder or decoder.

:func:`load_task_model` puts the kit's head for a task on the checkpoint (through
:func:`modlayers.lessons.pretrained.load_pretrained`, which refuses a checkpoint whose base weights did not load) and
makes its tokenizer ready for batches:

- **a pad token**: a decoder tokenizer often has none (Llama, Qwen, GPT-2). It gets its end-of-sequence
  token as pad token, the usual patch, or a new ``<pad>`` token (the embeddings grow by one row) when it has
  no end-of-sequence token either. ``config.pad_token_id`` follows, so the head knows the pad id.
- **left padding for a decoder classifier**: a causal model's last real token has read the whole sentence,
  so the classifier pools it; with left padding that token sits in the last column of every row. The kit's
  head finds the last real token either way (from the attention mask); the test of this module checks the
  index it pools. Token-level tasks (QA, tagging) keep right padding: their labels are per token, and QA's
  answerless windows point at position 0.

A model counts as a decoder when transformers knows it as a causal language model and not as a masked one
(:func:`is_decoder`): Llama, Qwen2, GPT-2 are; BERT and RoBERTa (which are both) are not.

Example:
    >>> model, tokenizer = load_task_model("classification", "/tmp/my-llama", label_names=["neg", "pos"])  # doctest: +SKIP
    >>> tokenizer.padding_side  # doctest: +SKIP
    'left'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import AutoTokenizer, PretrainedConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_FOR_MASKED_LM_MAPPING


def is_decoder(config: PretrainedConfig) -> bool:
    """``True`` for a causal-only architecture (Llama, Qwen2, GPT-2), ``False`` for BERT, RoBERTa and the like."""
    kind = type(config)
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING and kind not in MODEL_FOR_MASKED_LM_MAPPING


def load_task_model(task: str, source: str | Path, *, label_names: Sequence[str] | None = None, **from_pretrained_kwargs):
    """``(model, tokenizer)``: the kit's head for ``task`` on the checkpoint ``source``, its tokenizer padded as above.

    Args:
        task: ``"classification"``, ``"qa"`` or ``"tagging"``.
        source: a folder written by ``save_pretrained`` (model and tokenizer), or a hub id (needs the network).
        label_names: classes or tags in label-id order (not for ``"qa"``).

    Raises:
        ValueError: as :func:`modlayers.lessons.pretrained.load_pretrained` (unknown task, missing labels, base
            weights not found in the checkpoint), or a tokenizer that is not a fast one for QA or tagging
            (their offsets and word ids need it).
        FileNotFoundError: ``source`` is a path to no folder.
        OSError: the checkpoint cannot be read or downloaded (the message names it).
    """
    from modlayers.lessons.pretrained import load_pretrained

    try:
        model, tokenizer = load_pretrained(task, label_names=None if task == "qa" else label_names,
                                           source=source, **from_pretrained_kwargs)
    except FileNotFoundError:
        raise  # a path to no folder: the message already names it
    except OSError as error:  # transformers' word for a checkpoint it cannot find, read or download
        raise OSError(f"could not load the checkpoint {str(source)!r}: {error} A folder needs the files "
                          "save_pretrained writes (config.json, the weights, the tokenizer); a hub id needs the "
                          "network (HF_HUB_OFFLINE unset).") from error
    if task == "tagging" and getattr(tokenizer, "add_prefix_space", None) is False:
        # Byte-level BPE (RoBERTa, GPT-2) reads pre-split words only with a space before each one.
        tokenizer = AutoTokenizer.from_pretrained(str(source), add_prefix_space=True)
    if task in ("qa", "tagging") and not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"the {task} fine-tune needs a fast tokenizer (offsets, word ids); {source} gives "
                         f"{type(tokenizer).__name__}. Save the checkpoint with its tokenizer.json.")
    ensure_pad_token(model, tokenizer)
    tokenizer.padding_side = "left" if task == "classification" and is_decoder(model.config) else "right"
    return model, tokenizer


def ensure_pad_token(model, tokenizer) -> int:
    """Give ``tokenizer`` a pad token if it has none (its end-of-sequence token, else a new ``<pad>``); return its id.

    ``model.config.pad_token_id`` is set to it; a new token grows the input embeddings by one row.
    """
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
            model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    text_config = model.config.get_text_config()
    if text_config is not model.config:
        text_config.pad_token_id = tokenizer.pad_token_id
    return tokenizer.pad_token_id
