// Reload a job page while its jobs run, but never while someone is choosing rows or typing.
// A file, not an inline script, so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  var seconds = Number(document.currentScript.dataset.refreshSeconds);
  if (!(seconds > 0)) { return; }
  setInterval(function () {
    var busy = document.querySelector("input.action-select:checked, #action-toggle:checked")
      || (document.activeElement && document.activeElement.matches("input[type=text], textarea, select"));
    if (!busy) { window.location.reload(); }
  }, seconds * 1000);
})();
