// The gallery's pages and filters. GALLERY (set just before) says how the data is chunked.
// Data are scripts beside this page: gallery/chunk-NNNNN.js (the cards, galleryChunk) and
// gallery/search-NNNNN.js (what filters read, gallerySearch), loaded only when a page or a
// filter needs them. Run-derived strings are set as text, never markup.
"use strict";
(() => {
  const G = GALLERY;
  const form = document.getElementById("filters");
  const grid = document.getElementById("grid");
  const state = { page: 0, list: null, busy: 0 };
  window.gallery = state;

  function loader(kind, call) {
    const got = new Array(G.chunks);
    const waiting = {};
    window[call] = (n, rows) => {
      got[n] = rows;
      (waiting[n] || []).forEach((f) => f());
    };
    return (n) => {
      if (got[n]) return Promise.resolve(got[n]);
      return new Promise((resolve, reject) => {
        const first = !waiting[n];
        (waiting[n] = waiting[n] || []).push(() => resolve(got[n]));
        if (!first) return;
        const s = document.createElement("script");
        s.src = `gallery/${kind}-${String(n).padStart(5, "0")}.js?v=${encodeURIComponent(G.v)}`;
        s.onerror = () => reject(new Error("missing " + s.src));
        document.head.append(s);
      });
    };
  }
  const chunk = loader("chunk", "galleryChunk");
  const search = loader("search", "gallerySearch");
  const every = [...Array(G.chunks).keys()];
  // The cards at these positions (in file order), each chunk loaded once.
  async function at(positions) {
    const need = [...new Set(positions.map((p) => Math.floor(p / G.chunk)))];
    const got = Object.fromEntries(await Promise.all(need.map(async (c) => [c, await chunk(c)])));
    return positions.map((p) => got[Math.floor(p / G.chunk)][p % G.chunk]);
  }

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") n.textContent = v; else n.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids) if (c) n.append(c);
    return n;
  }
  const isVideo = (f) => /\.(mp4|webm|mov)$/i.test(f);
  function media(f, alt) {
    if (isVideo(f)) return el("video", { controls: true, preload: "metadata", src: f });
    return el("a", { href: f }, el("img", { src: f, loading: "lazy", alt }));
  }
  function card(it) {
    const p = it.parameters || {};
    const shown = Object.entries(p).filter(([k]) => k !== "ref_images" && k !== "model_code")
      .map(([k, v]) => `${k} ${v}`).join(" · ");
    const ids = [["unique_id", "unique_id"], ["trace_id", "trace"], ["key", "key"]]
      .filter(([k]) => it[k]).map(([k, l]) => `${l} ${it[k]}`).join(" · ");
    const fig = (r) => el("figure", {}, el("img", { src: r.thumb, loading: "lazy", alt: "" }), el("figcaption", { text: r.name || r.ref }));
    const refs = (it.refs || []).map((r) => r.thumb
      ? (r.parent ? el("a", { href: `#t-${r.parent}` }, fig(r)) : fig(r))
      : /^https?:\/\//i.test(r.ref) ? el("a", { href: r.ref, rel: "noreferrer", text: r.ref.slice(0, 80) })
      : el("span", { text: r.name || r.ref }));
    const earlier = (it.attempts || []).map((a) => el("div", { class: "earlier" },
      `attempt ${a.attempt} (${a.decision || "undecided"}): `, ...(a.files || []).map((f) => media(f, ""))));
    return el("article", { class: `task ${it.status} ${it.decision || ""}`, id: `t-${it.key}`, "data-key": it.key },
      el("div", { class: "head" }, el("b", { text: it.name || it.key }),
        it.status !== "succeeded" ? el("span", { class: "badge " + it.status, text: it.status }) : null,
        it.decision ? el("span", { class: "badge " + it.decision, text: it.decision }) : null),
      el("div", { class: "thumbs" }, ...(it.files || []).map((f, i) => media(f, `image ${i + 1} of ${it.name || it.key}`))),
      el("p", { class: "prompt", text: it.prompt }),
      it.error ? el("p", { class: "error", text: it.error }) : null,
      refs.length ? el("div", { class: "refs" }, ...refs) : null,
      el("details", {}, el("summary", { text: p.model_code || "" }), el("div", { class: "params", text: shown }),
        el("div", { class: "ids", text: ids }), ...earlier));
  }

  function filters() {
    const f = Object.fromEntries(new FormData(form));
    f.words = (f.q || "").toLowerCase().split(/\s+/).filter(Boolean);
    return f;
  }
  // A search row: [status, decision, model, kind, lower-cased name/prompt/key, manifest index].
  function matches(f, r) {
    if (f.status && r[0] !== f.status) return false;
    if (f.decision && r[1] !== f.decision) return false;
    if (f.model && r[2] !== f.model) return false;
    if (f.kind && r[3] !== f.kind) return false;
    return f.words.every((w) => r[4].includes(w));
  }

  async function show(page) {
    const mine = ++state.busy;
    const f = filters();
    const plain = !f.words.length && !f.status && !f.decision && !f.model && !f.kind && !f.sort;
    let positions;
    if (plain) {
      state.list = null;
      positions = [];
      for (let p = page * G.page; p < Math.min(G.total, page * G.page + G.page); p++) positions.push(p);
    } else {
      if (!state.list || state.list.key !== JSON.stringify(f)) {
        document.getElementById("pageinfo").textContent = "searching…";
        const rows = (await Promise.all(every.map(search))).flat();
        const hits = [];
        rows.forEach((r, p) => { if (matches(f, r)) hits.push(p); });
        if (f.sort === "order") hits.sort((a, b) => rows[a][5] - rows[b][5]);
        state.list = { key: JSON.stringify(f), hits };
      }
      positions = state.list.hits.slice(page * G.page, page * G.page + G.page);
    }
    const total = plain ? G.total : state.list.hits.length;
    const items = await at(positions);
    if (mine !== state.busy) return;
    state.page = page;
    state.total = total;
    grid.replaceChildren(...items.map(card));
    const pages = Math.max(1, Math.ceil(total / G.page));
    document.getElementById("pageinfo").textContent =
      `${total ? page * G.page + 1 : 0}–${page * G.page + items.length} of ${total} · page ${page + 1} of ${pages}`;
    document.body.dataset.shown = String(mine);
    document.body.dataset.paintMs = String(performance.now()); // since navigation: the bench reads it
  }

  form.hidden = false;
  document.getElementById("pager").hidden = false;
  const more = document.querySelector(".more");
  if (more) more.remove();
  let timer = 0;
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => show(0), 120); });
  document.getElementById("prev").addEventListener("click", () => state.page > 0 && show(state.page - 1));
  document.getElementById("next").addEventListener("click", () =>
    (state.page + 1) * G.page < state.total && show(state.page + 1));
  // A link to a card (a chained task's parent) whose card is on another page: find it by key.
  async function follow() {
    const id = decodeURIComponent(location.hash.slice(1));
    if (!id.startsWith("t-") || document.getElementById(id)) return;
    form.elements.q.value = id.slice(2);
    await show(0);
    const found = document.getElementById(id);
    if (found) found.scrollIntoView();
  }
  window.addEventListener("hashchange", follow);
  state.total = G.total;
  show(0).then(follow);
})();
