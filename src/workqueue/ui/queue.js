"use strict";
// `tender queue`'s panel: every queue's items by state and its rates, and the oldest dead
// letters of each. The queue API is served on --listen, not on this admin listener, so the
// page shows what /statusz holds and says how to requeue through the API.
(function () {
  const STATES = ["ready", "delayed", "leased", "done", "dead"];
  const EVENTS = ["enqueued", "leased", "acked", "nacked", "dead"];
  const v = {};
  const perSecond = (ui, event, queue) => ui.rate("tender_queue_" + event + "_total", queue ? {queue} : undefined);

  tender.panel({
    title: "Queues",
    charts: [
      {title: "Enqueued", unit: "/s", value: (ui) => perSecond(ui, "enqueued")},
      {title: "Acked", unit: "/s", value: (ui) => perSecond(ui, "acked")},
      {title: "Nacked", unit: "/s", value: (ui) => perSecond(ui, "nacked")},
      {title: "Ready items", value: (ui) => ui.metric("tender_queue_items", {state: "ready"})},
      {title: "Dead items", value: (ui) => ui.metric("tender_queue_items", {state: "dead"})},
    ],
    init(body, ui) {
      v.where = ui.el("p", {class: "hint", id: "queue-api"});
      body.append(v.where);
      const cols = [{title: "Queue"}, {title: "State"}]
        .concat(STATES.map((s) => ({title: s[0].toUpperCase() + s.slice(1), num: true})))
        .concat(EVENTS.map((e) => ({title: e[0].toUpperCase() + e.slice(1) + " /s", num: true})));
      const q = ui.table("Queues by state, and their rates", cols);
      q.table.id = "queues";
      v.queues = q.tbody;
      v.none = ui.el("p", {class: "muted"}, "No queues yet.");
      body.append(q.table, v.none);
      const d = ui.table("Dead letters (the oldest of each queue)", [
        {title: "Queue"}, {title: "Item", num: true}, {title: "Attempts", num: true},
        {title: "Dead since"}, {title: "Error"}]);
      d.table.id = "dead-letters";
      v.dead = d.tbody;
      v.deadNote = ui.el("p", {class: "hint", id: "dead-note"});
      body.append(d.table, v.deadNote);
    },
    update(st, ui) {
      const listen = st.listen || "the --listen address";
      ui.setText(v.where, "Store: " + (st.store || "?") + ". The queue API is served on " + listen +
        ", not on this admin listener: this page shows what /statusz holds and changes nothing.");
      const queues = Object.entries(st.queues || {}).map(([name, c]) => ({name, c}));
      v.none.hidden = queues.length > 0;
      ui.syncRows(v.queues, queues, (q) => q.name,
        () => ui.el("tr", {}, ui.el("th", {scope: "row"}), ui.el("td", {}, ui.el("span")),
          STATES.map(() => ui.cell(true)), EVENTS.map(() => ui.cell(true))),
        (tr, q) => {
          const c = tr.children;
          ui.setText(c[0], q.name);
          ui.setBadge(c[1].firstChild, q.c.paused ? "paused" : "active", q.c.paused ? undefined : true);
          STATES.forEach((s, i) => ui.setText(c[2 + i], ui.fmt.number(q.c[s])));
          EVENTS.forEach((e, i) => ui.setText(c[2 + STATES.length + i],
            ui.fmt.number(perSecond(ui, e, q.name), 1)));
          tr.dataset.dead = String(q.c.dead);
        });
      const dead = [];
      const notes = [];
      for (const [name, items] of Object.entries(st.dead_letters || {})) {
        for (const it of items) dead.push({queue: name, it});
        const total = ((st.queues || {})[name] || {}).dead || items.length;
        if (total > items.length) notes.push(name + ": " + (total - items.length) + " more");
      }
      ui.syncRows(v.dead, dead, (d) => d.queue + "/" + d.it.id,
        () => ui.el("tr", {}, ui.cell(), ui.cell(true), ui.cell(true), ui.cell(), ui.cell()),
        (tr, d) => {
          const c = tr.children;
          ui.setText(c[0], d.queue);
          ui.setText(c[1], String(d.it.id));
          ui.setText(c[2], String(d.it.attempts));
          ui.setText(c[3], d.it.dead_since || "\u2013");
          ui.setText(c[4], d.it.error || "\u2013");
        });
      const example = dead.length ? dead[0] : null;
      ui.setText(v.deadNote, (dead.length ? "" : "No dead letters. ") +
        (notes.length ? "Not shown: " + notes.join(", ") + ". " : "") +
        (example ? "Requeue through the API: POST http://" + listen + "/v1/queues/" + example.queue +
          "/dead/" + example.it.id + "/requeue (one) or /v1/queues/" + example.queue +
          "/dead/requeue (all); GET /v1/queues/" + example.queue + "/dead lists them all." : ""));
    },
  });
})();
