"""Grade a generated class: every kind of submission an instructor meets, with the score each must get.

    python benchmarks/grade_class.py                    # 40 students x 4 assignments, timed
    python benchmarks/grade_class.py --students 10      # a smaller class

Six kinds of student, in turn (student 0 is a stub, 1 wrong, 2 different, 3 tampered, 4 copying, 5 misled,
6 a stub, ...):

- ``stub``: the student notebooks untouched -> 0 everywhere;
- ``wrong``: plausible mistakes, each costing only its own parts (left padding ignored, transformers'
  NaN QA loss, every piece labelled, a plain ``F.cross_entropy`` token loss, the LayerNorm's statistics
  forgotten, a hard-coded gradient difference of 0.0);
- ``different``: correct answers written differently (loops, ``gather``, the in-place
  ``labels[labels == -100] = 0`` idiom, ...) -> full marks;
- ``tampered``: the wrong answers, with the failing check cells deleted, another check replaced by
  ``print("✓")`` and the check functions redefined as no-ops -> the same score as ``wrong`` (cells put
  back, checks restored, hidden tests run);
- ``copying``: answers that are, wrap or import the kit's implementations -> 0 for those parts (the
  quizzes, answered right, keep their points: 2 each, 4 in a5, which grades notebooks 05 and 06);
- ``misled``: the mistakes that hints and failure messages once answered for the student or let through
  (``logits[:, index]``, a token loss ``per_token.mean()`` that is 0.0 by accident when nothing is labelled,
  gradients summed over the ranks but never averaged) -> 0 for exactly those parts (``MISLED_LOSES``), and
  feedback that names the mistake without handing over the answer.

Then two students whose files are what browsers and uploads make of notebooks (``BROKEN``):

- ``x0-broken``: a 0-byte ``a1_pooling.ipynb``, a ``a2_spans.ipynb`` cut short half-way, ``{}`` as
  ``a3_token_loss.ipynb`` -> each reported as unreadable with its reason; ``a4_checkpointing (1).ipynb``
  (a second download), correct -> graded, full marks;
- ``x1-renamed``: ``A1_Pooling.ipynb`` (other case), wrong -> graded as ``wrong``; ``a2_spans (1).ipynb``,
  correct -> full marks; ``a3_token_loss.ipynb`` whose nbgrader metadata was edited by hand (it reads, but
  grading it fails) -> an ``error`` row, the class goes on; ``homework.ipynb``, a notebook of no
  assignment -> a4 and a5 reported as ``unreadable name`` with the expected names (never a plain "missing");
- ``x2-exported``: ``a1_pooling.ipynb.txt`` (a browser added ``.txt``), correct -> graded, full marks, the
  summaries say which file; ``a5_scaling_out.py`` (File > Download .py) -> ``unreadable`` saying it is a script
  and how to download the notebook; ``notes.txt`` -> left out; a2-a4 -> ``missing``.

Prints the time, the load, and every score, status or file name that differs from the expected one;
exits 1 if any does.
``tests/test_assignments.py`` grades a small class built the same way, the broken and renamed files included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from modlayers.course.grading import SOLUTIONS_DIR, STUDENT_DIR, assignment_names, grade_submissions, question_points

KINDS = ("stub", "wrong", "different", "tampered", "copying", "misled")

# Answers other than the solutions: {kind: {assignment: {answer cell id: source}}}.
ANSWERS = {
    "wrong": {
        "a1_pooling": {"last_non_pad_index": "def last_non_pad_index(input_ids, pad_token_id):\n"
                                             "    return (input_ids != pad_token_id).sum(-1) - 1\n"},
        "a2_spans": {"qa_loss": "def qa_loss(start_logits, end_logits, start_positions, end_positions):\n"
                                "    n = start_logits.shape[1]\n"
                                "    s = F.cross_entropy(start_logits, start_positions.clamp(0, n), ignore_index=n)\n"
                                "    e = F.cross_entropy(end_logits, end_positions.clamp(0, n), ignore_index=n)\n"
                                "    return (s + e) / 2\n"},
        "a3_token_loss": {
            "align_labels": "def align_labels(word_labels, word_ids):\n"
                            "    return [-100 if w is None else word_labels[w] for w in word_ids]\n",
            "masked_token_loss": "def masked_token_loss(logits, labels):\n"
                                 "    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))\n",
        },
        "a4_checkpointing": {
            "block_saved_bytes": "def block_saved_bytes(batch, seq_len, hidden_size, intermediate_size, checkpointed):\n"
                                 "    n = batch * seq_len\n"
                                 "    return 4 * n * hidden_size if checkpointed else 4 * n * (2 * hidden_size + 2 * intermediate_size)\n",
            "measure_checkpointing": "def measure_checkpointing(model, hidden_states):\n"
                                     "    counts = []\n"
                                     "    for switch in (disable_gradient_checkpointing, enable_gradient_checkpointing):\n"
                                     "        switch(model)\n"
                                     "        model.zero_grad()\n"
                                     "        with SavedTensorCounter(model) as counter:\n"
                                     "            loss = model(hidden_states.detach().requires_grad_()).sum()\n"
                                     "        loss.backward()\n"
                                     "        counts.append(counter.saved_bytes)\n"
                                     "    return counts[0], counts[1], 0.0\n",
        },
        "a5_scaling_out": {
            "average_gradients": "def average_gradients(model):\n"
                                 "    for p in model.parameters():  # forgets the frozen parameters' None\n"
                                 "        dist.all_reduce(p.grad)\n"
                                 "        p.grad /= dist.get_world_size()\n",
            "rank_state_bytes": "def rank_state_bytes(model, strategy, world_size, rank):\n"
                                "    held = sum(p.numel() * p.element_size() for p in model.parameters())\n"
                                "    trained = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)\n"
                                "    shards = world_size if strategy == 'fsdp2' else 1  # as if rows always split evenly\n"
                                "    return {'parameters': held // shards, 'gradients': trained // shards, "
                                "'optimizer_state': 2 * trained // shards}\n",
        },
    },
    "different": {
        "a1_pooling": {
            "last_non_pad_index": "def last_non_pad_index(input_ids, pad_token_id):\n"
                                  "    out = []\n"
                                  "    for row in input_ids:\n"
                                  "        real = [i for i, t in enumerate(row.tolist()) if t != pad_token_id]\n"
                                  "        out.append(real[-1] if real else 0)\n"
                                  "    return torch.tensor(out, dtype=torch.long)\n",
            "pooled_logits": "def pooled_logits(logits, index):\n"
                             "    gather_index = index.view(-1, 1, 1).expand(-1, 1, logits.shape[-1])\n"
                             "    return logits.gather(1, gather_index).squeeze(1)\n",
        },
        "a2_spans": {
            "best_spans": "def best_spans(start_logits, end_logits, max_answer_length=30, n_best=20):\n"
                          "    spans = []\n"
                          "    for s in range(len(start_logits)):\n"
                          "        for e in range(s, min(len(end_logits), s + max_answer_length)):\n"
                          "            spans.append((s, e, float(start_logits[s] + end_logits[e])))\n"
                          "    return sorted(spans, key=lambda span: -span[2])[:n_best]\n",
            "qa_loss": "def qa_loss(start_logits, end_logits, start_positions, end_positions):\n"
                       "    n = start_logits.shape[1]\n"
                       "    def half(logits, positions):\n"
                       "        keep = positions < n\n"
                       "        picked = logits.log_softmax(-1)[keep].gather(1, positions[keep].view(-1, 1))\n"
                       "        return -picked.sum() / keep.sum().clamp(min=1) + 0 * logits.sum()\n"
                       "    return (half(start_logits, start_positions) + half(end_logits, end_positions)) / 2\n",
        },
        "a3_token_loss": {
            "align_labels": "def align_labels(word_labels, word_ids):\n"
                            "    seen, out = set(), []\n"
                            "    for i, w in enumerate(word_ids):\n"
                            "        first = w is not None and (i == 0 or word_ids[i - 1] != w)\n"
                            "        out.append(word_labels[w] if first else -100)\n"
                            "    return out\n",
            "masked_token_loss": "def masked_token_loss(logits, labels):\n"
                                 "    keep = labels != -100\n"
                                 "    labels[labels == -100] = 0  # in place, a common idiom\n"
                                 "    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction='none')\n"
                                 "    return (per_token * keep.reshape(-1)).sum() / keep.sum().clamp(min=1)\n",
        },
        "a4_checkpointing": {
            "block_saved_bytes": "def block_saved_bytes(batch, seq_len, hidden_size, intermediate_size, checkpointed):\n"
                                 "    elements = batch * seq_len * hidden_size\n"
                                 "    if not checkpointed:\n"
                                 "        elements = batch * seq_len * (2 * (hidden_size + intermediate_size + 1))\n"
                                 "    return elements * torch.finfo(torch.float32).bits // 8\n",
            "measure_checkpointing": "def measure_checkpointing(model, hidden_states):\n"
                                     "    results = []\n"
                                     "    for on in (False, True):\n"
                                     "        (enable_gradient_checkpointing if on else disable_gradient_checkpointing)(model)\n"
                                     "        model.zero_grad()\n"
                                     "        x = hidden_states.detach().requires_grad_()\n"
                                     "        with SavedTensorCounter(model) as counter:\n"
                                     "            loss = model(x).sum()\n"
                                     "        loss.backward()\n"
                                     "        flat = torch.cat([x.grad.flatten()] + [p.grad.flatten() for p in model.parameters()])\n"
                                     "        results.append((counter.saved_bytes, flat))\n"
                                     "    return results[0][0], results[1][0], float((results[0][1] - results[1][1]).abs().max())\n",
        },
        "a5_scaling_out": {
            "average_gradients": "def average_gradients(model):\n"
                                 "    grads = [p.grad for p in model.parameters() if p.grad is not None]\n"
                                 "    flat = torch.cat([g.reshape(-1) for g in grads]) / dist.get_world_size()\n"
                                 "    dist.all_reduce(flat)  # one collective for the whole model, as DDP's buckets do\n"
                                 "    for g, part in zip(grads, flat.split([g.numel() for g in grads])):\n"
                                 "        g.copy_(part.view_as(g))\n",
            "rank_state_bytes": "def rank_state_bytes(model, strategy, world_size, rank):\n"
                                "    out = {'parameters': 0, 'gradients': 0, 'optimizer_state': 0}\n"
                                "    for p in model.parameters():\n"
                                "        local = p.detach()\n"
                                "        if strategy == 'fsdp2':\n"
                                "            chunks = torch.chunk(local, world_size)\n"
                                "            local = chunks[rank] if rank < len(chunks) else local[:0]\n"
                                "        size = local.numel() * local.element_size()\n"
                                "        out['parameters'] += size\n"
                                "        out['gradients'] += size if p.requires_grad else 0\n"
                                "        out['optimizer_state'] += 2 * size if p.requires_grad else 0\n"
                                "    return out\n",
        },
    },
    "copying": {
        "a1_pooling": {
            "last_non_pad_index": "from modlayers.pooling import last_non_pad_index\n",
            "pooled_logits": "def pooled_logits(logits, index):\n"
                             "    from modlayers.pooling import pool_at\n"
                             "    return pool_at(logits, index)\n",
        },
        "a2_spans": {
            "best_spans": "from modlayers import best_spans as kit_best_spans\n\n"
                          "def best_spans(start_logits, end_logits, max_answer_length=30, n_best=20):\n"
                          "    return kit_best_spans(start_logits, end_logits, max_answer_length=max_answer_length, n_best=n_best)\n",
            "qa_loss": "from modlayers.losses import question_answering_loss as qa_loss\n",
        },
        "a3_token_loss": {
            "align_labels": "from modlayers.label_alignment import align_labels_to_tokens as align_labels\n",
            "masked_token_loss": "import modlayers\n\n"
                                 "def masked_token_loss(logits, labels):\n"
                                 "    return modlayers.token_classification_loss(logits, labels)\n",
        },
        "a4_checkpointing": {
            "mlp_block": "from modlayers.course.a4_checkpointing import MLPBlock\n",
            "block_saved_bytes": "from modlayers.course.a4_checkpointing import mlp_block_saved_bytes as block_saved_bytes\n",
            "measure_checkpointing": "from modlayers.course.a4_checkpointing import _reference_measurement\n\n"
                                     "def measure_checkpointing(model, hidden_states):\n"
                                     "    m = _reference_measurement(model, hidden_states)\n"
                                     "    return m['off'], m['on'], m['all']\n",
        },
        "a5_scaling_out": {
            "average_gradients": "from modlayers.course.a5_ranks import average_gradients_reference as average_gradients\n",
            "rank_state_bytes": "from modlayers.lessons.distributed import state_bytes_per_rank as rank_state_bytes\n",
        },
    },
    # the mistakes the hints and failure messages once answered for the student, or let through
    "misled": {
        "a1_pooling": {"pooled_logits": "def pooled_logits(logits, index):\n"
                                        "    return logits[:, index]\n"},
        "a3_token_loss": {
            "masked_token_loss": "def masked_token_loss(logits, labels):\n"
                                 "    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), "
                                 "reduction='none')\n"
                                 "    return per_token.mean()  # ignored tokens count 0, but the mean divides by all of them\n",
        },
        "a5_scaling_out": {
            "average_gradients": "def average_gradients(model):\n"
                                 "    for p in model.parameters():\n"
                                 "        if p.grad is not None:\n"
                                 "            dist.all_reduce(p.grad)  # the sum over the ranks, never divided\n",
        },
    },
}

# Parts each wrong answer loses (the grade ids of the check cells); the rest keep their points.
WRONG_LOSES = {
    "a1_pooling": {"check-last_non_pad_index-left", "check-last_non_pad_index-pad-id"},
    "a2_spans": {"check-qa_loss-no-answer"},
    "a3_token_loss": {"check-align_labels", "check-masked_token_loss-none-labelled"},
    "a4_checkpointing": {"check-block_saved_bytes", "check-measure_checkpointing-gradients"},
    "a5_scaling_out": {"check-average_gradients-frozen", "check-rank_state_bytes-uneven"},
}
# Parts each ``misled`` answer loses: a3's "no labelled token" point is not earned by a loss that is 0.0 there by
# accident (per_token.mean()); a sum that is never averaged fails both parts of average_gradients.
MISLED_LOSES = {
    "a1_pooling": {"check-pooled_logits"},
    "a2_spans": set(),
    "a3_token_loss": {"check-masked_token_loss", "check-masked_token_loss-none-labelled"},
    "a4_checkpointing": set(),
    "a5_scaling_out": {"check-average_gradients", "check-average_gradients-frozen"},
}


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _solution_answers(name: str) -> dict[str, str]:
    nb = nbformat.read(SOLUTIONS_DIR / f"{name}.ipynb", as_version=4)
    return {c.id: "\n".join(line for line in c.source.splitlines() if "### BEGIN SOLUTION" not in line
                            and "### END SOLUTION" not in line) for c in nb.cells if _meta(c).get("solution")}


def submission(kind: str, name: str) -> nbformat.NotebookNode:
    """The notebook a student of ``kind`` hands in for assignment ``name``."""
    nb = nbformat.read(STUDENT_DIR / f"{name}.ipynb", as_version=4)
    if kind == "stub":
        return nb
    answers = _solution_answers(name)
    answers.update(ANSWERS["wrong" if kind == "tampered" else kind].get(name, {}))
    for cell in nb.cells:
        if cell.id in answers:
            cell.source = answers[cell.id]
    if kind == "tampered":
        checks = [c for c in nb.cells if _meta(c).get("grade")]
        intact = [c for c in checks if _meta(c)["grade_id"] not in WRONG_LOSES[name]]
        nb.cells = [c for c in nb.cells if not (_meta(c).get("grade") and _meta(c)["grade_id"] in WRONG_LOSES[name])]
        if intact:
            intact[0].source = 'print("✓")'
        imports = next(i for i, c in enumerate(nb.cells) if c.id == "imports")
        noop = "\n".join(f"{fn} = lambda *args, **kwargs: print('✓')" for fn in (
            "check_last_non_pad_index", "check_qa_loss", "check_align_labels", "check_block_saved_bytes",
            "check_average_gradients", "check_rank_state_bytes"))
        nb.cells.insert(imports + 1, nbformat.v4.new_code_cell(noop))
    return nb


def expected_points(kind: str, name: str) -> dict[str, float]:
    """``{grade_id: points}`` a student of ``kind`` must get on ``name``."""
    maxima = question_points(SOLUTIONS_DIR / f"{name}.ipynb")
    if kind == "stub":
        return {part: 0.0 for part in maxima}
    if kind == "copying":  # copied functions score nothing; the quiz answers are the solutions'
        return {part: points if part.startswith("check-quiz-") else 0.0 for part, points in maxima.items()}
    if kind == "different":
        return dict(maxima)
    loses = MISLED_LOSES[name] if kind == "misled" else WRONG_LOSES[name]
    return {part: 0.0 if part in loses else points for part, points in maxima.items()}


def make_class(folder: Path, students: int) -> dict[tuple[str, str], dict[str, float]]:
    """Write ``folder/<student>/<name>.ipynb`` for ``students`` students; return the expected points."""
    expected = {}
    for index in range(students):
        kind = KINDS[index % len(KINDS)]
        student = f"s{index:02d}-{kind}"
        (folder / student).mkdir(parents=True, exist_ok=True)
        for name in assignment_names():
            nbformat.write(submission(kind, name), folder / student / f"{name}.ipynb")
            expected[(student, name)] = expected_points(kind, name)
    return expected


# The files of the students in BROKEN: {student: {file name: (assignment, kind or how the file is broken)}}.
BROKEN = {
    "x0-broken": {"a1_pooling.ipynb": ("a1_pooling", "0 bytes"), "a2_spans.ipynb": ("a2_spans", "cut short"),
                  "a3_token_loss.ipynb": ("a3_token_loss", "{}"),
                  "a4_checkpointing (1).ipynb": ("a4_checkpointing", "different")},
    "x1-renamed": {"A1_Pooling.ipynb": ("a1_pooling", "wrong"), "a2_spans (1).ipynb": ("a2_spans", "different"),
                   "a3_token_loss.ipynb": ("a3_token_loss", "hand-edited"), "homework.ipynb": (None, "no assignment")},
    "x2-exported": {"a1_pooling.ipynb.txt": ("a1_pooling", "different"), "a5_scaling_out.py": ("a5_scaling_out", "script"),
                    "notes.txt": (None, "not a notebook")},
}
# The status each broken file gets begins with this.
BROKEN_STATUS = {"0 bytes": "unreadable: {file}: empty file", "cut short": "unreadable: {file}: not valid JSON: it ends",
                 "{}": "unreadable: {file}: not a notebook: an empty JSON object",
                 "no assignment": "unreadable name: {file}: its name is no assignment's (expected one of a1_pooling.ipynb",
                 "hand-edited": "error: grading stopped with AttributeError",
                 "script": "unreadable: {file}: saved as `.py`, not as the notebook `a5_scaling_out.ipynb` (a Python script"}


def make_broken_submissions(folder: Path) -> dict[tuple[str, str], tuple[str, dict[str, float], str]]:
    """Write the files of :data:`BROKEN`; return ``{(student, assignment): (status start, points, file name)}``."""
    expected = {}
    names = assignment_names()
    for student, files in BROKEN.items():
        (folder / student).mkdir(parents=True, exist_ok=True)
        for file, (name, kind) in files.items():
            path = folder / student / file
            if kind == "0 bytes":
                path.write_bytes(b"")
            elif kind == "cut short":
                text = nbformat.writes(submission("different", name))
                path.write_text(text[: len(text) // 2])
            elif kind == "{}":
                path.write_text("{}")
            elif kind == "hand-edited":
                nb = submission("different", name)
                next(c for c in nb.cells if "nbgrader" in c.metadata).metadata["nbgrader"] = "edited by hand"
                path.write_text(json.dumps(nb))  # as an editor would save it: nbformat would refuse to write it
            elif kind == "script":
                path.write_text("# a notebook exported as a script\ndef average_gradients(model):\n    pass\n")
            elif kind == "not a notebook":
                path.write_text("my notes\n")
            elif kind == "no assignment":
                nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('my notes')")]), path)
            else:
                nbformat.write(submission(kind, name), path)
            if kind in BROKEN_STATUS and name is not None:
                expected[(student, name)] = (BROKEN_STATUS[kind].format(file=file), {}, file)
            elif name is not None:
                expected[(student, name)] = ("graded", expected_points(kind, name), file)
        unnamed = [file for file, (name, kind) in files.items() if name is None and kind == "no assignment"]
        for name in names:
            if (student, name) not in expected and unnamed:
                expected[(student, name)] = (BROKEN_STATUS["no assignment"].format(file=unnamed[0]), {}, unnamed[0])
            elif (student, name) not in expected:
                expected[(student, name)] = ("missing", {}, "")
    return expected


def unexpected(scores, expected) -> list[str]:
    """One line per score whose status, points or file differ from ``expected`` (``{key: (status start, points,
    file)}``), or that is missing from ``scores``."""
    found = {(s.student, s.assignment): s for s in scores}
    lines = [f"UNEXPECTED {student}/{name}: not in the results" for student, name in expected if (student, name) not in found]
    for key, (status, points, file) in expected.items():
        score = found.get(key)
        if score is not None and (not score.status.startswith(status) or score.points != points or score.file != file
                                  or score.total != sum(points.values())):
            lines.append(f"UNEXPECTED {key[0]}/{key[1]}: got {score.status!r}, {score.points}, file {score.file!r}; "
                         f"expected {status!r}..., {points}, file {file!r}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40, help="students of the five kinds (the two of BROKEN are "
                        "added): a smaller class for a quick check, e.g. --students 5")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the grades here (default: a temporary folder)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MODLAYERS_HIDDEN_SEED", "benchmark secret")
    with tempfile.TemporaryDirectory(prefix="modlayers-class-") as tmp:
        submissions, out = Path(tmp) / "submissions", args.out or Path(tmp) / "grades"
        expected = {key: ("graded", points, f"{key[1]}.ipynb")
                    for key, points in make_class(submissions, args.students).items()}
        expected.update(make_broken_submissions(submissions))
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        scores = grade_submissions(submissions, out, workers=args.workers)
        seconds = time.perf_counter() - start
        load_after = os.getloadavg()[0]
    wrong = unexpected(scores, expected)
    notebooks = len(scores)
    graded = sum(score.status == "graded" for score in scores)
    print(f"graded {args.students} + {len(BROKEN)} students x {len(assignment_names())} assignments = {notebooks} "
          f"submissions ({graded} notebooks graded, the others reported) in {seconds:.0f} s "
          f"({seconds / max(graded, 1):.1f} s a graded notebook) with {args.workers or os.cpu_count()} workers "
          f"on {os.cpu_count()} CPUs; load average {load_before:.1f} before, {load_after:.1f} after")
    for line in wrong:
        print(line)
    print("every score and status as expected" if not wrong else f"{len(wrong)} unexpected scores")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
