// The paddle console: the number field keeps focus; ArrowUp/ArrowDown move between levels (the
// auctioneer goes down the levels); Enter records (the form's own submit). No inline script: CSP.
(function () {
  "use strict";
  const number = document.querySelector("[data-testid=paddle-number]");
  const levels = Array.from(document.querySelectorAll(".fr-levels input[type=radio]"));
  if (!number || !levels.length) return;
  number.focus();
  number.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    event.preventDefault();
    const current = Math.max(0, levels.findIndex(function (radio) { return radio.checked; }));
    const next = Math.min(levels.length - 1, Math.max(0, current + (event.key === "ArrowDown" ? 1 : -1)));
    levels[next].checked = true;
  });
  levels.forEach(function (radio) { radio.addEventListener("change", function () { number.focus(); }); });
})();
