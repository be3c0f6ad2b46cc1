// The total follows the chosen number of trees (the page works without it: each option shows its price).
(function () {
  var form = document.getElementById("planting-form");
  var total = document.getElementById("planting-total");
  if (!form || !total) return;
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.name !== "trees") return;
    var unit = total.getAttribute("data-unit") || "";
    total.textContent = input.getAttribute("data-tickets") + " " + unit + " · ¥" + input.getAttribute("data-amount");
  });
})();

// Choosing another year shows that year's conversion (the page is rendered by the server).
(function () {
  var year = document.getElementById("year");
  if (!year || !document.getElementById("planting-form")) return;
  year.addEventListener("change", function () {
    window.location.search = "?year=" + encodeURIComponent(year.value);
  });
})();
