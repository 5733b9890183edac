"""Views of the participant journey, one module per step: parse input, call a service,
render a page.

Each step is one URL that renders the full page, or its ``#step`` partial for an htmx
request (the body is hx-boosted, so links and forms swap only the step). Every form is
a real ``<form method=post>`` that works without JavaScript; only the live token
stream of the interview needs it, and without it the reply is written in one piece.
Only elicitation/urls.py imports these modules.
"""
