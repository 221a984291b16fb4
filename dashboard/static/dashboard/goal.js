// Live goal page: first paint comes from the server; this keeps it moving.
// Subscribe first, then fetch a snapshot, then apply only events newer than what is shown, so no
// update is missed. Re-create the EventSource after any failure (Chromium gives up for good on a
// non-200 response), with backoff, and re-fetch the snapshot on every (re)connect.
(function () {
  "use strict";
  const root = document.querySelector("main.goal");
  const badge = document.getElementById("badge");
  let state = JSON.parse(document.getElementById("snapshot").textContent);
  let source = null;
  let retryDelay = 500;
  let lastUpdate = Date.now();

  function text(el, value) { if (el && el.textContent !== value) el.textContent = value; }

  function renderGoal(goal) {
    if (!goal) return;
    text(document.getElementById("raised"), goal.current);
    text(document.getElementById("target"), goal.target);
    text(document.getElementById("percent"), String(goal.percent));
    const fill = document.getElementById("fill");
    fill.style.width = Math.min(100, goal.percent) + "%";
    fill.parentElement.setAttribute("aria-valuenow", String(goal.percent));
  }

  function renderMetric(slug, metric) {
    let card = root.querySelector('[data-metric="' + CSS.escape(slug) + '"]');
    if (!card) {
      card = document.createElement("article");
      card.className = "metric";
      card.dataset.metric = slug;
      const title = document.createElement("h2");
      const total = document.createElement("div");
      total.className = "total"; total.dataset.role = "total";
      const groups = document.createElement("ul");
      groups.className = "groups"; groups.dataset.role = "groups";
      card.append(title, total, groups);
      document.getElementById("metrics").append(card);
    }
    text(card.querySelector("h2"), metric.label);
    text(card.querySelector('[data-role="total"]'), metric.total);
    const list = card.querySelector('[data-role="groups"]');
    const rows = metric.groups.map(function (group) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "name"; name.textContent = group.name;  // donor-typed: text, never markup
      const value = document.createElement("span");
      value.className = "value"; value.textContent = group.value;
      li.append(name, value);
      return li;
    });
    list.replaceChildren.apply(list, rows);
  }

  function apply(update, isSnapshot) {
    // Older than what is shown: skip. A snapshot from a new epoch (state rebuilt) always wins.
    if (update.version < state.version && !(isSnapshot && update.epoch !== state.epoch)) return;
    state.epoch = update.epoch;
    state.version = update.version;
    Object.keys(update.metrics || {}).forEach(function (slug) { renderMetric(slug, update.metrics[slug]); });
    if (update.goal) renderGoal(update.goal);
    lastUpdate = Date.now();
    root.dataset.version = String(update.version);
  }

  function refreshSnapshot() {
    return fetch(root.dataset.snapshotUrl, { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("snapshot " + r.status); return r.json(); })
      .then(function (snapshot) { apply(snapshot, true); });
  }

  function connect() {
    source = new EventSource(root.dataset.eventsUrl);
    source.addEventListener("open", function () {
      retryDelay = 500;
      refreshSnapshot().then(function () { badge.hidden = true; }).catch(function () {});
    });
    source.addEventListener("update", function (event) { apply(JSON.parse(event.data)); });
    source.addEventListener("error", function () {
      badge.hidden = false;
      badge.textContent = "reconnecting — last update " + Math.round((Date.now() - lastUpdate) / 1000) + " s ago";
      source.close();
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    });
  }

  root.dataset.version = String(state.version);
  connect();
})();
