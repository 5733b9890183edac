/* The study setup page: buttons to add, remove and reorder questions (the formset's own
 * ORDER numbers and "Remove" boxes do the same without JavaScript), to add a suggested
 * question, and to show only the chosen group item's answers. */
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#question-rows [data-question-row]"));
  }

  function field(row, name) {
    return row.querySelector("[name$='-" + name + "']");
  }

  function isBlank(row) {
    var id = field(row, "id");
    return !(id && id.value) && ["key", "title", "text", "seed_message"].every(function (name) {
      var input = field(row, name);
      return !input || !input.value.trim();
    });
  }

  function isRemoved(row) {
    var box = field(row, "DELETE");
    return box && box.checked;
  }

  // ORDER follows the rows on the page; a blank extra row keeps none, so it stays unsent.
  function renumber() {
    var n = 0;
    rows().forEach(function (row) {
      var order = field(row, "ORDER");
      if (!order) return;
      if (isRemoved(row) || isBlank(row)) {
        if (!(field(row, "id") || {}).value) order.value = "";
        return;
      }
      n += 1;
      order.value = n;
    });
  }

  function addRow() {
    var total = document.getElementById("id_questions-TOTAL_FORMS");
    var template = document.getElementById("question-template");
    if (!total || !template) return null;
    var html = template.innerHTML.replace(/__prefix__/g, total.value);
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var row = holder.firstElementChild;
    document.getElementById("question-rows").appendChild(row);
    total.value = String(Number(total.value) + 1);
    setUp(row);
    return row;
  }

  function setUp(root) {
    root.querySelectorAll("[data-move], [data-remove], #add-question, #suggest-questions").forEach(function (button) {
      button.hidden = false;
    });
    root.querySelectorAll(".order-field, .delete-field").forEach(function (el) {
      el.classList.add("js-hidden");
    });
  }

  function showGroupItem() {
    var select = document.getElementById("id_group_item_key");
    if (!select) return;
    document.querySelectorAll("[data-group-item]").forEach(function (fieldset) {
      fieldset.hidden = fieldset.dataset.groupItem !== select.value;
    });
  }

  function addSuggestion(card, button) {
    var row = rows().filter(function (r) { return !isRemoved(r) && isBlank(r); })[0] || addRow();
    if (!row) return;
    field(row, "key").value = card.dataset.key;
    field(row, "title").value = card.dataset.title;
    field(row, "text").value = card.dataset.text;
    field(row, "seed_message").value = card.dataset.seed || "";
    renumber();
    button.textContent = "Added";
    button.disabled = true;
    field(row, "title").focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.id === "add-question") {
      var row = addRow();
      if (row) field(row, "key").focus();
      return;
    }
    var suggestion = target.closest("[data-add-suggestion]");
    if (suggestion) {
      addSuggestion(suggestion.closest("[data-suggestion]"), suggestion);
      return;
    }
    var row2 = target.closest("[data-question-row]");
    if (!row2) return;
    if (target.matches("[data-remove]")) {
      var box = field(row2, "DELETE");
      if (box) box.checked = true;
      row2.hidden = true;
      renumber();
    } else if (target.matches("[data-move='up']") && row2.previousElementSibling) {
      row2.parentNode.insertBefore(row2, row2.previousElementSibling);
      renumber();
    } else if (target.matches("[data-move='down']") && row2.nextElementSibling) {
      row2.parentNode.insertBefore(row2.nextElementSibling, row2);
      renumber();
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#question-rows")) renumber();
  });
  document.addEventListener("change", function (event) {
    if (event.target.id === "id_group_item_key") showGroupItem();
  });
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("setup-form");
    if (!form) return;
    setUp(document);
    rows().forEach(function (row) { if (isRemoved(row)) row.hidden = true; });
    showGroupItem();
  });
})();
