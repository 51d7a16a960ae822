"""Pooling: which token's vector stands for the whole sequence.

A decoder reads left to right, so only the last real token has seen the whole
sentence. ``GenericForSequenceClassification`` therefore scores every token and
keeps the score of the rightmost token that is not padding. These functions are
that step, and the alternatives a notebook compares it with.
"""

import torch


def _check_token_matrix(name: str, tensor: torch.Tensor) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}.")
    if tensor.dim() != 2:
        raise ValueError(
            f"{name} must have shape (batch, seq_len), got shape {tuple(tensor.shape)}. "
            "Add a batch dimension with .unsqueeze(0) for a single sequence."
        )


def last_non_pad_index(input_ids: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """Index of the rightmost token that is not ``pad_token_id``, for each row.

    Works for right padding (``[a b c P P]`` -> 2) and left padding
    (``[P P a b c]`` -> 4) alike, because it multiplies each position by 1 for a
    real token and 0 for a pad, then takes the argmax: the largest surviving
    position is the last real token wherever the pads are.

    Args:
        input_ids: ``(batch, seq_len)`` integer token ids.
        pad_token_id: the id used for padding.

    Returns:
        ``(batch,)`` int64 tensor of positions.

    Raises:
        TypeError: ``input_ids`` is not an integer tensor.
        ValueError: ``input_ids`` is not 2-D, or a row holds nothing but padding
            (there is no token to pool; upstream silently pools token 0).

    Example:
        >>> last_non_pad_index(torch.tensor([[5, 6, 0, 0], [0, 0, 7, 8]]), pad_token_id=0)
        tensor([1, 3])
    """
    _check_token_matrix("input_ids", input_ids)
    if input_ids.is_floating_point() or input_ids.is_complex():
        raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}.")
    non_pad_mask = (input_ids != pad_token_id).to(torch.int64)  # (batch, seq_len), 1 = real token
    # A value check reads the tensor on the host: skipped inside torch.compile (see modlayers.heads).
    empty = non_pad_mask.sum(dim=-1) == 0  # (batch,)
    if not torch.compiler.is_compiling() and bool(empty.any()):
        all_padding = empty.nonzero().flatten().tolist()
        raise ValueError(
            f"row(s) {all_padding} of input_ids contain only the pad token {pad_token_id}, so there is no "
            "token to pool. Remove empty sequences from the batch."
        )
    positions = torch.arange(input_ids.shape[-1], device=input_ids.device)  # (seq_len,)
    # Pads score 0, real tokens score their position: the argmax is the rightmost real token.
    return (positions * non_pad_mask).argmax(dim=-1)  # (batch,)


