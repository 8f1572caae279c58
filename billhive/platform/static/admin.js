// Refreshes the live figures of admin pages: every element with data-poll="<url>" fetches
// that JSON every data-every seconds and writes each value into its [data-field] child.
// Without JavaScript the page shows the figures as of its loading.
(function () {
  "use strict";
  function poll(box) {
    var url = box.getAttribute("data-poll");
    var every = Math.max(2, parseInt(box.getAttribute("data-every") || "5", 10)) * 1000;
    function tick() {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          box.querySelectorAll("[data-field]").forEach(function (el) {
            var name = el.getAttribute("data-field");
            if (Object.prototype.hasOwnProperty.call(data, name)) {
              el.textContent = data[name] === null ? "\u2013" : String(data[name]);
              if (el.classList.contains("badge")) { el.className = "badge " + data[name]; }
            }
          });
        })
        .catch(function () { /* keep the last figures; try again next time */ });
    }
    setInterval(tick, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(poll);
  });
})();
