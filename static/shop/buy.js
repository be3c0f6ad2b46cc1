// Live total on the buy page: quantity × price in fen, shown in yuan — or, for a quantity that cannot be ordered,
// the reason (the page gives the messages, in its language; shop/buy_page.py applies the same rules). No money is
// decided here: the server checks the same limits again. Without this script the page works as a plain form.
(function () {
  "use strict";
  var form = document.getElementById("buy-form");
  if (!form) return;
  var price = parseInt(form.dataset.price, 10);
  var min = parseInt(form.dataset.min, 10);
  var input = document.getElementById("quantity");
  var total = document.getElementById("total");
  var line = document.getElementById("total-line");
  var hint = document.getElementById("total-hint");
  var limits = document.getElementById("limits");
  var max = parseInt(hint.dataset.max, 10);
  var room = parseInt(hint.dataset.room, 10);
  var messages = {
    integer: hint.dataset.msgInteger,
    min: hint.dataset.msgMin,
    max: hint.dataset.msgMax,
    room: hint.dataset.msgRoom
  };
  function yuan(fen) {
    var whole = Math.floor(fen / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var cents = (fen % 100).toString();
    return "¥" + whole + "." + (cents.length < 2 ? "0" + cents : cents);
  }
  function problem(text) {
    if (!/^\d{1,9}$/.test(text) || parseInt(text, 10) === 0) return "integer";
    var q = parseInt(text, 10);
    if (q < min) return "min";
    if (q > max) return "max";
    if (q > room) return "room";
    return "";
  }
  function update() {
    var text = input.value.trim();
    var why = problem(text);
    line.hidden = why !== "";
    if (why) {
      total.textContent = "";
      if (hint.textContent !== messages[why]) hint.textContent = messages[why];
    } else {
      total.textContent = yuan(parseInt(text, 10) * price);
      hint.textContent = "";
    }
    limits.classList.toggle("error-message", (why === "min" || why === "max") && text !== "");
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
