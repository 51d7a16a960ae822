"""The WordPiece tokenizer (``tokenizer/``), trained on the training texts of the three datasets."""

from __future__ import annotations

from modlayers.lessons.datasets_generator.vocabulary import SPECIAL_TOKENS, VOCAB_SIZE


def training_texts(datasets: dict[str, dict[str, list[dict]]]) -> list[str]:
    """The texts the tokenizer learns from: the *training* splits of all three datasets."""
    texts = [r["text"] for r in datasets["classification"]["train"]]
    texts += [t for r in datasets["qa"]["train"] for t in (r["question"], r["context"])]
    texts += [" ".join(r["words"]) for r in datasets["tagging"]["train"]]
    return texts


def learn_wordpiece_vocab(texts: list[str], vocab_size: int = VOCAB_SIZE, min_frequency: int = 2) -> list[str]:
    """Learn a WordPiece vocabulary from ``texts`` by greedy pair merging, deterministically.

    The same procedure as the ``tokenizers`` WordPiece trainer (start from characters, a word-inner
    character written ``##c``; repeatedly merge the most frequent adjacent pair), written out here
    because the Rust trainer breaks ties between equally frequent pairs in a different order on each
    run. Here ties go to the alphabetically first pair, so the vocabulary is the same every time.

    Returns:
        The vocabulary in id order: special tokens, the sorted alphabet, then merged pieces in the
        order they were learned; at most ``vocab_size`` entries.
    """
    from collections import Counter, defaultdict

    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    word_counts = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    words = sorted(word_counts)
    pieces = [[w[0]] + [f"##{c}" for c in w[1:]] for w in words]  # word -> its current pieces
    counts = [word_counts[w] for w in words]
    vocab = list(SPECIAL_TOKENS) + sorted({p for word_pieces in pieces for p in word_pieces})

    pair_counts: Counter = Counter()
    pair_words: defaultdict = defaultdict(set)  # pair -> indices of the words that contain it
    for i, word_pieces in enumerate(pieces):
        for pair in zip(word_pieces, word_pieces[1:]):
            pair_counts[pair] += counts[i]
            pair_words[pair].add(i)

    known = set(vocab)
    while len(vocab) < vocab_size and pair_counts:
        best_count = max(pair_counts.values())
        if best_count < min_frequency:
            break
        first, second = min(pair for pair, c in pair_counts.items() if c == best_count)  # ties: alphabetical
        merged = first + second.removeprefix("##")
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
        for i in sorted(pair_words.pop((first, second))):
            old = pieces[i]
            for pair in zip(old, old[1:]):
                pair_counts[pair] -= counts[i]
                if pair_counts[pair] <= 0:
                    del pair_counts[pair]
            new, j = [], 0
            while j < len(old):
                if j + 1 < len(old) and old[j] == first and old[j + 1] == second:
                    new.append(merged)
                    j += 2
                else:
                    new.append(old[j])
                    j += 1
            pieces[i] = new
            for pair in zip(new, new[1:]):
                pair_counts[pair] += counts[i]
                pair_words[pair].add(i)
    return vocab


def build_tokenizer(texts: list[str], vocab_size: int = VOCAB_SIZE):
    """A cased WordPiece ``tokenizers.Tokenizer`` with BERT-style pre-tokenizer and post-processor."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate(learn_wordpiece_vocab(texts, vocab_size))}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",  # question first, context second (token type 1)
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tokenizer


TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "unk_token": "[UNK]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
    "model_max_length": 512,
    "padding_side": "right",
    "model_input_names": ["input_ids", "attention_mask"],
    "clean_up_tokenization_spaces": False,
}


def word_split_share(tokenizer, datasets) -> float:
    """Share of tagging words (validation split) that the tokenizer cuts into two or more pieces."""
    words = [w for r in datasets["tagging"]["validation"] for w in r["words"]]
    return sum(len(tokenizer.encode(w, add_special_tokens=False).tokens) > 1 for w in words) / len(words)