def last_attended_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the rightmost position the attention mask keeps (value 1), for each row.

    Use this when the pad token is also a real token, for example when a tokenizer
    without a pad token is given ``pad_token = eos_token``: then
    :func:`last_non_pad_index` skips the real end-of-sequence token too, while the
    attention mask still tells padding from content.

    Args:
        attention_mask: ``(batch, seq_len)`` tensor of 0 (padding) and 1 (token).

    Returns:
        ``(batch,)`` int64 tensor of positions.

    Raises:
        ValueError: the mask is not 2-D, holds values other than 0 and 1, or a row is all 0.

    Example:
        >>> last_attended_index(torch.tensor([[1, 1, 1, 0], [0, 1, 1, 1]]))
        tensor([2, 3])
    """
    _check_token_matrix("attention_mask", attention_mask)
    keep = attention_mask.to(torch.int64)  # (batch, seq_len)
    # Value checks read the tensor on the host: skipped inside torch.compile (see modlayers.heads).
    if not torch.compiler.is_compiling():
        if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (token).")
        empty_rows = (keep.sum(dim=-1) == 0).nonzero().flatten().tolist()
        if empty_rows:
            raise ValueError(f"row(s) {empty_rows} of attention_mask are all 0, so there is no token to pool.")
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)  # (seq_len,)
    return (positions * keep).argmax(dim=-1)  # (batch,)


def check_pad_token_matches_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, pad_token_id: int) -> None:
    """Raise if a position the attention mask marks as padding holds a token other than ``pad_token_id``.

    That is a config that contradicts its tokenizer (the tokenizer pads with another id than
    ``config.pad_token_id``). A real token that equals ``pad_token_id`` where the mask keeps it (the
    ``pad_token = eos_token`` patch) is no contradiction: the mask says it is content.

    Args:
        input_ids, attention_mask: ``(batch, seq_len)``.
        pad_token_id: the id the config says pads.

    Raises:
        ValueError: naming the pad id, the token(s) the mask marks as padding, and the fix.

    Example:
        >>> check_pad_token_matches_mask(torch.tensor([[5, 2]]), torch.tensor([[1, 0]]), 0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: attention_mask marks as padding positions holding token 2, but config.pad_token_id is 0: ...
    """
    if torch.compiler.is_compiling():  # a host read: eager mode only
        return
    padded = attention_mask == 0  # (batch, seq_len), True = padding by the mask
    wrong = padded & (input_ids != pad_token_id)  # (batch, seq_len)
    if not bool(wrong.any()):
        return
    tokens, counts = input_ids[wrong].unique(return_counts=True)
    found = tokens[counts.argsort(descending=True)].tolist()  # the most frequent first
    shown = found[0] if len(found) == 1 else found[:5]
    raise ValueError(
        f"attention_mask marks as padding positions holding token {shown}, but config.pad_token_id is "
        f"{pad_token_id}: the tokenizer pads with another id than the config says, so a head that reads "
        f"the pad id pools a pad (transformers' own classes do, and so does this head without a mask). Fix "
        f"the config: model.config.pad_token_id = tokenizer.pad_token_id (here {found[0]}), before training "
        "and saving."
    )


def rows_ending_in_kept_pads(input_ids: torch.Tensor, attention_mask: torch.Tensor, pad_token_id: int) -> list[int]:
    """The rows whose last two positions the mask keeps both hold ``pad_token_id``: padding the mask calls content.

    One kept pad token at the end of a row is the ``pad_token = eos_token`` patch (the end token is content);
    two or more in a row are almost always padding under a mask that keeps everything (``torch.ones_like``), and
    the sequence head would pool a pad there (:func:`last_token_index` trusts the mask).

    Args:
        input_ids, attention_mask: ``(batch, seq_len)``.
        pad_token_id: the config's pad id.

    Returns:
        The row indices, ascending (empty when none).

    Example:
        >>> rows_ending_in_kept_pads(torch.tensor([[5, 6, 0, 0], [5, 6, 7, 0]]), torch.ones(2, 4), pad_token_id=0)
        [0]
    """
    last = last_attended_index(attention_mask)  # (batch,)
    before = (last - 1).clamp(min=0)  # (batch,)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    kept_pads = ((last >= 1) & (input_ids[rows, last] == pad_token_id) & (input_ids[rows, before] == pad_token_id)
                 & (attention_mask[rows, before] != 0))  # (batch,)
    return kept_pads.nonzero().flatten().tolist()


def last_token_index(
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    pad_token_id: int | None,
    seq_len: int | None = None,
) -> torch.Tensor | int:
    """The position the sequence head pools, for each row: the rule ``GenericForSequenceClassification`` follows.

    - With a 2-D ``attention_mask``: the last position it keeps (:func:`last_attended_index`), whether
      the inputs are ``input_ids`` or ``inputs_embeds``, whatever the pad id. With ``input_ids`` and a
      ``pad_token_id`` too, a position the mask drops must hold the pad token
      (:func:`check_pad_token_matches_mask`).
    - Else, with ``input_ids`` and a ``pad_token_id``: the last non-pad token (:func:`last_non_pad_index`),
      as transformers does.
    - Else ``-1``, the last position of every row (the caller decides whether that is safe).

    A mask longer than the inputs (a KV cache covers earlier positions) is read over its last
    ``seq_len`` columns (the inputs' length; default ``input_ids``' or the mask's); a prepared 4-D mask is
    not read.

    Example:
        >>> last_token_index(torch.tensor([[5, 6, 0]]), torch.tensor([[1, 1, 0]]), pad_token_id=0)
        tensor([1])
    """
    if attention_mask is not None and attention_mask.dim() == 2:
        if seq_len is None:
            seq_len = input_ids.shape[-1] if input_ids is not None else attention_mask.shape[-1]
        mask = attention_mask[:, -seq_len:]  # (batch, seq_len): the positions of these inputs
        if input_ids is not None and pad_token_id is not None:
            check_pad_token_matches_mask(input_ids, mask, pad_token_id)
        return last_attended_index(mask)  # (batch,)
    if input_ids is not None and pad_token_id is not None:
        return last_non_pad_index(input_ids, pad_token_id)  # (batch,)
    return -1


def pool_at(values: torch.Tensor, index: torch.Tensor | int) -> torch.Tensor:
    """Pick one position per row: ``values[b, index[b]]``.

    Args:
        values: ``(batch, seq_len, features)`` per-token logits or hidden states.
        index: ``(batch,)`` positions, or one int (``-1`` = last token) for every row.

    Returns:
        ``(batch, features)``.

    Example:
        >>> pool_at(torch.arange(12.).view(2, 3, 2), torch.tensor([0, 2]))
        tensor([[ 0.,  1.],
                [10., 11.]])
    """
    if values.dim() != 3:
        raise ValueError(f"values must have shape (batch, seq_len, features), got {tuple(values.shape)}.")
    batch_size = values.shape[0]
    if isinstance(index, torch.Tensor) and index.shape != (batch_size,):
        raise ValueError(f"index must have shape ({batch_size},), one position per row, got {tuple(index.shape)}.")
    rows = torch.arange(batch_size, device=values.device)  # (batch,)
    if isinstance(index, torch.Tensor):
        index = index.to(values.device)
    return values[rows, index]  # (batch, features)


def first_token_pool(hidden_states: torch.Tensor) -> torch.Tensor:
    """The vector of the first token (BERT's ``[CLS]`` convention): ``(batch, seq, h) -> (batch, h)``.

    Example:
        >>> first_token_pool(torch.arange(8.).view(2, 2, 2))
        tensor([[0., 1.],
                [4., 5.]])
    """
    if hidden_states.dim() != 3:
        raise ValueError(f"hidden_states must be (batch, seq_len, hidden), got {tuple(hidden_states.shape)}.")
    return hidden_states[:, 0]


def mean_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors the attention mask keeps: ``(batch, seq, h) -> (batch, h)``.

    Example:
        >>> mean_pool(torch.tensor([[[1.], [3.], [100.]]]), torch.tensor([[1, 1, 0]]))
        tensor([[2.]])
    """
    if hidden_states.dim() != 3:
        raise ValueError(f"hidden_states must be (batch, seq_len, hidden), got {tuple(hidden_states.shape)}.")
    if attention_mask.shape != hidden_states.shape[:2]:
        raise ValueError(
            f"attention_mask must have shape {tuple(hidden_states.shape[:2])} to match hidden_states, "
            f"got {tuple(attention_mask.shape)}."
        )
    weights = attention_mask.to(hidden_states.dtype).unsqueeze(-1)  # (batch, seq, 1)
    counts = weights.sum(dim=1).clamp(min=1)  # (batch, 1); an empty row averages to 0, not NaN
    return (hidden_states * weights).sum(dim=1) / counts  # (batch, h)
