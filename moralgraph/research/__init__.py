"""The researchers' side of a study: the studies, a study's live dashboard, the graph
review (with "split" for a merge) and the exports page.

``views`` (staff only, thin) read through ``selectors`` (the dashboard's figures),
``backlog`` and ``review`` (reconciliation's progress, snapshots, the graph laid out per
question and context), and write through moralgraph.services. Templates live under
templates/research/.
"""
