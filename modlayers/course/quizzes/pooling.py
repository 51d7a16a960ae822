"""Quiz questions of notebook 01, sequence classification and pooling: ``{section: [questions]}``.

Ids are stable: assignment a1 grades them by id.
"""

from modlayers.course.quizzes import choice, number

SECTIONS = {
    1: [
        number(
            "pooling/left-padding-position",
            "A batch is left-padded to 9 columns. Which position (counting from 0) does the head pool in a row "
            "with 4 real tokens?",
            8,
            "With left padding every row ends in the last column, so the last real token is at seq_len - 1 = 8.",
            mistakes=[(3, "you count the real tokens (mask.sum() - 1): right only for right padding."),
                      (4, "you count the real tokens without the -1: positions start at 0.")],
            hint="Draw the row: where are the pads, and where does the text end?",
        ),
        choice(
            "pooling/why-last-token",
            "Why does a decoder classifier pool the **last** real token?",
            ("It is the only token whose vector has seen the whole sentence", True,
             "In a causal decoder position t sees tokens 0..t, so only the last real token has read everything."),
            ("Because the tokenizer puts the class label there", False,
             "No label is stored in the input: the head learns to read a summary from a hidden vector."),
            ("Because padding is always on the left", False,
             "The head must work for both padding sides; the argmax rule is there for right padding too."),
        ),
    ],
    2: [
        choice(
            "pooling/pad-is-eos",
            "The tokenizer pads with its end-of-sequence token and the head gets no attention mask. Which token "
            "is pooled?",
            ("The real end-of-sequence token", False,
             "The pad-id rule cannot tell the real end token from the pads: it looks exactly like one."),
            ("The token just before the real end-of-sequence token", True,
             "Every token equal to the pad id counts as padding, the real end token included, so the rule stops one early."),
            ("The last column", False,
             "The last column is what `inputs_embeds` without a mask pools; here the token ids are there."),
        ),
        choice(
            "pooling/no-pad-batch",
            "No `pad_token_id` in the config and no attention mask. What does the head do with a batch of three sentences?",
            ("It raises a ValueError", True,
             "Without a pad id or a mask it cannot find the ends of rows of different lengths, so it refuses instead of guessing."),
            ("It pools the last column of every row", False,
             "That would read padding for the shorter rows; the head refuses rather than guessing."),
            ("It pools the first token", False, "The head never falls back to the first token."),
        ),
    ],
    3: [
        choice(
            "pooling/first-token-decoder",
            "In a **decoder**, what does first-token pooling see?",
            ("Only the first token", True, "Causal attention: position 0 attends to position 0 alone."),
            ("The whole sentence, like BERT's [CLS]", False,
             "[CLS] sees everything in an encoder, where attention is bidirectional; a decoder is causal."),
            ("The mean of all tokens", False, "That is mean pooling, a different rule."),
        ),
        choice(
            "pooling/mean-pool-padding",
            "Mean pooling over a right-padded batch divides the sum of the token vectors by what?",
            ("The number of real tokens of each row", True,
             "Padding vectors are masked out of the sum and out of the count."),
            ("The padded length, the same for every row", False,
             "Then shorter rows are diluted by the pads: their mean depends on how much padding the batch has."),
            ("The batch size", False, "The mean is over tokens within a row, not over rows."),
        ),
    ],
    4: [
        choice(
            "pooling/float-labels-multi",
            "`num_labels = 3` and float labels of shape `(batch, 3)` holding 0s and 1s. Which loss does the head use?",
            ("Cross-entropy", False, "Cross-entropy needs one integer class per example."),
            ("Binary cross-entropy with logits", True,
             "Float 0/1 rows with several outputs are multi-label: one independent yes/no per label."),
            ("Mean squared error", False, "MSE is for `num_labels == 1`, one number per example."),
        ),
        choice(
            "pooling/minus-100",
            "In single-label classification, what does the label `-100` do?",
            ("It drops that example from the loss", True,
             "-100 is cross-entropy's default `ignore_index`: the example adds nothing and is not counted."),
            ("It counts as class 0", False, "It is skipped, not mapped to a class."),
            ("It makes the loss NaN", False, "Only a batch where every example is ignored has nothing to average."),
        ),
    ],
    5: [
        choice(
            "pooling/baseline-first",
            "Why does the notebook score a majority-class answer and bags of words before training?",
            ("To know what an accuracy means on this data", True,
             "0.94 is impressive only next to what reading no order (0.65) or nothing (0.25) already gets."),
            ("Because the pretrained encoder needs them to start", False, "The models train without them."),
            ("To make the run faster", False, "They add work; they are there for comparison."),
        ),
        number(
            "pooling/majority-class",
            "Four balanced topics. What accuracy does always answering one topic get?",
            0.25,
            "One class in four is right, whichever you pick, when the classes are balanced.",
            tolerance=0.005,
            mistakes=[(0.5, "you assume two classes."), (25, "you answer in percent; give a fraction.")],
            hint="How many of the four topics does one fixed answer hit?",
        ),
    ],
    6: [
        choice(
            "pooling/first-token-trained",
            "A decoder trained to read its **first** token ends near which accuracy on four balanced topics?",
            ("Near chance, 0.25", True, "Every sentence starts with [CLS], so every sentence gets the same vector."),
            ("About the same as the last token", False, "The first token of a decoder has read nothing but itself."),
            ("Above the bags of words", False, "It cannot see a single word of the sentence."),
        ),
        choice(
            "pooling/pad-at-inference",
            "A head trained on the last real token is evaluated pooling a pad position instead. What happens?",
            ("An error is raised", False, "Nothing checks the position: the bug is silent."),
            ("It loses accuracy without any error", True,
             "It reads a vector it never saw in training; no shape changes, so nothing complains."),
            ("The accuracy is unchanged, the pad has seen the sentence", False,
             "The pad has seen the sentence, but its vector is not the one the score layer learned to read."),
        ),
    ],
    7: [
        choice(
            "pooling/bert-pools-sep",
            "`GenericForSequenceClassification` on a BERT tokenizer's right-padded batch pools which token?",
            ("[CLS]", False, "The head pools the last non-pad token, not the first."),
            ("[SEP]", True, "A BERT tokenizer ends every text with [SEP], the last non-pad token."),
            ("The last word of the sentence", False, "The tokenizer adds a special token after it."),
        ),
        choice(
            "pooling/probe-frozen",
            "Linear probes on a **frozen** MiniLM give close accuracies for [CLS], [SEP] and the mean. What made "
            "the fine-tuned model far better?",
            ("Fine-tuning moved the encoder so the pooled token carries the topic", True,
             "The probes show no pooling reads the structure before training; training the encoder does."),
            ("Choosing [SEP] instead of [CLS]", False, "Frozen, the three poolings land within a few points."),
            ("A larger score layer", False, "The score layer is one linear layer in both cases."),
        ),
    ],
    8: [
        choice(
            "pooling/widget-left",
            "In the widget, you switch to left padding. Where is the red frame in every row?",
            ("In the last column", True, "Left padding puts every row's end in the last column."),
            ("At the first real token", False, "The head pools the last real token, whatever the side."),
            ("At a different column per row", False, "That is right padding, where row lengths decide the column."),
        ),
        choice(
            "pooling/widget-sep",
            "You pad with [SEP] (pad = end-of-sequence) and no mask is used. How far is the red frame from the real end?",
            ("On it", False, "The real [SEP] now looks like padding to the pad-id rule."),
            ("One token before it", True, "The rule skips every [SEP], the real one too, and stops one token early."),
            ("One token after it", False, "After the real end there is only padding."),
        ),
    ],
}
