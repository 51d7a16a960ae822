"""Quiz questions of notebook 02, question answering and span logits: ``{section: [questions]}``.

Ids are stable: assignment a2 grades them by id.
"""

from modlayers.course.quizzes import choice, number

SECTIONS = {
    1: [
        number(
            "spans/qa-outputs-size",
            "`qa_outputs = nn.Linear(hidden, 2)` on hidden states of shape `(4, 128, 96)`. How many numbers does it output?",
            4 * 128 * 2,
            "Two numbers (start, end) for each of the 4 × 128 tokens: 1,024.",
            mistakes=[(2, "you count one pair for the whole batch; the layer scores every token."),
                      (4 * 128 * 96, "you count the hidden states; the layer maps 96 numbers to 2.")],
            hint="The layer runs on every token of every window.",
        ),
        choice(
            "spans/contiguous",
            "Why does the head call `.contiguous()` on the start and end logits?",
            ("`split` and `squeeze` leave strided views; later `view`s and losses need contiguous memory", True,
             "Splitting the last dimension gives every other number of one buffer, a strided view."),
            ("To move them to the GPU", False, "`.contiguous()` never changes the device."),
            ("To detach them from the graph", False, "It copies with the graph intact."),
        ),
    ],
    2: [
        choice(
            "spans/separate-argmax",
            "Why not take `start_logits.argmax()` and `end_logits.argmax()` separately?",
            ("The end can come before the start, or the span be far too long", True,
             "Only pairs with start ≤ end < start + max_answer_length are answers."),
            ("Because argmax is not differentiable", False, "Decoding happens after training; no gradient is needed."),
            ("It is slower than scoring every pair", False, "It is faster; it is just not always a valid span."),
        ),
        choice(
            "spans/context-mask",
            "What goes wrong when the decoder ignores the context mask?",
            ("It can answer with [CLS] or a piece of the question", True,
             "Those tokens have logits too; only context tokens can be part of an answer."),
            ("It can only return one-token answers", False, "The span length is set by `max_answer_length`."),
            ("Nothing, the logits are already zero outside the context", False,
             "Nothing forces them to zero: the head scores every token of the window."),
        ),
    ],
    3: [
        choice(
            "spans/stride-purpose",
            "What does `stride` (shared context tokens between consecutive windows) buy?",
            ("An answer cut by one window's boundary is whole in the next window", True,
             "The overlap repeats the end of one window at the start of the next."),
            ("Shorter windows", False, "`max_length` sets the window size; the stride sets the overlap."),
            ("Fewer windows", False, "Overlap means more windows for the same context, not fewer."),
        ),
        choice(
            "spans/window-label",
            "A window does not hold the whole answer. With the default convention, what are its start and end positions?",
            ("Both point at [CLS], position 0", True, "[CLS] is an ordinary target that teaches 'no answer here'."),
            ("The answer's positions in the next window", False, "Each window is labelled on its own tokens only."),
            ("-100", False, "The QA loss does not use -100; negative positions are refused."),
        ),
    ],
    4: [
        choice(
            "spans/out-of-window",
            "The kit's QA loss gets a position `>= seq_len`. What happens?",
            ("It is clamped to `seq_len` and ignored", True,
             "`seq_len` is the `ignore_index`, so that window adds nothing to the loss."),
            ("It is clamped to [CLS]", False, "That is what transformers does with negative positions."),
            ("It raises", False, "Only negative positions raise."),
        ),
        choice(
            "spans/all-outside",
            "Every position of the batch is outside the windows. What is the kit's loss?",
            ("0", True, "Nothing is counted, and the kit returns 0 so training goes on."),
            ("NaN", False, "That is transformers' result, a mean over nothing; the kit departs from it here."),
            ("log(seq_len)", False, "No position is counted, so no cross-entropy is computed."),
        ),
    ],
    5: [
        number(
            "spans/f1-partial",
            "Prediction 'Quillon', true answer 'Quillon Ferries'. What is the token F1?",
            2 / 3,
            "Precision 1/1, recall 1/2: F1 = 2 · 1 · 0.5 / 1.5 = 2/3.",
            tolerance=0.01,
            mistakes=[(0.5, "you give the recall alone; F1 is the harmonic mean of precision and recall."),
                      (0.0, "you score it like exact match; F1 credits the shared word.")],
            hint="Count the shared words, then precision and recall.",
        ),
        choice(
            "spans/normalise",
            "SQuAD's exact match compares the texts after normalising. Which pair counts as an exact match?",
            ("'the Quillon Ferries.' and 'Quillon Ferries'", True,
             "Lower case, punctuation and articles are removed before comparing."),
            ("'Quillon' and 'Quillon Ferries'", False, "One word is missing: partial credit in F1, not a match."),
            ("'1990' and 'nineteen ninety'", False, "Normalisation does not turn numbers into words."),
        ),
    ],
    6: [
        choice(
            "spans/rules-low",
            "Why does the notebook check that every rule stays at or below 0.30 exact match?",
            ("So the data has to be read: no shortcut answers it", True,
             "Distractors (two towns, two years per sentence) defeat rules that guess the kind of answer."),
            ("Because rules are slower than the reader", False, "Rules are cheap; the point is what they reach."),
            ("To make the reader's training shorter", False, "The rules do not affect the training."),
        ),
        choice(
            "spans/freeze-layers",
            "The pretrained run freezes its first layers (`freeze_layers`). What do you expect when more layers are frozen?",
            ("Each step is cheaper, and the reader learns less in the same steps", True,
             "Fewer weights to update and no backward pass through the frozen layers; less can adapt."),
            ("Each step costs more", False, "Frozen layers need no weight gradients."),
            ("The exact match stays the same", False, "With only the head trained, the encoder cannot adapt to the task."),
        ),
    ],
    7: [
        choice(
            "spans/truncation",
            "With `truncation=True` and no windows, which answers are lost?",
            ("Every answer past the first `max_length` tokens", True, "The rest of the context is cut off."),
            ("Only answers cut by a window boundary", False, "That is windows without overlap."),
            ("None, the model sees the whole context", False, "Truncation drops everything after the limit."),
        ),
        choice(
            "spans/reachable",
            "What does 'reachable' measure?",
            ("The share of examples whose answer lies whole in at least one window", True,
             "It bounds what any reader can score with that way of cutting the context."),
            ("The reader's exact match", False, "A reachable answer can still be missed by the reader."),
            ("The share of windows with an answer", False, "It counts examples, not windows."),
        ),
    ],
    8: [
        choice(
            "spans/which-window",
            "An example spans several windows. Which window does the widget draw?",
            ("The window the best answer came from", True, "The best span over all windows decides the window."),
            ("Always the first window", False, "The first window may not hold the answer at all."),
            ("The window holding the true answer", False, "The widget shows the decoded answer's window."),
        ),
        choice(
            "spans/widget-check",
            "What does the widget's check verify?",
            ("That the widget shows the pipeline's answer", True,
             "It checks the widget against `answer_question`; whether the answer is right is printed beside it."),
            ("That the reader's answer is right", False, "The reader is wrong on many examples; the check is about the widget."),
            ("That the slider moves", False, "Moving the slider is how the check drives it, not what it checks."),
        ),
    ],
}
