// Global search: "/" or Ctrl-K (Cmd-K) focuses the search box; while typing, the navigation's
// box shows results below it (htmx fetches /search/?q=…); arrow keys move through the results,
// Enter opens the one focused, Escape closes the list. The search page's list works the same.
// A file of its own: the Content-Security-Policy allows no inline script and no eval.
(function () {
  "use strict";

  function isTyping(target) {
    if (!target) return false;
    const tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function visible(el) {
    return !!el && el.offsetParent !== null;
  }

  function listOf(form) {
    const id = form.getAttribute("data-search-form");
    return id ? document.getElementById(id) : null;
  }

  function hits(form) {
    const list = listOf(form);
    return list && !list.hidden ? Array.from(list.querySelectorAll("a.search-hit")) : [];
  }

  function focusSearch() {
    const boxes = Array.from(document.querySelectorAll("[data-search-input]"));
    // the page's own box first (the search page), else the navigation's when shown
    const box = boxes.reverse().find(visible);
    if (box) {
      box.focus();
      box.select();
    } else {
      const form = document.querySelector("form[data-search-form]");
      window.location.href = form ? form.getAttribute("action") : "/search/";
    }
  }

  document.addEventListener("keydown", function (event) {
    const ctrlK = (event.ctrlKey || event.metaKey) && (event.key === "k" || event.key === "K");
    if (ctrlK || (event.key === "/" && !isTyping(event.target) && !event.altKey && !event.ctrlKey && !event.metaKey)) {
      event.preventDefault();
      focusSearch();
      return;
    }
    const form = event.target.closest && event.target.closest("form[data-search-form]");
    const inList = event.target.closest && event.target.closest("[data-search-list]");
    const owner = form || (inList && document.querySelector('form[data-search-form="' + inList.id + '"]'));
    if (!owner) return;
    const items = hits(owner);
    const input = owner.querySelector("[data-search-input]");
    const index = items.indexOf(event.target);
    if (event.key === "ArrowDown") {
      if (!items.length) return;
      event.preventDefault();
      items[Math.min(index + 1, items.length - 1)].focus();
    } else if (event.key === "ArrowUp") {
      if (index < 0) return;
      event.preventDefault();
      if (index === 0) input.focus();
      else items[index - 1].focus();
    } else if (event.key === "Escape") {
      const list = listOf(owner);
      if (list && owner.hasAttribute("data-search-dropdown") && !list.hidden) {
        event.preventDefault(); // a search box's Escape would also clear what was typed
        list.hidden = true;
        input.focus();
      }
    }
  });

  // The navigation's drop-down: shown when htmx has put results in it, hidden when the box is
  // emptied or the focus leaves the search altogether.
  document.addEventListener("htmx:afterSwap", function (event) {
    const list = event.target;
    if (!list.matches || !list.matches("[data-search-list]")) return;
    const owner = document.querySelector('form[data-search-form="' + list.id + '"]');
    const input = owner && owner.querySelector("[data-search-input]");
    list.hidden = !input || input.value.trim() === "";
  });

  document.addEventListener("focusin", function (event) {
    document.querySelectorAll("form[data-search-dropdown]").forEach(function (form) {
      const list = listOf(form);
      if (!list) return;
      const inside = form.contains(event.target) || list.contains(event.target);
      if (!inside) list.hidden = true;
      else if (event.target.matches("[data-search-input]") && event.target.value.trim() && list.children.length) list.hidden = false;
    });
  });

  document.addEventListener("click", function (event) {
    document.querySelectorAll("form[data-search-dropdown]").forEach(function (form) {
      const list = listOf(form);
      if (list && !form.contains(event.target) && !list.contains(event.target)) list.hidden = true;
    });
  });
})();
