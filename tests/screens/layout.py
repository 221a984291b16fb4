"""Geometry checks run inside the page: does anything stick out of its card, or out of the screen?

`LAYOUT_PROBLEMS` is evaluated in one JavaScript turn, so it sees one consistent frame. An item
that overlaps its card but is not entirely inside it is cut off (or spills over); an item that
does not overlap its card at all must be clipped away by an ancestor (an overflow row that is not
painted), or it is visible where it should not be.
"""

from __future__ import annotations

# (card selector, selector of what must stay inside each such card)
CARDS = [
    (".top", ".brand, .status > *"),
    (".main", ":scope > *"),
    (".gifts", ".card-title, .gift, .card-note"),
    (".leaderboard", ".card-title, .leader, .card-note"),
    (".breakdown", ".card-title, .bar-row, .card-note"),
    (".give", ".qr, .give-text"),
    (".stat", ".stat-label, .stat-value"),
]

LAYOUT_PROBLEMS = """
(cards) => {
  const problems = [];
  const tol = 1;
  const view = {left: 0, top: 0, right: innerWidth, bottom: innerHeight};
  const inside = (a, b) => a.left >= b.left - tol && a.right <= b.right + tol &&
    a.top >= b.top - tol && a.bottom <= b.bottom + tol;
  const meets = (a, b) => a.left < b.right - tol && a.right > b.left + tol &&
    a.top < b.bottom - tol && a.bottom > b.top + tol;
  const rendered = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const label = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "") +
    (el.dataset.key || el.dataset.group ? "[" + (el.dataset.key || el.dataset.group) + "]" : "");
  const clipped = (el, card) => {
    for (let node = el.parentElement; node && node !== card.parentElement; node = node.parentElement) {
      if (getComputedStyle(node).overflow !== "visible") {
        const clip = node.getBoundingClientRect();
        if (!meets(el.getBoundingClientRect(), clip)) return true;
      }
    }
    return false;
  };
  for (const [cardSelector, itemSelector] of cards) {
    for (const card of document.querySelectorAll(cardSelector)) {
      if (!rendered(card)) continue;
      const cardBox = card.getBoundingClientRect();
      if (!inside(cardBox, view)) problems.push(label(card) + " is not entirely on screen");
      for (const item of card.querySelectorAll(itemSelector)) {
        if (!rendered(item)) continue;
        const box = item.getBoundingClientRect();
        if (box.width === 0 && box.height === 0) continue;
        if (inside(box, cardBox)) continue;
        if (!meets(box, cardBox) && clipped(item, card)) continue;  // an overflow row, not painted
        problems.push(label(item) + " crosses " + label(card) + ": " +
          JSON.stringify([Math.round(box.top), Math.round(box.bottom), Math.round(cardBox.top), Math.round(cardBox.bottom)]));
      }
    }
  }
  return problems;
}
"""


def layout_problems(page) -> list[str]:
    return page.evaluate(LAYOUT_PROBLEMS, [list(pair) for pair in CARDS])
