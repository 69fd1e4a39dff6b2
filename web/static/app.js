// Progressive enhancement only: every page works without this file.
"use strict";

// A form that is being submitted cannot be submitted again: a double click
// on "Place order" sends one request. (The server makes a repeat harmless
// anyway, with the order's idempotency key.)
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.dataset.submitted === "yes") {
    event.preventDefault();
    return;
  }
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  form.dataset.submitted = "yes";
  var buttons = form.querySelectorAll("button[type=submit]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].setAttribute("aria-disabled", "true");
    buttons[i].classList.add("busy");
  }
});

// The back button may show a page from the browser's back/forward cache,
// as it was: a cart that has since been checked out, a form already sent.
// Pages about one shopper are asked for again instead.
window.addEventListener("pageshow", function (event) {
  if (event.persisted && document.body.hasAttribute("data-no-store")) {
    window.location.reload();
  }
});
