// Live goal page and display screens (every layout). First paint comes from the server (no flash
// of zero); this script keeps the numbers moving, for hours, on whatever network the venue has.
//
// Subscribe first, then fetch a snapshot, then apply only what is newer than what is shown, so no
// update is missed. Re-create the EventSource after any failure (Chromium gives up for good on a
// non-200 response), with backoff, and re-fetch the snapshot on every (re)connect and whenever the
// server's relay says events may have been lost ("resync").
//
// Values arrive as exact decimal strings. They are formatted as strings (Intl.NumberFormat accepts
// them exactly) and compared as BigInt; floats appear only in the count-up and in geometry.
// Everything a donor can type (names, group names) goes into the page as text, never as markup.
(function () {
  "use strict";

  const ASSET = "screen.js/3";
  const screen = document.getElementById("screen");
  const badge = document.getElementById("badge");
  const initial = JSON.parse(document.getElementById("snapshot").textContent);
  const data = screen.dataset;
  const locale = document.documentElement.lang || "en";
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const headlineSlug = data.headline;
  const breakdownSlug = data.breakdown;
  const leaderboardSlug = data.leaderboard || "";
  const maxBars = Number(data.maxBars) || 8;
  const maxLeaders = Number(data.maxLeaders) || 10;
  const maxTicker = Number(data.maxTicker) || 12;
  const hasGoal = data.goal === "1" || Boolean(initial.goal);
  const isKiosk = Boolean(data.heartbeatUrl);

  const COUNT_UP_MS = 900;
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;
  // A safety net, not the update path: bounds how stale a screen can get if events stop silently.
  const RESYNC_MS = 60000;
  const SILENT_MS = 45000; // the server sends a keep-alive every 20 s: this much silence is a dead stream
  const DEGRADED_POLL_MS = 5000; // while the server's relay is down, poll snapshots instead
  const HEARTBEAT_MS = (Number(data.heartbeatSeconds) || 15) * 1000;
  const CELEBRATION_MS = 7000;
  const SHIFT_MS = 120000; // burn-in: move everything a few pixels every two minutes
  const SHIFTS = [[0, 0], [1, 1], [-1, 2], [-2, 0], [-1, -2], [1, -1], [2, 1]];

  function noop() {}

  // --- exact decimals ------------------------------------------------------------------------
  function placesOf(text) {
    const dot = text.indexOf(".");
    return dot < 0 ? 0 : text.length - dot - 1;
  }

  function isWhole(text) {
    return !/\.\d*[1-9]/.test(text);
  }

  function scaled(text, places) { // ("12.5", 2) -> 1250n
    const negative = text.startsWith("-");
    const parts = text.replace(/^[-+]/, "").split(".");
    const value = BigInt(parts[0] + (parts[1] || "").padEnd(places, "0").slice(0, places));
    return negative ? -value : value;
  }

  function compare(a, b) { // exact comparison of two decimal strings: -1, 0 or 1
    const places = Math.max(placesOf(a), placesOf(b));
    const x = scaled(a, places);
    const y = scaled(b, places);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function wholePercent(current, target) { // rounded down, so 100 shows only once really reached
    const places = Math.max(placesOf(current), placesOf(target));
    const goal = scaled(target, places);
    if (goal <= 0n) return 0;
    const percent = (100n * scaled(current, places)) / goal;
    return percent > 0n ? Number(percent) : 0;
  }

  function ratio(part, whole) { // part / whole as a float, for geometry only
    const places = Math.max(placesOf(part), placesOf(whole));
    const total = scaled(whole, places);
    if (total <= 0n) return 0;
    return Number((scaled(part, places) * 100000n) / total) / 100000;
  }

  function minus(a, b) { // exact a - b as decimal text
    const places = Math.max(placesOf(a), placesOf(b));
    let value = scaled(a, places) - scaled(b, places);
    const negative = value < 0n;
    if (negative) value = -value;
    let digits = value.toString().padStart(places + 1, "0");
    if (places) digits = digits.slice(0, -places) + "." + digits.slice(-places);
    return (negative ? "-" : "") + digits;
  }

  // --- formatting ------------------------------------------------------------------------------
  const formats = new Map();

  function numberFormat(currency, places) {
    const key = currency + "/" + places;
    let format = formats.get(key);
    if (!format) {
      const digits = { minimumFractionDigits: places, maximumFractionDigits: places };
      try {
        format = new Intl.NumberFormat(locale, currency ? { ...digits, style: "currency", currency } : digits);
      } catch (error) { // not a currency Intl knows: show the plain number rather than nothing
        format = new Intl.NumberFormat(locale, digits);
      }
      formats.set(key, format);
    }
    return format;
  }

  function formatted(value, currency, trim) {
    return numberFormat(currency || "", trim && isWhole(value) ? 0 : placesOf(value)).format(value);
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  // --- numbers that count up -------------------------------------------------------------------
  // A number element keeps the exact value it stands for in data-value; its text derives from it.
  const counting = new Map(); // element -> {from, to, start, format, finalText, current}
  let frame = 0;

  function showNumber(el, value, instant) {
    if (!el || el.dataset.value === value) return;
    const previous = el.dataset.value;
    const places = el.dataset.trim && isWhole(value) ? 0 : placesOf(value);
    const format = numberFormat(el.dataset.currency || "", places);
    const finalText = format.format(value);
    el.dataset.value = value;
    fitTo(el, Math.max(el.textContent.length, finalText.length));
    const running = counting.get(el);
    const from = running ? running.current : Number(previous);
    const to = Number(value);
    if (instant || screen.classList.contains("no-numbers") || reducedMotion.matches || previous === undefined || previous === "" ||
        !Number.isFinite(from) || !Number.isFinite(to)) {
      counting.delete(el);
      el.textContent = finalText;
      fitTo(el, finalText.length);
      return;
    }
    counting.set(el, { from: from, to: to, current: from, start: performance.now(), format: format,
                       finalText: finalText });
    if (!frame) frame = requestAnimationFrame(tick);
    setTimeout(finishOverdue, COUNT_UP_MS + 100); // rAF pauses in hidden tabs; never leave a number halfway
  }

  function fitTo(el, chars) { // see the style sheets: long numbers shrink to stay on screen
    if (el.dataset.fit) el.style.setProperty("--chars", String(chars));
  }

  function finish(el, run) {
    el.textContent = run.finalText;
    fitTo(el, run.finalText.length);
    counting.delete(el);
  }

  function easeOut(t) {
    return 1 - Math.pow(1 - t, 3);
  }

  function tick(now) {
    frame = 0;
    counting.forEach(function (run, el) {
      // rAF passes the frame start, which can precede the update: never step back below the old value
      const t = Math.max(0, Math.min(1, (now - run.start) / COUNT_UP_MS));
      if (t >= 1) {
        finish(el, run);
        return;
      }
      run.current = run.from + (run.to - run.from) * easeOut(t);
      el.textContent = run.format.format(run.current);
    });
    if (counting.size) frame = requestAnimationFrame(tick);
  }

  function finishOverdue() {
    const now = performance.now();
    counting.forEach(function (run, el) {
      if (now - run.start >= COUNT_UP_MS) finish(el, run);
    });
  }

  // --- progress scale and milestones -------------------------------------------------------------
  // Same rules as dashboard/screens.progress_scale: the scale runs to the goal until it is reached,
  // then to the next stretch milestone; milestones below the top are ticks.
  const view = {
    headline: null, // exact value of the big number, last good one
    goal: initial.goal ? { target: initial.goal.target, label: initial.goal.label } : null,
    milestones: initial.milestones || [],
    ticksSignature: "",
  };

  function targets() {
    const list = view.milestones.map(function (m) { return { amount: m.amount, label: m.label }; });
    if (view.goal && compare(view.goal.target, "0") > 0) {
      const same = list.findIndex(function (t) { return compare(t.amount, view.goal.target) === 0; });
      const goalTarget = { amount: view.goal.target, label: view.goal.label || "Goal", goal: true };
      if (same >= 0) list[same] = goalTarget; else list.push(goalTarget);
    }
    return list.filter(function (t) { return compare(t.amount, "0") > 0; })
      .sort(function (a, b) { return compare(a.amount, b.amount); });
  }

  function progressScale(current) {
    const ordered = targets();
    const upcoming = ordered.find(function (t) { return compare(t.amount, current) > 0; }) || null;
    let top = view.goal ? view.goal.target : "0";
    const candidate = upcoming ? upcoming.amount : (ordered.length ? ordered[ordered.length - 1].amount : "0");
    if (compare(candidate, top) > 0) top = candidate;
    if (compare(top, "0") <= 0) return null;
    return {
      top: ordered.find(function (t) { return compare(t.amount, top) === 0; }) || null,
      topAmount: top,
      fill: Math.min(100, Math.max(0, 100 * ratio(current, top))),
      ticks: ordered.filter(function (t) { return compare(t.amount, top) < 0; }),
      next: upcoming,
    };
  }

  function renderScale(current) {
    const scale = progressScale(current);
    document.querySelectorAll(".scale-fill").forEach(function (fill) {
      const size = (scale ? scale.fill : 0).toFixed(2) + "%";
      if (fill.dataset.axis === "y") fill.style.height = size; else fill.style.width = size;
    });
    if (!scale) return;
    const currency = data.headlineCurrency || "";
    const topLabel = document.getElementById("scale-top-label");
    if (topLabel && scale.top) {
      setText(topLabel, scale.top.label);
      setText(document.getElementById("scale-top-amount"), formatted(scale.top.amount, currency, true));
    }
    const ticks = document.getElementById("ticks");
    if (ticks) {
      const signature = scale.topAmount + "|" + scale.ticks.map(function (t) { return t.amount + "=" + t.label; }).join("|");
      if (signature !== view.ticksSignature) {
        view.ticksSignature = signature;
        ticks.replaceChildren.apply(ticks, scale.ticks.map(function (t) {
          return newTick(t, 100 * ratio(t.amount, scale.topAmount), currency);
        }));
      }
      Array.from(ticks.children).forEach(function (tickEl) {
        tickEl.classList.toggle("is-reached", compare(current, tickEl.dataset.amount) >= 0);
      });
      fitTicks();
    }
    const next = document.getElementById("next");
    if (next) {
      next.hidden = !scale.next;
      if (scale.next) {
        setText(next.querySelector(".next-label"), scale.next.label);
        setText(next.querySelector(".next-amount"), formatted(scale.next.amount, currency, true));
        setText(next.querySelector(".next-togo"), formatted(minus(scale.next.amount, current), currency, true));
      }
    }
  }

  // A milestone near either end of the bar has its label centred past the screen's edge ("irst
  // hundred!"): slide its text (not its mark) back inside the main column.
  function fitTicks() {
    const ticks = document.getElementById("ticks");
    const main = ticks && ticks.closest(".main, .thermo, .summary, .screen");
    if (!ticks || !main || ticks.closest(".thermometer")) return;
    const bounds = main.getBoundingClientRect();
    const left = Math.max(bounds.left, 0);
    const right = Math.min(bounds.right, window.innerWidth);
    Array.from(ticks.children).forEach(function (tickEl) {
      tickEl.style.setProperty("--nudge", "0px");
      let widest = null;
      tickEl.querySelectorAll(".tick-label, .tick-amount").forEach(function (part) {
        const box = part.getBoundingClientRect();
        widest = widest ? { left: Math.min(widest.left, box.left), right: Math.max(widest.right, box.right) } : box;
      });
      if (!widest) return;
      let nudge = 0;
      if (widest.left < left) nudge = left - widest.left;
      else if (widest.right > right) nudge = right - widest.right;
      tickEl.style.setProperty("--nudge", Math.round(nudge) + "px");
    });
    // Labels that would overlap: the higher milestone keeps its text, a lower one shows its mark only.
    let kept = null;
    Array.from(ticks.children).reverse().forEach(function (tickEl) {
      tickEl.classList.remove("is-crowded");
      const label = tickEl.querySelector(".tick-label");
      if (!label) return;
      const box = label.getBoundingClientRect();
      const amount = tickEl.querySelector(".tick-amount").getBoundingClientRect();
      const left = Math.min(box.left, amount.left);
      const right = Math.max(box.right, amount.right);
      if (kept !== null && right > kept - 8) tickEl.classList.add("is-crowded");
      else kept = left;
    });
  }

  window.addEventListener("resize", fitTicks);

  function newTick(target, position, currency) {
    const item = document.createElement("li");
    item.className = "tick";
    item.dataset.amount = target.amount;
    item.style.setProperty("--at", position.toFixed(2) + "%");
    const label = document.createElement("span");
    label.className = "tick-label";
    label.textContent = target.label; // organizer-typed: text
    const amount = document.createElement("span");
    amount.className = "tick-amount number";
    amount.textContent = formatted(target.amount, currency, true);
    item.append(label, amount);
    return item;
  }

  // --- celebrations: once per screen per milestone ---------------------------------------------
  // Crossings are remembered in localStorage, and whatever was already reached when the page was
  // first painted counts as celebrated: a reload or a reconnect never celebrates again.
  const celebrated = new Set();
  const celebrateKey = data.celebrateKey ? "celebrated:" + data.celebrateKey : "";
  let celebrationTimer = 0;

  function loadCelebrated() {
    if (!celebrateKey) return;
    try {
      JSON.parse(localStorage.getItem(celebrateKey) || "[]").forEach(function (a) { celebrated.add(a); });
    } catch (error) { /* storage unavailable or corrupt: start empty */ }
  }

  function saveCelebrated() {
    if (!celebrateKey) return;
    const known = new Set(targets().map(function (t) { return canonical(t.amount); }));
    const kept = Array.from(celebrated).filter(function (a) { return known.has(a); }); // bounded
    try {
      localStorage.setItem(celebrateKey, JSON.stringify(kept));
    } catch (error) { /* private mode, full storage: the in-memory set still holds */ }
  }

  function canonical(amount) { // "25000.00" and "25000" are the same milestone
    return amount.includes(".") ? amount.replace(/\.?0+$/, "") : amount;
  }

  function markReached(current) { // silently: already past these when we started looking
    targets().forEach(function (t) {
      if (compare(current, t.amount) >= 0) celebrated.add(canonical(t.amount));
    });
    saveCelebrated();
  }

  function checkCrossings(previous, current) {
    if (!celebrateKey || previous === null || compare(current, previous) <= 0) return;
    const crossed = targets().filter(function (t) {
      return compare(previous, t.amount) < 0 && compare(current, t.amount) >= 0 &&
        !celebrated.has(canonical(t.amount));
    });
    if (!crossed.length) return;
    crossed.forEach(function (t) { celebrated.add(canonical(t.amount)); });
    saveCelebrated();
    celebrate(crossed[crossed.length - 1]);
  }

  function celebrate(target) {
    const card = document.getElementById("celebration");
    if (!card) return;
    setText(card.querySelector(".celebration-title"), target.goal ? "Goal reached!" : "Milestone reached!");
    setText(card.querySelector(".celebration-label"), target.label);
    setText(card.querySelector(".celebration-amount"), formatted(target.amount, data.headlineCurrency || "", true));
    card.hidden = false;
    screen.dataset.celebrations = String((Number(data.celebrations) || 0) + 1);
    screen.classList.add("is-celebrating");
    if (!reducedMotion.matches) confetti();
    clearTimeout(celebrationTimer);
    celebrationTimer = setTimeout(function () {
      card.hidden = true;
      screen.classList.remove("is-celebrating");
      const layer = document.getElementById("confetti");
      if (layer) layer.replaceChildren();
    }, CELEBRATION_MS);
  }

  function confetti() {
    const layer = document.getElementById("confetti");
    if (!layer) return;
    const colours = ["var(--accent)", "var(--bar)", "var(--gold)", "#ff6b8b", "#ffffff"];
    const pieces = [];
    for (let i = 0; i < 90; i += 1) { // a fixed number, removed when the celebration ends
      const piece = document.createElement("i");
      piece.style.left = (Math.random() * 100).toFixed(2) + "%";
      piece.style.background = colours[i % colours.length];
      piece.style.animationDelay = (Math.random() * 1.2).toFixed(2) + "s";
      piece.style.animationDuration = (3 + Math.random() * 2.5).toFixed(2) + "s";
      piece.style.setProperty("--drift", ((Math.random() - 0.5) * 30).toFixed(1) + "vw");
      piece.style.setProperty("--spin", Math.round(360 + Math.random() * 720) + "deg");
      pieces.push(piece);
    }
    layer.replaceChildren.apply(layer, pieces);
  }

  // --- rendering -------------------------------------------------------------------------------
  function renderHeadline(value) {
    const previous = view.headline;
    view.headline = value;
    if (hasGoal && view.goal) {
      const percent = wholePercent(value, view.goal.target);
      showNumber(document.getElementById("percent"), String(percent));
      const bar = document.getElementById("progress");
      if (bar) bar.setAttribute("aria-valuenow", String(percent));
      screen.classList.toggle("is-reached", percent >= 100);
    }
    showNumber(document.getElementById("raised"), value, previous === null);
    renderScale(value);
    if (previous === null) markReached(value); else checkCrossings(previous, value);
  }

  function renderGoal(goal) {
    view.goal = { target: goal.target, label: goal.label };
    showNumber(document.getElementById("target"), goal.target);
    const fill = document.getElementById("progress-fill");
    if (fill) fill.style.width = Math.min(100, Math.max(0, goal.percent)) + "%";
    renderHeadline(goal.current);
  }

  function renderStat(slug, metric, currency) {
    const stats = document.getElementById("stats");
    if (!stats) return;
    let tile = stats.querySelector('[data-metric="' + CSS.escape(slug) + '"]');
    if (!tile) { // a metric added after this page was rendered
      if (isKiosk) return; // kiosks reload on configuration changes instead
      tile = document.createElement("div");
      tile.className = "stat";
      tile.dataset.metric = slug;
      const label = document.createElement("div");
      label.className = "stat-label";
      const value = document.createElement("div");
      value.className = "stat-value number";
      value.dataset.currency = metric.money ? currency : "";
      value.dataset.fit = "1";
      tile.append(label, value);
      stats.append(tile);
    }
    setText(tile.querySelector(".stat-label"), metric.label);
    showNumber(tile.querySelector(".stat-value"), metric.total);
  }

  function span(className) {
    const el = document.createElement("span");
    el.className = className;
    return el;
  }

  // The parts of a group's row, in bars ("bar") and leaderboards ("leader"): name, track, value.
  function groupRowParts(kind, rowClass, name, currency) {
    const row = document.createElement("li");
    row.className = rowClass;
    row.dataset.group = name;
    const label = span(kind + "-name");
    label.textContent = name; // donor-typed: text, never markup
    const track = span(kind + "-track");
    track.append(span(kind + "-fill"));
    const value = span(kind + "-value number");
    value.dataset.currency = currency;
    return { row, label, track, value };
  }

  function newBarRow(name, currency) {
    const { row, label, track, value } = groupRowParts("bar", "bar-row", name, currency);
    label.title = name;
    row.append(label, track, value);
    return row;
  }

  // The rows a list shows now, by group: render takes out those still shown and removes the rest.
  function rowsByGroup(list) {
    const rows = new Map();
    Array.from(list.children).forEach(function (row) { rows.set(row.dataset.group, row); });
    return rows;
  }

  function renderBars(metric) {
    const list = document.getElementById("bars");
    if (!list) return;
    const rows = rowsByGroup(list);
    const shown = metric.groups.slice(0, maxBars); // the server sends them largest first
    const largest = shown.reduce(function (max, group) { return Math.max(max, Number(group.value)); }, 0);
    shown.forEach(function (group, index) {
      const row = rows.get(group.name) || newBarRow(group.name, list.dataset.currency || "");
      rows.delete(group.name);
      const share = largest > 0 ? Math.max(0, Number(group.value)) / largest : 0; // geometry only
      row.querySelector(".bar-fill").style.width = (100 * share).toFixed(2) + "%";
      showNumber(row.querySelector(".bar-value"), group.value);
      if (list.children[index] !== row) list.insertBefore(row, list.children[index] || null);
    });
    rows.forEach(function (row) { row.remove(); });
    list.dataset.more = String(metric.groups.length - shown.length);
    const empty = document.getElementById("bars-empty");
    if (empty) empty.hidden = shown.length > 0;
    fitBars();
  }

  // --- whole rows only ---------------------------------------------------------------------------
  // A list taller than its card loses its last rows, never half a row: rows that do not fit whole
  // are left out (class is-clipped), measured again whenever the rows or the card's size change.
  function fitRows(list) {
    if (!list) return 0;
    const rows = Array.from(list.children);
    rows.forEach(function (row) { row.classList.remove("is-clipped"); });
    const card = list.parentElement;
    const style = getComputedStyle(card);
    let bottom = card.getBoundingClientRect().bottom - parseFloat(style.paddingBottom) - parseFloat(style.borderBottomWidth);
    for (let after = list.nextElementSibling; after; after = after.nextElementSibling) { // notes keep their room
      if (!after.hidden) bottom -= after.getBoundingClientRect().height + parseFloat(getComputedStyle(after).marginTop);
    }
    let clipped = 0;
    rows.forEach(function (row) {
      if (clipped || row.getBoundingClientRect().bottom > bottom + 0.5) {
        row.classList.add("is-clipped");
        clipped += 1;
      }
    });
    return clipped;
  }

  function fitBars() {
    const list = document.getElementById("bars");
    if (!list) return;
    const note = document.getElementById("bars-more");
    const more = Number(list.dataset.more) || 0; // groups beyond the screen's number of bars
    if (note) note.hidden = more <= 0;
    let left = more + fitRows(list);
    if (note && note.hidden && left > 0) { // "+ N more" needs a line too
      note.hidden = false;
      left = more + fitRows(list);
    }
    setText(document.getElementById("bars-more-count"), String(left));
  }

  function fitLists() {
    fitBars();
    fitRows(document.getElementById("leaders"));
  }

  if (window.ResizeObserver) {
    const cards = new ResizeObserver(fitLists);
    ["bars", "leaders"].forEach(function (id) {
      const list = document.getElementById(id);
      if (list) cards.observe(list.parentElement);
    });
  }

  function newLeaderRow(name, currency) {
    const { row, label, track, value } = groupRowParts("leader", "leader", name, currency);
    value.dataset.trim = "1";
    row.append(span("rank number"), label, track, value);
    return row;
  }

  function renderLeaders(metric) {
    const list = document.getElementById("leaders");
    if (!list) return;
    const rows = rowsByGroup(list);
    const shown = metric.groups.slice(0, maxLeaders);
    const leader = shown.length ? shown[0].value : "0";
    let rank = 0;
    let previous = null;
    shown.forEach(function (group, index) {
      if (group.value !== previous) { rank = index + 1; previous = group.value; }
      const row = rows.get(group.name) || newLeaderRow(group.name, list.dataset.currency || "");
      rows.delete(group.name);
      setText(row.querySelector(".rank"), String(rank));
      row.dataset.rank = String(rank);
      row.querySelector(".leader-fill").style.width = (100 * Math.max(0, ratio(group.value, leader))).toFixed(2) + "%";
      showNumber(row.querySelector(".leader-value"), group.value);
      if (list.children[index] !== row) list.insertBefore(row, list.children[index] || null);
    });
    rows.forEach(function (row) { row.remove(); });
    const empty = document.getElementById("leaders-empty");
    if (empty) empty.hidden = shown.length > 0;
    fitRows(list);
  }

  function render(update, metrics, goal) {
    Object.keys(metrics).forEach(function (slug) {
      const metric = metrics[slug];
      if (slug === headlineSlug) {
        if (!hasGoal) renderHeadline(metric.total);
      } else {
        renderStat(slug, metric, update.currency);
      }
      if (slug === breakdownSlug) renderBars(metric);
      if (slug === leaderboardSlug) renderLeaders(metric);
    });
    if (goal) renderGoal(goal);
  }

  // --- recent gifts ----------------------------------------------------------------------------
  // Readable at any gift rate: new gifts enter one at a time, newest on top, at most one every
  // REVEAL_MS. When they come faster, only the newest few wait their turn; the others are never
  // shown (nobody could read them) and the ticker stays within a couple of seconds of the room.
  // The rows are the screen's own: a gift enters once, when its stream position passes the newest
  // one seen, so a list rebuilt after Redis lost its data (or replayed from the stream) never shows
  // old gifts as new, and an empty one never blanks the screen. (A gift written later than any seen
  // enters too: a new stream, after the table's stream was switched off and on, numbers afresh.)
  // Refunds and corrections apply to the rows shown, with their own keys.
  const REVEAL_MS = 600;
  const WAITING_MAX = 3;
  const ARRIVAL_GRACE_S = 10; // a gift written this long before the newest seen still counts as new
  const SEEN_KEPT = 500; // gifts remembered as shown (newest), so none is announced twice
  const ENTER_MAX_MS = 1000; // the entering animation (screen.css) is shorter: a bound if it never ends
  const tickerList = document.getElementById("ticker");
  const ticker = { id: null, rev: -1, mark: null, markAt: -Infinity, seen: new Map(), waiting: [], timer: 0, revealedAt: -Infinity,
                  entering: null };

  function later(a, b) { // stream positions: digit strings, compared as numbers
    return a.length !== b.length ? a.length > b.length : a > b;
  }

  function hasPositions(entries) {
    return entries.every(function (gift) { return typeof gift.pos === "string" && /^\d+$/.test(gift.pos); });
  }

  function renderTicker(list) {
    if (!tickerList || !list || !Array.isArray(list.entries)) return;
    if (list.id === ticker.id && list.rev < ticker.rev) return; // an older list, published late
    ticker.id = list.id;
    ticker.rev = list.rev;
    const entries = list.entries;
    const listed = new Map(entries.map(function (gift) { return [gift.key, gift]; }));
    const removed = new Set(Array.isArray(list.removed) ? list.removed : []);
    const corrected = function (key, pos) { // the list's version of a gift, if it is the same gift
      const gift = listed.get(key);
      return gift && gift.pos === pos ? gift : null;
    };
    Array.from(tickerList.children).forEach(function (row) {
      const gift = corrected(row.dataset.key, row.dataset.pos);
      if (removed.has(row.dataset.key)) row.remove(); // refunded
      else if (gift) fillGiftRow(row, gift);
    });
    ticker.waiting = ticker.waiting.filter(function (gift) { return !removed.has(gift.key); })
      .map(function (gift) { return corrected(gift.key, gift.pos) || gift; });
    // New: a gift this screen has not seen, newer than what it has, or written within the last
    // seconds (shards publish separately, so a gift can arrive after a later one from another).
    const arrived = ticker.mark === null || !hasPositions(entries) ? null : entries.filter(function (gift) {
      return !ticker.seen.has(gift.key + "@" + gift.pos) &&
        (later(gift.pos, ticker.mark) || writtenAt(gift) >= ticker.markAt - ARRIVAL_GRACE_S);
    });
    if (!arrived || (arrived.length > WAITING_MAX && !tickerList.children.length && !ticker.waiting.length)) {
      // The first list (or one from a server that sends no positions), or a burst of gifts into
      // an empty ticker: the list in one step, rather than three rows and a blank band.
      replaceGifts(entries);
    } else if (arrived.length) {
      markSeen(arrived);
      ticker.waiting = ticker.waiting.concat(arrived.reverse()).slice(-WAITING_MAX); // oldest first
      scheduleReveal();
    }
    showTickerEmpty();
  }

  function replaceGifts(entries) { // in one step, without animation
    const rows = new Map(Array.from(tickerList.children).map(function (row) { return [row.dataset.key, row]; }));
    const shown = entries.slice(0, maxTicker).map(function (gift) {
      const row = rows.get(gift.key) || newGiftRow();
      fillGiftRow(row, gift);
      return row;
    });
    tickerList.replaceChildren.apply(tickerList, shown);
    ticker.waiting = [];
    ticker.mark = hasPositions(entries) ? "" : null;
    markSeen(entries);
  }

  function writtenAt(gift) { // when the gift was written (seconds), as the stream says
    return typeof gift.at === "number" && Number.isFinite(gift.at) ? gift.at : -Infinity;
  }

  function markSeen(gifts) {
    gifts.forEach(function (gift) {
      if (ticker.mark !== null && later(gift.pos, ticker.mark)) ticker.mark = gift.pos;
      ticker.markAt = Math.max(ticker.markAt, writtenAt(gift));
      ticker.seen.delete(gift.key + "@" + gift.pos);
      ticker.seen.set(gift.key + "@" + gift.pos, true); // (a Map keeps insertion order: oldest first)
    });
    while (ticker.seen.size > SEEN_KEPT) ticker.seen.delete(ticker.seen.keys().next().value);
  }

  function scheduleReveal() {
    if (ticker.timer || !ticker.waiting.length) return;
    ticker.timer = setTimeout(revealNext, Math.max(0, ticker.revealedAt + REVEAL_MS - performance.now()));
  }

  function stillEntering(now) {
    const entering = ticker.entering;
    return Boolean(entering && entering.row.isConnected && now - entering.since < ENTER_MAX_MS);
  }

  function revealNext() {
    ticker.timer = 0;
    const now = performance.now();
    // Never two rows entering at once, even if a busy page ran the last animation late.
    const wait = Math.max(ticker.revealedAt + REVEAL_MS - now, stillEntering(now) ? 50 : 0);
    if (wait > 0) {
      ticker.timer = setTimeout(revealNext, wait);
      return;
    }
    const gift = ticker.waiting.shift();
    if (!gift) return;
    Array.from(tickerList.children).forEach(function (row) { // listed again (a pledge paid later)
      if (row.dataset.key === gift.key) row.remove();
    });
    const row = newGiftRow();
    fillGiftRow(row, gift);
    tickerList.insertBefore(row, tickerList.firstChild);
    while (tickerList.children.length > maxTicker) tickerList.lastElementChild.remove();
    if (!reducedMotion.matches) {
      ticker.entering = { row: row, since: now };
      row.classList.add("is-new");
    }
    ticker.revealedAt = now;
    showTickerEmpty();
    scheduleReveal();
  }

  // --- the paddle raise (layout "paddle"): levels, paddles per level, running total ----------------
  function renderPaddle(paddle) {
    const panel = document.getElementById("paddle");
    if (!panel || !paddle || !Array.isArray(paddle.levels)) return;
    const currency = panel.dataset.currency || "";
    setText(panel.querySelector(".paddle-total"), formatted(paddle.total, currency, true));
    setText(panel.querySelector(".paddle-count-n"), String(paddle.count));
    const rows = Array.from(panel.querySelectorAll(".paddle-level"));
    paddle.levels.forEach(function (level, index) {
      const row = rows[index];
      if (!row || row.dataset.amount !== level.amount) return reloadOnce("paddle-levels");
      setText(row.querySelector(".paddle-n"), String(level.count));
      setText(row.querySelector(".paddle-numbers"), level.paddles.slice(-12).join(" · ")); // typed: text only
    });
  }

  function showTickerEmpty() {
    const empty = document.getElementById("ticker-empty");
    if (empty) empty.hidden = tickerList.children.length > 0 || ticker.waiting.length > 0;
  }

  function newGiftRow() {
    const row = document.createElement("li");
    row.className = "gift";
    const name = document.createElement("span");
    name.className = "gift-name";
    const amount = document.createElement("span");
    amount.className = "gift-amount number";
    row.append(name, amount);
    row.addEventListener("animationend", function (event) {
      if (event.animationName === "gift-in" && ticker.entering && ticker.entering.row === row) ticker.entering = null;
      if (event.animationName === "gift-glow") row.classList.remove("is-new");
    });
    return row;
  }

  function fillGiftRow(row, gift) {
    row.dataset.key = gift.key;
    row.dataset.pos = gift.pos || "";
    setText(row.querySelector(".gift-name"), gift.name); // donor-typed: text, never markup
    setText(row.querySelector(".gift-amount"), formatted(gift.amount, tickerList.dataset.currency || "", true));
  }

  // --- versions and status -----------------------------------------------------------------------
  // Each metric remembers the version of the state its shown value came from. An event carries
  // only the metrics it changed, so a snapshot older than that event is still newer for the others.
  const shown = { epoch: initial.epoch, versions: {} };
  const paintedWithoutNumbers = initial.status === "recalculating" || screen.classList.contains("no-numbers");
  const health = { lag: null, clockOffset: 0 };

  function setRecalculating(on) {
    screen.classList.toggle("is-recalculating", on);
    if (!on) {
      screen.classList.remove("no-numbers");
      forgetProgress();
    }
    data.status = on ? "recalculating" : "live";
  }

  // --- recalculation progress ------------------------------------------------------------------
  // The rebuild's own progress, from the worker's `progress` events (about one a second) or, if
  // none come, from a snapshot now and then. Within one rebuild it only ever goes up: a room
  // watching "45%" must not see "30%" next.
  const PROGRESS_QUIET_MS = 4000; // no progress event for this long: ask for a snapshot instead
  const PROGRESS_POLL_MS = isKiosk ? 3000 : 15000; // kiosks are few; goal pages can be many
  const recalc = { epoch: null, percent: -1, heardAt: 0 };

  function showProgress(progress, epoch) {
    if (!progress || typeof progress.percent !== "number" || !Number.isFinite(progress.percent)) return;
    if (epoch !== recalc.epoch) { // another recalculation (Redis lost the state again)
      recalc.epoch = epoch;
      recalc.percent = -1;
    }
    recalc.percent = Math.max(recalc.percent, Math.min(99.9, Math.max(0, progress.percent)));
    paintProgress(String(Math.floor(recalc.percent)) + "%", recalc.percent.toFixed(1) + "%");
  }

  function forgetProgress() { // live again
    recalc.epoch = null;
    recalc.percent = -1;
    paintProgress("", "0");
  }

  function paintProgress(text, width) {
    setText(document.getElementById("recalc-percent"), text);
    const fill = document.getElementById("recalc-fill");
    if (fill) fill.style.width = width;
  }

  function onProgress(body) {
    if (!body || body.status !== "recalculating") return;
    recalc.heardAt = Date.now();
    if (data.status === "recalculating") showProgress(body.progress, body.epoch || "?");
    else if (body.epoch !== shown.epoch) refreshSnapshot().catch(noop); // we missed its start
  }

  setInterval(function () {
    if (data.status !== "recalculating" || data.connection !== "live") return;
    if (Date.now() - recalc.heardAt >= PROGRESS_QUIET_MS) refreshSnapshot().catch(noop);
  }, PROGRESS_POLL_MS);

  function setPaused(on) { // the table cannot be read: "Totals paused", never "Live"
    screen.classList.toggle("is-paused", on);
    data.paused = on ? "1" : "";
  }

  function apply(update, isSnapshot) {
    if (isSnapshot) applyScreenExtras(update);
    if (isSnapshot) setPaused(update.status === "paused");
    if (update.status === "paused" && screen.classList.contains("no-numbers")) return; // nothing counted yet
    if (update.status === "recalculating") {
      // Redis lost its data and the totals are being rebuilt: keep the last good numbers, marked
      // stale, and never show the partial ones.
      setRecalculating(true);
      if (update.progress) showProgress(update.progress, update.epoch || "?");
      return;
    }
    if (data.status === "recalculating" && !isSnapshot) {
      refreshSnapshot().catch(noop); // only a whole snapshot ends a recalculation
      return;
    }
    if (paintedWithoutNumbers) {
      // First painted while nothing was counted: the server paints the whole page best.
      reloadOnce("numbers");
      return;
    }
    if (update.epoch !== shown.epoch) {
      // The state was rebuilt and its versions restarted: only a whole snapshot can be trusted.
      if (!isSnapshot) {
        refreshSnapshot().catch(noop);
        return;
      }
      shown.epoch = update.epoch;
      shown.versions = {};
    }
    const fresh = freshMetrics(update);
    const goal = update.goal && fresh[update.goal.metric] ? update.goal : null;
    render(update, fresh, goal);
    if (data.status === "recalculating") setRecalculating(false);
    const latest = Math.max.apply(null, [0].concat(Object.values(shown.versions)));
    data.version = String(latest);
    if (!isSnapshot && typeof update.sent_at === "number") {
      health.lag = Math.max(0, (Date.now() + health.clockOffset) / 1000 - update.sent_at);
    }
  }

  function freshMetrics(update) { // the metrics newer than those shown, noted as shown
    const fresh = {};
    Object.keys(update.metrics || {}).forEach(function (slug) {
      const seen = shown.versions[slug];
      // The server merges updates (dashboard/fanout.py): then each metric carries its own version.
      const version = typeof update.metrics[slug].version === "number" ? update.metrics[slug].version : update.version;
      if (seen === undefined || version >= seen) {
        fresh[slug] = update.metrics[slug];
        shown.versions[slug] = version;
      }
    });
    return fresh;
  }

  function applyScreenExtras(snapshot) {
    if (typeof snapshot.server_time === "number") {
      health.clockOffset = snapshot.server_time * 1000 - Date.now(); // TVs often keep the wrong time
    }
    if (Array.isArray(snapshot.milestones)) view.milestones = snapshot.milestones;
    if (snapshot.ticker) renderTicker(snapshot.ticker);
    if (snapshot.paddle) renderPaddle(snapshot.paddle);
    if (snapshot.config && data.config && snapshot.config !== data.config) reloadOnce("config");
  }

  function reloadOnce(reason) { // new layout, colours or milestones, or first numbers: the server paints them best
    const key = "screen-reloaded:" + reason;
    let last = 0;
    try { last = Number(sessionStorage.getItem(key)) || 0; } catch (error) { /* none */ }
    if (Date.now() - last < 30000) return; // never loop on reloads
    try { sessionStorage.setItem(key, String(Date.now())); } catch (error) { /* none */ }
    window.location.reload();
  }

  function refreshSnapshot() {
    return fetch(data.snapshotUrl, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          if ((isKiosk && (response.status === 403 || response.status === 404)) || response.status === 410) {
            // Our server says this screen is switched off, or giving has closed (not a proxy page):
            // the reloaded page says so.
            return response.json().then(function (body) {
              if (body && (body.screen || body.closed)) window.location.reload();
              throw new Error("screen " + (body.screen || body.closed));
            });
          }
          throw new Error("snapshot: HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (snapshot) { apply(snapshot, true); });
  }

  // --- connection ------------------------------------------------------------------------------
  const link = { source: null, retryMs: RETRY_MIN_MS, syncedAt: Date.now(), heardAt: Date.now(),
                 badgeTimer: 0, pollTimer: 0 };

  function setConnection(state) {
    data.connection = state; // "connecting", "live" or "reconnecting"
    const stale = state === "reconnecting";
    badge.hidden = !stale;
    clearInterval(link.badgeTimer);
    link.badgeTimer = 0;
    if (stale) {
      updateBadge();
      link.badgeTimer = setInterval(updateBadge, 1000);
    }
  }

  function updateBadge() {
    const seconds = Math.max(0, Math.round((Date.now() - link.syncedAt) / 1000));
    const age = seconds < 90 ? seconds + " s" : Math.round(seconds / 60) + " min";
    badge.textContent = "Reconnecting — last update " + age + " ago";
  }

  function backoff(delay) {
    return delay * (0.5 + Math.random() / 2); // jitter: screens do not all return at once after a deploy
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return null;
    }
  }

  function connect() {
    const source = new EventSource(data.eventsUrl);
    const current = function () { return link.source === source; };
    const heard = function () { if (current()) link.heardAt = Date.now(); };
    // An event of this stream, while it is the current one: heard, then handled.
    const on = function (type, handle) {
      source.addEventListener(type, function (event) {
        if (!current()) return;
        heard();
        handle(event);
      });
    };
    link.source = source;
    link.heardAt = Date.now();
    source.addEventListener("open", function () { if (current()) sync(source, RETRY_MIN_MS); });
    on("update", function (event) {
      const update = parse(event);
      if (!update) return;
      apply(update, false);
      if (data.connection === "live") link.syncedAt = Date.now();
    });
    on("ticker", function (event) { renderTicker(parse(event)); });
    on("paddle", function (event) { renderPaddle(parse(event)); }); // a paddle recorded or undone
    on("progress", function (event) { onProgress(parse(event)); }); // a recalculation, under way
    on("config", function () { refreshSnapshot().catch(noop); }); // the organizers changed something
    on("resync", function () { sync(source, RETRY_MIN_MS); }); // the relay was away: events may be lost
    on("relay-down", function () { // the stream is up, the updates behind it are not
      setConnection("reconnecting");
      startPolling(source);
    });
    on("keep-alive", function () { if (data.connection === "live") link.syncedAt = Date.now(); });
    source.addEventListener("stream-open", heard);
    source.addEventListener("stream-error", function () { if (current()) lose(source); });
    source.addEventListener("error", function () { if (current()) lose(source); });
  }

  // After (re)connecting: the snapshot covers whatever was published while we were away.
  function sync(source, delay) {
    refreshSnapshot().then(function () {
      if (link.source !== source) return;
      link.syncedAt = Date.now();
      link.retryMs = RETRY_MIN_MS; // reset only once fully back, so a flapping server is not hammered
      stopPolling();
      setConnection("live");
      heartbeat();
    }, function () {
      if (link.source !== source) return;
      setTimeout(function () { if (link.source === source) sync(source, Math.min(delay * 2, RETRY_MAX_MS)); },
                 backoff(delay));
    });
  }

  function startPolling(source) { // keeps numbers fresh while the relay is down; the badge stays
    stopPolling();
    link.pollTimer = setInterval(function () {
      if (link.source !== source) { stopPolling(); return; }
      refreshSnapshot().catch(noop);
    }, DEGRADED_POLL_MS);
  }

  function stopPolling() {
    clearInterval(link.pollTimer);
    link.pollTimer = 0;
  }

  function lose(source) {
    source.close();
    link.source = null;
    stopPolling();
    setConnection("reconnecting");
    setTimeout(reconnect, backoff(link.retryMs));
    link.retryMs = Math.min(link.retryMs * 2, RETRY_MAX_MS);
  }

  function reconnect() { // unless this page stepped down to polling meanwhile (see stepDown)
    if (data.transport === "stream" && !link.source) connect();
  }

  setInterval(function () {
    if (data.connection !== "live" || !link.source) return;
    refreshSnapshot().then(function () { link.syncedAt = Date.now(); }, noop);
  }, RESYNC_MS);

  // --- sharing the browser's connections ----------------------------------------------------------
  // Browsers allow six HTTP/1.1 connections per host and each open stream holds one: a few screens
  // and goal pages open in one browser would leave none for the admin. So at most STREAM_SLOTS goal
  // pages of a browser stream (a Web Lock each, freed when the page closes); the others, and every
  // admin preview, fetch a snapshot every POLL_MS instead, and take a slot when one frees.
  // Event-floor (kiosk) screens never poll and never compete: they always stream, and take a goal
  // page's slot (Web Locks' steal) if none is free; that goal page steps down to polling.
  // Without Web Locks (plain HTTP on a LAN name is not a secure context) goal pages always poll.
  const STREAM_SLOTS = 2;
  const POLL_MS = 4000;
  const SLOT_RETRY_MS = 10000;
  const polling = { timer: 0 };

  function pollSnapshots() {
    if (polling.timer) return;
    const tick = function () {
      refreshSnapshot().then(function () {
        link.syncedAt = Date.now();
        setConnection("live");
        heartbeat();
      }, function () {
        if (data.connection === "live") setConnection("reconnecting");
      });
    };
    data.transport = "polling";
    tick();
    polling.timer = setInterval(tick, POLL_MS);
  }

  function stream() {
    clearInterval(polling.timer);
    polling.timer = 0;
    data.transport = "stream";
    if (!link.source) connect();
  }

  function stepDown() { // a kiosk took this goal page's slot: poll until one frees
    const source = link.source;
    link.source = null;
    if (source) source.close();
    stopPolling();
    pollSnapshots();
    setTimeout(start, SLOT_RETRY_MS);
  }

  function hasLocks() {
    return Boolean(navigator.locks && navigator.locks.request);
  }

  function slotName(index) {
    return "screen-stream-" + index;
  }

  // Held as long as this page lives, unless a kiosk steals it: then lost(index).
  function holdSlot(index, options, granted, lost) {
    let held = false;
    return navigator.locks.request(slotName(index), options, function (lock) {
      if (!lock) return null;
      held = true;
      granted();
      return new Promise(noop);
    }).then(function () { return held; }, function () {
      if (held) lost(index); else granted(); // no lock at all (an opaque origin): stream
      return true;
    });
  }

  function claimSlot(index, granted, none, lost) {
    holdSlot(index, { ifAvailable: true }, granted, lost).then(function (got) {
      if (got) return;
      if (index + 1 < STREAM_SLOTS) claimSlot(index + 1, granted, none, lost);
      else none();
    });
  }

  function kioskSlot(index, options) { // another kiosk took it: wait for it back
    holdSlot(index, options, noop, function () { kioskSlot(index, {}); });
  }

  function start() {
    if (data.preview === "1") { pollSnapshots(); return; } // an admin preview never holds a stream
    if (isKiosk) {
      stream();
      if (!hasLocks()) return;
      const steal = function () { kioskSlot(STREAM_SLOTS - 1, { steal: true }); };
      claimSlot(0, noop, steal, function (index) { kioskSlot(index, {}); });
      return;
    }
    if (!hasLocks()) { pollSnapshots(); return; }
    claimSlot(0, stream, function () {
      pollSnapshots();
      setTimeout(start, SLOT_RETRY_MS);
    }, stepDown);
  }

  setInterval(function () { // a stream that went quiet (a proxy holding a dead connection) is dead
    if (link.source && Date.now() - link.heardAt > SILENT_MS) lose(link.source);
  }, 5000);

  // --- heartbeat: organizers see which screens are online and how far behind ---------------------
  function heartbeat() {
    if (!isKiosk) return;
    const live = data.connection === "live";
    const body = {
      layout: data.layout || "",
      version: Number(data.version) || 0,
      epoch: shown.epoch || "",
      connection: data.connection,
      status: data.status || "live",
      stale: live ? 0 : Math.max(0, (Date.now() - link.syncedAt) / 1000),
      lag: health.lag,
      viewport: window.innerWidth + "x" + window.innerHeight,
      asset: ASSET,
    };
    const controller = new AbortController();
    const timer = setTimeout(function () { controller.abort(); }, 5000);
    fetch(data.heartbeatUrl, {
      method: "POST", cache: "no-store", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body), signal: controller.signal,
    }).then(function (response) {
      if (response.status === 403 || response.status === 404) {
        return response.json().then(function (answer) { if (answer && answer.screen) window.location.reload(); });
      }
      return null;
    }).catch(noop).finally(function () { clearTimeout(timer); });
  }

  if (isKiosk) setInterval(heartbeat, HEARTBEAT_MS);

  // --- countdown ---------------------------------------------------------------------------------
  const countdown = document.getElementById("countdown");

  function two(n) { return String(n).padStart(2, "0"); }

  function clockText(seconds) { // as dashboard/screens.clock_text
    const total = Math.max(0, Math.floor(seconds));
    const days = Math.floor(total / 86400);
    const hours = Math.floor((total % 86400) / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const secs = total % 60;
    if (days) return days + " d " + two(hours) + ":" + two(minutes) + ":" + two(secs);
    if (hours) return hours + ":" + two(minutes) + ":" + two(secs);
    return minutes + ":" + two(secs);
  }

  function updateCountdown() {
    const now = (Date.now() + health.clockOffset) / 1000;
    const starts = Number(countdown.dataset.startsAt) || null;
    const ends = Number(countdown.dataset.endsAt) || null;
    let label = "";
    let time = "";
    if (starts && now < starts) {
      label = "Opens in";
      time = clockText(starts - now);
    } else if (ends && now >= ends) {
      label = "Giving has closed";
    } else if (ends) {
      label = "Ends in";
      time = clockText(ends - now);
    }
    countdown.hidden = !label;
    setText(countdown.querySelector(".countdown-label"), label);
    setText(countdown.querySelector(".countdown-time"), time);
  }

  if (countdown) {
    if (typeof initial.server_time === "number") health.clockOffset = initial.server_time * 1000 - Date.now();
    setInterval(updateCountdown, 1000);
  }

  // --- burn-in: a slow shift of a few pixels, invisible from the floor ----------------------------
  if (data.shift) {
    let step = 0;
    setInterval(function () {
      step = (step + 1) % SHIFTS.length;
      screen.style.setProperty("--shift-x", String(SHIFTS[step][0]));
      screen.style.setProperty("--shift-y", String(SHIFTS[step][1]));
    }, SHIFT_MS);
  }

  // --- start ---------------------------------------------------------------------------------------
  Object.keys(initial.metrics || {}).forEach(function (slug) { shown.versions[slug] = initial.version; });
  loadCelebrated();
  if (initial.status === "recalculating") {
    setRecalculating(true); // the server painted no numbers: the first good snapshot sets them
    if (initial.progress) showProgress(initial.progress, initial.epoch || "?");
  } else {
    data.status = "live";
    const first = initial.goal ? initial.goal.current :
      (initial.metrics && initial.metrics[headlineSlug] ? initial.metrics[headlineSlug].total : null);
    if (first !== null) {
      view.headline = first;
      markReached(first);
      renderScale(first);
    }
  }
  if (initial.ticker) renderTicker(initial.ticker);
  start();
})();
