"""Is a model ready to be called? The LLM side of ``manage.py preflight``.

For a model name: which provider litellm infers, whether that provider's keys are in the
environment, whether litellm's local cost map knows the model (so its spend can be
shown), and, unless told not to, whether a 1-token call (or a one-word embedding)
answers. The offline provider and the local embedding need none of this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings

from elicitation.llm.errors import describe
from elicitation.llm.lazy import litellm
from elicitation.llm.retry import call_options
from elicitation.llm.stages import is_offline_model


@dataclass
class ModelCheck:
    model: str
    provider: str = ""
    problems: list[str] = field(default_factory=list)  # each one stops the study
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_model(model: str, *, call: bool = True, embedding: bool = False) -> ModelCheck:
    """What stands between ``model`` and a working call."""
    if embedding and not model:
        return ModelCheck(model="(local)", notes=["the local deterministic embedding"])
    if is_offline_model(model):
        return ModelCheck(model=model, notes=["the offline provider: no key, no network"])
    check = ModelCheck(model=model)
    try:
        _, check.provider, _, _ = litellm.get_llm_provider(model)
    except Exception:
        check.problems.append(
            "litellm cannot tell which provider serves it: name it as provider/model "
            "(openai/…, anthropic/…)"
        )
        return check
    api_base = settings.LLM_API_BASE or None
    missing = litellm.validate_environment(model=model, api_base=api_base).get("missing_keys")
    if missing:
        check.problems.append(f"missing in the environment: {', '.join(missing)}")
    else:
        check.notes.append(f"keys for {check.provider} present")
    try:
        litellm.get_model_info(model)
    except Exception:
        # A self-hosted model behind LLM_API_BASE has no list price; anywhere else an
        # unknown name is most likely a typo.
        if api_base:
            check.notes.append("not in litellm's cost map: its calls are logged at no cost")
        else:
            check.problems.append(
                "not in litellm's local cost map (a typo?): its spend could not be shown"
            )
    else:
        check.notes.append("known to litellm's cost map")
    if call and check.ok:
        _call(check, embedding=embedding)
    return check


def _call(check: ModelCheck, *, embedding: bool) -> None:
    started = time.monotonic()
    try:
        if embedding:
            litellm.embedding(model=check.model, input=["preflight"], **call_options())
        else:
            litellm.completion(
                model=check.model,
                messages=[{"role": "user", "content": "Reply with the word OK."}],
                max_tokens=1,
                **call_options(),
            )
    except Exception as exc:
        check.problems.append(f"a 1-token call failed: {describe(exc)}")
    else:
        check.notes.append(f"a 1-token call answered in {time.monotonic() - started:.1f} s")
