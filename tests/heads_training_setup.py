"""Tiny heads, batches and a one-step Trainer run, shared by the training tests and the torchrun script.

Dropout is off everywhere so that two runs differ only in how the batch is split.
"""

import torch
from transformers import BertConfig, BertPreTrainedModel, LlamaConfig, LlamaPreTrainedModel

import modlayers
from modlayers.lessons.tiny_transformer import TinyTransformerConfig, TinyTransformerPreTrainedModel

HEADS = {
    "sequence": modlayers.GenericForSequenceClassification,
    "qa": modlayers.GenericForQuestionAnswering,
    "token": modlayers.GenericForTokenClassification,
}
BASES = {"tiny": TinyTransformerPreTrainedModel, "llama": LlamaPreTrainedModel, "bert": BertPreTrainedModel}
VOCAB, SEQ_LEN, NUM_LABELS = 50, 6, 3


def make_config(arch: str):
    common = dict(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, pad_token_id=0,
                  num_labels=NUM_LABELS, classifier_dropout=0.0)
    if arch == "tiny":
        return TinyTransformerConfig(**common, max_position_embeddings=32, hidden_dropout=0.0, attention_dropout=0.0)
    if arch == "llama":
        return LlamaConfig(**common, intermediate_size=32, num_key_value_heads=2)
    return BertConfig(**common, intermediate_size=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def make_head(arch: str, task: str, seed: int = 0):
    model_class = type(f"{arch.title()}{task.title()}Head", (HEADS[task], BASES[arch]), {})
    torch.manual_seed(seed)
    return model_class(make_config(arch))


def make_examples(task: str, n: int = 8, seed: int = 0) -> list[dict]:
    """``n`` examples with right padding; token labels are -100 on padding and on more tokens in the
    first half of the examples, so micro-batches hold different numbers of labelled tokens."""
    generator = torch.Generator().manual_seed(seed)
    examples = []
    for i in range(n):
        length = SEQ_LEN - (i % 3)
        ids = torch.zeros(SEQ_LEN, dtype=torch.long)
        ids[:length] = torch.randint(1, VOCAB, (length,), generator=generator)
        mask = (ids != 0).long()
        example = {"input_ids": ids, "attention_mask": mask}
        if task == "sequence":
            example["labels"] = torch.randint(0, NUM_LABELS, (), generator=generator)
        elif task == "qa":
            example["start_positions"] = torch.tensor(1)
            example["end_positions"] = torch.tensor(length - 1)
        else:
            labels = torch.randint(0, NUM_LABELS, (SEQ_LEN,), generator=generator)
            labels[mask == 0] = -100
            if i < n // 2:
                labels[1:4] = -100
            example["labels"] = labels
        examples.append(example)
    return examples


def trainer_step_update(model, examples, output_dir, batch_size: int, accumulation: int, steps: int = 1):
    """Run ``steps`` optimizer steps of transformers' Trainer (plain SGD, lr 1, no clipping) and return
    ``(parameter updates, logged losses)``; with lr 1 the update of one step is minus the gradient."""
    from transformers import Trainer, TrainingArguments

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation,
        max_steps=steps, learning_rate=1.0, lr_scheduler_type="constant", optim="sgd", weight_decay=0.0,
        max_grad_norm=0.0, logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, seed=0,
        disable_tqdm=True, dataloader_drop_last=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=examples)
    trainer.train()
    updates = {name: (p.detach() - before[name]) for name, p in model.named_parameters()}
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return updates, losses
