"""A tiny Llama decoder (random weights) and a word-level tokenizer like a Llama one (``<s>`` first, no pad
token), trained here on the kit's sentences and saved as ``save_pretrained`` writes them: no files, no downloads."""

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from modlayers.lessons import data

SPECIAL = ["<unk>", "<s>", "</s>"]


def decoder_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained on the kit's sentences, like a Llama one: ``<s>`` first, no pad token."""
    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    texts = [r["text"] for r in data.load_classification("train")]
    texts += [" ".join(r["words"]) for r in data.load_tagging("train")]
    texts += [r["question"] + " " + r["context"] for r in data.load_qa("train")]
    backend.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=SPECIAL, min_frequency=2))
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B:1",
                                                           special_tokens=[("<s>", backend.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def save_tiny_llama(folder) -> None:
    """A 2-layer Llama (width 32, random weights, seed 0) and its tokenizer, saved into ``folder``."""
    tokenizer = decoder_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
