/* The researchers' pages: "Copy" buttons beside read-only links (plain inputs that can
 * be selected and copied by hand; this only adds the button), and a confirmation before
 * a form with data-confirm is sent (without JavaScript it is sent at once). */
(function () {
  "use strict";

  function copy(button) {
    var input = document.getElementById(button.dataset.copy);
    if (!input) return;
    input.select();
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done);
    } else if (document.execCommand && document.execCommand("copy")) {
      done();
    }
  }

  function setUp(root) {
    root.querySelectorAll(".copy-button[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".copy-button[data-copy]");
    if (button) copy(button);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.classList && event.target.classList.contains("copy-input")) {
      event.target.select();
    }
  });
  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function () { setUp(document); });
})();
