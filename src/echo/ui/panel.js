"use strict";
// `tender echo`'s panel: what it has served, from /statusz (docs/echo.md).
(function () {
  const v = {};
  tender.panel({
    title: "Echo",
    charts: [{title: "Requests", unit: "/s", value: (ui) => ui.rate("tender_echo_http_requests_total")}],
    init(body, ui) {
      const kv = ui.el("dl", {class: "kv", id: "echo-facts", "aria-label": "Echo"});
      for (const [k, label] of [["listen", "listening on"], ["id", "id"], ["requests_served", "requests served"],
        ["in_flight", "in flight"], ["connections", "connections"], ["delayed_requests", "delayed requests"]]) {
        v[k] = ui.el("dd", {"data-echo": k});
        kv.append(ui.el("dt", {}, label), v[k]);
      }
      body.append(kv);
    },
    update(st, ui) {
      ui.setText(v.listen, st.listen || "\u2013");
      ui.setText(v.id, st.id || "none");
      for (const k of ["requests_served", "in_flight", "connections", "delayed_requests"]) ui.setText(v[k], ui.fmt.number(st[k]));
    },
  });
})();
