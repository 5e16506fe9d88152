// tender scatter's panel: the merge and hedging in use, each shard's latency, errors and
// hedges, and the replicas behind each shard. From /statusz and the metrics.
"use strict";
(function () {
  const M = "tender_scatter_";
  const MAX_REPLICAS = 300;  // rows shown; the rest are counted
  const ms = (s) => s === null || s === undefined || !isFinite(s) ? "\u2013" :
    (s * 1000).toFixed(s < 0.01 ? 2 : s < 1 ? 1 : 0) + " ms";
  const count = (v) => v === null ? "0" : tender.ui.fmt.number(v);
  let facts, shards, replicas, note;

  function cells(n, nums) {
    return Array.from({length: n}, (_, i) => tender.ui.cell(nums.includes(i)));
  }
  const badgeCell = () => tender.ui.el("td", {}, tender.ui.el("span", {class: "badge"}));

  function replicaState(e) {
    if (e.health !== "healthy") return [e.ejected ? "unhealthy, ejected" : "unhealthy", false, e.last_check || ""];
    return e.ejected ? ["ejected", false, "ejected by outlier detection"] : ["healthy", true, ""];
  }

  tender.panel({
    title: "Shards",
    charts: [
      {title: "Requests", unit: "/s", value: (ui) => ui.rate(M + "requests_total")},
      {title: "Shard errors", unit: "/s", value: (ui) => {
        const r = ui.rate(M + "shard_errors_total");
        return r !== null ? r : ui.rate(M + "requests_total") !== null ? 0 : null;
      }},
      {title: "Fan-out p99", value: (ui) => ui.quantile(M + "fanout_duration_seconds", 0.99),
        format: ms},
    ],

    init(body, ui) {
      facts = ui.el("dl", {class: "kv", id: "scatter-facts"});
      for (const k of ["merge", "split", "hedge", "in flight", "slow shards"]) {
        facts.append(ui.el("dt", {}, k), ui.el("dd", {"data-scatter": k}));
      }
      shards = ui.table("Shards", [{title: "Shard"}, {title: "State"},
        {title: "Replicas serving", num: true}, {title: "Requests", num: true},
        {title: "Requests/s", num: true}, {title: "Answers", num: true},
        {title: "Errors", num: true}, {title: "Hedges sent", num: true},
        {title: "Hedges won", num: true}, {title: "p50", num: true}, {title: "p99", num: true},
        {title: "Last error"}]);
      replicas = ui.table("Replicas", [{title: "Shard"}, {title: "Replica"}, {title: "Health"},
        {title: "In flight", num: true}, {title: "Requests", num: true},
        {title: "Failures", num: true}, {title: "Ejections", num: true}]);
      shards.table.id = "shards";
      replicas.table.id = "replicas";
      note = ui.el("p", {class: "hint"});
      body.append(facts,
        ui.el("p", {class: "hint"}, "Counts since start; rates and latency (until a shard's " +
          "answer, hedged or not) over the last metrics interval. A shard is slow when its p95 " +
          "stays above 3 times the shards' median."),
        shards.table, replicas.table, note);
    },

    update(status, ui) {
      const set = (k, v) => ui.setText(facts.querySelector('[data-scatter="' + k + '"]'), v);
      set("merge", status.merge);
      set("split", status.split);
      set("hedge", status.hedge);
      set("in flight", status.root ? status.root.in_flight : "\u2013");
      set("slow shards", (status.slow_shards || []).join(", ") || "none");

      const list = status.shards || [];
      ui.syncRows(shards.tbody, list, (s) => s.shard,
        () => ui.el("tr", {}, cells(1, []), badgeCell(), cells(10, [0, 1, 2, 3, 4, 5, 6, 7, 8])),
        (tr, s) => {
          const td = tr.children;
          const want = {shard: s.shard};
          const eps = (s.cluster && s.cluster.endpoints) || [];
          const serving = eps.filter((e) => e.health === "healthy" && !e.ejected).length;
          ui.setText(td[0], s.shard);
          if (!serving) ui.setBadge(td[1].firstChild, "down", false, "no replica takes traffic");
          else if (s.slow) ui.setBadge(td[1].firstChild, "slow", undefined, "p95 " + s.p95_ms + " ms");
          else ui.setBadge(td[1].firstChild, "serving", true, "");
          ui.setText(td[2], serving + " of " + eps.length);
          ui.setText(td[3], count(ui.metric(M + "shard_requests_total", want)));
          const rate = ui.rate(M + "shard_requests_total", want);
          ui.setText(td[4], rate === null ? "\u2013" : ui.fmt.number(rate));
          ui.setText(td[5], count(ui.metric(M + "shard_answers_total", want)));
          ui.setText(td[6], count(ui.metric(M + "shard_errors_total", want)));
          ui.setText(td[7], count(ui.metric(M + "hedges_total", {shard: s.shard, outcome: "sent"})));
          ui.setText(td[8], count(ui.metric(M + "hedges_total", {shard: s.shard, outcome: "won"})));
          ui.setText(td[9], ms(ui.quantile(M + "shard_duration_seconds", 0.5, want)));
          ui.setText(td[10], ms(ui.quantile(M + "shard_duration_seconds", 0.99, want)));
          ui.setText(td[11], s.last_error || "");
        });

      const rows = [];
      for (const s of list) for (const e of (s.cluster && s.cluster.endpoints) || []) rows.push([s.shard, e]);
      ui.setText(note, rows.length > MAX_REPLICAS ?
        (rows.length - MAX_REPLICAS) + " more replicas are not shown (/statusz lists all)." : "");
      ui.syncRows(replicas.tbody, rows.slice(0, MAX_REPLICAS), ([s, e]) => s + "\u0000" + e.name,
        () => ui.el("tr", {}, cells(2, []), badgeCell(), cells(4, [0, 1, 2, 3])),
        (tr, [s, e]) => {
          const td = tr.children;
          ui.setText(td[0], s);
          ui.setText(td[1], e.name);
          const [word, good, why] = replicaState(e);
          ui.setBadge(td[2].firstChild, word, good, why);
          ui.setText(td[3], e.active_requests);
          ui.setText(td[4], ui.fmt.number(e.requests));
          ui.setText(td[5], e.failures);
          ui.setText(td[6], e.ejections);
        });
    },
  });
})();
