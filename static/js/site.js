// Behaviour every page shares, kept out of the HTML so the Content-Security-Policy allows no inline script.
"use strict";

// <form data-confirm="…">: ask before submitting (withdrawing a quota, reissuing a certificate).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// <a data-back href="/">: go back where the user came from when there is a history; the home page otherwise.
document.addEventListener("click", function (event) {
  var link = event.target instanceof Element ? event.target.closest("a[data-back]") : null;
  if (link && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});
