"use strict";
// `tender queue`'s panel: every queue's items by state and its rates, and the first dead letters
// of each, read from and requeued or purged through the dead-letter routes the admin listener
// serves as --listen does.
(function () {
  const STATES = ["ready", "delayed", "leased", "done", "dead"];
  const EVENTS = ["enqueued", "leased", "acked", "nacked", "dead"];
  const PAGE = 10;       // dead letters shown per queue
  const QUEUES = 20;     // queues whose dead letters are shown
  const MAX_AGE = 3000;  // ms before a queue's dead list is read again (sooner if its count moves)
  const ERROR_SHOWN = 200;
  const v = {dead: new Map()};  // queue -> {count, at, items}
  const perSecond = (ui, event, queue) => ui.rate("tender_queue_" + event + "_total", queue ? {queue} : undefined);
  const deadPath = (queue) => "v1/queues/" + encodeURIComponent(queue) + "/dead";
  const cut = (s) => (s.length > ERROR_SHOWN ? s.slice(0, ERROR_SHOWN) + "\u2026" : s);

  function bulkActions(ui, queue) {
    const requeue = ui.action("Requeue all", deadPath(queue) + "/requeue", undefined, {
      ariaLabel: "Requeue all dead letters of " + queue,
      confirm: "Requeue every dead letter of queue " + queue + "? They become ready again, " +
        "with their attempts counted from zero."});
    const purge = ui.action("Purge all", deadPath(queue) + "/purge", undefined, {
      danger: true, ariaLabel: "Purge all dead letters of " + queue,
      confirm: "Delete every dead letter of queue " + queue + " for good?"});
    return ui.el("div", {class: "row-actions"}, requeue, purge);
  }

  function itemActions(ui, queue, id) {
    const requeue = ui.action("Requeue", deadPath(queue) + "/" + id + "/requeue", undefined, {
      ariaLabel: "Requeue dead letter " + id + " of " + queue});
    const purge = ui.action("Purge", deadPath(queue) + "/" + id + "/purge", undefined, {
      danger: true, ariaLabel: "Purge dead letter " + id + " of " + queue,
      confirm: "Delete dead letter " + id + " of queue " + queue + " for good?"});
    return ui.el("div", {class: "row-actions"}, requeue, purge);
  }

  // Reads the first page of the dead letters of the queues that have some, when due.
  async function readDead(ui, queues) {
    const now = Date.now();
    const withDead = queues.filter((q) => q.c.dead > 0).slice(0, QUEUES);
    for (const name of Array.from(v.dead.keys())) {
      if (!withDead.some((q) => q.name === name)) v.dead.delete(name);
    }
    await Promise.all(withDead.map(async (q) => {
      const seen = v.dead.get(q.name);
      if (seen && seen.count === q.c.dead && now - seen.at < MAX_AGE) return;
      const page = await ui.getJSON(deadPath(q.name) + "?payload=0&limit=" + PAGE);
      if (page) v.dead.set(q.name, {count: q.c.dead, at: now, items: page.items || []});
    }));
    return queues.filter((q) => q.c.dead > 0).length - withDead.length;
  }

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
        .concat(EVENTS.map((e) => ({title: e[0].toUpperCase() + e.slice(1) + " /s", num: true})))
        .concat([{title: "Dead letters"}]);
      const q = ui.table("Queues by state, and their rates", cols);
      q.table.id = "queues";
      v.queues = q.tbody;
      v.none = ui.el("p", {class: "muted"}, "No queues yet.");
      body.append(q.table, v.none);
      const d = ui.table("Dead letters (the first " + PAGE + " of each queue)", [
        {title: "Queue"}, {title: "Item", num: true}, {title: "Attempts", num: true},
        {title: "Dead since"}, {title: "Error"}, {title: "Actions"}]);
      d.table.id = "dead-letters";
      v.deadRows = d.tbody;
      v.deadNote = ui.el("p", {class: "hint", id: "dead-note"});
      body.append(d.table, v.deadNote);
    },
    async update(st, ui) {
      const listen = st.listen || "the --listen address";
      ui.setText(v.where, "Store: " + (st.store || "?") + ". The queue API is served on " + listen +
        "; this admin listener serves its dead-letter routes too, for the buttons below.");
      const queues = Object.entries(st.queues || {}).map(([name, c]) => ({name, c}));
      v.none.hidden = queues.length > 0;
      ui.syncRows(v.queues, queues, (q) => q.name,
        (q) => ui.el("tr", {}, ui.el("th", {scope: "row"}), ui.el("td", {}, ui.el("span")),
          STATES.map(() => ui.cell(true)), EVENTS.map(() => ui.cell(true)),
          ui.el("td", {}, ui.el("div", {}, bulkActions(ui, q.name)))),
        (tr, q) => {
          const c = tr.children;
          ui.setText(c[0], q.name);
          ui.setBadge(c[1].firstChild, q.c.paused ? "paused" : "active", q.c.paused ? undefined : true);
          STATES.forEach((s, i) => ui.setText(c[2 + i], ui.fmt.number(q.c[s])));
          EVENTS.forEach((e, i) => ui.setText(c[2 + STATES.length + i],
            ui.fmt.number(perSecond(ui, e, q.name), 1)));
          c[c.length - 1].firstChild.hidden = !(q.c.dead > 0);
          tr.dataset.dead = String(q.c.dead);
        });

      const queuesLeftOut = await readDead(ui, queues);
      const dead = [];
      const notes = [];
      for (const [name, seen] of v.dead) {
        for (const it of seen.items) dead.push({queue: name, it});
        const total = ((st.queues || {})[name] || {}).dead || seen.items.length;
        if (total > seen.items.length) notes.push(name + ": " + (total - seen.items.length) + " more");
      }
      ui.syncRows(v.deadRows, dead, (d) => d.queue + "/" + d.it.id,
        (d) => ui.el("tr", {}, ui.cell(), ui.cell(true), ui.cell(true), ui.cell(), ui.cell(),
          ui.el("td", {}, itemActions(ui, d.queue, d.it.id))),
        (tr, d) => {
          const c = tr.children;
          ui.setText(c[0], d.queue);
          ui.setText(c[1], String(d.it.id));
          ui.setText(c[2], String(d.it.attempts));
          ui.setText(c[3], d.it.finished_ms ? ui.fmt.time(d.it.finished_ms / 1000) : "\u2013");
          ui.setText(c[4], d.it.error ? cut(d.it.error) : "\u2013");
        });
      ui.setText(v.deadNote, (dead.length ? "" : "No dead letters. ") +
        (notes.length ? "Not shown: " + notes.join(", ") + " (requeue them all, or page with " +
          "GET /v1/queues/Q/dead?after=ID). " : "") +
        (queuesLeftOut ? queuesLeftOut + " more queues with dead letters not shown. " : ""));
    },
  });
})();
