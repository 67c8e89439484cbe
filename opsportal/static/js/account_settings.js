// Offer the browser's own time zone when it is one of the choices and not the one selected.
(function () {
  "use strict";
  function init() {
    var select = document.querySelector("select[data-browser-zone]");
    var offer = document.querySelector("[data-browser-zone-offer]");
    if (!select || !offer || !window.Intl) return;
    var name = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === name; });
    if (!name || !known || select.value === name) return;
    offer.querySelector("[data-browser-zone-name]").textContent = name;
    offer.hidden = false;
    offer.querySelector("[data-browser-zone-use]").addEventListener("click", function () {
      select.value = name;
      offer.hidden = true;
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
