"use strict";
// `tender work`'s panel: the queue it pulls from, its command, the items running now and
// what became of those it finished.
(function () {
  const FAILED = ["nacked", "dead", "buried"];
  const v = {};
  const failedRate = (ui) => {
    let total = null;
    for (const o of FAILED) {
      const r = ui.rate("tender_work_items_total", {outcome: o});
      if (r !== null) total = (total || 0) + r;
    }
    return total;
  };
  tender.panel({
    title: "Worker",
    charts: [
      {title: "Done", unit: "/s", value: (ui) => ui.rate("tender_work_items_total", {outcome: "acked"})},
      {title: "Failed", unit: "/s", value: failedRate},
      {title: "In flight", value: (ui) => ui.metric("tender_work_in_flight")},
    ],
    init(body, ui) {
      const dl = ui.el("dl", {class: "kv", "aria-label": "Worker"});
      v.queue = ui.fact(dl, "Queue", {id: "work-queue"});
      v.command = ui.fact(dl, "Command", {id: "work-command"});
      v.flight = ui.fact(dl, "In flight", {id: "work-in-flight"});
      v.done = ui.fact(dl, "Done", {id: "work-done"});
      v.failed = ui.fact(dl, "Failed", {id: "work-failed"});
      v.remaining = ui.fact(dl, "Left in the queue", {id: "work-remaining"});
      v.serverState = ui.el("span");
      v.server = ui.fact(dl, "Queue server", {id: "work-server"});
      v.server.append(v.serverState);
      body.append(dl);
      const t = ui.table("Items running now", [{title: "Item", num: true},
        {title: "Attempt", num: true}, {title: "Since"}, {title: "Running for", num: true}]);
      t.table.id = "work-running";
      v.running = t.tbody;
      v.runningNote = ui.el("p", {class: "hint"});
      body.append(t.table, v.runningNote);
    },
    update(st, ui) {
      ui.setText(v.queue, (st.queue_name || "?") + " at " + (st.queue || "?"));
      ui.setText(v.command, (st.command || []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a :
        "'" + a.replace(/'/g, "'\\''") + "'")).join(" "));
      ui.setText(v.flight, st.in_flight + " of " + st.concurrency + (st.draining ? " (draining)" : ""));
      const rate = (x) => (x === null ? "" : ", " + ui.fmt.number(x, 2) + "/s now");
      ui.setText(v.done, ui.fmt.number(st.done) + rate(ui.rate("tender_work_items_total", {outcome: "acked"})));
      ui.setText(v.failed, ui.fmt.number(st.failed) + " (dead " + ui.fmt.number(st.dead) + ", lease lost " +
        ui.fmt.number(st.lost) + ")" + rate(failedRate(ui)));
      ui.setText(v.remaining, st.remaining === undefined ? "not known" : ui.fmt.number(st.remaining));
      ui.setBadge(v.serverState, st.server_error ? "unreachable" : "answers", !st.server_error,
        st.server_error || "");
      if (st.server_error) ui.setText(v.serverState, "\u2717 unreachable: " + st.server_error);
      ui.syncRows(v.running, st.running || [], (r) => r.id,
        () => ui.el("tr", {}, ui.cell(true), ui.cell(true), ui.cell(), ui.cell(true)),
        (tr, r) => {
          const c = tr.children;
          ui.setText(c[0], String(r.id));
          ui.setText(c[1], String(r.attempt));
          ui.setText(c[2], r.since);
          ui.setText(c[3], ui.fmt.duration((Date.now() - Date.parse(r.since)) / 1000));
        });
      ui.setText(v.runningNote, (st.running || []).length ? (st.running_left_out ?
        st.running_left_out + " more not shown." : "") : "Nothing running.");
    },
  });
})();
