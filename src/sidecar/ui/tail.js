"use strict";
// `tender tail`'s panel: the files followed and the sinks, from /statusz (docs/tail.md).
(function () {
  let kinds = [];  // the sinks' kinds by position, from /configz
  let v = {};
  const firstSink = (ui) => {
    const st = ui.status();
    const sinks = st && st.status && Array.isArray(st.status.sinks) ? st.status.sinks : [];
    return sinks.length ? {sink: sinks[0].name} : undefined;
  };
  const minOf = (xs) => (xs.length ? Math.min(...xs) : null);
  const maxOf = (xs) => (xs.length ? Math.max(...xs) : null);
  const exact = (n) => (typeof n === "number" ? String(n) : "\u2013");

  tender.panel({
    title: "Files",
    charts: [
      // Read counters are per file and sink: one sink's count is what was read.
      {title: "Records read", unit: "/s", value: (ui) => ui.rate("tender_tail_read_records_total", firstSink(ui))},
      {title: "Shipped", unit: "/s", value: (ui) => ui.rate("tender_tail_sent_bytes_total"), format: (x) => tender.ui.fmt.bytes(x)},
      {title: "Sink errors", unit: "/s", value: (ui) => ui.rate("tender_tail_sink_errors_total")},
    ],
    init(body, ui) {
      const kv = ui.el("dl", {class: "kv", id: "tail-summary", "aria-label": "Summary"});
      const fact = (k) => ui.fact(kv, k);
      v.count = fact("files followed");
      v.rotations = fact("rotations");
      v.truncations = fact("truncations");
      v.lost = fact("lost (truncated, no copy)");
      v.dropped = fact("dropped (deleted, unread)");
      v.checkpoint = fact("checkpoint");
      v.busy = ui.el("p", {class: "hint", hidden: true});
      v.files = ui.table("Files followed", [
        {title: "Path"}, {title: "Input"}, {title: "Size", num: true}, {title: "Read offset", num: true},
        {title: "Committed", num: true}, {title: "Lag", num: true}, {title: "Last grew"}]);
      v.sinks = ui.table("Sinks", [
        {title: "Sink"}, {title: "Kind"}, {title: "State"}, {title: "Records sent", num: true},
        {title: "Batches", num: true}, {title: "Failed writes", num: true}, {title: "Retrying", num: true},
        {title: "Batch buffer", num: true}, {title: "Last error"}]);
      v.files.table.id = "tail-files";
      v.sinks.table.id = "tail-sinks";
      body.append(kv, v.busy, ui.el("section", {}, v.files.table), ui.el("section", {}, v.sinks.table));
      ui.getJSON("configz").then((c) => {
        const sinks = c && (c.sinks || (c.config && c.config.sinks));
        if (Array.isArray(sinks)) kinds = sinks.map((s) => s.kind || "");
      });
    },
    update(st, ui) {
      ui.setText(v.rotations, ui.fmt.number(ui.metric("tender_tail_rotations_total")));
      ui.setText(v.truncations, ui.fmt.number(ui.metric("tender_tail_truncations_total")));
      ui.setText(v.lost, ui.fmt.bytes(st.lost_bytes));
      ui.setText(v.dropped, ui.fmt.bytes(st.dropped_bytes));
      ui.setText(v.checkpoint, st.checkpoint || "\u2013");
      const files = Array.isArray(st.files) ? st.files : null;
      v.busy.hidden = files !== null || st.files === undefined;
      ui.setText(v.busy, typeof st.files === "string" ? st.files : "");
      if (files) {
        ui.setText(v.count, files.length);
        ui.syncRows(v.files.tbody, files, (f) => f.key, () => ui.el("tr", {}, ui.el("td"), ui.el("td"),
          ui.cell(true), ui.cell(true), ui.cell(true), ui.cell(true), ui.el("td")), (tr, f) => {
          const c = tr.children;
          const per = Object.values(f.sinks || {});
          ui.setText(c[0], f.path + (f.followed_by_name ? "" : " (rotated away: read to its end)"));
          ui.setText(c[1], f.input);
          ui.setText(c[2], ui.fmt.bytes(f.size));
          ui.setText(c[3], exact(minOf(per.map((s) => s.read))));
          ui.setText(c[4], exact(minOf(per.map((s) => s.committed))));
          ui.setText(c[5], ui.fmt.bytes(maxOf(per.map((s) => s.lag_bytes))));
          ui.setText(c[6], f.grew_at || "\u2013");
        });
      }
      const sinks = Array.isArray(st.sinks) ? st.sinks : [];
      ui.syncRows(v.sinks.tbody, sinks.map((s, i) => Object.assign({kind: kinds[i]}, s)), (s) => s.name,
        () => ui.el("tr", {}, ui.el("th", {scope: "row"}), ui.el("td"), ui.el("td", {}, ui.badge("", null)),
          ui.cell(true), ui.cell(true), ui.cell(true), ui.cell(true), ui.cell(true), ui.el("td")), (tr, s) => {
          const c = tr.children;
          ui.setText(c[0], s.name);
          ui.setText(c[1], s.kind || "\u2013");
          const failing = s.consecutive_failures > 0;
          ui.setBadge(c[2].firstChild, failing ? "retrying" : s.in_flight_records > 0 ? "sending" : "idle",
            !failing, failing ? s.last_error : "");
          ui.setText(c[3], ui.fmt.number(s.records));
          ui.setText(c[4], ui.fmt.number(s.batches));
          ui.setText(c[5], ui.fmt.number(s.errors));
          ui.setText(c[6], failing ? s.consecutive_failures + " failed in a row" : "0");
          const limit = ui.metric("tender_tail_buffer_limit_bytes", {sink: s.name});
          ui.setText(c[7], ui.fmt.bytes(s.batch_bytes) + (limit ? " of " + ui.fmt.bytes(limit) : ""));
          ui.setText(c[8], s.last_error || "none");
        });
    },
  });
})();
