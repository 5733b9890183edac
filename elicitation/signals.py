"""What the participant side announces, for the graph side to act on.

elicitation never imports moralgraph: moralgraph connects to these in its app config and
queues its reconciliation and scoring from there.
"""

from django.dispatch import Signal

# Sent inside the transaction that submitted the card; receivers queue work on commit.
card_submitted = Signal()  # kwargs: card_id, study_id

# Sent inside the transaction that stored a wiser judgment.
judgment_recorded = Signal()  # kwargs: study_id
