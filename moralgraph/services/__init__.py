"""Writes of the graph side, one module per step of the method.

- ``reconcile``: the pass over a study (or the study of one card) that runs the steps below
  in order, and its report;
- ``dedup``: a participant's card becomes a value, merged with the values it duplicates
  (``clusters``: the nearest members by embedding; ``merges``: merge and split);
- ``contexts``: the "When ..." situations, from questions and interviews, deduplicated;
- ``hypotheses``: upgrade stories between values of one context;
- ``scoring``: a study's wiser judgments scored into a GraphSnapshot;
- ``training``: the LLM-written responses that fine-tuning exports need;
- ``exports``: every export format, and export jobs;
- ``importers``: a study run with the reference app, read from its table dumps;
- ``draws`` and ``positions``: what a participant is shown, and where their value sits.
"""
