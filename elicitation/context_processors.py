from elicitation import llm


def llm_mode(request):
    """Whether the interviewer is the offline provider, so every page can say so."""
    return {"offline_llm": llm.is_offline("interview")}
