// The live page: one EventSource on /live/events. The server sends the
// whole view first ("snapshot"), then each change ("call", "call_ended",
// "agent", "queues", "trunk", "outside_burst", "health", "feed"). Rows are built with DOM methods
// and textContent only: names come from callers and must never become
// markup. Durations tick here, from the timestamps the server sent.
(function () {
  "use strict";
  const root = document.getElementById("live");
  if (!root) return;
  const en = root.dataset.lang === "en";
  const supervise = root.dataset.supervise === "true";
  const outboxPage = root.dataset.outbox === "true";
  const csrfInput = document.querySelector("#csrf input[name=_csrf]");
  const csrf = csrfInput ? csrfInput.value : "";
  const T = (id, e) => (en ? e : id);

  const view = { calls: {}, agents: {}, queues: [], trunks: {}, bursts: [], health: null, connected: false };
  // As many burst alarms as the server keeps (BURSTS_KEPT).
  const BURSTS_KEPT = 20;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function since(ms) {
    const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    const m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }

  function body(id) {
    return document.querySelector("#" + id + " tbody");
  }

  function actionForm(path, fields, label, confirmText) {
    const f = el("form");
    f.method = "post";
    f.action = path;
    f.className = "inline";
    if (confirmText) f.setAttribute("data-confirm", confirmText);
    const c = el("input");
    c.type = "hidden";
    c.name = "_csrf";
    c.value = csrf;
    f.appendChild(c);
    for (const [name, value, visible] of fields) {
      const i = el("input");
      i.name = name;
      i.value = value || "";
      if (visible) {
        i.type = "text";
        i.size = 6;
        i.placeholder = visible;
        i.required = true;
      } else {
        i.type = "hidden";
      }
      f.appendChild(i);
    }
    const b = el("button", label);
    b.type = "submit";
    f.appendChild(b);
    return f;
  }

  function myPhone() {
    const p = document.getElementById("my-phone");
    return p ? p.value : "";
  }

  function callRow(c) {
    const tr = el("tr");
    tr.dataset.uuid = c.uuid;
    tr.dataset.state = c.state;
    tr.appendChild(el("td", c.caller + (c.caller_name ? " " + c.caller_name : "")));
    tr.appendChild(el("td", c.dialled));
    tr.appendChild(el("td", c.queue || ""));
    tr.appendChild(el("td", [c.agent, c.extension].filter(Boolean).join(" / ")));
    tr.appendChild(el("td", c.state + (c.recorded ? " ●" : ""), "state-" + c.state));
    const d = el("td", since(c.answer_ms || c.start_ms), "tick");
    d.dataset.since = c.answer_ms || c.start_ms;
    tr.appendChild(d);
    const acts = el("td");
    if (supervise) {
      const u = encodeURIComponent(c.uuid);
      if (c.extension) {
        for (const [mode, id, e] of [["listen", "Dengar", "Listen"], ["whisper", "Bisik", "Whisper"], ["barge", "Sela", "Barge"]]) {
          const f = actionForm("/live/listen", [["extension", c.extension], ["mode", mode], ["phone", ""]], T(id, e));
          f.addEventListener("submit", () => { f.elements.phone.value = myPhone(); });
          acts.appendChild(f);
        }
      }
      acts.appendChild(actionForm("/live/calls/" + u + "/transfer", [["to", "", T("ke", "to")]], T("Alihkan", "Transfer")));
      acts.appendChild(actionForm("/live/calls/" + u + "/hangup", [], T("Tutup", "Hang up"), T("Tutup panggilan ini?", "Hang up this call?")));
    }
    tr.appendChild(acts);
    return tr;
  }

  function agentState(a) {
    return a.state + (a.reason ? " (" + a.reason + ")" : "");
  }

  function renderCalls() {
    const tb = body("calls");
    tb.replaceChildren(...Object.values(view.calls)
      .sort((a, b) => a.start_ms - b.start_ms)
      .map(callRow));
  }

  function renderAgents() {
    const tb = body("agents");
    tb.replaceChildren(...Object.values(view.agents)
      .sort((a, b) => a.agent.localeCompare(b.agent))
      .map((a) => {
        const tr = el("tr");
        tr.dataset.agent = a.agent;
        tr.appendChild(el("td", a.agent));
        tr.appendChild(el("td", a.name));
        tr.appendChild(el("td", a.extension || ""));
        tr.appendChild(el("td", agentState(a), "state-" + a.state));
        const d = el("td", since(a.since_ms), "tick");
        d.dataset.since = a.since_ms;
        tr.appendChild(d);
        tr.appendChild(el("td", a.calls));
        return tr;
      }));
  }

  function renderQueues() {
    body("queues").replaceChildren(...view.queues.map((q) => {
      const tr = el("tr");
      tr.dataset.queue = q.queue;
      tr.appendChild(el("td", q.queue));
      tr.appendChild(el("td", q.waiting, q.waiting > 0 ? "waiting" : ""));
      tr.appendChild(el("td", q.waiting > 0 ? Math.round(q.longest_wait_ms / 1000) + " s" : ""));
      tr.appendChild(el("td", q.agents_logged_in));
      tr.appendChild(el("td", q.agents_ready));
      tr.appendChild(el("td", q.service_level == null ? "—" : q.service_level.toFixed(1) + " %"));
      return tr;
    }));
  }

  function yesNo(b) {
    if (b === null || b === undefined) return "—";
    return b ? T("ya", "yes") : T("tidak", "no");
  }

  function renderTrunks() {
    body("trunks").replaceChildren(...Object.values(view.trunks)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((t) => {
        const bad = t.alarm || t.health === "down" || t.registered === false;
        const tr = el("tr", null, bad ? "bad" : "ok");
        tr.dataset.trunk = t.name;
        tr.dataset.alarm = String(!!t.alarm);
        tr.appendChild(el("td", t.name));
        tr.appendChild(el("td", yesNo(t.registered)));
        tr.appendChild(el("td", t.health, "state-" + t.health));
        tr.appendChild(el("td", t.alarm ? T("ALARM", "ALARM") : "", t.alarm ? "alarm" : ""));
        tr.appendChild(el("td", t.why || ""));
        const d = el("td", since(t.since_ms), "tick");
        d.dataset.since = t.since_ms;
        tr.appendChild(d);
        return tr;
      }));
  }

  function renderBursts() {
    body("bursts").replaceChildren(...view.bursts.slice().reverse().map((b) => {
      const tr = el("tr", null, "bad");
      tr.dataset.extension = b.extension;
      tr.appendChild(el("td", new Date(b.at_ms).toLocaleTimeString(en ? "en-GB" : "id-ID", { timeZone: "Asia/Jakarta" })));
      tr.appendChild(el("td", b.extension));
      tr.appendChild(el("td", b.calls));
      tr.appendChild(el("td", b.seconds + " s"));
      return tr;
    }));
  }

  // What is still owed to SIMPEL (SYNC-3), late once the oldest pending
  // row waited past syncd's alarm threshold; technicians get a link to
  // the outbox page (/outbox) with the rows and their retry.
  function outboxRow(o) {
    const late = o.alarm_after_seconds != null && o.oldest_pending_seconds != null &&
      o.oldest_pending_seconds > o.alarm_after_seconds;
    const tr = el("tr", null, late || o.dead > 0 ? "bad" : "ok");
    tr.id = "health-outbox";
    const name = el("td");
    const label = T("Kotak keluar SIMPEL", "SIMPEL outbox");
    if (outboxPage) {
      const a = el("a", label);
      a.href = "/outbox";
      name.appendChild(a);
    } else {
      name.textContent = label;
    }
    tr.appendChild(name);
    tr.appendChild(el("td", late ? T("terlambat", "late")
      : o.dead > 0 ? T("ada surat mati", "dead letters") : "ok"));
    tr.appendChild(el("td", [
      T("menunggu ", "pending ") + o.pending,
      T("gagal ", "failing ") + o.failing,
      T("surat mati ", "dead ") + o.dead,
      o.oldest_pending_seconds != null
        ? T("tertua ", "oldest ") + Math.floor(o.oldest_pending_seconds / 60) + " min" : "",
    ].filter(Boolean).join(", ")));
    return tr;
  }

  // trunkd's E1 spans and analog lines (issue 14): a span carries no
  // call in alarm, with its D-channel down or when nobody reports it.
  function spanRow(s) {
    const raised = s.alarm === "red" || s.alarm === "yellow" || s.alarm === "blue";
    const bad = !s.reporting || raised || s.dchannel_up === false;
    const tr = el("tr", null, bad ? "bad" : "ok");
    tr.id = "health-span-" + s.name;
    tr.dataset.alarm = s.alarm;
    tr.appendChild(el("td", (s.kind === "analog" ? T("Saluran ", "Line ") : "E1 ") + s.name));
    tr.appendChild(el("td", !s.reporting ? T("tidak melapor", "not reporting")
      : raised ? T("ALARM ", "ALARM ") + s.alarm
      : s.dchannel_up === false ? T("kanal D putus", "D-channel down") : "ok"));
    const c = s.channels || {};
    const total = ["idle", "in_use", "blocked", "restarting", "ringing"]
      .reduce((n, k) => n + (c[k] || 0), 0);
    tr.appendChild(el("td", [
      T("dipakai ", "in use ") + ((c.in_use || 0) + (c.ringing || 0)) + "/" + total,
      c.blocked ? T("terblokir ", "blocked ") + c.blocked : "",
    ].filter(Boolean).join(", ")));
    return tr;
  }

  function renderHealth() {
    const h = view.health;
    if (!h) return;
    const rows = (h.daemons || []).map((d) => {
      const tr = el("tr", null, d.live && d.ready ? "ok" : "bad");
      tr.appendChild(el("td", d.name));
      tr.appendChild(el("td", d.live ? (d.ready ? "ok" : T("belum siap", "not ready")) : T("mati", "down")));
      tr.appendChild(el("td", (d.reasons || []).join("; ")));
      return tr;
    });
    if (h.ups) {
      const u = h.ups;
      const tr = el("tr", null, u.on_battery || u.low_battery ? "bad" : "ok");
      tr.appendChild(el("td", "UPS"));
      tr.appendChild(el("td", u.status));
      tr.appendChild(el("td", [
        u.charge_percent != null ? T("baterai ", "battery ") + u.charge_percent + " %" : "",
        u.runtime_seconds != null ? Math.round(u.runtime_seconds / 60) + " min" : "",
        u.phase,
      ].filter(Boolean).join(", ")));
      rows.push(tr);
    }
    for (const s of h.spans || []) rows.push(spanRow(s));
    if (h.outbox) rows.push(outboxRow(h.outbox));
    body("health").replaceChildren(...rows);
  }

  function renderFeed() {
    const p = document.getElementById("feed");
    p.dataset.connected = String(view.connected);
    p.textContent = view.connected
      ? T("Terhubung ke pbxd", "Connected to pbxd")
      : T("Tidak terhubung ke pbxd; mencoba lagi…", "Not connected to pbxd; retrying…");
  }

  function renderAll() {
    renderFeed();
    renderCalls();
    renderAgents();
    renderQueues();
    renderTrunks();
    renderBursts();
    renderHealth();
  }

  const es = new EventSource("/live/events");
  const on = (name, f) => es.addEventListener(name, (e) => f(JSON.parse(e.data)));
  on("snapshot", (s) => {
    view.calls = s.calls || {};
    view.agents = s.agents || {};
    view.queues = s.queues || [];
    view.trunks = s.trunks || {};
    view.bursts = s.bursts || [];
    view.connected = s.connected;
    renderAll();
  });
  on("call", (c) => { view.calls[c.call.uuid] = c.call; renderCalls(); });
  on("call_ended", (c) => { delete view.calls[c.uuid]; renderCalls(); });
  on("agent", (a) => { view.agents[a.agent.agent] = a.agent; renderAgents(); });
  on("queues", (q) => { view.queues = q.queues; renderQueues(); });
  on("trunk", (t) => {
    const old = view.trunks[t.trunk] || { name: t.trunk };
    view.trunks[t.trunk] = Object.assign({}, old, {
      registered: t.registered, health: t.health, alarm: t.alarm, why: t.why, since_ms: t.at_ms,
    });
    renderTrunks();
  });
  on("outside_burst", (b) => {
    view.bursts.push(b);
    if (view.bursts.length > BURSTS_KEPT) view.bursts.shift();
    renderBursts();
  });
  on("health", (h) => { view.health = h; renderHealth(); });
  on("feed", (f) => { view.connected = f.connected; renderFeed(); });
  es.onerror = () => { view.connected = false; renderFeed(); };

  setInterval(() => {
    for (const td of document.querySelectorAll("td.tick")) {
      td.textContent = since(Number(td.dataset.since));
    }
  }, 1000);
})();
