"""The whole participant journey in headless Chromium against uvicorn, offline LLM.

One participant on a desktop-sized window goes from the recruitment link to the
completion code and the recruiter redirect, meeting an interviewer timeout on the way,
reloading mid-reply, and coming back in a new browser, which sees nothing of theirs until
the resume code is typed. A second participant on a phone-sized
window then sees the first one's value, HTML and script included, as plain text.
Every step is photographed into test-artifacts/screenshots/.
"""

import pytest
from django.utils import timezone

from elicitation.demo import load_demo_study
from elicitation.models import ConsentDecline, Message, Participant, Question, ValuesCard
from moralgraph.models import CardMapping, Value

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DESKTOP = {"width": 1180, "height": 900}
PHONE = {"width": 390, "height": 844}

CHAT_XSS = (
    "<img src=x onerror=\"window.__xss='chat-img'\"><script>window.__xss='chat'</script> "
    "I think the AI should listen to her first and not rush her"
)
TITLE_XSS = "<b>Bold</b> Listening <script>window.__xss='card'</script>"
POLICY_XSS = "FEELINGS of being rushed <img src=x onerror=\"window.__xss='policy'\">"
ANSWERS = [
    "When my sister was pregnant at nineteen, our family sat with her for hours and in "
    "the end she decided for herself.",
    "I paid attention to her feelings of being pressured, to the people she trusted, and "
    "to the options she had not considered yet.",
]


@pytest.fixture
def live_server_env():
    # The first interviewer call of the server times out: the participant sees the
    # friendly retry, and the retry succeeds.
    return {"LLM_OFFLINE_FAULT": "interview:timeout:1"}


@pytest.fixture
def study(transactional_db):
    study = load_demo_study()
    # One question, so that both participants answer the same one and the second is
    # shown the first one's value.
    Question.objects.filter(study=study).exclude(key="abortion").delete()
    return study


def _finished_code(study) -> str:
    """The completion code of the study's participant who finished last."""
    return (
        Participant.objects.filter(study=study, completed_at__isnull=False)
        .latest("completed_at")
        .completion_code
    )


def _step(page, name: str):
    page.wait_for_url(f"**/{name}/", timeout=15_000)
    page.locator("#step h1").wait_for()


def _xss_fired(page):
    return page.evaluate("window.__xss === undefined ? null : window.__xss")


def _send(page, text: str, *, pasted: bool = False):
    """Type (or paste) a message and send it with the keyboard; wait for the whole reply."""
    page.wait_for_selector("#composer[data-ready]", state="attached")
    box = page.locator("#id_content")
    box.click()
    if pasted:  # the paste event the composer's script counts, then the text itself
        box.evaluate(
            """(el, text) => {
              const data = new DataTransfer();
              data.setData("text/plain", text);
              el.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true}));
            }""",
            text,
        )
    box.fill(text)
    # Counted before sending: a quick answer may already hold the new bubble by the time
    # a count after the key press is taken, which would then wait for one more forever.
    sent = page.locator("#transcript .bubble-user").count() + 1
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#transcript .bubble-user').length >= n", arg=sent
    )
    page.wait_for_function("() => !document.querySelector('#transcript [data-stream-url]')")


