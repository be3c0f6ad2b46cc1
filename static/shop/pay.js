// The payment page (/pay/{token}): while a WeChat Pay QR code or a JSAPI payment is on screen, ask the server
// whether the order is paid and go on to the order when it is; inside WeChat, open WeChat Pay's sheet with the
// parameters the server signed. No money is decided here: the server settles only what WeChat Pay reports.
(function () {
  "use strict";
  var root = document.getElementById("pay");
  if (!root) return;

  function poll() {
    fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (state.done) { window.location.href = state.next; } else { window.setTimeout(poll, 3000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  if (root.dataset.poll === "1") window.setTimeout(poll, 3000);

  var button = document.getElementById("wechat-jsapi");
  if (!button) return;
  var params = JSON.parse(button.dataset.params);
  function invoke() {
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (result) {
      if (result && result.err_msg === "get_brand_wcpay_request:ok") {
        window.location.href = root.dataset.returnUrl;  // the server asks WeChat Pay before fulfilling
      }
    });
  }
  function start() {
    if (typeof window.WeixinJSBridge === "undefined") {
      document.addEventListener("WeixinJSBridgeReady", invoke, false);
    } else {
      invoke();
    }
  }
  button.addEventListener("click", start);
})();
