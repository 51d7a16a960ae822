"""A tiny in-memory WordPiece fast tokenizer for tests: no files, no downloads.

It behaves like a BERT tokenizer (lower-cases, splits on whitespace and punctuation,
``[CLS] question [SEP] context [SEP]``) over a vocabulary of a few dozen pieces, so
tests can predict every token by hand.
"""

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the cat sat on mat where did a dog ran to park who what is in paris lives alice bob "
    "london new york city visited and play ? . ,"
).split()
PIECES = ["##s", "##ing", "##ed", "##ville"]


def make_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {piece: i for i, piece in enumerate(SPECIAL + WORDS + PIECES)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