def _record_stream(page):
    """Record the last interviewer bubble's text length at every change, with a time."""
    page.evaluate(
        """() => {
          window.__lengths = [];
          const t0 = performance.now();
          new MutationObserver(() => {
            const bubbles = document.querySelectorAll('#transcript .bubble-assistant .text');
            const last = bubbles[bubbles.length - 1];
            window.__lengths.push([performance.now() - t0, last ? last.textContent.length : 0]);
          }).observe(document.getElementById('transcript'),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )


def _tab_to(page, label: str, limit: int = 25):
    """Move focus with the Tab key alone until it reaches the control named ``label``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("() => document.activeElement.textContent.trim()")
        if label in focused:
            return
    raise AssertionError(f"Tab never reached {label!r}")


def _interview(page, shoot, prefix: str, *, first: str):
    _send(page, first, pasted=True)
    for answer in ANSWERS:
        _send(page, answer)
    shoot(page, f"{prefix}-04-interview")


def test_whole_journey(uvicorn_server, browser, screenshots, study):
    base = uvicorn_server.url
    study.completion_url = f"{base}/healthz?source=e2e"
    study.save()
    slug = study.slug

    # --- Participant 1, desktop -------------------------------------------------------
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{base}/s/{slug}/?PROLIFIC_PID=e2e-one&STUDY_ID=s1&SESSION_ID=x1")
    _step(page, "consent")
    assert page.locator(".badge-offline").is_visible()
    assert "Step 1 of" in page.locator(".progress").inner_text()
    screenshots(page, "desktop-01-consent")
    page.get_by_role("button", name="I agree").click()

    _step(page, "about")
    page.get_by_label("Independent").check()
    page.get_by_label("Your age").select_option("25-34")
    screenshots(page, "desktop-02-about")
    page.get_by_role("button", name="Continue").click()

    _step(page, "question")
    assert "Christian girl" in page.locator(".user-message").inner_text()
    assert "answer as yourself" in page.locator("#step").inner_text().lower()
    screenshots(page, "desktop-03-question")
    page.get_by_role("button", name="Start the interview").click()

    _step(page, "interview")
    assert page.locator("#transcript .bubble-assistant").count() == 1
    # The first reply times out (LLM_OFFLINE_FAULT): a friendly error, message kept.
    box = page.locator("#id_content")
    box.fill(CHAT_XSS)
    page.get_by_role("button", name="Send").click()
    failed = page.locator("#transcript .bubble.is-failed")
    failed.wait_for(timeout=15_000)
    assert "try again" in failed.inner_text().lower()
    assert page.locator("#transcript .bubble-user .text").first.inner_text() == CHAT_XSS
    screenshots(page, "desktop-04a-interview-error")
    failed.get_by_role("button", name="Try again").click()
    page.wait_for_function(
        """() => {
          const last = [...document.querySelectorAll('#transcript .bubble-assistant')].pop();
          return !last.classList.contains('is-failed') && !last.dataset.streamUrl
                 && last.querySelector('.text').textContent.length > 0;
        }"""
    )
    assert page.locator("#transcript .bubble.is-failed").count() == 0
    assert _xss_fired(page) is None

    # The next reply streams: the bubble grows in many steps over time.
    page.locator("#id_content").click()
    _record_stream(page)
    _send(page, ANSWERS[0])
    lengths = page.evaluate("window.__lengths")
    sizes = [size for _, size in lengths]
    growing = sorted(set(sizes))
    assert len(growing) >= 5, lengths
    assert sizes == sorted(sizes), "text only ever grows while streaming"
    assert lengths[-1][0] - lengths[0][0] > 100, "tokens arrived over time, not at once"
    assert page.locator("#interview-actions form.see-card").count() == 0
    # Reloading while the reply is being written does not cut it: the reloaded page
    # shows what was saved and the stream carries on to the end.
    page.wait_for_selector("#composer[data-ready]", state="attached")
    page.locator("#id_content").fill(ANSWERS[1])
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        """() => {
          const last = [...document.querySelectorAll('#transcript .bubble-assistant')].pop();
          return last && last.dataset.streamUrl && last.querySelector('.text').textContent;
        }"""
    )
    page.reload()
    _step(page, "interview")
    page.wait_for_function("() => !document.querySelector('#transcript [data-stream-url]')")
    reply = Message.objects.filter(role="assistant").order_by("-created_at", "-id").first()
    assert reply.status == Message.Status.COMPLETE
    last = page.locator("#transcript .bubble-assistant .text").last.inner_text()
    assert last == reply.content.strip() and page.locator(".bubble.is-failed").count() == 0
    assert page.get_by_role("button", name="See my card").is_visible()
    screenshots(page, "desktop-04-interview")
    # The resume code, on every page of this browser: the only way in from another.
    code = page.locator(".resume-code-value").inner_text()
    assert len(code.replace("-", "")) == 8
    context.close()

    # --- The same recruiter id in a new browser: nothing shown without the code ----------
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(f"{base}/s/{slug}/?PROLIFIC_PID=e2e-one")
    _step(page, "resume")
    assert "already started" in page.locator("#step").inner_text()
    assert page.locator("#transcript, .bubble").count() == 0
    assert "listen to her first" not in page.content()
    page.get_by_label("Enter your resume code").fill("ZZZZ-ZZZZ")
    page.get_by_role("button", name="Continue").click()
    page.locator("#resume-error", has_text="not the resume code").wait_for()
    assert page.locator("#transcript").count() == 0
    screenshots(page, "desktop-04b-resume-code")
    page.get_by_label("Enter your resume code").fill(code.lower())
    page.get_by_role("button", name="Continue").click()
    _step(page, "interview")
    assert page.locator("#transcript .bubble").count() == 7
    assert page.locator(".resume-code-value").inner_text() == code
    assert page.locator("#transcript .bubble-user .text").first.inner_text() == CHAT_XSS
    assert Participant.objects.filter(study=study, recruiter_pid="e2e-one").count() == 1
    page.get_by_role("button", name="See my card").click()

    _step(page, "card")
    policies = page.locator("[name=policies]")
    drafted = policies.count()
    assert 3 <= drafted <= 7
    screenshots(page, "desktop-05a-card-draft")
    # Ask the interviewer for a change ...
    page.get_by_label("Or ask the interviewer to change it").fill(
        'add "PEOPLE she trusts to listen without judging"'
    )
    page.get_by_role("button", name="Ask for this change").click()
    page.wait_for_function(
        "n => document.querySelectorAll('[name=policies]').length === n", arg=drafted + 1
    )
    # ... then edit directly: title, a policy, add one, remove one.
    page.get_by_label("Title").fill(TITLE_XSS)
    policies.first.fill(POLICY_XSS)
    if policies.count() < 7:
        page.get_by_role("button", name="+ Add another").click()
        page.wait_for_function(
            "n => document.querySelectorAll('[name=policies]').length === n",
            arg=drafted + 2,
        )
        policies.last.fill("MOMENTS when she can think without anyone watching")
    before = policies.count()
    page.get_by_role("button", name="Remove policy 2").click()
    page.wait_for_function(
        "n => document.querySelectorAll('[name=policies]').length === n", arg=before - 1
    )
    assert page.get_by_label("Title").input_value() == TITLE_XSS
    screenshots(page, "desktop-05-card")
    page.get_by_role("button", name="This is my card").click()

    _step(page, "selection")
    card = ValuesCard.objects.get(participant__recruiter_pid="e2e-one")
    assert card.status == ValuesCard.Status.SUBMITTED
    assert card.title == TITLE_XSS and card.policies[0] == POLICY_XSS
    assert card.edited_by_participant
    choices = page.locator(".value-choice")
    assert choices.count() >= 2
    choices.nth(0).click()
    choices.nth(1).click()
    screenshots(page, "desktop-06-selection")
    page.get_by_role("button", name="Continue").click()

    _judge_all(page, screenshots, "desktop")

    _step(page, "survey")
    _answer_survey(page)
    screenshots(page, "desktop-08-survey")
    page.get_by_role("button", name="Finish").click()

    _step(page, "done")
    code = page.locator("#completion-code").inner_text()
    assert code == _finished_code(study)  # the participant's own code
    assert TITLE_XSS in page.locator(".value-card").first.inner_text()
    screenshots(page, "desktop-09-done")
    # The automatic hand-back to the recruiter, code attached.
    page.wait_for_url(f"**/healthz?source=e2e&cc={code}", timeout=20_000)
    assert _xss_fired(page) is None
    context.close()

    # The first participant's card becomes a value of the graph (what reconciliation
    # does in the background; here directly, so the test does not wait on a worker).
    value = Value.objects.create(
        study=study,
        title=card.title,
        description=card.description,
        policies=card.policies,
        representative_card=card,
    )
    CardMapping.objects.create(card=card, value=value)
    ValuesCard.objects.filter(pk=card.pk).update(
        reconcile_status=ValuesCard.Reconcile.DONE, reconciled_at=timezone.now()
    )

    # --- Participant 2, phone-sized, keyboard where it matters -------------------------
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{base}/s/{slug}/?PROLIFIC_PID=e2e-two")
    _step(page, "consent")
    screenshots(page, "phone-01-consent")
    _tab_to(page, "I agree")
    page.keyboard.press("Enter")

    _step(page, "about")
    screenshots(page, "phone-02-about")
    page.get_by_role("button", name="Skip these questions").click()

    _step(page, "question")
    screenshots(page, "phone-03-question")
    page.get_by_role("button", name="Start the interview").click()

    _step(page, "interview")
    # A double Ctrl+Enter sends the message once, and no "write a message" error. The keys
    # mean something only once the composer's script has started (it marks the form).
    page.wait_for_selector("#composer[data-ready]", state="attached")
    page.locator("#id_content").fill("The AI should be gentle and ask what she feels.")
    page.keyboard.press("Control+Enter")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelectorAll('#transcript .bubble-user').length")
    page.wait_for_function("() => !document.querySelector('#transcript [data-stream-url]')")
    page.wait_for_timeout(300)
    assert page.locator("#transcript .bubble-user").count() == 1
    assert page.locator("#composer-error").inner_text() == ""
    _interview(page, screenshots, "phone", first="Her feelings matter most to me.")
    # The composer counted the pasted message, and only that one (its count then reset).
    pasted = dict(
        Message.objects.filter(
            interview__participant__recruiter_pid="e2e-two", role="user"
        ).values_list("content", "pasted_chars")
    )
    assert pasted.pop("Her feelings matter most to me.") == len("Her feelings matter most to me.")
    assert set(pasted.values()) == {0}
    page.get_by_role("button", name="See my card").click()

    _step(page, "card")
    screenshots(page, "phone-05-card")
    page.get_by_role("button", name="This is my card").click()

    _step(page, "selection")
    titles = page.locator(".value-title").all_inner_texts()
    assert TITLE_XSS in titles, titles
    shown = page.locator(".value-card", has_text="Bold")
    assert POLICY_XSS in shown.inner_text()
    assert page.locator(".value-title b, .value-card script, .value-card img").count() == 0
    assert _xss_fired(page) is None
    screenshots(page, "phone-06-selection")
    page.locator(".value-choice", has_text="Bold").click()
    page.get_by_role("button", name="Continue").click()

    _judge_all(page, screenshots, "phone")

    _step(page, "survey")
    _answer_survey(page)
    screenshots(page, "phone-08-survey")
    page.get_by_role("button", name="Finish").click()

    _step(page, "done")
    assert page.locator("#completion-code").inner_text() == _finished_code(study)
    screenshots(page, "phone-09-done")
    assert _xss_fired(page) is None
    context.close()

    # --- Somebody who declines: thanked; only their recruiter id is kept, screened out ---
    context = browser.new_context(viewport=PHONE, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{base}/s/{slug}/?PROLIFIC_PID=e2e-three")
    _step(page, "consent")
    page.get_by_role("button", name="I do not agree").click()
    page.get_by_role("heading", name="Thank you").wait_for()
    assert "Only your recruiter id has been stored" in page.locator("#step").inner_text()
    screenshots(page, "phone-10-declined")
    assert ConsentDecline.objects.filter(study=study).count() == 1
    declined = Participant.objects.get(recruiter_pid="e2e-three")
    assert declined.screen_out_reason == "declined_consent" and declined.question is None
    context.close()


def _judge_all(page, screenshots, prefix: str):
    _step(page, "judgments")
    verdicts = ["Yes, wiser", "No", "Not sure"]
    for i in range(10):
        if not page.url.endswith("/judgments/"):
            break
        assert f"Story {i + 1} of" in page.locator(".story-count").inner_text()
        if i == 0:
            screenshots(page, f"{prefix}-07-judgments")
            page.get_by_label("Why?").fill("She keeps what mattered and sees more.")
        page.get_by_label(verdicts[i % 3], exact=True).check()
        page.get_by_role("button", name="Next story").or_(
            page.get_by_role("button", name="Continue")
        ).click()
        page.wait_for_function(
            "n => !location.pathname.endsWith('/judgments/') || "
            "(document.querySelector('.story-count') || {}).textContent?.includes('Story ' + n)",
            arg=i + 2,
        )


def _answer_survey(page):
    for legend, score in [
        ("express what you care about", "5"),
        ("clarify", "4"),
        ("learn something", "3"),
        ("gain respect", "4"),
        ("trust this process", "4"),
    ]:
        page.locator("fieldset", has_text=legend).locator(".likert-option", has_text=score).click()
    page.get_by_label("Anything else").fill("Thank you <script>window.__xss='survey'</script>")
