// Mission Control's own JavaScript: live refresh, "select all" and confirmations.
// No inline script (the CSP forbids it) and no third-party code.
(function () {
  "use strict";

  function busy(main) {
    // Never replace what the user is working with: a focused field or ticked boxes.
    var active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) {
      return true;
    }
    return main.querySelector("input[type=checkbox]:checked") !== null;
  }

  function startRefresh() {
    var main = document.getElementById("live");
    if (!main || !main.dataset.refresh) { return; }
    var seconds = parseFloat(main.dataset.refresh);
    if (!(seconds > 0)) { return; }
    setInterval(function () {
      if (document.hidden || busy(main)) { return; }
      fetch(window.location.href, { headers: { "X-Refresh": "1" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null || busy(main)) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("live");
          if (fresh) { main.replaceChildren.apply(main, Array.from(fresh.childNodes)); }
        })
        .catch(function () { /* next tick retries */ });
    }, seconds * 1000);
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.dataset && box.dataset.selectAll) {
      document.querySelectorAll("input[name='" + box.dataset.selectAll + "']").forEach(function (b) {
        b.checked = box.checked;
      });
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (button && !window.confirm(button.dataset.confirm)) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", startRefresh);
})();
