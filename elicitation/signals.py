"""What the participant side announces, for the graph side to act on.

elicitation never imports moralgraph: moralgraph connects to these in its app config and
queues its reconciliation and scoring from there.
"""

from django.dispatch import Signal

# Sent inside the transaction that submitted the card; receivers queue work on commit.
card_submitted = Signal()  # kwargs: card_id, study_id

# Sent inside the transaction that stored a wiser judgment.
judgment_recorded = Signal()  # kwargs: study_id

# Sent inside the transaction that moved a study to another status (by hand or by a
# quota); moralgraph writes it to the study's audit log.
study_status_changed = Signal()  # kwargs: study_id, old, new, reason, actor (None: automatic)
