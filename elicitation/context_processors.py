from django.conf import settings


def llm_mode(request):
    """Whether the interviewer is the offline provider, so every page can say so."""
    return {"offline_llm": settings.LLM_MODELS["interview"] == "offline"}
