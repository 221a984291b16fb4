// Live goal screen. First paint comes from the server (no flash of zero); this script keeps it moving.
//
// Subscribe first, then fetch a snapshot, then apply only what is newer than what is shown, so no
// update is missed. Re-create the EventSource after any failure (Chromium gives up for good on a
// non-200 response), with backoff, and re-fetch the snapshot on every (re)connect.
//
// Values arrive as exact decimal strings. They are formatted as strings (Intl.NumberFormat accepts
// them exactly); floats appear only in the count-up interpolation and in bar widths.
// Everything a donor can type (group names) goes into the page as text, never as markup.
(function () {
  "use strict";

  const screen = document.getElementById("screen");
  const badge = document.getElementById("badge");
  const initial = JSON.parse(document.getElementById("snapshot").textContent);
  const locale = document.documentElement.lang || "en";
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  const headlineSlug = screen.dataset.headline;
  const breakdownSlug = screen.dataset.breakdown;
  const maxBars = Number(screen.dataset.maxBars) || 8;
  const hasGoal = Boolean(initial.goal);

  const COUNT_UP_MS = 900;
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;
  // A safety net, not the update path: if the server's pub/sub listener dies silently, the stream
  // still sends keep-alives but no events; a periodic snapshot bounds how stale the screen can get.
  const RESYNC_MS = 60000;

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
    const value = BigInt(parts[0] + (parts[1] || "").padEnd(places, "0"));
    return negative ? -value : value;
  }

  function wholePercent(current, target) { // rounded down, so 100 shows only once really reached
    const places = Math.max(placesOf(current), placesOf(target));
    const goal = scaled(target, places);
    if (goal <= 0n) return 0;
    const percent = (100n * scaled(current, places)) / goal;
    return percent > 0n ? Number(percent) : 0;
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

  // --- numbers that count up -------------------------------------------------------------------
  // A number element keeps the exact value it stands for in data-value; its text derives from it.
  const counting = new Map(); // element -> {from, to, start, format, finalText, current}
  let frame = 0;

  function showNumber(el, value) {
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
    if (reducedMotion.matches || previous === undefined || !Number.isFinite(from) || !Number.isFinite(to)) {
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

  function fitTo(el, chars) { // see goal.css: long numbers shrink to stay on screen
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
      const t = Math.min(1, (now - run.start) / COUNT_UP_MS);
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

  // --- rendering -------------------------------------------------------------------------------
  function renderGoal(goal) {
    const percent = wholePercent(goal.current, goal.target);
    showNumber(document.getElementById("raised"), goal.current);
    showNumber(document.getElementById("percent"), String(percent));
    showNumber(document.getElementById("target"), goal.target);
    const fill = document.getElementById("progress-fill");
    if (fill) fill.style.width = Math.min(100, Math.max(0, goal.percent)) + "%";
    const bar = document.getElementById("progress");
    if (bar) bar.setAttribute("aria-valuenow", String(percent));
    screen.classList.toggle("is-reached", percent >= 100);
  }

  function renderStat(slug, metric, currency) {
    const stats = document.getElementById("stats");
    let tile = stats.querySelector('[data-metric="' + CSS.escape(slug) + '"]');
    if (!tile) { // a metric added after this page was rendered
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
    const label = tile.querySelector(".stat-label");
    if (label.textContent !== metric.label) label.textContent = metric.label;
    showNumber(tile.querySelector(".stat-value"), metric.total);
  }

  function newBarRow(name, currency) {
    const row = document.createElement("li");
    row.className = "bar-row";
    row.dataset.group = name;
    const label = document.createElement("span");
    label.className = "bar-name";
    label.textContent = name; // donor-typed: text, never markup
    label.title = name;
    const track = document.createElement("span");
    track.className = "bar-track";
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    track.append(fill);
    const value = document.createElement("span");
    value.className = "bar-value number";
    value.dataset.currency = currency;
    row.append(label, track, value);
    return row;
  }

  function renderBars(metric) {
    const list = document.getElementById("bars");
    if (!list) return;
    const rows = new Map();
    Array.from(list.children).forEach(function (row) { rows.set(row.dataset.group, row); });
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
    const more = metric.groups.length - shown.length;
    document.getElementById("bars-more").hidden = more <= 0;
    document.getElementById("bars-more-count").textContent = String(more);
    document.getElementById("bars-empty").hidden = shown.length > 0;
  }

  function render(update, metrics, goal) {
    Object.keys(metrics).forEach(function (slug) {
      const metric = metrics[slug];
      if (slug === headlineSlug) {
        if (!hasGoal) showNumber(document.getElementById("raised"), metric.total);
      } else {
        renderStat(slug, metric, update.currency);
      }
      if (slug === breakdownSlug) renderBars(metric);
    });
    if (goal) renderGoal(goal);
  }

  // --- versions --------------------------------------------------------------------------------
  // Each metric remembers the version of the state its shown value came from. An event carries
  // only the metrics it changed, so a snapshot older than that event is still newer for the others.
  const shown = { epoch: initial.epoch, versions: {} };
  Object.keys(initial.metrics).forEach(function (slug) { shown.versions[slug] = initial.version; });

  function apply(update, isSnapshot) {
    if (update.epoch !== shown.epoch) {
      // The state was rebuilt and its versions restarted: only a whole snapshot can be trusted.
      if (!isSnapshot) {
        refreshSnapshot().catch(function () {});
        return;
      }
      shown.epoch = update.epoch;
      shown.versions = {};
    }
    const fresh = {};
    Object.keys(update.metrics || {}).forEach(function (slug) {
      const seen = shown.versions[slug];
      if (seen === undefined || update.version >= seen) {
        fresh[slug] = update.metrics[slug];
        shown.versions[slug] = update.version;
      }
    });
    const goal = update.goal && fresh[update.goal.metric] ? update.goal : null;
    render(update, fresh, goal);
    const latest = Math.max.apply(null, [0].concat(Object.values(shown.versions)));
    screen.dataset.version = String(latest);
  }

  function refreshSnapshot() {
    return fetch(screen.dataset.snapshotUrl, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("snapshot: HTTP " + response.status);
        return response.json();
      })
      .then(function (snapshot) { apply(snapshot, true); });
  }

  // --- connection ------------------------------------------------------------------------------
  const link = { source: null, retryMs: RETRY_MIN_MS, syncedAt: Date.now(), badgeTimer: 0 };

  function setConnection(state) {
    screen.dataset.connection = state; // "connecting", "live" or "reconnecting"
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

  function connect() {
    const source = new EventSource(screen.dataset.eventsUrl);
    const current = function () { return link.source === source; };
    link.source = source;
    source.addEventListener("open", function () { if (current()) sync(source, RETRY_MIN_MS); });
    source.addEventListener("update", function (event) {
      if (!current()) return;
      let update;
      try {
        update = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      apply(update, false);
      if (screen.dataset.connection === "live") link.syncedAt = Date.now();
    });
    source.addEventListener("keep-alive", function () {
      if (current() && screen.dataset.connection === "live") link.syncedAt = Date.now();
    });
    source.addEventListener("stream-error", function () { if (current()) lose(source); });
    source.addEventListener("error", function () { if (current()) lose(source); });
  }

  // After (re)connecting: the snapshot covers whatever was published while we were away.
  function sync(source, delay) {
    refreshSnapshot().then(function () {
      if (link.source !== source) return;
      link.syncedAt = Date.now();
      link.retryMs = RETRY_MIN_MS; // reset only once fully back, so a flapping server is not hammered
      setConnection("live");
    }, function () {
      if (link.source !== source) return;
      setTimeout(function () { if (link.source === source) sync(source, Math.min(delay * 2, RETRY_MAX_MS)); },
                 backoff(delay));
    });
  }

  function lose(source) {
    source.close();
    link.source = null;
    setConnection("reconnecting");
    setTimeout(connect, backoff(link.retryMs));
    link.retryMs = Math.min(link.retryMs * 2, RETRY_MAX_MS);
  }

  setInterval(function () {
    if (screen.dataset.connection !== "live") return;
    refreshSnapshot().then(function () { link.syncedAt = Date.now(); }, function () {});
  }, RESYNC_MS);

  connect();
})();
