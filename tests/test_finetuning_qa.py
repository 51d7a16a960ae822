"""Tests for modlayers/lessons/finetuning/qa.py: a few real steps train, freezing freezes, and decoding across
windows finds answers that a single (truncated) window loses."""

import pytest
import torch
from transformers.modeling_outputs import QuestionAnsweringModelOutput

from modlayers.lessons.data import load_qa
from modlayers.lessons.finetuning.qa import finetune, freeze_lower_layers, load_reader, train_windows, windowing_scores
from modlayers.lessons.pretrained import load_pretrained_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_pretrained_tokenizer()


class YearPointer(torch.nn.Module):
    """A stand-in reader that points start and end at every token equal to one id (a one-piece answer)."""

    def __init__(self, token_id: int):
        super().__init__()
        self.token_id = token_id
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids, attention_mask=None, **_):
        logits = (input_ids == self.token_id).float() * 10.0  # (batch, seq)
        return QuestionAnsweringModelOutput(start_logits=logits, end_logits=logits.clone())


def test_windows_find_an_answer_past_the_first_window_that_truncation_loses(tokenizer):
    filler = " ".join(f"The market in town number {i} opens on weekdays." for i in range(30))  # ~300 tokens
    context = filler + " Ada was born in 1987."
    record = {"question": "When was Ada born?", "context": context, "answer_text": "1987",
              "answer_start": context.index("1987")}
    [year_id] = tokenizer("1987", add_special_tokens=False)["input_ids"]
    scores = windowing_scores(YearPointer(year_id), tokenizer, [record], max_length=64, stride=16)
    assert list(scores) == ["first window only", "windows, stride 0", "windows, stride 16"]
    assert scores["first window only"]["exact_match"] == 0.0  # the year is far past token 64
    assert scores["first window only"]["reachable"] == 0.0
    assert scores["windows, stride 16"]["reachable"] == 1.0
    assert scores["windows, stride 0"]["exact_match"] == 1.0
    assert scores["windows, stride 16"]["exact_match"] == 1.0


def test_train_windows_label_every_window_and_keep_model_inputs_only(tokenizer):
    records = load_qa("validation")[:6]
    features = train_windows(tokenizer, records, max_length=96, stride=24)
    assert sorted(features) == ["attention_mask", "end_positions", "input_ids", "start_positions"]
    assert features["input_ids"].shape[1] == 96 and len(features["input_ids"]) > len(records)
    assert (features["start_positions"] > 0).sum() >= len(records)  # every answer lies whole in some window


def test_train_windows_give_bert_its_segments_and_keep_a_share_of_answerless_windows(tokenizer):
    records = load_qa("validation")[:6]
    bert_reader, _ = load_reader("pretrained")
    tiny_reader_, _ = load_reader("tiny")
    everything = train_windows(tokenizer, records, max_length=96, stride=24, model=bert_reader)
    assert "token_type_ids" in everything  # BERT reads which tokens are the question (0) and the context (1)
    assert "token_type_ids" not in train_windows(tokenizer, records, max_length=96, stride=24, model=tiny_reader_)
    answerless = int((everything["start_positions"] == 0).sum())
    only_answers = train_windows(tokenizer, records, max_length=96, stride=24, answerless_share=0.0)
    assert (only_answers["start_positions"] > 0).all()
    assert len(only_answers["input_ids"]) == len(everything["input_ids"]) - answerless
    half = train_windows(tokenizer, records, max_length=96, stride=24, answerless_share=0.5)
    assert len(only_answers["input_ids"]) < len(half["input_ids"]) < len(everything["input_ids"])


