"use strict";
// `tender elect`'s panel: who leads, with which token, until when; the backend; the terms this
// member has seen; a Resign button while it leads.
(function () {
  const v = {};
  const since = (iso) => (iso ? (Date.now() - Date.parse(iso)) / 1000 : null);
  const ms = (x) => (x === undefined || x === null ? null : x / 1000);

  tender.panel({
    title: "Election",
    charts: [
      {title: "Term changes", unit: "/min",
        value: (ui) => { const r = ui.rate("tender_elect_term_changes_total"); return r === null ? null : r * 60; }},
      {title: "Fencing token", value: (ui) => ui.metric("tender_elect_token")},
      {title: "Leading", unit: "1: yes", value: (ui) => ui.metric("tender_elect_is_leader")},
    ],
    init(body, ui) {
      const dl = ui.el("dl", {class: "kv", "aria-label": "Election"});
      v.election = ui.fact(dl, "Election", {id: "elect-election"});
      v.leader = ui.fact(dl, "Leader", {id: "elect-leader"});
      v.role = ui.el("span", {});
      v.self = ui.fact(dl, "This member", {id: "elect-self"});
      v.self.append(ui.el("span", {id: "elect-id"}), " ", v.role);
      v.token = ui.fact(dl, "Fencing token", {id: "elect-token"});
      v.age = ui.fact(dl, "Term age", {id: "elect-age"});
      v.lease = ui.fact(dl, "Lease", {id: "elect-lease"});
      v.backendState = ui.el("span", {});
      v.backendText = ui.el("span", {});
      v.backend = ui.fact(dl, "Backend", {id: "elect-backend"});
      v.backend.append(v.backendText, " ", v.backendState);
      v.loss = ui.fact(dl, "Last loss", {id: "elect-loss"});
      body.append(dl);

      v.resign = ui.action("Resign", "v1/resign", undefined, {danger: true, ariaLabel: "Resign",
        confirm: "Resign leadership? This member gives its term up at once and another member " +
          "takes over; this one stays in the election and stands again (it may lead later, with " +
          "a new token)."});
      v.resign.id = "elect-resign";
      v.resignBox = ui.el("p", {class: "row-actions", hidden: true}, v.resign, " ",
        ui.el("span", {class: "hint"}, "Resigns the term and stands again, as the app's " +
          "POST /v1/resign does."));
      body.append(v.resignBox);

      const t = ui.table("Terms seen by this member, newest first", [
        {title: "Leader"}, {title: "Token", num: true}, {title: "Start"}, {title: "End"},
        {title: "Lasted", num: true}]);
      t.table.id = "elect-terms";
      v.terms = t.tbody;
      v.termsNote = ui.el("p", {class: "hint"});
      body.append(t.table, v.termsNote);
    },
    update(st, ui) {
      const leader = st.leader || {};
      const backend = st.backend || {};
      ui.setText(v.election, st.election);
      ui.setText(v.leader, leader.name || "none");
      ui.setText(document.getElementById("elect-id"), st.id);
      const leads = st.state === "leader";
      ui.setBadge(v.role, leads ? "leads" : st.state === "follower" ? "follows" : "no leader",
        leads ? true : undefined);
      ui.setText(v.token, leader.token ? String(leader.token) : "none");
      ui.setText(v.age, leader.term_started ? ui.fmt.duration(since(leader.term_started)) +
        " (since " + leader.term_started + ")" : "\u2013");
      let lease = "\u2013";
      if (leads && st.lease_left_ms !== undefined) {
        lease = "this member's claim ends in " + ui.fmt.duration(ms(st.lease_left_ms));
      } else if (leader.valid_for_ms !== null && leader.valid_for_ms !== undefined) {
        lease = "expires in " + ui.fmt.duration(ms(leader.valid_for_ms)) + " unless renewed";
      } else if (backend.expires_in_ms) {
        lease = "expires in " + ui.fmt.duration(ms(backend.expires_in_ms)) + " unless renewed";
      }
      ui.setText(v.lease, lease);
      const where = backend.backend === "file" ? backend.path :
        backend.backend === "etcd" ? backend.endpoint : "";
      ui.setText(v.backendText, (backend.backend || "?") + (where ? " (" + where + ")" : ""));
      ui.setBadge(v.backendState, st.backend_ok ? "answers" : "unreachable", !!st.backend_ok,
        st.backend_error || "");
      ui.setText(v.loss, st.last_loss || "\u2013");
      v.resignBox.hidden = !leads;

      const terms = (st.terms || []).map((t, i, all) => ({
        t, end: i + 1 < all.length ? all[i + 1].observed_at : null}));
      terms.reverse();
      ui.syncRows(v.terms, terms, (x) => x.t.token + "/" + x.t.leader + "/" + x.t.observed_at,
        () => ui.el("tr", {}, ui.cell(), ui.cell(true), ui.cell(), ui.cell(), ui.cell(true)),
        (tr, x) => {
          const c = tr.children;
          ui.setText(c[0], x.t.leader || "no leader");
          ui.setText(c[1], x.t.token ? String(x.t.token) : "\u2013");
          ui.setText(c[2], x.t.observed_at);
          ui.setText(c[3], x.end || "current");
          ui.setText(c[4], ui.fmt.duration(x.end ? (Date.parse(x.end) - Date.parse(x.t.observed_at)) / 1000 :
            since(x.t.observed_at)));
        });
      ui.setText(v.termsNote, st.terms_left_out ? st.terms_left_out + " older terms not shown." : "");
    },
  });
})();
