"use strict";
// `tender sync`'s panel: what is synced from where, the last attempt and the next, from /statusz
// (docs/sync.md). There is no endpoint to sync at once, so no button: SIGHUP does that.
(function () {
  const v = {};
  tender.panel({
    title: "Sync",
    charts: [
      {title: "Syncs", unit: "/min", value: (ui) => { const r = ui.rate("tender_sync_syncs_total"); return r === null ? null : r * 60; }},
      {title: "Failed syncs", unit: "/min", value: (ui) => { const r = ui.rate("tender_sync_failures_total"); return r === null ? null : r * 60; }},
    ],
    init(body, ui) {
      const kv = ui.el("dl", {class: "kv", id: "sync-facts", "aria-label": "Sync"});
      const fact = (k, dd) => ui.fact(kv, k, dd);
      v.source = fact("source");
      v.path = fact("published at");
      v.revision = fact("revision", ui.el("dd", {id: "sync-revision"}));
      v.state = fact("state", ui.el("dd", {id: "sync-state"}, ui.badge("", null)));
      v.lastAttempt = fact("last attempt");
      v.lastSuccess = fact("last success");
      v.lastPublish = fact("last publication");
      v.next = fact("next attempt");
      v.counts = fact("attempts");
      v.error = fact("last error");
      v.hooks = ui.table("After each publication", [{title: "Hook"}, {title: "Revision"}, {title: "Outcome"}, {title: "Detail"}, {title: "At"}]);
      body.append(kv, ui.el("section", {}, v.hooks.table));
    },
    update(st, ui) {
      ui.setText(v.source, st.source ? st.source + " (" + st.source_kind + ")" : "\u2013");
      ui.setText(v.path, st.path || "\u2013");
      ui.setText(v.revision, st.revision || "none yet");
      let word, good;
      if (st.in_progress) { word = "syncing"; good = undefined; }
      else if (st.consecutive_failures > 0) { word = "failing (" + st.consecutive_failures + " in a row)"; good = false; }
      else if (st.synced) { word = "in sync"; good = true; }
      else { word = "not synced yet"; good = undefined; }
      ui.setBadge(v.state.firstChild, word, good);
      const outcome = !st.last_attempt || st.in_progress ? "" : st.consecutive_failures > 0 ? " (failed)" : " (succeeded)";
      ui.setText(v.lastAttempt, (st.last_attempt || "never") + outcome);
      ui.setText(v.lastSuccess, st.last_success || "never");
      ui.setText(v.lastPublish, st.last_publish || "never");
      ui.setText(v.next, st.next_attempt || (st.in_progress ? "after this one" : "\u2013"));
      ui.setText(v.counts, ui.fmt.number(st.attempts) + " (" + ui.fmt.number(st.failures) + " failed, " +
        ui.fmt.number(st.publishes) + " published)");
      ui.setText(v.error, st.last_error ? st.last_error.reason + " at " + st.last_error.at : "none");
      const hooks = Object.entries(st.hooks || {}).map(([name, h]) => Object.assign({name}, h));
      ui.syncRows(v.hooks.tbody, hooks, (h) => h.name, () => ui.el("tr", {}, ui.el("th", {scope: "row"}),
        ui.el("td"), ui.el("td", {}, ui.badge("", null)), ui.el("td"), ui.el("td")), (tr, h) => {
        const c = tr.children;
        ui.setText(c[0], h.name);
        ui.setText(c[1], h.revision);
        ui.setBadge(c[2].firstChild, h.ok ? "ok" : "failed", !!h.ok);
        ui.setText(c[3], h.detail);
        ui.setText(c[4], h.at);
      });
      v.hooks.table.parentNode.hidden = hooks.length === 0;
    },
  });
})();
