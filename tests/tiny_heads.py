"""Tiny QA and tagging heads on the kit's encoder, shared by the pipeline and widget tests."""

from modlayers.heads import GenericForQuestionAnswering, GenericForTokenClassification
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel


class TinyReader(GenericForQuestionAnswering, TinyTransformerPreTrainedModel):
    pass


class TinyTagger(GenericForTokenClassification, TinyTransformerPreTrainedModel):
    pass


def config(**extra):
    return TinyTransformerConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 max_position_embeddings=32, is_causal=False, **extra)
