"""The checked exercises of the walkthroughs, one module per notebook.

- :mod:`~modlayers.course.exercises.pooling` -- notebook 01;
- :mod:`~modlayers.course.exercises.spans` -- notebook 02;
- :mod:`~modlayers.course.exercises.token_loss` -- notebook 03;
- :mod:`~modlayers.course.exercises.checkpointing` -- notebook 04;
- :mod:`~modlayers.course.exercises.scaling_out` -- notebook 05;
- :mod:`~modlayers.course.exercises.memory_at_scale` -- notebook 06.

Each ``check_*`` answers one exercise the way :mod:`modlayers.course.answers` says: a blank answer is
"not answered yet" (the notebooks ship blanks, so *Run All* goes through), a wrong one names the case,
the input and the likely mistake, never the answer; a prediction is compared with the run and never fails.
The exercises are not graded: the assignments are. Functions the assignments grade (``last_non_pad_index``,
``best_spans``, ``qa_loss``, ``align_labels``, ...) are not walkthrough exercises.
"""
