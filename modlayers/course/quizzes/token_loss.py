"""Quiz questions of notebook 03, token classification and its loss: ``{section: [questions]}``.

Ids are stable: assignment a3 grades them by id.
"""

import math

from modlayers.course.quizzes import choice, number

SECTIONS = {
    1: [
        choice(
            "token_loss/second-piece-default",
            "With the default alignment, what label does the second sub-word of a word get?",
            ("-100", True, "Only the first sub-word carries the word's label; the loss skips the rest."),
            ("The word's label", False, "That is the 'label every sub-word' scheme."),
            ("O", False, "O would teach the model that the piece is outside any entity."),
        ),
        choice(
            "token_loss/b-to-i",
            "Labelling every sub-word, the continuation pieces of a word tagged `B-PER` get which tag?",
            ("B-PER", False, "A word must not open two entities; the second piece would start a new one."),
            ("I-PER", True, "Continuation pieces continue the entity the first piece opened."),
            ("O", False, "The pieces are inside the person's name."),
        ),
    ],
    2: [
        number(
            "token_loss/untrained-loss",
            "An untrained tagger over 9 tags, about equally unsure everywhere. What loss per token do you expect "
            "(natural log, two decimals)?",
            math.log(9),
            "Cross-entropy of a uniform guess over 9 classes is log(9) ≈ 2.20.",
            tolerance=0.02,
            mistakes=[(math.log2(9), "you take log base 2; cross-entropy uses the natural log."),
                      (1 / 9, "you give the probability of the right tag, not its negative log.")],
            hint="Cross-entropy is -log of the probability of the right tag.",
        ),
        choice(
            "token_loss/mean-over-counted",
            "The head's loss is a mean over which tokens?",
            ("Every position of the batch", False, "Positions labelled -100 would dilute the mean with zeros."),
            ("The tokens whose label is not -100", True, "Skipped tokens are neither in the sum nor in the count."),
            ("The first token of each sentence", False, "That is sequence classification's pooling."),
        ),
    ],
    3: [
        choice(
            "token_loss/why-float32",
            "Why does the head compute the loss in float32 even for bfloat16 logits?",
            ("bfloat16 keeps 8 significant bits: rounding each step adds an error as large as the loss differences", True,
             "Cross-entropy is a small difference of large numbers, averaged over every token."),
            ("bfloat16 cannot hold negative numbers", False, "It has a sign bit like float32."),
            ("float32 is faster on a CPU", False, "The reason is precision, not speed."),
        ),
        number(
            "token_loss/bf16-step",
            "How far apart are neighbouring bfloat16 values between 8 and 16?",
            0.0625,
            "bfloat16 has 7 stored mantissa bits: between 8 and 16 the step is 8 / 2^7 = 0.0625.",
            tolerance=1e-6,
            mistakes=[(0.03125, "you count 8 stored mantissa bits; bfloat16 stores 7."),
                      (8 / 2**23, "you use float32's 23 mantissa bits.")],
            hint="Between 2^k and 2^(k+1), the step is 2^k divided by 2 to the number of stored mantissa bits.",
        ),
    ],
    4: [
        number(
            "token_loss/dropout-both",
            "A config sets `classifier_dropout=0.3` and `hidden_dropout=0.2`. Which dropout rate does the head use?",
            0.3,
            "`classifier_dropout` wins when it is set.",
            tolerance=1e-9,
            mistakes=[(0.2, "you take the base model's rate; the classifier's own rate comes first."),
                      (0.1, "you take the fallback, used only when neither is set.")],
        ),
        choice(
            "token_loss/dropout-eval",
            "In `eval()` mode, two forward passes of the same sentence give…",
            ("the same logits", True, "Dropout is off in eval mode."),
            ("different logits", False, "Dropout draws new masks only in training mode."),
            ("an error", False, "Dropout layers run in both modes."),
        ),
    ],
    5: [
        choice(
            "token_loss/entity-f1-boundary",
            "True tags `B-ORG I-ORG`, predicted `B-LOC B-ORG`. What entity-level F1 does that sentence get?",
            ("0", True,
             "Entities count only with the right type and both boundaries; `B-ORG` alone covers one word of two."),
            ("0.5", False, "That scores tokens; entity F1 needs the type and both boundaries of an entity right."),
            ("1", False, "An ORG is predicted, but its span is not the true one."),
        ),
        choice(
            "token_loss/lookup-fails",
            "Why does the word-lookup baseline stay low on validation?",
            ("Most words inside entities are new to it", True, "The names are invented: it cannot tag a name it never met."),
            ("It reads the context too much", False, "It reads no context at all: one word at a time."),
            ("Validation uses another tag set", False, "Both splits use the same nine tags."),
        ),
    ],
    6: [
        choice(
            "token_loss/first-piece-eval",
            "How is each word scored after tagging its sub-words?",
            ("By the prediction on its first sub-word", True, "`word_predictions` reverses the default alignment."),
            ("By a vote of all its sub-words", False, "The kit reads the first sub-word only."),
            ("By the last sub-word", False, "The first piece is the one the default scheme labels."),
        ),
        choice(
            "token_loss/pretrained-brings",
            "What does the pretrained encoder bring that the tiny model from scratch lacks?",
            ("It has read a lot of English: it knows where names go in a sentence", True,
             "It starts from weights that already encode the language."),
            ("A larger vocabulary", False, "Both read the same WordPiece tokens."),
            ("A different loss", False, "Both use the same head and loss."),
        ),
    ],
    7: [
        choice(
            "token_loss/no-mask",
            "Training without the -100 mask (`[CLS]`, `[SEP]`, padding and continuation pieces labelled O) does what?",
            ("Costs a lot of F1: the pieces after a name's first piece are taught to be O", True,
             "Most of what the loss counts becomes O, and names are cut in pieces that look outside."),
            ("Changes nothing: those tokens are not evaluated", False, "They are not evaluated, but they are trained on."),
            ("Helps: more tokens are counted", False, "More tokens, but with the wrong labels."),
        ),
        choice(
            "token_loss/every-piece",
            "Labelling every sub-word helped the tiny model here. Why?",
            ("Every piece of a name teaches something, about 2.7 times as much signal", True,
             "Continuation pieces carry `I-X`, so the loss counts them too."),
            ("Evaluation reads every piece", False, "Evaluation still reads the first piece of each word."),
            ("It removes the -100 labels of [CLS] and [SEP]", False, "Special tokens stay -100 in both schemes."),
        ),
    ],
    8: [
        choice(
            "token_loss/tall-bars",
            "After fine-tuning, which tokens keep tall loss bars?",
            ("Words the tagger still finds hard", True, "Most tokens collapse to near-zero loss; the rest stand out."),
            ("The -100 tokens", False, "They have no loss at all."),
            ("Every token equally", False, "The mean fell far below the untrained one."),
        ),
        choice(
            "token_loss/grey-bars",
            "In the loss plot, why are some bars grey (no loss)?",
            ("Their label is -100", True, "Special tokens and continuation pieces are skipped by the loss."),
            ("The model is certain there", False, "A certain right prediction has a small loss, still counted."),
            ("They are padding only", False, "Continuation pieces and [CLS]/[SEP] are grey too."),
        ),
    ],
    9: [
        choice(
            "token_loss/widget-tags",
            "You type a sentence in the box. How many tags does the widget return?",
            ("One per word", True, "Each word takes the tag of its first sub-word."),
            ("One per sub-word", False, "Sub-word predictions are mapped back to words."),
            ("One per entity", False, "Words outside entities get O."),
        ),
        choice(
            "token_loss/widget-check",
            "The widget's check passes. Does that mean the tags are right?",
            ("No: it checks the widget agrees with `tag_sentences`", True,
             "The tags are the model's guesses; the last line compares them with a person's tags."),
            ("Yes: it compares with the true tags", False, "That comparison is printed, not checked."),
            ("Yes: the check retrains the tagger", False, "No training happens in the check."),
        ),
    ],
}
