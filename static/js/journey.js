/* The participant journey's small script: the interview's live token stream, the
 * composer's niceties, focus after a step changes, the completion countdown and the
 * width of progress bars (every page, the researchers' too).
 * Every page works without it; only the live stream needs it. */
(function () {
  "use strict";

  var path = window.location.pathname;

  function setBusy(busy) {
    var composer = document.getElementById("composer");
    if (!composer) return;
    composer.setAttribute("aria-busy", busy ? "true" : "false");
    var button = composer.querySelector("button[type=submit]");
    if (button) button.disabled = busy;
  }

  function scrollToEnd(element) {
    var rect = element.getBoundingClientRect();
    if (rect.bottom > window.innerHeight - 140) {
      window.scrollBy({ top: rect.bottom - window.innerHeight + 140, behavior: "smooth" });
    }
  }

  /* Tokens arrive HTML-escaped by the server, so appending them as HTML shows
   * exactly the characters the model wrote and never markup. */
  function streamInto(bubble) {
    if (bubble.dataset.streaming) return;
    bubble.dataset.streaming = "1";
    var text = bubble.querySelector(".text");
    var base = bubble.dataset.streamUrl.split("?")[0];
    var reconnects = 0;
    var finished = false;
    var source = new EventSource(bubble.dataset.streamUrl);
    setBusy(true);

    // The server goes on writing the reply when a connection drops; a new stream asks
    // only for what this bubble does not show yet (characters, as the server counts).
    function reconnect() {
      source.close();
      reconnects += 1;
      window.setTimeout(function () {
        source = new EventSource(base + "?after=" + Array.from(text.textContent).length);
        listen();
      }, 800 * reconnects);
    }

    function finish(errorHtml) {
      finished = true;
      source.close();
      bubble.classList.remove("is-pending");
      bubble.removeAttribute("data-stream-url");
      var typing = bubble.querySelector(".typing");
      if (typing) typing.remove();
      if (errorHtml) {
        var box = bubble.querySelector(".bubble-error");
        if (box) {
          box.querySelector(".bubble-error-text").innerHTML = errorHtml;
          box.hidden = false;
        }
        bubble.classList.add("is-failed");
      }
      setBusy(false);
    }

    function listen() {
      source.addEventListener("token", function (event) {
        text.insertAdjacentHTML("beforeend", event.data);
        bubble.classList.add("has-text");
        scrollToEnd(bubble);
      });
      source.addEventListener("done", function () {
        finish(null);
        var input = document.getElementById("id_content");
        if (input && document.activeElement === document.body) input.focus();
      });
      source.addEventListener("failed", function (event) {
        finish(event.data);
      });
      source.onerror = function () {
        // The browser would reconnect on its own from the start and show the reply
        // twice: reconnect here instead, from where the bubble is, a few times.
        if (finished) return;
        if (reconnects < 3) {
          reconnect();
        } else {
          finish("The connection to the interviewer was lost. Your conversation is saved.");
        }
      };
    }
    listen();
  }

  function initComposer(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    var input = form.querySelector("textarea");
    var hint = form.querySelector(".hint");
    var max = parseInt(input.dataset.maxlength, 10);
    var original = hint ? hint.innerHTML : "";
    // One message per press of Ctrl+Enter: a second press (or a held key) while the
    // first is on its way or being answered sends nothing, rather than an empty box.
    form.addEventListener("htmx:beforeRequest", function () { form.dataset.sending = "1"; });
    form.addEventListener("htmx:afterRequest", function () { delete form.dataset.sending; });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        var button = form.querySelector("button[type=submit]");
        if (event.repeat || form.dataset.sending || (button && button.disabled)) return;
        form.requestSubmit(button || undefined);
      }
    });
    // Count what is pasted into the box (sent with the message): the recruiter's approval
    // list flags answers that were pasted rather than typed.
    input.addEventListener("paste", function (event) {
      var pasted = form.querySelector("input[name=pasted]");
      var text = event.clipboardData ? event.clipboardData.getData("text") : "";
      if (pasted) pasted.value = (parseInt(pasted.value, 10) || 0) + text.length;
    });
    input.addEventListener("input", function () {
      if (!hint || !max) return;
      var left = max - input.value.length;
      // Over the limit nothing is cut: the text stays, and the hint says by how much.
      if (left < 0) {
        hint.textContent = (-left) + " characters over the limit of " + max;
        input.setAttribute("aria-invalid", "true");
      } else {
        input.removeAttribute("aria-invalid");
        hint.textContent = left < max * 0.2 ? left + " characters left" : "";
        if (left >= max * 0.2) hint.innerHTML = original;
      }
    });
  }

  function initCountdown(element) {
    if (element.dataset.ready) return;
    element.dataset.ready = "1";
    var seconds = parseInt(element.dataset.redirectSeconds, 10);
    var out = element.querySelector(".countdown");
    var timer = window.setInterval(function () {
      seconds -= 1;
      if (out) out.textContent = Math.max(seconds, 0);
      if (seconds <= 0) {
        window.clearInterval(timer);
        // A full page load carries a meta refresh in <head> (it works without
        // JavaScript); navigating here too would abort that navigation. Only a step
        // swapped in by htmx, whose <head> has none, needs the script to leave.
        if (!document.querySelector('head meta[http-equiv="refresh"]')) {
          window.location.assign(element.dataset.redirectUrl);
        }
      }
    }, 1000);
  }

  /* Progress bars carry their width as data-percent: the Content Security Policy
   * allows no inline style attributes, and setting the width from here is allowed. */
  function fillBars(root) {
    root.querySelectorAll("[data-percent]").forEach(function (bar) {
      var percent = parseFloat(bar.dataset.percent);
      bar.style.width = Math.max(0, Math.min(100, isNaN(percent) ? 0 : percent)) + "%";
    });
  }

  function init(root) {
    fillBars(root);
    root.querySelectorAll("[data-stream-url]").forEach(streamInto);
    root.querySelectorAll("#composer").forEach(initComposer);
    if (root.id === "composer") initComposer(root);
    root.querySelectorAll("[data-redirect-url]").forEach(initCountdown);
    if (root.matches && root.matches("[data-stream-url]")) streamInto(root);
  }

  if (window.htmx) {
    htmx.onLoad(init);

    document.body.addEventListener("htmx:afterRequest", function (event) {
      var form = event.detail.elt;
      if (form.id === "composer" && event.detail.successful && event.detail.xhr.status === 200) {
        form.querySelector("textarea").value = "";
        var pasted = form.querySelector("input[name=pasted]");
        if (pasted) pasted.value = "0";
      }
    });

    // Which card-editor button was pressed, to put focus back where it makes sense.
    var lastAction = null;
    document.body.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("button[name=action]");
      lastAction = button ? button.value : null;
    });

    // After a whole step is swapped in, move focus to its heading so keyboard and
    // screen reader users start at the top of the new step. Within the same step (the
    // card editor adding or removing a line), keep focus on what the participant is doing.
    document.body.addEventListener("htmx:afterSettle", function (event) {
      if (!event.detail.target || event.detail.target.id !== "step") return;
      if (window.location.pathname !== path) {
        path = window.location.pathname;
        var heading = document.querySelector("#step h1");
        if (heading) heading.focus({ preventScroll: false });
        window.scrollTo(0, 0);
      } else if (lastAction === "add") {
        var policies = document.querySelectorAll("#step [name=policies]");
        if (policies.length) policies[policies.length - 1].focus();
      } else if (lastAction && lastAction.indexOf("remove-") === 0) {
        var adder = document.querySelector("#step button[value=add]");
        if (adder) adder.focus();
      } else {
        var problem = document.querySelector("#step [aria-invalid=true], #step .error:not(:empty), #step .notice");
        if (problem) problem.scrollIntoView({ block: "center" });
      }
      lastAction = null;
    });
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      init(document.body);
    });
  }
})();
