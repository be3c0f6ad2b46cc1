// Live total on the buy page: quantity × price in fen, shown in yuan. No money is decided here —
// the server checks the same limits again.
(function () {
  "use strict";
  var form = document.getElementById("buy-form");
  if (!form) return;
  var price = parseInt(form.dataset.price, 10);
  var min = parseInt(form.dataset.min, 10);
  var max = parseInt(form.dataset.max, 10);
  var input = document.getElementById("quantity");
  var total = document.getElementById("total");
  var limits = document.getElementById("limits");
  function yuan(fen) {
    var whole = Math.floor(fen / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = (fen % 100).toString();
    return "¥" + whole + "." + (cents.length < 2 ? "0" + cents : cents);
  }
  function update() {
    var text = input.value.trim();
    var ok = /^\d{1,9}$/.test(text);
    var q = ok ? parseInt(text, 10) : 0;
    total.textContent = yuan(q * price);
    var bad = !ok || q < min || q > max;
    limits.classList.toggle("error-message", bad && text !== "");
    var presets = form.querySelectorAll(".preset");
    for (var i = 0; i < presets.length; i++) {
      presets[i].classList.toggle("active", presets[i].dataset.q === text);
    }
  }
  form.addEventListener("click", function (event) {
    var target = event.target.closest(".preset");
    if (!target) return;
    event.preventDefault();
    input.value = target.dataset.q;
    update();
  });
  input.addEventListener("input", update);
  update();
})();
