// Copy buttons for commands and code blocks in rendered plan text. No dependencies.
// A button is added to every <pre> inside .md (rendered Markdown) and every pre.command; pages
// swapped in by htmx get theirs on htmx:load.
(function () {
  "use strict";

  function fallbackCopy(text) {
    // navigator.clipboard needs a secure context; a plain-http intranet page is not one.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function decorate(root) {
    const blocks = root.querySelectorAll(".md pre, pre.command");
    blocks.forEach(function (pre) {
      if (pre.dataset.copyReady) return;
      pre.dataset.copyReady = "1";
      const wrap = document.createElement("div");
      wrap.className = "copy-wrap";
      pre.parentNode.insertBefore(wrap, pre);
      wrap.appendChild(pre);
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-sm btn-light border copy-btn";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy to clipboard");
      button.dataset.testid = "copy";
      button.addEventListener("click", function () {
        const code = pre.querySelector("code") || pre;
        copy(code.textContent.replace(/\n$/, "")).then(
          function () { button.textContent = "Copied"; },
          function () { button.textContent = "Select and copy"; }
        );
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
      wrap.appendChild(button);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { decorate(document); });
  document.addEventListener("htmx:load", function (event) { decorate(event.target); });
})();
