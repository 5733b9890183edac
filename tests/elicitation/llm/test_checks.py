"""A model's readiness, as preflight asks it: provider, keys, cost map, a 1-token call."""

from elicitation.llm.checks import check_model


def test_the_offline_model_and_the_local_embedding_need_nothing():
    assert check_model("offline").ok
    local = check_model("", embedding=True)
    assert local.ok and local.model == "(local)"


def test_a_known_model_with_its_key_passes_without_a_call(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    check = check_model("openai/gpt-4o-mini", call=False)
    assert check.ok and check.provider == "openai"
    assert "known to litellm's cost map" in check.notes


def test_every_problem_is_listed(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    check = check_model("anthropic/no-such-claude", call=False)
    assert not check.ok
    assert check.problems == [
        "missing in the environment: ANTHROPIC_API_KEY",
        "not in litellm's local cost map (a typo?): its spend could not be shown",
    ]


def test_a_name_without_a_provider_is_refused():
    check = check_model("gpt-4o-minni", call=False)
    assert not check.ok and "cannot tell which provider" in check.problems[0]
