// The review page: a server-paged grid, a detail panel, keep / reject / undo by key or mouse.
// Every string from the run is put in the page as text (textContent), never as markup.
"use strict";
(() => {
  const TOKEN = document.querySelector('meta[name="review-token"]').content;
  const PAGE = 60;
  const $ = (sel) => document.querySelector(sel);
  const form = $("#filters");
  const grid = $("#grid");
  const panel = $("#detail");
  const state = { offset: 0, total: 0, items: [], cursor: 0, version: -1, undo: [], open: false };
  window.review = state; // for tests and the curious

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }

  function media(file, cls) {
    if (file.video) return el("video", { src: file.url, controls: true, preload: "metadata", class: cls });
    return el("img", { src: file.url, loading: "lazy", alt: file.name, class: cls });
  }

  function query(extra) {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return p;
  }

  let pending = null;
  async function load(offset, keepKey) {
    const p = query({ offset: Math.max(0, offset), limit: PAGE });
    if (keepKey) p.set("at", keepKey);
    const mine = (pending = p.toString());
    const res = await fetch("api/tasks?" + p);
    const data = await res.json();
    if (mine !== pending) return; // a newer filter won
    if (!res.ok) return toast(data.error || "could not load");
    if (keepKey && data.at >= 0 && (data.at < data.offset || data.at >= data.offset + PAGE)) {
      return load(Math.floor(data.at / PAGE) * PAGE, keepKey);
    }
    state.offset = data.offset;
    state.total = data.total;
    state.items = data.items;
    state.version = data.version;
    const at = keepKey ? data.items.findIndex((i) => i.key === keepKey) : -1;
    state.cursor = at >= 0 ? at : Math.min(state.cursor, Math.max(0, data.items.length - 1));
    facets(data.facets, data.all);
    render();
    document.body.dataset.ready = String(performance.now()); // ms since navigation: the bench reads it
  }

  function facets(f, all) {
    $("#counts").textContent =
      `${all} tasks · ` +
      Object.entries(f.status).map(([k, n]) => `${n} ${k}`).join(", ") +
      ` · kept ${f.decision.keep || 0}, rejected ${f.decision.reject || 0}`;
    for (const name of ["status", "decision", "model", "kind"]) {
      const select = form.elements[name];
      const have = new Set([...select.options].map((o) => o.value));
      for (const value of Object.keys(f[name]).sort()) {
        if (!have.has(value)) select.append(el("option", { value, text: value }));
      }
    }
  }

  function card(item, i) {
    const cls = ["card", item.status, item.decision, i === state.cursor ? "sel" : ""].join(" ");
    const thumbs = el("div", { class: "thumbs" }, ...item.files.slice(0, 2).map((f) => media(f)));
    const badges = el("span", {},
      item.status !== "succeeded" ? el("span", { class: "badge " + item.status, text: item.status }) : null,
      item.decision ? el("span", { class: "badge " + item.decision, text: item.decision }) : null,
      item.attempt > 1 ? el("span", { class: "badge", text: "attempt " + item.attempt }) : null);
    return el("article", {
      class: cls, "data-key": item.key, tabindex: -1,
      onclick: () => { state.cursor = i; render(); openDetail(); },
    }, thumbs,
      el("div", { class: "t" }, el("span", { class: "name", text: item.name || "-" }), badges),
      el("p", { class: "prompt", text: item.prompt, title: `${item.model} · ${item.key}` }),
      item.error ? el("div", { class: "err", text: item.error }) : null,
      el("div", { class: "acts" },
        el("button", { type: "button", class: "keep", title: "keep (k)", text: "✓ keep",
          onclick: (e) => { e.stopPropagation(); state.cursor = i; mark("keep"); } }),
        el("button", { type: "button", class: "reject", title: "reject (x)", text: "✗ reject",
          onclick: (e) => { e.stopPropagation(); state.cursor = i; mark("reject"); } })));
  }

  function render() {
    grid.replaceChildren(...state.items.map(card));
    const pages = Math.max(1, Math.ceil(state.total / PAGE));
    $("#pageinfo").textContent =
      `${state.total ? state.offset + 1 : 0}–${state.offset + state.items.length} of ${state.total}` +
      ` · page ${Math.floor(state.offset / PAGE) + 1} of ${pages}`;
    const sel = grid.children[state.cursor];
    if (sel) sel.scrollIntoView({ block: "nearest" });
    if (state.open) openDetail();
  }

  async function move(step) {
    const next = state.cursor + step;
    if (next >= 0 && next < state.items.length) {
      state.cursor = next;
      return render();
    }
    const offset = state.offset + (step > 0 ? PAGE : -PAGE);
    if (offset < 0 || offset >= state.total) return;
    state.cursor = step > 0 ? 0 : PAGE - 1;
    await load(offset);
  }

  async function decide(item, decision, prompt, remember = true) {
    const before = { key: item.key, attempt: item.attempt, decision: item.decision, prompt: item.reroll_prompt };
    const res = await fetch("api/decisions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Review-Token": TOKEN },
      body: JSON.stringify({ key: item.key, attempt: item.attempt, decision, prompt: prompt || null }),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) return toast(data.error || `refused (${res.status})`), false;
    if (remember) state.undo.push(before);
    item.decision = data.decision;
    item.reroll_prompt = data.reroll_prompt;
    toast(decision ? `${decision === "keep" ? "kept" : "rejected"} ${item.name || item.key}` : "undecided");
    return true;
  }

  async function mark(decision) {
    const item = state.items[state.cursor];
    if (!item) return;
    const prompt = decision === "reject" ? item.reroll_prompt : null;
    const value = item.decision === decision ? null : decision; // pressing it again clears it
    if (await decide(item, value, prompt)) {
      if (value && state.cursor < state.items.length - 1) state.cursor += 1;
      render();
    }
  }

  async function undo() {
    const last = state.undo.pop();
    if (!last) return toast("nothing to undo");
    const item = state.items.find((i) => i.key === last.key) || { ...last, name: last.key };
    item.attempt = last.attempt;
    if (await decide(item, last.decision, last.prompt, false)) {
      const at = state.items.indexOf(item);
      if (at >= 0) { state.cursor = at; render(); } else load(state.offset, last.key);
    }
  }

  async function openDetail() {
    const item = state.items[state.cursor];
    if (!item) return;
    state.open = true;
    const res = await fetch("api/tasks/" + encodeURIComponent(item.key));
    if (!res.ok) return;
    const d = await res.json();
    const rows = [
      ["state", d.state], ["decision", d.decision || "none"], ["model", d.model], ["kind", d.kind],
      ...Object.entries(d.parameters).filter(([k]) => k !== "model_code").map(([k, v]) => [k, JSON.stringify(v)]),
      ["unique_id", d.unique_id], ["trace_id", d.trace_id], ["key", d.key], ["source", d.source],
      ["submitted", d.submitted_at], ["finished", d.finished_at],
      ["generation", d.generation_s === null ? null : d.generation_s + " s"],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "");
    const attempt = (a, current) => el("div", { class: "attempt" },
      el("b", { text: `attempt ${a.attempt}${current ? " (current)" : ""} · ${a.decision || "undecided"}` }),
      ...a.files.map((f) => media(f)),
      el("p", { text: a.prompt }), a.error ? el("div", { class: "err", text: a.error }) : null);
    const links = (title, list) => list.length ? el("p", {}, title + ": ",
      ...list.map((l) => l.key ? el("a", { href: "#", "data-key": l.key, text: l.name || l.key,
        onclick: (e) => { e.preventDefault(); jump(l.key); } }) : el("span", { text: l.ref }))) : null;
    const edit = el("textarea", { id: "edit", "aria-label": "prompt for a reroll" });
    edit.value = d.reroll_prompt || d.prompt;
    panel.replaceChildren(
      el("button", { type: "button", onclick: closeDetail, text: "close (Esc)" }),
      el("h2", { text: d.name || d.key }),
      el("p", { class: "prompt", text: d.prompt }),
      d.error ? el("p", { class: "err", text: d.error }) : null,
      el("table", {}, ...rows.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: String(v) })))),
      d.refs.length ? el("div", { class: "refs" }, "references: ", ...d.refs.map((r) => el("span", {},
        r.thumb ? el("img", { src: r.thumb, alt: r.name }) : null, el("span", { text: (r.name || r.ref) + " " })))) : null,
      links("parents", d.parents), links("children", d.children),
      el("div", { class: "attempts" }, ...d.attempts.map((a) => attempt(a, false)),
        attempt({ ...d, attempt: d.attempt }, true)),
      el("label", { for: "edit", text: "prompt for a reroll (sent by run --reroll-rejected):" }), edit,
      el("p", {},
        el("button", { type: "button", onclick: () => mark("keep"), text: "keep (k)" }), " ",
        el("button", { type: "button", onclick: () => rejectWithPrompt(edit.value), text: "reject with this prompt" })));
    panel.hidden = false;
  }

  async function rejectWithPrompt(text) {
    const item = state.items[state.cursor];
    if (item && (await decide(item, "reject", text))) render();
  }

  function closeDetail() { state.open = false; panel.hidden = true; }

  async function jump(key) {
    form.reset();
    await load(0, key);
  }

  let toastTimer = 0;
  function toast(text) {
    const t = $("#toast");
    t.textContent = text;
    t.className = "on";
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (t.className = ""), 1800);
  }

  document.addEventListener("keydown", (e) => {
    const typing = e.target.closest && e.target.closest("input, textarea, select");
    if (e.key === "Escape") { if (typing) e.target.blur(); closeDetail(); return; }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      ArrowRight: () => move(1), ArrowDown: () => move(1), j: () => move(1),
      ArrowLeft: () => move(-1), ArrowUp: () => move(-1),
      k: () => mark("keep"), x: () => mark("reject"), u: () => undo(),
      n: () => move(PAGE - state.cursor), p: () => state.offset > 0 && load(state.offset - PAGE),
      Enter: () => openDetail(), e: () => openDetail().then(() => $("#edit") && $("#edit").focus()),
      "/": () => form.elements.q.focus(),
    };
    const act = actions[e.key];
    if (act) { e.preventDefault(); act(); }
  });

  let typingTimer = 0;
  form.addEventListener("input", () => {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { state.cursor = 0; load(0); }, 150);
  });
  $("#prev").addEventListener("click", () => state.offset > 0 && load(state.offset - PAGE));
  $("#next").addEventListener("click", () => state.offset + PAGE < state.total && load(state.offset + PAGE));

  // A run may still be going: pick up new results, keeping the cursor on its task.
  setInterval(async () => {
    if (document.hidden || document.activeElement.closest("input, textarea, select")) return;
    const res = await fetch("api/tasks?" + query({ offset: state.offset, limit: 1 }));
    if (!res.ok) return;
    const data = await res.json();
    if (data.version !== state.version) {
      const item = state.items[state.cursor];
      load(state.offset, item && item.key);
    }
  }, 4000);

  load(0);
})();
