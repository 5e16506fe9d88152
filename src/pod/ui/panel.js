"use strict";
// The pod runner's panel: its pods and their containers, the faults it injects, a log tail per
// container, and a link to the web view of each container that runs a tender role.
(function () {
  const LOG_POLL_MS = 1000;
  const LOG_KEEP = 200 * 1024;  // characters kept in a log view; older lines are dropped
  const COLS = 8;
  const st = {pods: [], cut: [], network: "host", logs: new Map(), deployments: {}, services: []};
  let ui = null;
  let tbody = null;
  let depBody = null;
  let svcBody = null;

  const enc = encodeURIComponent;
  const podPath = (p) => "v1/pods/" + enc(p);
  const since = (iso) => iso ? (Date.now() - Date.parse(iso)) / 1000 : null;

  function containerState(c) {
    const [kind, detail] = Object.entries(c.state || {})[0] || ["unknown", {}];
    const why = detail && detail.reason;
    return why && kind !== "running" ? kind + " (" + why + ")" : kind;
  }
  function partitioned(name) {
    return st.cut.some((pair) => pair[0] === name || pair[1] === name);
  }
  function podState(p) {
    const words = [p.phase];
    if (p.terminating) words.push("terminating");
    if (p.paused) words.push("paused");
    if (partitioned(p.name)) words.push("partitioned");
    if (p.delay) words.push("delayed");
    return words.join(", ");
  }

  // --- log tails -----------------------------------------------------------------------------

  function openLog(key, pod, container) {
    const pre = ui.el("pre", {class: "log", tabindex: "0", "aria-label": "Log of " + key,
      "aria-live": "off"});
    const log = {key, pre, next: null, file: "", busy: false, timer: null,
      path: podPath(pod) + "/containers/" + enc(container) + "/logs"};
    log.timer = setInterval(() => pollLog(log), LOG_POLL_MS);
    st.logs.set(key, log);
    pollLog(log);
    return log;
  }
  function closeLog(key) {
    const log = st.logs.get(key);
    if (log) clearInterval(log.timer);
    st.logs.delete(key);
  }
  async function pollLog(log) {
    if (log.busy) return;
    log.busy = true;
    try {
      const q = log.next === null ? "" : "?offset=" + log.next + "&file=" + enc(log.file);
      const r = await ui.get(log.path + q);
      if (!r.ok) return;
      const chunk = r.json();
      const pre = log.pre;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      if (chunk.reset && log.next !== null) pre.append("\u2014 the log was rotated \u2014\n");
      if (chunk.text) pre.append(chunk.text);
      log.next = chunk.next;
      log.file = chunk.file || "";
      if (pre.textContent.length > LOG_KEEP) {
        const text = pre.textContent;
        let cut = text.indexOf("\n", text.length - LOG_KEEP);
        cut = cut < 0 ? text.length - LOG_KEEP : cut + 1;
        pre.textContent = text.slice(cut);
      } else if (pre.childNodes.length > 64) {
        pre.normalize();
      }
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    } finally {
      log.busy = false;
    }
  }

  // --- rows ----------------------------------------------------------------------------------

  function cells(tr, n) {
    const out = [];
    for (let i = 0; i < n; i++) { const td = ui.cell(i === 2); tr.append(td); out.push(td); }
    return out;
  }

  function makePodRow(item) {
    const name = item.pod.name;
    const tr = ui.el("tr", {class: "pod"});
    const head = ui.el("th", {scope: "row"}, name);
    tr.append(head);
    tr.cells_ = [head].concat(cells(tr, COLS - 2));
    const pause = ui.action("Pause", podPath(name) + "/pause", undefined, {ariaLabel: "Pause pod " + name,
      confirm: "Pause pod " + name + "? Every process in it is stopped (SIGSTOP) until resumed."});
    const resume = ui.action("Resume", podPath(name) + "/resume", undefined,
      {ariaLabel: "Resume pod " + name});
    const kill = ui.action("Kill", podPath(name) + "/kill", {signal: "KILL"}, {danger: true,
      ariaLabel: "Kill pod " + name,
      confirm: "Kill every container of pod " + name + " (SIGKILL)? The restart policy then applies."});
    const target = ui.el("select", {"aria-label": "Partition pod " + name + " from"});
    const partition = ui.action("Partition", "v1/partitions", () => {
      const others = st.pods.map((p) => p.name).filter((n) => n !== name);
      const group = target.value === "" ? others : [target.value];
      if (!group.length) { ui.notify("There is no other pod to cut " + name + " off from.", false); return null; }
      return {groups: [[name], group]};
    }, {danger: true, ariaLabel: "Partition pod " + name,
      confirm: "Cut pod " + name + " off from the pods chosen? Their frames are dropped both ways."});
    const heal = ui.action("Heal", "v1/partitions/heal", {pods: [name]}, {ariaLabel: "Heal pod " + name});
    const actions = ui.el("div", {class: "row-actions"}, kill, pause, resume, target, partition, heal);
    const td = ui.el("td", {}, actions);
    tr.append(td);
    tr.ctl = {pause, resume, target, partition, heal, options: ""};
    return tr;
  }
  function updatePodRow(tr, item) {
    const p = item.pod;
    const [, state, ready, restarts, ip, uptime, dep] = tr.cells_;
    ui.setText(state, podState(p));
    let badge = ready.firstChild;
    if (!badge) { badge = ui.badge("", true); ready.append(badge); }
    ui.setBadge(badge, p.ready ? "ready" : "not ready", p.ready);
    const all = (p.initContainers || []).concat(p.containers || []);
    ui.setText(restarts, all.reduce((n, c) => n + (c.restartCount || 0), 0));
    ui.setText(ip, p.podIP);
    ui.setText(uptime, ui.fmt.duration(since(p.createdAt)));
    ui.setText(dep, p.deployment || "");
    const c = tr.ctl;
    c.pause.hidden = p.paused;
    c.resume.hidden = !p.paused;
    const podNet = st.network === "pod";
    c.target.hidden = c.partition.hidden = c.heal.hidden = !podNet;
    const others = st.pods.map((x) => x.name).filter((n) => n !== p.name);
    const key = others.join("\n");
    if (c.options !== key) {
      const keep = c.target.value;
      c.target.replaceChildren(ui.el("option", {value: ""}, "from all other pods"),
        ...others.map((n) => ui.el("option", {value: n}, "from " + n)));
      c.target.value = others.includes(keep) ? keep : "";
      c.options = key;
    }
  }

  function makeContainerRow(item) {
    const {pod, c} = item;
    const key = pod.name + "/" + c.name;
    const tr = ui.el("tr", {class: "container"});
    const head = ui.el("th", {scope: "row", class: "muted"}, "\u2514 " + c.name);
    tr.append(head);
    tr.cells_ = [head].concat(cells(tr, COLS - 2));
    const restart = ui.action("Restart", podPath(pod.name) + "/containers/" + enc(c.name) + "/restart",
      undefined, {ariaLabel: "Restart container " + key,
        confirm: "Restart container " + key + "? It is stopped (preStop, SIGTERM) and started again."});
    const logs = ui.el("button", {type: "button", "aria-pressed": "false",
      "aria-label": "Logs of " + key}, "Logs");
    logs.addEventListener("click", () => {
      const open = !st.logs.has(key);
      if (open) openLog(key, pod.name, c.name); else closeLog(key);
      logs.setAttribute("aria-pressed", String(open));
      render();
    });
    const link = ui.el("a", {"aria-label": "Web view of " + key}, "web view");
    link.hidden = true;
    tr.append(ui.el("td", {}, ui.el("div", {class: "row-actions"}, restart, logs, link)));
    tr.ctl = {link};
    return tr;
  }
  function updateContainerRow(tr, item) {
    const c = item.c;
    const [, state, ready, restarts, , uptime, type] = tr.cells_;
    ui.setText(state, containerState(c));
    let badge = ready.firstChild;
    if (!badge) { badge = ui.badge("", true); ready.append(badge); }
    ui.setBadge(badge, c.ready ? "yes" : "no", c.ready);
    ui.setText(restarts, c.restartCount);
    const running = c.state && c.state.running;
    ui.setText(uptime, running ? ui.fmt.duration(since(running.startedAt)) : "");
    ui.setText(type, c.type === "main" ? "" : c.type);
    const link = tr.ctl.link;
    link.hidden = !c.ui;
    if (c.ui && link.getAttribute("href") !== c.ui) link.setAttribute("href", c.ui);
    if (c.admin) link.title = "its admin listener, " + c.admin + ", through this runner";
  }

  function makeLogRow(item) {
    const td = ui.el("td", {colspan: String(COLS)}, item.log.pre);
    return ui.el("tr", {class: "log"}, td);
  }

  function render() {
    const items = [];
    for (const pod of st.pods) {
      items.push({kind: "pod", key: "pod:" + pod.name, pod});
      for (const c of (pod.initContainers || []).concat(pod.containers || [])) {
        const key = pod.name + "/" + c.name;
        items.push({kind: "c", key: "c:" + key, pod, c});
        if (st.logs.has(key)) items.push({kind: "log", key: "log:" + key, log: st.logs.get(key)});
      }
    }
    for (const key of Array.from(st.logs.keys())) {
      if (!items.some((i) => i.key === "log:" + key)) closeLog(key);
    }
    ui.syncRows(tbody, items, (i) => i.key,
      (i) => i.kind === "pod" ? makePodRow(i) : i.kind === "c" ? makeContainerRow(i) : makeLogRow(i),
      (tr, i) => i.kind === "pod" ? updatePodRow(tr, i) : i.kind === "c" ? updateContainerRow(tr, i) : null);
  }

  function renderDeployments() {
    const items = Object.entries(st.deployments).map(([name, replicas]) => ({name, replicas}));
    ui.syncRows(depBody, items, (d) => d.name, (d) => {
      const input = ui.el("input", {type: "number", min: "0", max: "1000", value: String(d.replicas),
        "aria-label": "Replicas of " + d.name, class: "num"});
      const scale = ui.action("Scale", "v1/deployments/" + enc(d.name) + "/scale", () => {
        const n = Number(input.value);
        if (!Number.isInteger(n) || n < 0 || n > 1000) {
          ui.notify("Replicas must be a whole number from 0 to 1000.", false);
          return null;
        }
        return {replicas: n};
      }, {ariaLabel: "Scale deployment " + d.name,
        confirm: "Scale deployment " + d.name + "? Surplus pods are terminated."});
      const count = ui.cell(true);
      const tr = ui.el("tr", {}, ui.el("th", {scope: "row"}, d.name), count,
        ui.el("td", {}, ui.el("div", {class: "row-actions"}, input, scale)));
      tr.count = count;
      return tr;
    }, (tr, d) => ui.setText(tr.count, d.replicas));
  }

  // Services: address, ports (PORT[:NODEPORT]/PROTOCOL) and where their traffic goes now.
  function renderServices() {
    ui.syncRows(svcBody, st.services, (s) => "svc:" + s.namespace + "/" + s.name, (s) => {
      const tds = [ui.cell(), ui.cell(), ui.cell(), ui.cell()];
      const tr = ui.el("tr", {}, ui.el("th", {scope: "row"}, s.name), ...tds);
      tr.tds = tds;
      return tr;
    }, (tr, s) => {
      const ports = s.ports.map((p) =>
        p.port + (p.nodePort ? ":" + p.nodePort : "") + "/" + p.protocol).join(", ");
      const eps = new Set();
      for (const p of s.ports) for (const e of p.endpoints) eps.add(e);
      // A headless Service names its ready pods; the others send traffic to endpoints.
      const to = s.clusterIP === "None"
        ? s.pods.filter((p) => p.ready).map((p) => p.pod).join(", ")
        : Array.from(eps).join(", ");
      ui.setText(tr.tds[0], s.type);
      ui.setText(tr.tds[1], s.clusterIP);
      ui.setText(tr.tds[2], ports || "\u2013");
      ui.setText(tr.tds[3], (to || "none ready") + (s.applied ? "" : " (applying)"));
    });
  }

  tender.panel({
    title: "Pods",
    charts: [
      {title: "Pods ready", value: () => st.pods.filter((p) => p.ready).length},
      {title: "Container restarts", unit: "/s",
        value: (u) => u.rate("tender_pod_container_restarts_total")},
    ],
    init(body, u) {
      ui = u;
      const pods = ui.table("Pods and their containers", [
        {title: "Pod / container"}, {title: "State"}, {title: "Ready"}, {title: "Restarts", num: true},
        {title: "Pod IP"}, {title: "Up"}, {title: "Deployment / type"}, {title: "Actions"}]);
      tbody = pods.tbody;
      const deps = ui.table("Deployments", [{title: "Deployment"}, {title: "Replicas", num: true},
        {title: "Scale to"}]);
      depBody = deps.tbody;
      deps.table.id = "deployments";
      const svcs = ui.table("Services", [{title: "Service"}, {title: "Type"},
        {title: "Cluster IP"}, {title: "Ports"}, {title: "Traffic to"}]);
      svcBody = svcs.tbody;
      svcs.table.id = "services";
      pods.table.id = "pods";
      body.append(ui.el("p", {class: "hint"}, "Every pod of this runner, from ",
        ui.el("a", {href: "v1/pods"}, "/v1/pods"),
        ". Logs show a container's log file as it grows; a web view link opens the own page of a container that runs a tender role."),
        pods.table, deps.table, svcs.table);
    },
    async update(status) {
      const [pods, parts] = await Promise.all([ui.getJSON("v1/pods"), ui.getJSON("v1/partitions")]);
      if (pods) st.pods = pods.pods || [];
      if (parts) { st.cut = parts.cut || []; st.network = parts.network; }
      st.deployments = status.deployments || {};
      render();
      renderDeployments();
      document.getElementById("deployments").hidden = !Object.keys(st.deployments).length;
      st.services = status.services || [];
      renderServices();
      document.getElementById("services").hidden = !st.services.length;
    },
  });
})();
