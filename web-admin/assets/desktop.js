// The agent desktop: one EventSource on /desktop/events, which the
// server has already filtered to this agent ("snapshot", then "agent",
// "call", "call_ended", "feed"). A call that arrives for this agent is
// popped at once (before the phone is answered): its caller, service and
// history from /desktop/calls/<uuid>/pop, the caller's tickets from
// /api/v1/tickets, and the new-ticket form filled with the caller's
// number and the call. Text goes in with textContent only: names come
// from callers and must never become markup.
(function () {
  "use strict";
  const root = document.getElementById("desktop");
  if (!root) return;
  const en = root.dataset.lang === "en";
  const T = (id, e) => (en ? e : id);
  const meta = document.querySelector("meta[name=csrf-token]");
  const csrf = meta ? meta.content : "";
  const $ = (id) => document.getElementById(id);

  const view = { agent: null, calls: {}, popped: {}, last: null };
  const STATES = {
    logged_out: ["Belum masuk", "Logged out"],
    ready: ["Siap", "Ready"],
    offered: ["Ditawari panggilan", "Offered a call"],
    on_call: ["Dalam panggilan", "On a call"],
    on_hold: ["Ditahan", "On hold"],
    wrapup: ["Wrap-up", "Wrap-up"],
    not_ready: ["Tidak siap", "Not ready"],
    busy: ["Sibuk", "Busy"],
  };
  const CALL_STATES = {
    ringing: ["berdering", "ringing"],
    answered: ["tersambung", "answered"],
    held: ["ditahan", "held"],
    flow: ["di alur", "in a flow"],
    ending: ["berakhir", "ending"],
  };
  const OUTCOMES = {
    answered: ["dijawab", "answered"],
    busy: ["sibuk", "busy"],
    no_answer: ["tak dijawab", "no answer"],
    cancelled: ["dibatalkan", "cancelled"],
    failed: ["gagal", "failed"],
    interrupted: ["terputus", "interrupted"],
  };
  const label = (table, k) => (table[k] ? T(table[k][0], table[k][1]) : k);

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

  function when(ms) {
    return new Date(ms).toLocaleString(en ? "en-GB" : "id-ID");
  }

  function say(text, bad) {
    const m = $("message");
    m.textContent = text;
    m.className = bad ? "bad" : "good";
  }

  // The refusal's words from the server's error page (parsed, never run).
  async function refusal(r) {
    const text = await r.text();
    try {
      const j = JSON.parse(text);
      return [j.field, j.message || j.error].filter(Boolean).join(": ");
    } catch (_) {
      const doc = new DOMParser().parseFromString(text, "text/html");
      const main = doc.querySelector("main");
      return (main ? main.textContent : "").replace(/\s+/g, " ").trim() || String(r.status);
    }
  }

  async function post(path, body) {
    const r = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {}),
    });
    if (!r.ok) throw new Error(await refusal(r));
    return r.json();
  }

  function action(path, body, done) {
    return post(path, body)
      .then((j) => say(done || T("Terkirim", "Done"), false) || j)
      .catch((e) => say(T("Ditolak: ", "Refused: ") + e.message, true));
  }

  function renderAgent() {
    const a = view.agent;
    const st = $("state");
    const state = a ? a.state : "logged_out";
    st.dataset.state = state;
    st.textContent = label(STATES, state) + (a && a.reason ? " (" + a.reason + ")" : "");
    const s = $("since");
    if (a && a.since_ms) {
      s.dataset.since = a.since_ms;
      s.textContent = since(a.since_ms);
    } else {
      delete s.dataset.since;
      s.textContent = "";
    }
    $("at-phone").textContent = a && a.extension ? T("di telepon ", "at phone ") + a.extension : "";
    if (a && a.extension && !$("d-extension").value) $("d-extension").value = a.extension;
  }

  // The consultation under way for each of the agent's calls (its UUID).
  const consults = {};

  function callRow(c) {
    const tr = el("tr");
    tr.dataset.uuid = c.uuid;
    tr.dataset.state = c.state;
    tr.appendChild(el("td", c.caller + (c.caller_name ? " " + c.caller_name : "")));
    tr.appendChild(el("td", [c.dialled, c.queue].filter(Boolean).join(" · ")));
    tr.appendChild(el("td", label(CALL_STATES, c.state), "state-" + c.state));
    const d = el("td", since(c.answer_ms || c.start_ms), "tick");
    d.dataset.since = c.answer_ms || c.start_ms;
    tr.appendChild(d);
    const acts = el("td");
    const u = encodeURIComponent(c.uuid);
    const to = el("input");
    to.size = 6;
    to.placeholder = T("ke", "to");
    to.className = "transfer-to";
    const tb = el("button", T("Alihkan", "Transfer"), "transfer");
    tb.type = "button";
    tb.addEventListener("click", () => action("/desktop/calls/" + u + "/transfer", { to: to.value }));
    const hb = el("button", T("Tutup", "Hang up"), "hangup");
    hb.type = "button";
    hb.addEventListener("click", () => action("/desktop/calls/" + u + "/hangup", {}));
    // Hold while talking, resume while held: the state comes back on the
    // feed (pbxd's held / resumed), so the button follows the phone too.
    const held = c.state === "held";
    const ob = el("button", held ? T("Lanjutkan", "Resume") : T("Tahan", "Hold"), "hold");
    ob.type = "button";
    ob.dataset.held = held ? "1" : "";
    ob.addEventListener("click", () => action("/desktop/calls/" + u + (held ? "/resume" : "/hold"), {}));
    // Attended transfer: consult the number typed (the caller is held,
    // the agent's phone calls it), then complete or cancel. pbxd checks
    // the consultation was placed from this agent's phone.
    const consult = consults[c.uuid];
    const parts = [to, tb, ob];
    if (consult) {
      const cb = el("button", T("Selesaikan alih", "Complete transfer"), "complete");
      cb.type = "button";
      cb.addEventListener("click", () =>
        action("/desktop/calls/" + u + "/complete", { consult: consult })
          .then(() => { delete consults[c.uuid]; renderCalls(); }));
      const xb = el("button", T("Batal konsultasi", "Cancel consult"), "cancel-consult");
      xb.type = "button";
      xb.addEventListener("click", () =>
        action("/desktop/calls/" + u + "/cancel-consult", { consult: consult })
          .then(() => { delete consults[c.uuid]; renderCalls(); }));
      // Conference with the consultation up: the party the agent is
      // talking to joins the caller (taken off hold) and the agent, not
      // called a second time.
      const jb = el("button", T("Konferensi", "Conference"), "conference");
      jb.type = "button";
      jb.addEventListener("click", () =>
        action("/desktop/calls/" + u + "/conference", { consult: consult })
          .then((j) => { if (j) { delete consults[c.uuid]; renderCalls(); } }));
      parts.push(cb, jb, xb);
    } else {
      const kb = el("button", T("Konsultasi", "Consult"), "consult");
      kb.type = "button";
      kb.addEventListener("click", () =>
        action("/desktop/calls/" + u + "/consult", { to: to.value }).then((j) => {
          if (j && j.reply && j.reply.uuid) {
            consults[c.uuid] = j.reply.uuid;
            renderCalls();
          }
        }));
      // Conference: the number typed is called and mixed in with the
      // caller and the agent when it answers.
      const fb = el("button", T("Konferensi", "Conference"), "conference");
      fb.type = "button";
      fb.addEventListener("click", () => action("/desktop/calls/" + u + "/conference", { to: to.value }));
      parts.push(kb, fb);
    }
    acts.append(...parts, hb);
    tr.appendChild(acts);
    return tr;
  }

  function renderCalls() {
    document.querySelector("#calls tbody").replaceChildren(
      ...Object.values(view.calls).sort((a, b) => a.start_ms - b.start_ms).map(callRow));
  }

  function ticketRow(t) {
    const tr = el("tr", null, t.status === "closed" ? "closed" : "open");
    tr.dataset.number = t.number;
    tr.append(el("td", t.number), el("td", t.category), el("td", t.status), el("td", t.priority));
    return tr;
  }

  async function popTickets(phone) {
    const r = await fetch("/api/v1/tickets?limit=20&phone=" + encodeURIComponent(phone), { credentials: "same-origin" });
    if (!r.ok) return;
    const j = await r.json();
    // Open tickets first, then the closed ones.
    const ts = (j.tickets || []).sort((a, b) => (a.status === "closed") - (b.status === "closed"));
    document.querySelector("#pop-tickets tbody").replaceChildren(...ts.map(ticketRow));
  }

  async function pop(c) {
    view.popped[c.uuid] = true;
    view.last = c.uuid;
    // What the event already says shows at once; the rest follows.
    $("pop").hidden = false;
    $("pop").dataset.uuid = c.uuid;
    $("pop-caller").textContent = c.caller;
    $("pop-name").textContent = c.caller_name || "";
    $("pop-service").textContent = [c.dialled, c.queue].filter(Boolean).join(" · ");
    document.querySelector("#pop-history tbody").replaceChildren();
    document.querySelector("#pop-tickets tbody").replaceChildren();
    $("t-call").value = c.uuid;
    $("t-call-shown").textContent = c.uuid;
    $("t-queue").value = c.queue || "";
    $("t-phone").value = c.caller;
    $("t-name").value = c.caller_name || "";
    $("t-description").value = "";
    $("t-result").textContent = "";
    popTickets(c.caller);
    const r = await fetch("/desktop/calls/" + encodeURIComponent(c.uuid) + "/pop", { credentials: "same-origin" });
    if (!r.ok) return;
    const p = await r.json();
    if ($("pop").dataset.uuid !== p.uuid) return;
    $("pop-service").textContent = [
      T("Nomor ", "Number ") + p.dialled,
      p.flow ? T("alur ", "flow ") + p.flow : null,
      p.queue ? T("antrean ", "queue ") + p.queue : null,
    ].filter(Boolean).join(" · ");
    document.querySelector("#pop-history tbody").replaceChildren(...p.history.map((h) => {
      const tr = el("tr");
      tr.dataset.uuid = h.uuid;
      tr.append(el("td", when(h.start_ms)), el("td", h.callee), el("td", h.disposition ? label(OUTCOMES, h.disposition) : ""));
      const rec = el("td");
      for (const href of h.recordings) {
        const a = el("a", T("putar", "play"));
        a.href = href;
        a.target = "_blank";
        rec.appendChild(a);
      }
      tr.appendChild(rec);
      return tr;
    }));
  }

  function onCall(c) {
    view.calls[c.uuid] = c;
    renderCalls();
    if (!view.popped[c.uuid]) pop(c);
  }

  const es = new EventSource("/desktop/events");
  const feed = (on) => {
    const f = $("feed");
    f.dataset.connected = on ? "true" : "false";
    f.textContent = on ? T("Terhubung", "Connected") : T("Terputus, menyambung lagi…", "Disconnected, reconnecting…");
  };
  es.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    view.agent = s.agent;
    view.calls = {};
    feed(s.connected !== false);
    renderAgent();
    for (const c of s.calls) onCall(c);
    renderCalls();
  });
  es.addEventListener("agent", (e) => {
    view.agent = JSON.parse(e.data).agent;
    renderAgent();
  });
  es.addEventListener("call", (e) => onCall(JSON.parse(e.data).call));
  es.addEventListener("call_ended", (e) => {
    delete view.calls[JSON.parse(e.data).uuid];
    renderCalls();
  });
  es.addEventListener("feed", (e) => feed(JSON.parse(e.data).connected));
  es.addEventListener("error", () => feed(false));

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    action("/desktop/login", { agent: $("d-agent").value, pin: $("d-pin").value, extension: $("d-extension").value },
      T("Masuk antrean", "Logged in to the queues"));
    $("d-pin").value = "";
  });
  $("do-ready").addEventListener("click", () => action("/desktop/ready", {}));
  $("do-not-ready").addEventListener("click", () => action("/desktop/not-ready", { code: $("d-reason").value }));
  $("do-logout").addEventListener("click", () => action("/desktop/logout", {}));
  $("do-wrapup").addEventListener("click", () =>
    action("/desktop/wrapup", { code: $("d-wrapup").value, uuid: view.last }, T("Wrap-up dicatat", "Wrap-up recorded")));
  $("dial-form").addEventListener("submit", (e) => {
    e.preventDefault();
    action("/desktop/dial", { to: $("d-dial").value }, T("Memanggil…", "Calling…"));
  });
  $("ticket-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const call = $("t-call").value;
    const body = {
      reporter_name: $("t-name").value,
      reporter_phone: $("t-phone").value,
      reporter_email: $("t-email").value,
      category: $("t-category").value,
      description: $("t-description").value,
      urgency: $("t-urgency").value,
      impact: $("t-impact").value,
      unit: $("t-unit").value,
      queue: $("t-queue").value || null,
      call_ids: call ? [call] : [],
    };
    const out = $("t-result");
    fetch("/api/v1/tickets", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (!r.ok) throw new Error(await refusal(r));
      const t = (await r.json()).ticket;
      out.textContent = T("Tiket tersimpan: ", "Ticket saved: ") + t.number;
      out.dataset.number = t.number;
      out.className = "good";
      document.querySelector("#pop-tickets tbody").prepend(ticketRow(t));
    }).catch((err) => {
      out.textContent = T("Ditolak: ", "Refused: ") + err.message;
      out.className = "bad";
    });
  });

  setInterval(() => {
    for (const d of document.querySelectorAll("[data-since]")) d.textContent = since(Number(d.dataset.since));
  }, 1000);
})();
