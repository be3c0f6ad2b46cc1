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

// A wide table scrolls inside its .table-wrap rather than the page; a wrapper that does scroll becomes a
// keyboard stop (a named region), so the table's far columns are reachable without a mouse (WCAG 2.1.1).
function markScrollingTables() {
  document.querySelectorAll(".table-wrap").forEach(function (wrap) {
    var table = wrap.querySelector("table");
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      var name = table && (table.getAttribute("aria-label") || (table.caption && table.caption.textContent));
      var heading = wrap.closest("section") && wrap.closest("section").querySelector("h2");
      wrap.setAttribute("aria-label", name || (heading && heading.textContent) || document.title);
    } else if (wrap.getAttribute("role") === "region") {
      wrap.removeAttribute("tabindex");
      wrap.removeAttribute("role");
      wrap.removeAttribute("aria-label");
    }
  });
}
document.addEventListener("DOMContentLoaded", markScrollingTables);
window.addEventListener("resize", markScrollingTables);
