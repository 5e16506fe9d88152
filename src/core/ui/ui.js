// tender's web view: the page every admin listener serves at /ui (core/webui.hpp).
//
// It polls the management interface with relative URLs (statusz, healthz, readyz every second,
// ui/metrics every two), so it works wherever the listener is reached: directly, through
// `kubectl port-forward`, or under the pod runner's per-container proxy. A role's panel.js
// registers itself after this file loads:
//
//   tender.panel({
//     title: "Pods",
//     charts: [{title: "Requests", unit: "/s", value: (ui) => ui.rate("tender_x_requests_total")}],
//     init(body, ui) { ... build the panel's elements once ... },
//     update(status, ui) { ... called after every poll with /statusz's "status" ... },
//   });
//
// Plain by design: every state is a word as well as a colour, rows are updated in place (a
// focused button keeps its focus), nothing moves or blinks.
"use strict";
(function () {
  const POLL_MS = 1000;
  const METRICS_EVERY = 2;       // polls
  const HISTORY_POINTS = 150;    // 5 minutes at one point each 2 s
  const state = {
    panel: null, status: null, metrics: null, previous: null, paused: false, busy: false,
    tick: 0, charts: [], configText: "",
  };
  const ui = {};

  // --- DOM -----------------------------------------------------------------------------------

  // ui.el("button", {type: "button", onclick: f, "aria-label": "x"}, "text", node, ...)
  ui.el = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
      else if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  };
  // Sets a node's text only when it changed: no needless repaint, selection kept.
  ui.setText = function (node, text) {
    text = text === undefined || text === null ? "" : String(text);
    if (node.textContent !== text) node.textContent = text;
  };
  // A state as a word with a mark, coloured as a hint only: ui.badge("ready", true).
  ui.badge = function (text, good, title) {
    const cls = good === true ? "ok" : good === false ? "bad" : "warn";
    const mark = good === true ? "\u2713 " : good === false ? "\u2717 " : "\u2022 ";
    return ui.el("span", {class: "badge " + cls, title: title}, mark + text);
  };
  ui.setBadge = function (node, text, good, title) {
    const fresh = ui.badge(text, good, title);
    if (node.className !== fresh.className || node.textContent !== fresh.textContent) {
      node.className = fresh.className;
      node.textContent = fresh.textContent;
    }
    if (title !== undefined) node.title = title || "";
  };
  // A table with a caption and column titles: returns {table, tbody}. Columns: [{title, num}].
  ui.table = function (caption, columns) {
    const tbody = ui.el("tbody");
    const head = ui.el("tr", {}, columns.map((c) =>
      ui.el("th", {scope: "col", class: c.num ? "num" : undefined}, c.title || c)));
    const table = ui.el("table", {}, caption ? ui.el("caption", {}, caption) : null,
      ui.el("thead", {}, head), tbody);
    return {table, tbody};
  };
  // Keeps tbody's rows in step with `items` by key: new items get make(item) (a <tr>), kept
  // ones update(tr, item), gone ones are removed. Rows keep their elements, so focus stays.
  ui.syncRows = function (tbody, items, key, make, update) {
    const old = new Map();
    for (const tr of Array.from(tbody.children)) old.set(tr.dataset.key, tr);
    let at = 0;
    for (const item of items) {
      const k = String(key(item));
      let tr = old.get(k);
      if (tr) old.delete(k);
      else { tr = make(item); tr.dataset.key = k; }
      update(tr, item);
      if (tbody.children[at] !== tr) tbody.insertBefore(tr, tbody.children[at] || null);
      at++;
    }
    for (const tr of old.values()) tr.remove();
  };
  // A cell whose text follows a value: td = ui.cell(); later ui.setText(td, x).
  ui.cell = (num) => ui.el("td", {class: num ? "num" : undefined});
  // A fact of a <dl class="kv">: appends `label` and a <dd> (given, or made with `attrs`), and
  // returns the <dd> for ui.setText.
  ui.fact = function (dl, label, dd) {
    if (!(dd instanceof Node)) dd = ui.el("dd", dd);
    dl.append(ui.el("dt", {}, label), dd);
    return dd;
  };

  // --- formatting ----------------------------------------------------------------------------

  ui.fmt = {
    duration(s) {
      if (s === undefined || s === null || !isFinite(s)) return "\u2013";
      s = Math.max(0, s);
      if (s < 1) return Math.round(s * 1000) + " ms";
      if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
      if (s < 3600) return Math.floor(s / 60) + " m " + Math.floor(s % 60) + " s";
      if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " m";
      return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
    },
    bytes(n) {
      if (n === undefined || n === null || !isFinite(n)) return "\u2013";
      const units = ["B", "KiB", "MiB", "GiB", "TiB"];
      let i = 0;
      while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
      return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
    },
    number(x, digits) {
      if (x === undefined || x === null || !isFinite(x)) return "\u2013";
      if (digits !== undefined) return x.toFixed(digits);
      const a = Math.abs(x);
      if (a >= 1e9) return (x / 1e9).toFixed(2) + "G";
      if (a >= 1e6) return (x / 1e6).toFixed(2) + "M";
      if (a >= 1e4) return (x / 1e3).toFixed(1) + "k";
      if (a >= 100 || Number.isInteger(x)) return x.toFixed(0);
      return x.toFixed(a >= 1 ? 2 : 3);
    },
    time(unixSeconds) {
      if (!unixSeconds) return "\u2013";
      return new Date(unixSeconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
    },
  };

  // --- the management interface --------------------------------------------------------------

  // GET with a relative URL: {ok, status, text, json()}. Never throws; a network error is
  // status 0 with the reason as text.
  ui.get = async function (path) {
    try {
      const r = await fetch(path, {cache: "no-store", credentials: "same-origin"});
      const text = await r.text();
      return {ok: r.ok, status: r.status, text, json: () => JSON.parse(text)};
    } catch (e) {
      return {ok: false, status: 0, text: String(e.message || e), json: () => null};
    }
  };
  ui.getJSON = async function (path) {
    const r = await ui.get(path);
    if (!r.ok) return null;
    try { return r.json(); } catch (e) { return null; }
  };
  // POST with a JSON body (or none): {ok, status, text}. The browser adds Origin, which the
  // listener checks: only this page's own origin may change state.
  ui.post = async function (path, body) {
    const init = {method: "POST", cache: "no-store", credentials: "same-origin", headers: {}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const r = await fetch(path, init);
      return {ok: r.ok, status: r.status, text: (await r.text()).trim()};
    } catch (e) {
      return {ok: false, status: 0, text: String(e.message || e)};
    }
  };
  // A line in the status area that screen readers announce.
  ui.notify = function (message, good) {
    const n = document.getElementById("notice");
    n.className = "notice " + (good === false ? "bad" : "");
    n.textContent = message;
  };
  // A button that POSTs `body` to `path` (a function of nothing may compute both), after a
  // confirmation when `confirmText` is given, and says what came back.
  ui.action = function (label, path, body, opts) {
    opts = opts || {};
    const b = ui.el("button", {type: "button", class: opts.danger ? "danger" : undefined,
      "aria-label": opts.ariaLabel, title: opts.title}, label);
    b.addEventListener("click", async () => {
      const target = typeof path === "function" ? path() : path;
      if (target === null) return;
      const payload = typeof body === "function" ? body() : body;
      if (payload === null) return;
      if (opts.confirm && !window.confirm(opts.confirm)) return;
      b.disabled = true;
      const r = await ui.post(target, payload);
      b.disabled = false;
      const what = opts.ariaLabel || label;
      ui.notify(r.ok ? what + ": " + (r.text || "done") :
        what + " failed (" + (r.status || "no answer") + "): " + r.text, r.ok);
      ui.refresh();
    });
    return b;
  };

  // --- metrics -------------------------------------------------------------------------------

  // Parses the text exposition into {name: [{labels, value}]}.
  function parseMetrics(text) {
    const out = new Map();
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      let i = 0;
      while (i < line.length && line[i] !== "{" && line[i] !== " ") i++;
      const name = line.slice(0, i);
      const labels = {};
      if (line[i] === "{") {
        i++;
        while (i < line.length && line[i] !== "}") {
          let j = line.indexOf("=", i);
          if (j < 0) break;
          const k = line.slice(i, j).trim();
          i = j + 2;  // past ="
          let v = "";
          while (i < line.length && line[i] !== '"') {
            if (line[i] === "\\" && i + 1 < line.length) {
              const n = line[i + 1];
              v += n === "n" ? "\n" : n;
              i += 2;
            } else v += line[i++];
          }
          labels[k] = v;
          i++;  // closing quote
          if (line[i] === ",") i++;
        }
        i++;  // }
      }
      const value = parseFloat(line.slice(i).trim().split(" ")[0]);
      if (!out.has(name)) out.set(name, []);
      out.get(name).push({labels, value});
    }
    return out;
  }
  function matches(labels, want) {
    for (const [k, v] of Object.entries(want || {})) if (labels[k] !== v) return false;
    return true;
  }
  function sum(metrics, name, want) {
    if (!metrics || !metrics.data.has(name)) return null;
    let total = 0;
    let any = false;
    for (const s of metrics.data.get(name)) {
      if (matches(s.labels, want)) { total += s.value; any = true; }
    }
    return any ? total : null;
  }
  // The samples of a family: [{labels, value}] (empty when absent).
  ui.samples = (name) => (state.metrics && state.metrics.data.get(name)) || [];
  // The sum of a family's samples whose labels include `want`; null when there are none.
  ui.metric = (name, want) => sum(state.metrics, name, want);
  // A counter's per-second rate over the last two samples; null until there are two.
  ui.rate = function (name, want) {
    const now = sum(state.metrics, name, want);
    const before = sum(state.previous, name, want);
    if (now === null || before === null) return null;
    const dt = (state.metrics.t - state.previous.t) / 1000;
    return dt > 0 ? Math.max(0, now - before) / dt : null;
  };
  // A histogram's quantile over the last interval (from the growth of its _bucket series),
  // in the histogram's unit; null when nothing was observed.
  ui.quantile = function (name, q, want) {
    const buckets = new Map();
    const add = (m, sign) => {
      if (!m || !m.data.has(name + "_bucket")) return;
      for (const s of m.data.get(name + "_bucket")) {
        if (!matches(s.labels, want)) continue;
        const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
        buckets.set(le, (buckets.get(le) || 0) + sign * s.value);
      }
    };
    add(state.metrics, 1);
    add(state.previous, -1);
    const sorted = Array.from(buckets.entries()).sort((a, b) => a[0] - b[0]);
    if (!sorted.length) return null;
    const total = sorted[sorted.length - 1][1];
    if (total <= 0) return null;
    const rank = q * total;
    let prevLe = 0;
    let prevCount = 0;
    for (const [le, count] of sorted) {
      if (count >= rank) {
        if (le === Infinity) return prevLe;
        const inBucket = count - prevCount;
        return inBucket > 0 ? prevLe + (le - prevLe) * ((rank - prevCount) / inBucket) : le;
      }
      prevLe = le;
      prevCount = count;
    }
    return prevLe;
  };

  // --- charts --------------------------------------------------------------------------------

  const CORE_CHARTS = [
    {title: "CPU", unit: "cores", value: (u) => u.rate("process_cpu_seconds_total"),
      format: (v) => ui.fmt.number(v, 2)},
    {title: "Resident memory", value: (u) => u.metric("process_resident_memory_bytes"),
      format: ui.fmt.bytes},
    {title: "Open file descriptors", value: (u) => u.metric("process_open_fds")},
  ];

  function makeChart(spec) {
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", "0 0 300 60");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const base = document.createElementNS(svgNS, "line");
    for (const [k, v] of Object.entries({x1: 0, y1: 59, x2: 300, y2: 59})) base.setAttribute(k, v);
    const line = document.createElementNS(svgNS, "polyline");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(base, line);
    const value = ui.el("span", {class: "value"});
    const fig = ui.el("figure", {class: "chart"},
      ui.el("figcaption", {}, ui.el("span", {}, spec.title + (spec.unit ? " (" + spec.unit + ")" : "")), value),
      svg);
    return {spec, fig, svg, line, value, points: []};
  }
  function drawChart(c) {
    const fmt = c.spec.format || ((v) => ui.fmt.number(v));
    const vals = c.points.map((p) => p[1]).filter((v) => v !== null);
    const last = c.points.length ? c.points[c.points.length - 1][1] : null;
    ui.setText(c.value, last === null ? "\u2013" : fmt(last));
    const max = vals.length ? Math.max(...vals) : 0;
    const min = vals.length ? Math.min(...vals) : 0;
    const top = max > 0 ? max * 1.1 : 1;
    const n = HISTORY_POINTS - 1;
    const start = HISTORY_POINTS - c.points.length;
    const pts = [];
    c.points.forEach((p, i) => {
      if (p[1] === null) return;
      pts.push(((start + i) * 300 / n).toFixed(1) + "," + (58 - (p[1] / top) * 56).toFixed(1));
    });
    c.line.setAttribute("points", pts.join(" "));
    const minutes = Math.max(1, Math.round(c.points.length * POLL_MS * METRICS_EVERY / 60000));
    c.svg.setAttribute("aria-label", c.spec.title + ": now " + (last === null ? "unknown" : fmt(last)) +
      "; over the last " + minutes + " min, lowest " + fmt(min) + ", highest " + fmt(max));
  }
  function setupCharts(specs) {
    const box = document.getElementById("charts");
    for (const spec of specs) {
      const c = makeChart(spec);
      state.charts.push(c);
      box.append(c.fig);
    }
  }
  function sampleCharts() {
    for (const c of state.charts) {
      let v = null;
      try { v = c.spec.value(ui); } catch (e) { v = null; }
      c.points.push([Date.now(), v === undefined || Number.isNaN(v) ? null : v]);
      if (c.points.length > HISTORY_POINTS) c.points.shift();
      drawChart(c);
    }
  }

  // --- the page ------------------------------------------------------------------------------

  // JSON shown as text, keys in their order; long arrays are cut to keep the page light.
  function renderJSON(node, value) {
    const text = JSON.stringify(value, (k, v) =>
      Array.isArray(v) && v.length > 200 ? v.slice(0, 200).concat(["\u2026 " + (v.length - 200) + " more"]) : v, 2);
    let pre = node.querySelector("pre");
    if (!pre) { pre = ui.el("pre", {tabindex: "0"}); node.append(pre); }
    ui.setText(pre, text);
  }

  function renderFacts(st) {
    const dl = document.getElementById("facts");
    const facts = [
      ["version", st.version + (st.commit && st.commit !== "unknown" ? " (" + st.commit + ")" : "")],
      ["pid", st.pid], ["state", st.state], ["uptime", ui.fmt.duration(st.uptime_seconds)],
      ["admin", (st.addresses || {}).admin],
    ];
    if (!dl.children.length) {
      for (const [k] of facts) dl.append(ui.el("div", {}, ui.el("dt", {}, k), ui.el("dd", {"data-fact": k})));
    }
    for (const [k, v] of facts) ui.setText(dl.querySelector('[data-fact="' + k + '"]'), v);
  }

  function renderVerdicts(health, ready) {
    const box = document.getElementById("verdicts");
    if (!box.children.length) box.append(ui.el("span", {id: "live"}), ui.el("span", {id: "ready"}));
    const word = (r, good, bad) => r.ok ? good : r.status === 0 ? "unknown" : bad;
    ui.setBadge(document.getElementById("live"), "live: " + word(health, "ok", "failing"),
      health.status === 0 ? undefined : health.ok, health.ok ? "" : health.text.trim());
    ui.setBadge(document.getElementById("ready"), "ready: " + word(ready, "yes", "no"),
      ready.status === 0 ? undefined : ready.ok, ready.ok ? "" : ready.text.trim());
    const reasons = [];
    if (!health.ok && health.status) reasons.push("not live: " + health.text.trim());
    if (!ready.ok && ready.status) reasons.push("not ready: " + ready.text.trim());
    let why = document.getElementById("why");
    if (!why) { why = ui.el("span", {id: "why", class: "muted"}); box.append(why); }
    ui.setText(why, reasons.join("; "));
  }

  async function poll() {
    if (state.busy || state.paused) return;
    state.busy = true;
    try {
      state.tick++;
      const wantMetrics = state.tick % METRICS_EVERY === 1 || state.metrics === null;
      const [st, health, ready, metrics] = await Promise.all([
        ui.get("statusz"), ui.get("healthz"), ui.get("readyz"),
        wantMetrics ? ui.get("ui/metrics") : Promise.resolve(null)]);
      const conn = document.getElementById("conn");
      if (st.status === 0) {
        conn.hidden = false;
        ui.setText(conn, "Cannot reach the admin listener (" + st.text + "); retrying every second.");
        renderVerdicts(health, ready);
        return;
      }
      conn.hidden = true;
      if (st.ok) {
        state.status = st.json();
        renderFacts(state.status);
        renderJSON(document.getElementById("status"), state.status);
      }
      renderVerdicts(health, ready);
      if (metrics && metrics.ok) {
        state.previous = state.metrics;
        state.metrics = {t: Date.now(), data: parseMetrics(metrics.text)};
        sampleCharts();
      }
      if (state.panel && state.panel.update && state.status) {
        try { await state.panel.update(state.status.status || {}, ui); }
        catch (e) { console.error("panel update failed", e); }
      }
      if (state.tick % 10 === 1) await loadConfig();
    } finally {
      state.busy = false;
    }
  }
  async function loadConfig() {
    const r = await ui.get("configz");
    if (r.ok && r.text !== state.configText) {
      state.configText = r.text;
      try { renderJSON(document.getElementById("config"), r.json()); } catch (e) { /* keep */ }
    }
  }
  // Polls now, outside the cadence (after an action).
  ui.refresh = () => { setTimeout(poll, 150); };
  ui.status = () => state.status;

  function setupHeader() {
    const role = document.body.dataset.role;
    ui.setText(document.getElementById("role-name"), role);
    const pause = document.getElementById("pause-updates");
    pause.addEventListener("click", () => {
      state.paused = !state.paused;
      pause.setAttribute("aria-pressed", String(state.paused));
      pause.textContent = state.paused ? "Resume updates" : "Pause updates";
      ui.notify(state.paused ? "Updates paused." : "Updates resumed.");
      if (!state.paused) poll();
    });
    const drain = ui.action("Drain", "drain", undefined,
      {danger: true, confirm: "Drain this " + role + "? It stops taking new work and reports not ready."});
    drain.id = "drain";
    document.getElementById("drain").replaceWith(drain);
    const quit = ui.action("Quit", "quitquitquit", undefined,
      {danger: true, confirm: "Stop this " + role + " process? It drains, then exits."});
    quit.id = "quit";
    document.getElementById("quit").replaceWith(quit);
  }

  window.tender = {
    // Registers the role's panel (see the top of this file). Call once, from panel.js.
    panel(p) { state.panel = p; },
    ui,
  };

  document.addEventListener("DOMContentLoaded", () => {
    setupHeader();
    const p = state.panel;
    if (p) {
      const section = document.getElementById("panel");
      section.hidden = false;
      ui.setText(document.getElementById("panel-title"), p.title || document.body.dataset.role);
      if (p.init) p.init(document.getElementById("panel-body"), ui);
    }
    setupCharts(((p && p.charts) || []).concat(CORE_CHARTS));
    poll();
    setInterval(poll, POLL_MS);
  });
})();
