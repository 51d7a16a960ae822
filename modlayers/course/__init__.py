"""The course: what instructors run. Assignment checks, one module per assignment, and grading.

- :mod:`modlayers.course.checking` -- what every check shares: calling the learner's code (stubs,
  crashes, answers that use or copy the kit's own implementation), comparing with the reference on
  copies of the inputs, short tracebacks in notebooks;
- :mod:`modlayers.course.hidden_seeds` -- the instructor's secret behind the hidden tests' inputs;
- :mod:`modlayers.course.a1_pooling`, :mod:`~modlayers.course.a2_spans`,
  :mod:`~modlayers.course.a3_token_loss`, :mod:`~modlayers.course.a4_checkpointing` -- one module per
  assignment (``notebooks/assignments/solutions/<name>.ipynb``): its ``check_*`` functions (the visible
  checks, one graded part each), its random-case generators and its ``hidden_test_*`` functions;
- :mod:`modlayers.course.answers` and :mod:`modlayers.course.exercises` -- the walkthroughs' checked
  exercises (one module per notebook): a blank answer is "not answered yet", a wrong one names the case
  and the likely mistake, a prediction is compared with the run;
- :mod:`modlayers.course.quizzes` -- the question bank (a stable id per question, one module per
  walkthrough), the quiz widget shown after each section, and the quiz part graded in the assignments;
- :mod:`modlayers.course.grading` -- ``python -m modlayers assignments generate|grade`` (nbgrader),
  with :mod:`~modlayers.course.submissions` (finding submissions, putting deleted cells back) and
  :mod:`~modlayers.course.reports` (scores.csv, per-student summaries).

Assignment 5 goes in ``modlayers/course/a5_<topic>.py`` (checks and hidden tests) and
``notebooks/assignments/solutions/a5_<topic>.ipynb``; ``generate`` and ``grade`` find it by its notebook.

The student notebooks import only the assignment modules, never nbgrader.
"""
