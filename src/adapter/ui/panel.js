"use strict";
// `tender adapt`'s panel: the sources as of their last collection, the health checks' last
// verdicts and the log adapters, from /statusz (docs/adapt.md).
(function () {
  const v = {};
  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + (typeof b === "number" ? b : 0), 0);
  const hide = (t, empty) => { t.table.parentNode.hidden = empty; };

  tender.panel({
    title: "Sources",
    charts: [
      {title: "Sources up", value: (ui) => ui.metric("tender_adapt_source_up")},
      {title: "Series dropped", unit: "/s", value: (ui) => ui.rate("tender_adapt_series_dropped_total")},
    ],
    init(body, ui) {
      v.hint = ui.el("p", {class: "hint"},
        "A source's state is that of its last collection: each scrape of /metrics collects every source.");
      v.sources = ui.table("Metric sources", [
        {title: "Source"}, {title: "Kind"}, {title: "State"}, {title: "Reason"},
        {title: "Last collect", num: true}, {title: "Collected at"}, {title: "Series", num: true},
        {title: "Dropped series"}]);
      v.checks = ui.table("Health checks", [{title: "Check"}, {title: "Verdict"}, {title: "Reason"}, {title: "Checked at"}]);
      v.logs = ui.table("Log inputs", [
        {title: "Log"}, {title: "Input"}, {title: "Format"}, {title: "Output"},
        {title: "Lines ok", num: true}, {title: "Unparsed", num: true}, {title: "Cut", num: true},
        {title: "Dropped", num: true}, {title: "Output error"}]);
      v.sources.table.id = "adapt-sources";
      v.checks.table.id = "adapt-checks";
      v.logs.table.id = "adapt-logs";
      body.append(v.hint, ...[v.sources, v.checks, v.logs].map((t) => ui.el("section", {}, t.table)));
    },
    update(st, ui) {
      const sources = Array.isArray(st.sources) ? st.sources : [];
      ui.syncRows(v.sources.tbody, sources, (s) => s.name, () => ui.el("tr", {}, ui.el("th", {scope: "row"}),
        ui.el("td"), ui.el("td", {}, ui.badge("", null)), ui.el("td"), ui.cell(true), ui.el("td"),
        ui.cell(true), ui.el("td")), (tr, s) => {
        const c = tr.children;
        ui.setText(c[0], s.name);
        ui.setText(c[1], s.kind);
        const known = s.up === true || s.up === false;
        ui.setBadge(c[2].firstChild, s.up === true ? "up" : s.up === false ? "down" : "not collected yet",
          known ? s.up : undefined);
        ui.setText(c[3], s.reason || (known ? "" : "no scrape yet"));
        ui.setText(c[4], known ? ui.fmt.duration(s.collect_seconds) : "\u2013");
        ui.setText(c[5], typeof s.collected_at === "number" ? ui.fmt.time(s.collected_at) : s.collected_at || "\u2013");
        // A statsd source holds its series between scrapes: that count is live.
        const held = s.detail && s.detail.series && typeof s.detail.series === "object" ? sum(s.detail.series) : null;
        ui.setText(c[6], ui.fmt.number(held !== null ? held : s.series));
        const d = s.dropped || {};
        const drops = ["over_cap", "duplicate", "invalid", "conflict"].filter((k) => d[k] > 0)
          .map((k) => k + " " + ui.fmt.number(d[k]));
        ui.setText(c[7], (drops.join(", ") || "none") + (d.last_reason ? " (last: " + d.last_reason + ")" : ""));
      });
      hide(v.sources, sources.length === 0);
      const checks = Object.entries(st.health || {}).map(([name, c]) => Object.assign({name}, c || {}));
      ui.syncRows(v.checks.tbody, checks, (c) => c.name, () => ui.el("tr", {}, ui.el("th", {scope: "row"}),
        ui.el("td", {}, ui.badge("", null)), ui.el("td"), ui.el("td")), (tr, c) => {
        const td = tr.children;
        ui.setText(td[0], c.name);
        const run = c.ok === true || c.ok === false;
        ui.setBadge(td[1].firstChild, run ? (c.ok ? "pass" : "fail") : "not run yet", run ? c.ok : undefined);
        ui.setText(td[2], c.message || "");
        ui.setText(td[3], c.checked_at || "\u2013");
      });
      hide(v.checks, checks.length === 0);
      const logs = Object.entries((st.logs && st.logs.adapters) || {}).map(([name, a]) => Object.assign({name}, a));
      ui.syncRows(v.logs.tbody, logs, (a) => a.name, () => ui.el("tr", {}, ui.el("th", {scope: "row"}),
        ui.el("td"), ui.el("td"), ui.el("td"), ui.cell(true), ui.cell(true), ui.cell(true), ui.cell(true), ui.el("td")), (tr, a) => {
        const c = tr.children;
        const lines = a.lines || {};
        ui.setText(c[0], a.name);
        ui.setText(c[1], a.input + (a.input_kind ? " (" + a.input_kind + ")" : ""));
        ui.setText(c[2], a.format);
        ui.setText(c[3], a.output);
        ui.setText(c[4], ui.fmt.number(lines.ok));
        ui.setText(c[5], ui.fmt.number(lines.unparsed));
        ui.setText(c[6], ui.fmt.number(lines.cut));
        ui.setText(c[7], ui.fmt.number(a.dropped));
        ui.setText(c[8], a.output_error || "none");
      });
      hide(v.logs, logs.length === 0);
    },
  });
})();
