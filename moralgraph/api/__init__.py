"""The read API under /api/ (django-ninja): studies, questions, contexts, values, edges,
snapshots, the report and export jobs, for researchers' tokens (moralgraph.services.tokens)
limited to the studies where the token's owner has a role. Mounted by config/urls.py."""
