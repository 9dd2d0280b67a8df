// The call-flow editor (ACD-3): the flow document drawn as SVG nodes and
// edges. Hand-written, no framework and nothing fetched from elsewhere
// (the page's CSP allows only this file). The server keeps the canonical
// document and runs the validator; this file only edits the JSON and
// shows what the server says, so a rule never lives in two places.
"use strict";

(function () {
  const root = document.getElementById("flow-editor");
  if (!root) return;

  const SVG = "http://www.w3.org/2000/svg";
  const NODE_W = 170;
  const NODE_H = 46;
  const PORT_GAP = 18;
  const lang = document.documentElement.lang === "en" ? "en" : "id";
  const T = {
    id: {
      add: "Tambah", del: "Hapus node", start: "Jadikan awal", check: "Periksa",
      save: "Simpan draf", publish: "Terbitkan", saved: "Draf disimpan",
      published: "Diterbitkan sebagai versi ", valid: "Alur valid",
      invalid: "Alur belum valid", rollback: "Terbitkan ulang", open: "Buka",
      diff: "Beda dengan editor", added: "ditambah", removed: "dihapus",
      changed: "diubah", none: "(tidak ada)", play: "Putar", key: "Tombol",
      draft: "draf", version: "versi", confirm: "Terbitkan ulang versi ",
      nodeid: "ID node baru", props: "Properti", same: "Tidak ada beda",
      calendar: "Kalender", own: "(jadwal sendiri di bawah)",
    },
    en: {
      add: "Add", del: "Delete node", start: "Make start", check: "Check",
      save: "Save draft", publish: "Publish", saved: "Draft saved",
      published: "Published as version ", valid: "The flow is valid",
      invalid: "The flow is not valid yet", rollback: "Publish again", open: "Open",
      diff: "Diff with editor", added: "added", removed: "removed",
      changed: "changed", none: "(none)", play: "Play", key: "Key",
      draft: "draft", version: "version", confirm: "Publish again version ",
      nodeid: "New node id", props: "Properties", same: "No difference",
      calendar: "Calendar", own: "(its own schedule below)",
    },
  }[lang];

  const name = root.dataset.flow;
  const api = "/api/v1/flows/" + encodeURIComponent(name);
  const csrf = root.dataset.csrf || (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  const state = {
    doc: null, // the flow document being edited
    layout: {}, // node id -> [x, y]
    basedOn: null, // the published version the edit started from
    selected: null,
    checked: { valid: true, flow: [], nodes: {} },
    prompts: { id: [], en: [] },
    calendars: [], // the configuration's [[calendar]] names
  };

  const svg = root.querySelector("svg.flow-canvas");
  const panel = root.querySelector(".flow-panel");
  const messages = root.querySelector(".flow-messages");
  const status = root.querySelector(".flow-status");
  const versionsList = root.querySelector(".flow-versions");
  const diffBox = root.querySelector(".flow-diff");

  function el(tag, attrs, text) {
    const e = tag.startsWith("svg:")
      ? document.createElementNS(SVG, tag.slice(4))
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function call(method, url, body) {
    const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(url, opts);
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: text }; }
    return { ok: r.ok, status: r.status, data };
  }

  function say(text, bad) {
    status.textContent = text;
    status.classList.toggle("bad", !!bad);
  }

  // ---- the graph, as Node::edges in crates/flow has it ----

  function edges(node) {
    switch (node.type) {
      case "play": case "collect": case "language":
        return [["next", "next", node.next]];
      case "menu":
        return Object.keys(node.choices || {}).sort()
          .map((k) => ["choice:" + k, k, node.choices[k]])
          .concat([["on_fail", "on_fail", node.on_fail]]);
      case "time":
        return [["open", "open", node.open], ["closed", "closed", node.closed]];
      case "extension": case "ring_group": case "queue":
        return [["on_fail", "on_fail", node.on_fail]];
      default:
        return [];
    }
  }

  function setEdge(id, port, target) {
    const node = state.doc.nodes[id];
    if (port.startsWith("choice:")) node.choices[port.slice(7)] = target;
    else node[port] = target;
  }

  const TEMPLATES = {
    play: { prompts: [], next: "" },
    menu: { prompts: [], choices: {}, on_fail: "" },
    collect: { prompts: [], max_digits: 4, variable: "digits", next: "" },
    language: { language: "en", next: "" },
    time: { schedule: { weekly: [], holidays: [], always_open: false }, open: "", closed: "" },
    extension: { number: "", on_fail: "" },
    ring_group: { members: [], on_fail: "" },
    queue: { queue: "", on_fail: "" },
    hangup: {},
  };

  // Nodes without a position go in columns by distance from the start.
  function placeMissing() {
    const ids = Object.keys(state.doc.nodes);
    const depth = {};
    const todo = [[state.doc.start, 0]];
    while (todo.length) {
      const [id, d] = todo.shift();
      if (!(id in state.doc.nodes) || id in depth) continue;
      depth[id] = d;
      for (const e of edges(state.doc.nodes[id])) todo.push([e[2], d + 1]);
    }
    const rows = {};
    for (const id of ids) {
      if (state.layout[id]) continue;
      const d = depth[id] !== undefined ? depth[id] : 0;
      rows[d] = (rows[d] || 0) + 1;
      state.layout[id] = [30 + d * 230, 20 + (rows[d] - 1) * 110];
    }
  }

  // ---- drawing ----

  function render() {
    placeMissing();
    svg.replaceChildren();
    const edgeLayer = el("svg:g", { class: "edges" });
    const nodeLayer = el("svg:g", { class: "nodes" });
    svg.append(edgeLayer, nodeLayer);
    let maxX = 600, maxY = 400;
    for (const [id, node] of Object.entries(state.doc.nodes)) {
      const [x, y] = state.layout[id];
      const outs = edges(node);
      const h = Math.max(NODE_H, 30 + outs.length * PORT_GAP);
      maxX = Math.max(maxX, x + NODE_W + 80);
      maxY = Math.max(maxY, y + h + 40);
      const problems = state.checked.nodes[id] || [];
      const g = el("svg:g", {
        class: "node" + (problems.length ? " invalid" : "") +
          (state.selected === id ? " selected" : "") + (state.doc.start === id ? " start" : ""),
        transform: `translate(${x},${y})`,
        "data-node": id,
      });
      g.append(el("svg:rect", { width: NODE_W, height: h, rx: 6, class: "body" }));
      g.append(el("svg:text", { x: 8, y: 17, class: "id" }, id));
      g.append(el("svg:text", { x: 8, y: 33, class: "type" }, node.type));
      if (problems.length) {
        g.append(el("svg:title", {}, problems.join("\n")));
        g.append(el("svg:text", { x: NODE_W - 16, y: 17, class: "mark" }, "!"));
      }
      outs.forEach(([port, label, target], i) => {
        const py = 22 + i * PORT_GAP;
        g.append(el("svg:text", { x: NODE_W - 14, y: py + 4, class: "port-label", "text-anchor": "end" }, label));
        g.append(el("svg:circle", {
          cx: NODE_W, cy: py, r: 6, class: "port" + (target ? "" : " open"),
          "data-node": id, "data-port": port,
        }));
        if (target && state.layout[target]) {
          const [tx, ty] = state.layout[target];
          const sx = x + NODE_W, sy = y + py;
          let d;
          if (tx > sx) {
            // Forward: into the target's left side.
            const ex = tx, ey = ty + 20, dx = Math.max(40, (ex - sx) / 2);
            d = `M${sx},${sy} C${sx + dx},${sy} ${ex - dx},${ey} ${ex},${ey}`;
          } else {
            // Back (a loop to an earlier node): into the target's top, so
            // the line does not run under the nodes in between.
            const ex = tx + NODE_W / 2, ey = ty;
            d = `M${sx},${sy} C${sx + 60},${sy} ${ex},${ey - 60} ${ex},${ey}`;
          }
          edgeLayer.append(el("svg:path", {
            d,
            class: "edge", "data-from": id, "data-port": port, "data-to": target,
          }));
        }
      });
      nodeLayer.append(g);
    }
    svg.setAttribute("width", maxX);
    svg.setAttribute("height", maxY);
    renderMessages();
  }

  function renderMessages() {
    messages.replaceChildren();
    const c = state.checked;
    for (const m of c.flow) messages.append(el("li", { class: "bad" }, m));
    for (const [id, ms] of Object.entries(c.nodes)) {
      for (const m of ms) {
        const li = el("li", { class: "bad", "data-node": id }, m);
        li.addEventListener("click", () => select(id));
        messages.append(li);
      }
    }
  }

  // ---- pointer: drag nodes, drag a port onto a node to connect ----

  let drag = null;

  function point(evt) {
    const r = svg.getBoundingClientRect();
    return [evt.clientX - r.left, evt.clientY - r.top];
  }

  svg.addEventListener("pointerdown", (evt) => {
    const port = evt.target.closest(".port");
    const node = evt.target.closest(".node");
    if (port) {
      const [x, y] = point(evt);
      const line = el("svg:line", { x1: x, y1: y, x2: x, y2: y, class: "wire" });
      svg.append(line);
      drag = { kind: "wire", from: port.dataset.node, port: port.dataset.port, line };
    } else if (node) {
      const id = node.dataset.node;
      const [x, y] = point(evt);
      const [nx, ny] = state.layout[id];
      drag = { kind: "move", id, dx: x - nx, dy: y - ny, moved: false, g: node };
      select(id);
    } else {
      return;
    }
    evt.preventDefault();
  });

  window.addEventListener("pointermove", (evt) => {
    if (!drag) return;
    const [x, y] = point(evt);
    if (drag.kind === "wire") {
      drag.line.setAttribute("x2", x);
      drag.line.setAttribute("y2", y);
    } else {
      state.layout[drag.id] = [Math.max(0, Math.round(x - drag.dx)), Math.max(0, Math.round(y - drag.dy))];
      drag.moved = true;
      render();
    }
  });

  window.addEventListener("pointerup", (evt) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.kind === "wire") {
      d.line.remove();
      const under = document.elementFromPoint(evt.clientX, evt.clientY);
      const target = under && under.closest && under.closest(".node");
      if (target) {
        setEdge(d.from, d.port, target.dataset.node);
        changed();
      }
    } else if (d.moved) {
      render();
    }
  });

  // ---- the side panel ----

  function select(id) {
    state.selected = id;
    render();
    renderPanel();
  }

  function field(label, input) {
    const l = el("label", {}, label);
    l.append(input);
    return l;
  }

  function textInput(value, onchange, type) {
    const i = el("input", { type: type || "text", value: value === undefined ? "" : value });
    i.addEventListener("change", () => onchange(i.value));
    return i;
  }

  function targetSelect(value, onchange) {
    const s = el("select", {});
    s.append(el("option", { value: "" }, "—"));
    for (const id of Object.keys(state.doc.nodes)) {
      const o = el("option", { value: id }, id);
      if (id === value) o.selected = true;
      s.append(o);
    }
    s.addEventListener("change", () => onchange(s.value));
    return s;
  }

  function promptList(node, key) {
    const box = el("div", { class: "prompts" });
    const audio = el("audio", { controls: "", preload: "none", class: "prompt-audio" });
    (node[key] || []).forEach((p, i) => {
      const row = el("div", { class: "prompt" });
      row.append(el("span", {}, p));
      const play = el("button", { type: "button", class: "play", "data-prompt": p }, T.play);
      play.addEventListener("click", () => {
        audio.src = "/api/v1/flows/prompts/" + state.doc.language + "/" + encodeURIComponent(p);
        audio.play().catch(() => {});
      });
      const rm = el("button", { type: "button" }, "×");
      rm.addEventListener("click", () => { node[key].splice(i, 1); changed(); });
      row.append(play, rm);
      box.append(row);
    });
    const add = el("select", { class: "add-prompt" });
    add.append(el("option", { value: "" }, "+"));
    const names = new Set([...(state.prompts.id || []), ...(state.prompts.en || [])]);
    for (const p of [...names].sort()) add.append(el("option", { value: p }, p));
    add.addEventListener("change", () => {
      if (!add.value) return;
      node[key] = (node[key] || []).concat([add.value]);
      changed();
    });
    box.append(add, audio);
    return field(key, box);
  }

  function renderPanel() {
    panel.replaceChildren();
    const id = state.selected;
    const node = id && state.doc.nodes[id];
    if (!node) return;
    panel.append(el("h3", {}, id + " (" + node.type + ")"));
    const redo = () => changed();
    for (const [port, label, target] of edges(node)) {
      panel.append(field(label, targetSelect(target, (v) => { setEdge(id, port, v); redo(); })));
    }
    if (node.type === "menu") {
      const k = textInput("", (v) => {
        if (v && !(v in node.choices)) { node.choices[v] = ""; redo(); }
      });
      k.size = 2;
      k.classList.add("new-key");
      panel.append(field(T.key + " +", k));
      for (const key of Object.keys(node.choices)) {
        const rm = el("button", { type: "button" }, T.key + " " + key + " ×");
        rm.addEventListener("click", () => { delete node.choices[key]; redo(); });
        panel.append(rm);
      }
    }
    for (const key of ["prompts", "invalid", "no_input"]) {
      if (key in node || (node.type === "menu" && key !== "prompts")) {
        if (key in node || node.type === "menu") panel.append(promptList(node, key));
      }
    }
    const numbers = ["timeout_seconds", "retries", "max_digits"];
    for (const key of numbers) {
      if (key in node || (node.type === "menu" && key !== "max_digits") || (node.type === "collect" && key === "timeout_seconds")) {
        panel.append(field(key, textInput(node[key], (v) => {
          if (v === "") delete node[key]; else node[key] = Number(v);
          redo();
        }, "number")));
      }
    }
    for (const key of ["variable", "number", "queue"]) {
      if (key in node) panel.append(field(key, textInput(node[key], (v) => { node[key] = v; redo(); })));
    }
    if ("language" in node && node.type === "language") {
      const s = el("select", {});
      for (const l of ["id", "en"]) {
        const o = el("option", { value: l }, l);
        if (node.language === l) o.selected = true;
        s.append(o);
      }
      s.addEventListener("change", () => { node.language = s.value; redo(); });
      panel.append(field("language", s));
    }
    if ("members" in node) {
      panel.append(field("members", textInput(node.members.join(", "), (v) => {
        node.members = v.split(",").map((s) => s.trim()).filter((s) => s);
        redo();
      })));
    }
    if (node.type === "time") {
      // A named calendar (hours and holidays kept once for every flow) or
      // the node's own schedule; a name the configuration lost stays
      // listed so the validator's refusal can be read and fixed.
      const s = el("select", { class: "calendar" });
      const names = [...state.calendars];
      if (node.calendar && !names.includes(node.calendar)) names.push(node.calendar);
      s.append(el("option", { value: "" }, T.own));
      for (const c of names) {
        const o = el("option", { value: c }, c);
        if (node.calendar === c) o.selected = true;
        s.append(o);
      }
      s.addEventListener("change", () => {
        if (s.value) node.calendar = s.value; else delete node.calendar;
        redo();
      });
      panel.append(field(T.calendar, s));
    }
    if ("schedule" in node && !node.calendar) {
      const ta = el("textarea", { rows: 6 }, JSON.stringify(node.schedule, null, 1));
      ta.addEventListener("change", () => {
        try { node.schedule = JSON.parse(ta.value); ta.classList.remove("bad"); redo(); }
        catch (_) { ta.classList.add("bad"); }
      });
      panel.append(field("schedule", ta));
    }
    for (const m of state.checked.nodes[id] || []) panel.append(el("p", { class: "bad" }, m));
    const start = el("button", { type: "button", class: "make-start" }, T.start);
    start.addEventListener("click", () => { state.doc.start = id; redo(); });
    const del = el("button", { type: "button", class: "delete-node" }, T.del);
    del.addEventListener("click", () => {
      delete state.doc.nodes[id];
      delete state.layout[id];
      state.selected = null;
      redo();
    });
    panel.append(start, del);
  }

  // ---- talking to webd ----

  function body() {
    return { document: state.doc, layout: state.layout, based_on: state.basedOn };
  }

  let checkTimer = null;
  function changed() {
    render();
    renderPanel();
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 300);
  }

  function showChecked(c) {
    if (!c) return;
    state.checked = c;
    render();
    renderPanel();
  }

  async function check() {
    const r = await call("POST", api + "/check", body());
    if (r.data && r.data.nodes) {
      showChecked(r.data);
      say(r.data.valid ? T.valid : T.invalid, !r.data.valid);
    }
  }

  async function saveDraft() {
    const r = await call("POST", api + "/draft", body());
    if (r.ok) {
      showChecked(r.data.checked);
      say(T.saved + " (#" + r.data.id + ")");
    } else {
      say((r.data && (r.data.message || r.data.error)) || String(r.status), true);
    }
  }

  async function publish() {
    const r = await call("POST", api + "/publish", body());
    if (r.ok) {
      state.basedOn = r.data.version;
      state.checked = { valid: true, flow: [], nodes: {} };
      render();
      say(T.published + r.data.version);
      loadVersions();
    } else {
      if (r.data && r.data.checked) showChecked(r.data.checked);
      say((r.data && (r.data.message || r.data.error)) || String(r.status), true);
    }
  }

  async function rollback(v) {
    if (!window.confirm(T.confirm + v + "?")) return;
    const r = await call("POST", api + "/versions/" + v + "/rollback", {});
    if (r.ok) {
      say(T.published + r.data.version);
      await open(r.data.version);
      loadVersions();
    } else {
      say((r.data && (r.data.message || r.data.error)) || String(r.status), true);
    }
  }

  async function showDiff(v) {
    const r = await call("POST", api + "/diff", { from: v, document: state.doc });
    diffBox.replaceChildren();
    if (!r.ok) { say((r.data && (r.data.message || r.data.error)) || String(r.status), true); return; }
    const d = r.data;
    diffBox.append(el("h3", {}, T.version + " " + v + " → " + T.draft));
    const list = el("ul", {});
    for (const id of d.added) list.append(el("li", { class: "added" }, id + ": " + T.added));
    for (const id of d.removed) list.append(el("li", { class: "removed" }, id + ": " + T.removed));
    for (const c of d.changed.concat(d.flow.length ? [{ node: "(flow)", fields: d.flow }] : [])) {
      const li = el("li", { class: "changed" }, c.node + ": " + T.changed);
      const fl = el("ul", {});
      for (const f of c.fields) {
        fl.append(el("li", {}, f.field + ": " + JSON.stringify(f.before) + " → " + JSON.stringify(f.after)));
      }
      li.append(fl);
      list.append(li);
    }
    if (!list.children.length) list.append(el("li", {}, T.same));
    diffBox.append(list);
  }

  async function loadVersions() {
    const r = await call("GET", api);
    if (!r.ok) return;
    versionsList.replaceChildren();
    for (const v of r.data.versions) {
      const li = el("li", { "data-version": v.version });
      li.append(el("span", {}, T.version + " " + v.version + " · " + new Date(v.published_ms).toLocaleString()));
      for (const [label, fn, cls] of [[T.open, open, "open"], [T.diff, showDiff, "diff"], [T.rollback, rollback, "rollback"]]) {
        const b = el("button", { type: "button", class: cls }, label);
        b.addEventListener("click", () => fn(v.version));
        li.append(b);
      }
      versionsList.append(li);
    }
    return r.data;
  }

  async function open(v) {
    const r = await call("GET", api + "/versions/" + v);
    if (!r.ok) return;
    load(r.data.document, r.data.layout, v, r.data.checked);
  }

  function load(doc, layout, basedOn, checked) {
    state.doc = doc;
    state.layout = layout || {};
    state.basedOn = basedOn;
    state.selected = null;
    state.checked = checked || { valid: true, flow: [], nodes: {} };
    render();
    renderPanel();
  }

  // ---- the toolbar ----

  const addType = root.querySelector(".add-type");
  const addId = root.querySelector(".add-id");
  for (const t of Object.keys(TEMPLATES)) addType.append(el("option", { value: t }, t));
  root.querySelector(".add-node").addEventListener("click", () => {
    const id = addId.value.trim();
    if (!id || id in state.doc.nodes) { addId.classList.add("bad"); return; }
    addId.classList.remove("bad");
    state.doc.nodes[id] = Object.assign({ type: addType.value }, JSON.parse(JSON.stringify(TEMPLATES[addType.value])));
    addId.value = "";
    state.selected = id;
    changed();
  });
  root.querySelector(".check").addEventListener("click", check);
  root.querySelector(".save").addEventListener("click", saveDraft);
  root.querySelector(".publish").addEventListener("click", publish);

  (async function start() {
    const p = await call("GET", "/api/v1/flows/prompts");
    if (p.ok) state.prompts = p.data.names;
    const c = await call("GET", "/api/v1/flows/calendars");
    if (c.ok) state.calendars = c.data.names;
    const info = await loadVersions();
    const d = info && info.draft ? await call("GET", api + "/draft") : null;
    if (d && d.ok) {
      load(d.data.document, d.data.layout, d.data.based_on, d.data.checked);
      say(T.draft + " · " + d.data.author);
    } else if (info && info.versions.length) {
      await open(info.versions[0].version);
    } else {
      load({ name, language: "id", start: "", nodes: {} }, {}, null, null);
    }
    // Browser tests wait for this before they touch the canvas.
    root.dataset.ready = "1";
  })();
})();
