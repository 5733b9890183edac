"""The researchers' side of a study: dashboard, graph review, report, quality, exports pages."""
