// tender proxy's panel: listeners, clusters (circuit breakers, ejections) and every endpoint's
// health, request rate, errors and latency. From /statusz, GET v1/clusters and the metrics.
"use strict";
(function () {
  const M = "tender_proxy_";
  const MAX_ENDPOINTS = 300;  // rows shown; the rest are counted
  const ms = (s) => s === null || s === undefined || !isFinite(s) ? "\u2013" :
    (s * 1000).toFixed(s < 0.01 ? 2 : s < 1 ? 1 : 0) + " ms";
  const perSecond = (ui, v) => v === null ? "\u2013" : ui.fmt.number(v);
  let listeners, clusters, endpoints, note;

  // An endpoint's state in words: the active checks' verdict, then an ejection (passive health).
  function endpointState(e) {
    const left = e.ejected_for_ms ? " for " + Math.ceil(e.ejected_for_ms / 1000) + " s" : "";
    const why = [e.health === "healthy" ? "" : e.last_check || "",
      e.ejected ? "ejected by outlier detection" + left : ""].filter(Boolean).join("; ");
    if (e.health !== "healthy") return ["unhealthy", e.ejected ? "unhealthy, ejected" : "unhealthy", false, why];
    return e.ejected ? ["ejected", "ejected", false, why] : ["healthy", "healthy", true, why];
  }

  // The cluster's breakers that are full now ("requests 1024/1024"), or that refused something
  // since the last sample.
  function breakerText(ui, c) {
    const open = [];
    for (const [name, b] of Object.entries(c.breakers || {})) {
      if (b.open) open.push(name + " " + b.in_use + "/" + b.max);
    }
    const tripped = ui.rate(M + "cluster_overflow_total", {cluster: c.name});
    if (open.length) return ["open: " + open.join(", "), false];
    if (tripped) return ["refused " + ui.fmt.number(tripped) + "/s", undefined];
    return ["closed", true];
  }

  function cells(n, nums) {
    return Array.from({length: n}, (_, i) => nums.includes(i)).map((num) => tender.ui.cell(num));
  }
  function badgeCell(ui) {
    return ui.el("td", {}, ui.el("span", {class: "badge"}));
  }

  tender.panel({
    title: "Clusters",
    charts: [
      {title: "Requests", unit: "/s", value: (ui) => ui.rate(M + "downstream_requests_total")},
      {title: "Upstream errors", unit: "/s", value: (ui) => {
        const r = ui.rate(M + "upstream_errors_total");
        return r !== null ? r : ui.rate(M + "downstream_requests_total") !== null ? 0 : null;
      }},
      {title: "p99 latency", value: (ui) =>
        ui.quantile(M + "downstream_request_duration_seconds", 0.99), format: ms},
    ],

    init(body, ui) {
      listeners = ui.table("Listeners", [{title: "Listener"}, {title: "Protocol"},
        {title: "Address"}, {title: "Connections", num: true}, {title: "Requests/s", num: true}]);
      clusters = ui.table("Clusters", [{title: "Cluster"}, {title: "Policy"},
        {title: "Endpoints serving", num: true}, {title: "Ejected", num: true},
        {title: "In flight", num: true}, {title: "Waiting", num: true},
        {title: "Circuit breakers"}]);
      endpoints = ui.table("Endpoints", [{title: "Cluster"}, {title: "Endpoint"},
        {title: "Health"}, {title: "Ejections", num: true}, {title: "In flight", num: true},
        {title: "Connections", num: true}, {title: "Requests", num: true},
        {title: "Requests/s", num: true}, {title: "Errors/s", num: true},
        {title: "p50", num: true}, {title: "p99", num: true}]);
      note = ui.el("p", {class: "hint", id: "endpoints-note"});
      body.append(
        ui.el("p", {class: "hint"}, "Health is the active checks' verdict; an ejected endpoint " +
          "failed requests in a row (outlier detection). Rates and latency are over the last " +
          "metrics interval."),
        listeners.table, clusters.table, endpoints.table, note);
      listeners.table.id = "listeners";
      clusters.table.id = "clusters";
      endpoints.table.id = "endpoints";
    },

    async update(status, ui) {
      ui.syncRows(listeners.tbody, status.listeners || [], (l) => l.name,
        () => ui.el("tr", {}, cells(5, [3, 4])),
        (tr, l) => {
          const td = tr.children;
          ui.setText(td[0], l.name);
          ui.setText(td[1], l.protocol);
          ui.setText(td[2], l.listen);
          ui.setText(td[3], l.connections === undefined ? "\u2013" : l.connections);
          ui.setText(td[4], perSecond(ui, ui.rate(M + "downstream_requests_total", {listener: l.name})));
        });

      const got = await ui.getJSON("v1/clusters");
      if (!got) {
        ui.setText(note, "GET v1/clusters did not answer; the tables show its last answer.");
        return;
      }
      const list = got.clusters || [];
      ui.syncRows(clusters.tbody, list, (c) => c.name,
        () => ui.el("tr", {}, cells(6, [2, 3, 4, 5]), badgeCell(ui)),
        (tr, c) => {
          const td = tr.children;
          const eps = c.endpoints || [];
          const serving = eps.filter((e) => e.health === "healthy" && !e.ejected).length;
          ui.setText(td[0], c.name);
          ui.setText(td[1], c.policy + (c.auto_eject === false ? " (keys stay)" : ""));
          ui.setText(td[2], serving + " of " + eps.length);
          ui.setText(td[3], eps.filter((e) => e.ejected).length);
          ui.setText(td[4], c.active_requests);
          ui.setText(td[5], c.pending_requests);
          const [text, good] = breakerText(ui, c);
          ui.setBadge(td[6].firstChild, text, good);
        });

      const rows = [];
      for (const c of list) for (const e of c.endpoints || []) rows.push([c.name, e]);
      ui.setText(note, rows.length > MAX_ENDPOINTS ?
        (rows.length - MAX_ENDPOINTS) + " more endpoints are not shown (GET v1/clusters lists all)." : "");
      ui.syncRows(endpoints.tbody, rows.slice(0, MAX_ENDPOINTS), ([c, e]) => c + "\u0000" + e.name,
        () => {
          const tr = ui.el("tr", {}, cells(2, []), badgeCell(ui), cells(8, [0, 1, 2, 3, 4, 5, 6, 7]));
          return tr;
        },
        (tr, [c, e]) => {
          const td = tr.children;
          const want = {cluster: c, endpoint: e.name};
          ui.setText(td[0], c);
          ui.setText(td[1], e.name + (e.address && e.address !== e.name ? " (" + e.address + ")" : ""));
          const [word, text, good, why] = endpointState(e);
          ui.setBadge(td[2].firstChild, text, good, why);
          tr.dataset.state = word;
          ui.setText(td[3], e.ejections);
          ui.setText(td[4], e.active_requests);
          ui.setText(td[5], e.connections);
          ui.setText(td[6], ui.fmt.number(e.requests));
          ui.setText(td[7], perSecond(ui, ui.rate(M + "upstream_requests_total", want)));
          const errors = ui.rate(M + "upstream_errors_total", want);
          ui.setText(td[8], errors === null ? (ui.rate(M + "upstream_requests_total", want) === null ?
            "\u2013" : "0") : ui.fmt.number(errors));
          const lat = M + "upstream_request_duration_seconds";
          ui.setText(td[9], ms(ui.quantile(lat, 0.5, want)));
          ui.setText(td[10], ms(ui.quantile(lat, 0.99, want)));
        });
    },
  });
})();
