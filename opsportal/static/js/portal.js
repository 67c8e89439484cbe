// Behaviour that templates ask for with data- attributes, so no page needs an inline script or
// an on*= attribute (the Content-Security-Policy allows scripts from static files only).
//   data-print                   a link or button that prints the page
//   data-copy-from="ELEMENT_ID"  a button that copies that element's value (or text)
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    const printer = event.target.closest("[data-print]");
    if (printer) {
      event.preventDefault();
      window.print();
      return;
    }
    const copier = event.target.closest("[data-copy-from]");
    if (copier) {
      event.preventDefault();
      const source = document.getElementById(copier.getAttribute("data-copy-from"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText("value" in source ? source.value : source.textContent);
      }
    }
  });
})();