def test_qa_logits_pass_the_segments_to_bert(tokenizer):
    from modlayers.lessons.pipelines import qa_logits
    from modlayers.spans import encode_qa_windows

    reader, _ = load_reader("pretrained")
    reader.eval()
    record = load_qa("validation")[0]
    windows = encode_qa_windows(tokenizer, [record["question"]], [record["context"]], max_length=96, stride=24)
    start, _ = qa_logits(reader, windows)
    with torch.no_grad():
        with_segments = reader(input_ids=windows["input_ids"], attention_mask=windows["attention_mask"],
                               token_type_ids=windows["token_type_ids"]).start_logits
        without = reader(input_ids=windows["input_ids"], attention_mask=windows["attention_mask"]).start_logits
    torch.testing.assert_close(start, with_segments, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(start, without, atol=1e-3)


def test_a_few_steps_of_the_tiny_reader_return_the_promised_report():
    history = []
    result = finetune("tiny", steps=4, batch_size=4, eval_every=2, eval_size=6, progress=False, on_eval=history.append)
    assert {"task", "model", "steps", "metric_name", "metric", "baselines", "history", "seconds"} <= set(result)
    assert (result["task"], result["model"], result["steps"], result["metric_name"]) == ("qa", "tiny", 4, "exact_match")
    assert [e["step"] for e in result["history"]] == [2, 4] and history == result["history"]
    assert set(result["baselines"]) == {"first sentence", "random span", "first of kind", "overlap sentence"}
    assert 0.0 <= result["metric"] <= 1.0 and result["seconds"] > 0


def test_the_tiny_reader_learns_on_a_handful_of_windows():
    records = load_qa("train")[:8]
    result = finetune("tiny", steps=40, batch_size=8, lr=3e-3, train_records=records, validation_records=records,
                      eval_every=20, progress=False, baselines={})
    first_half, second_half = (entry["loss"] for entry in result["history"])
    assert second_half < 0.8 * first_half, (first_half, second_half)


def test_max_seconds_stops_training_early():
    result = finetune("tiny", steps=1000, batch_size=4, max_seconds=0.01, eval_size=2, progress=False, baselines={})
    assert result["steps"] == 1 and len(result["history"]) == 1
    assert result["stopped_early"] == ("max_seconds=0.01 stopped training after 1 of 1000 steps: these figures "
                                       "are not those of the full 1000-step run.")


def test_the_prepared_scorer_tokenizes_once_and_scores_like_evaluate_qa(tokenizer, monkeypatch):
    from modlayers.lessons.finetuning import qa
    from modlayers.lessons.pipelines import evaluate_qa

    records = load_qa("validation")[:10]
    torch.manual_seed(0)
    reader, _ = load_reader("tiny")
    reader.eval()
    options = dict(max_length=96, stride=24, max_answer_length=10)
    score = qa.prepared_scorer(reader, tokenizer, records, **options)
    calls = []
    monkeypatch.setattr(qa, "encode_qa_windows", lambda *a, **k: calls.append(1))
    first, second = score(), score()
    expected = evaluate_qa(reader, tokenizer, records, **options)
    assert calls == [] and first == second
    assert first == {"exact_match": expected["exact_match"], "f1": expected["f1"]}


def test_freezing_the_lower_layers_stops_their_gradients():
    reader, _ = load_reader("pretrained")
    total = sum(p.numel() for p in reader.parameters())
    trained = freeze_lower_layers(reader, 4)
    assert trained < total
    assert not any(p.requires_grad for p in reader.bert.embeddings.parameters())
    assert not any(p.requires_grad for layer in reader.bert.encoder.layer[:4] for p in layer.parameters())
    assert all(p.requires_grad for layer in reader.bert.encoder.layer[4:] for p in layer.parameters())
    assert all(p.requires_grad for p in reader.qa_outputs.parameters())
    with pytest.raises(ValueError, match="from 0 to 6"):
        freeze_lower_layers(reader, 7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "large"}, "model must be one of"),
        ({"steps": 0}, "steps must be an int >= 1"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"model": "tiny", "freeze_layers": 2}, "freeze_layers applies to the pretrained encoder"),
        ({"eval_size": 0}, "eval_size must be"),
        ({"answerless_share": 1.5}, "answerless_share must be a number from 0 to 1"),
    ],
)
def test_bad_options_are_refused_before_any_work(kwargs, match):
    with pytest.raises(ValueError, match=match):
        finetune(**{"progress": False, **kwargs})


def test_docstring_examples_run_as_written():
    import doctest

    import modlayers.lessons.finetuning.qa

    result = doctest.testmod(modlayers.lessons.finetuning.qa, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
