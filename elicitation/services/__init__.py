"""Writes of the participant journey, one module per step: participants (arriving, the
lock, moving on), consent, about, interview, card, selection, judgments, survey.

Callers import the step module (``from elicitation.services import card``) and call its
functions with keyword arguments; nothing is re-exported here.
"""
