// latentfolio gallery: one page, views by URL hash. Every name is put in the page as text
// (textContent), never as HTML, so a file called <img src=x onerror=...> shows as its name.
"use strict";
const TOKEN = document.querySelector('meta[name="lf-token"]').content;
const main = document.getElementById("main");
const state = { summary: null, points: null, basket: JSON.parse(localStorage.getItem("lf-basket") || "[]") };

// --- helpers ---------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
function showError(msg) {
  const box = document.getElementById("error");
  box.textContent = msg; box.hidden = !msg;
}
async function api(path, opts = {}) {
  const init = { method: opts.method || (opts.json || opts.body ? "POST" : "GET"), headers: {} };
  if (init.method !== "GET") init.headers["X-Token"] = TOKEN;
  if (opts.json) { init.body = JSON.stringify(opts.json); init.headers["Content-Type"] = "application/json"; }
  if (opts.body) { init.body = opts.body; Object.assign(init.headers, opts.headers || {}); }
  const r = await fetch(path, init);
  if (opts.raw && r.ok) return r;
  const data = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok || data.error) throw new Error(data.error || `${r.status}`);
  return data;
}
async function guarded(fn) {
  try { showError(""); return await fn(); } catch (e) { showError(e.message); }
}
function tile(img, caption, href) {
  return el("a", { class: "tile", href: href === null ? null : (href || `#/image/${img.id}`), "data-id": img.id, title: img.path },
    el("img", { src: `/api/thumb/${img.id}`, alt: img.name, loading: "lazy" }),
    el("span", { class: "name", text: img.name }),
    caption != null ? el("span", { text: caption }) : null);
}
function saveBasket() {
  localStorage.setItem("lf-basket", JSON.stringify(state.basket));
  document.getElementById("basket-count").textContent = state.basket.length ? `(${state.basket.length})` : "";
}
function pixelated() { return state.summary && state.summary.source !== "folder" ? "grid pixelated" : "grid"; }

// --- map -------------------------------------------------------------------------------------
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
async function viewMap() {
  const color = el("select", { id: "color" }, ...["label", "cluster", "outlier"].map(c => el("option", { value: c, text: `colour by ${c}` })));
  const sel = el("span", { id: "selection", class: "note", text: "Lasso or box: select images" });
  const actions = el("span", { id: "selection-actions", hidden: true },
    el("button", { id: "export-csv", text: "Export CSV", onclick: () => exportSel("csv") }),
    el("button", { id: "export-json", text: "Export JSON", onclick: () => exportSel("json") }),
    el("input", { id: "export-out", placeholder: "/absolute/folder/for/links", size: 28 }),
    el("button", { id: "export-folder", text: "Write links", onclick: exportFolder }),
    el("button", { text: "Pick for Create", onclick: () => { state.basket = state.selected.slice(0, 4); saveBasket(); } }));
  main.replaceChildren(el("div", { class: "toolbar" }, color, sel, actions), el("div", { id: "map" }), el("div", { id: "hover", hidden: true }));
  if (!state.points) state.points = await api("/api/points");
  color.value = state.points.labels.length ? "label" : "cluster";
  color.onchange = () => guarded(async () => {
    if (color.value === "outlier" && !state.points.outlier) { await api("/api/outliers?top=1"); state.points = await api("/api/points"); }
    drawMap(color.value);
  });
  drawMap(color.value);
}
function drawMap(by) {
  const p = state.points, div = document.getElementById("map");
  const values = by === "outlier" ? p.outlier : (by === "label" ? p.label : p.cluster);
  const name = v => by === "label" ? (v >= 0 ? p.labels[v] : "no label") : (v >= 0 ? `cluster ${v}` : "no cluster");
  let traces;
  const groups = new Map();
  if (by !== "outlier") for (let i = 0; i < values.length && groups.size <= 40; i++) {
    if (!groups.has(values[i])) groups.set(values[i], []);
    groups.get(values[i]).push(i);
  }
  if (by !== "outlier" && groups.size <= 40) {
    // one trace per group, each one colour: plotly draws 100k points without parsing 100k colours
    traces = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([v, idx]) => ({
      type: "scattergl", mode: "markers", name: name(v), x: idx.map(i => p.x[i]), y: idx.map(i => p.y[i]),
      customdata: idx.map(i => p.ids[i]), hovertemplate: `${name(v).replace(/%/g, "%%")}<extra></extra>`,
      marker: { size: 5, opacity: 0.8, color: v < 0 ? "#bbb" : PALETTE[v % PALETTE.length] } }));
  } else {
    traces = [{ type: "scattergl", mode: "markers", x: p.x, y: p.y, customdata: p.ids, hovertemplate: `${by} %{marker.color}<extra></extra>`,
      marker: { size: 5, opacity: 0.8, color: values, colorscale: "Viridis", showscale: true } }];
  }
  const layout = { margin: { l: 30, r: 10, t: 10, b: 30 }, dragmode: "lasso", hovermode: "closest", images: [],
                   showlegend: traces.length > 1, legend: { itemsizing: "constant" },
                   xaxis: { zeroline: false }, yaxis: { zeroline: false, scaleanchor: "x" } };
  Plotly.newPlot(div, traces, layout, { displaylogo: false, responsive: true }).then(() => {
    window.__lfMapPainted = performance.now(); document.body.dataset.mapPoints = p.ids.length;
    showThumbs(div);
  });
  div.on("plotly_click", e => { location.hash = `#/image/${e.points[0].customdata}`; });
  div.on("plotly_selected", e => {
    state.selected = e ? e.points.map(q => q.customdata) : [];
    document.getElementById("selection").textContent = `${state.selected.length} selected`;
    document.getElementById("selection-actions").hidden = !state.selected.length;
  });
  const hover = document.getElementById("hover");
  div.on("plotly_hover", e => {
    hover.replaceChildren(el("img", { src: `/api/thumb/${e.points[0].customdata}` }), el("div", { text: e.points[0].data.name || "" }));
    hover.style.left = (e.event.clientX + 14) + "px"; hover.style.top = (e.event.clientY + 14) + "px"; hover.hidden = false;
  });
  div.on("plotly_unhover", () => { hover.hidden = true; });
  div.on("plotly_relayout", () => { if (!state.placing) showThumbs(div); });
}
function showThumbs(div) {
  // zoomed in far enough (200 images or fewer in view): thumbnails instead of dots
  const xa = div._fullLayout.xaxis.range, ya = div._fullLayout.yaxis.range, p = state.points;
  const inView = [];
  for (let i = 0; i < p.x.length && inView.length <= 200; i++)
    if (p.x[i] >= xa[0] && p.x[i] <= xa[1] && p.y[i] >= ya[0] && p.y[i] <= ya[1]) inView.push(i);
  const size = Math.min(xa[1] - xa[0], ya[1] - ya[0]) / 12;
  const images = inView.length <= 200 ? inView.map(i => ({ source: `/api/thumb/${p.ids[i]}`, xref: "x", yref: "y",
    x: p.x[i], y: p.y[i], sizex: size, sizey: size, xanchor: "center", yanchor: "middle", layer: "above" })) : [];
  if (images.length || (div.layout.images || []).length) {
    state.placing = true;  // this relayout is ours: its event must not place them again
    Plotly.relayout(div, { images }).finally(() => { state.placing = false; });
  }
}
async function exportSel(fmt) {
  await guarded(async () => {
    const r = await api("/api/export", { json: { ids: state.selected, format: fmt }, raw: true });
    const url = URL.createObjectURL(await r.blob());
    el("a", { href: url, download: `selection.${fmt}` }).click();
  });
}
async function exportFolder() {
  await guarded(async () => {
    const r = await api("/api/export-folder", { json: { ids: state.selected, out: document.getElementById("export-out").value } });
    document.getElementById("selection").textContent = `wrote ${r.images} links to ${r.out}/selection`;
  });
}

// --- image page ------------------------------------------------------------------------------
async function viewImage(id) {
  const info = await api(`/api/info/${id}`);
  const rows = [["file", info.path], ["label", info.label ?? "—"], ["cluster", info.cluster ?? "—"], ["split", info.split],
    ["bytes", info.bytes != null ? info.bytes.toLocaleString() : "—"],
    ["reconstruction", info.psnr != null ? `${info.psnr} dB PSNR` : (info.recon_note || "—")],
    ["outlier score", info.outlier ? `${info.outlier.score} (rank ${info.outlier.rank}, ${info.outlier.reason})` : "being computed (reload the page)"]];
  const pick = el("button", { id: "pick", text: "Pick for Create", onclick: () => {
    if (!state.basket.includes(info.id)) state.basket = [...state.basket, info.id].slice(-4); saveBasket(); } });
  main.replaceChildren(el("div", { class: "image-page", "data-id": info.id },
    el("div", {}, el("h2", { id: "image-name", text: info.name }), el("img", { class: "main-img", src: `/api/image/${info.id}`, alt: info.name })),
    el("div", {}, el("table", { class: "info" }, ...rows.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: String(v) })))),
      pick,
      info.psnr != null ? el("div", { class: "recon" }, el("p", { class: "note", id: "recon-note", text: info.recon_note }),
        info.recon_shown ? el("img", { src: `/api/recon/${info.id}`, alt: "model input | reconstruction" }) : null) : null)),
    ...(info.content_neighbours ? [
      el("h3", { text: `${info.content_neighbours.length} nearest by content (${info.content_space}: what the pictures show)` }),
      el("div", { class: pixelated(), id: "content-neighbours" }, ...info.content_neighbours.map(n => tile(n, `d=${n.distance}`)))] : []),
    el("h3", { text: `${info.neighbours.length} nearest by the model's codes (colour and layout)` }),
    el("div", { class: pixelated(), id: "neighbours" }, ...info.neighbours.map(n => tile(n, `d=${n.distance}`))));
}

// --- search ----------------------------------------------------------------------------------
function viewSearch() {
  const results = el("div", { id: "results", class: pixelated() });
  const input = el("input", { type: "file", id: "upload", accept: "image/*,.psd,.kra,.ora,.heic,.jxl" });
  const path = el("input", { id: "query-path", placeholder: "or a path the server can read", size: 40 });
  const show = r => results.replaceChildren(el("p", { class: "note", text: `nearest to ${r.query} (${r.space === "codes" ? "by the model's codes" : `by content, ${r.space}`})` }), ...r.results.map(h => tile(h, `d=${h.distance}`)));
  const send = file => guarded(async () => {
    results.replaceChildren(el("p", { class: "note", text: "encoding…" }));
    show(await api("/api/search", { body: file, headers: { "X-Filename": encodeURIComponent(file.name) } }));
  }).then(() => { if (document.getElementById("error").textContent) results.replaceChildren(); });
  input.onchange = () => input.files[0] && send(input.files[0]);
  const drop = el("div", { class: "drop", id: "drop" }, el("p", { text: "Drop an image here, or choose one: " }), input);
  drop.ondragover = e => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = e => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) send(e.dataTransfer.files[0]); };
  main.replaceChildren(drop, el("div", { class: "toolbar" }, path,
    el("button", { text: "Search", onclick: () => guarded(async () => show(await api("/api/search-path", { json: { path: path.value } }))) })), results);
}

// --- duplicates ------------------------------------------------------------------------------
async function viewDuplicates() {
  const keep = el("select", { id: "keep-rule" }, ...["largest", "sharpest", "oldest"].map(k => el("option", { value: k, text: `keep the ${k}` })));
  const psnr = el("input", { id: "same-psnr", type: "number", value: 32, step: 1, min: 1, style: "width:5em" });
  const thr = el("input", { id: "threshold", type: "number", step: "any", placeholder: "auto", style: "width:7em" });
  const mode = el("select", { id: "apply-mode" }, el("option", { value: "move", text: "move copies to _duplicates/" }),
    el("option", { value: "symlink", text: "link copies into _duplicates/" }));
  const body = el("div", { id: "dup-groups" }), planBox = el("div", { id: "plan" }), jbox = el("div", { id: "journals" });
  const done = el("div", { id: "dup-done", class: "note" });
  main.replaceChildren(el("div", { class: "toolbar" }, keep, el("label", { text: "same picture ≥ " }), psnr, el("span", { text: "dB" }),
    el("label", { text: "near: latent distance ≤" }), thr, el("button", { text: "Find", onclick: () => load() })), done, body, planBox, jbox);
  let data = null;
  const keepers = {};
  async function load() {
    await guarded(async () => {
      const q = new URLSearchParams({ keep: keep.value, same_psnr: psnr.value });
      if (thr.value) q.set("threshold", thr.value);
      body.replaceChildren(el("p", { class: "note", text: `finding duplicates among ${state.summary ? state.summary.images.toLocaleString() : "all"} images…` }));
      data = await api(`/api/duplicates?${q}`);
      Object.keys(keepers).forEach(k => delete keepers[k]);
      renderGroups(); planBox.replaceChildren(); await loadJournals();
    });
  }
  function renderGroups() {
    const t = data.tiers;
    body.replaceChildren(el("p", { class: "note", id: "dup-summary",
      text: `${data.groups.length} groups: ${t.identical} identical, ${t.same} re-encoded or resized, ${t.near} near (threshold ${data.threshold})` }),
      ...data.groups.map((g, i) => {
        const k = keepers[i] ?? g.keep;
        const box = el("input", { type: "checkbox", class: "include", "data-group": i, checked: g.tier !== "near" });  // near: maybe two works
        return el("div", { class: "group", "data-group": i },
          el("div", { class: "head" }, box, el("span", { class: `badge ${g.tier}`, text: g.tier }),
            el("span", { class: "note", text: `suggested keeper: ${g.rule}` })),
          el("div", { class: pixelated() }, ...g.images.map(im => {
            const t = tile(im, im.id === k ? "keep" : im.relation, null);
            if (im.id === k) t.classList.add("keep");
            t.onclick = () => { keepers[i] = im.id; renderGroups(); };
            return t;
          })));
      }),
      data.groups.length ? el("div", { class: "toolbar" }, mode,
        el("button", { id: "dry-run", text: "Show plan (dry run)", onclick: dryRun }),
        el("button", { id: "apply", class: "primary", text: "Apply", disabled: true, onclick: applyPlan })) : null);
  }
  function chosen() {
    return { plan: data.plan, groups: [...body.querySelectorAll("input.include")].filter(b => b.checked).map(b => +b.dataset.group),
             keepers, mode: mode.value };
  }
  async function dryRun() {
    await guarded(async () => {
      const r = await api("/api/duplicates/plan", { json: chosen() });
      planBox.replaceChildren(el("h3", { text: `Plan: ${r.moves.length} file(s) set aside, nothing deleted` }),
        el("div", { class: "plan", id: "plan-moves" }, ...r.moves.map(m => el("div", { text: `${m.from}  →  ${m.to}` }))));
      document.getElementById("apply").disabled = !r.moves.length;
    });
  }
  async function applyPlan() {
    await guarded(async () => {
      const r = await api("/api/duplicates/apply", { json: chosen() });
      done.replaceChildren(el("p", { id: "applied", text: `${r.moved ?? r.linked} file(s) set aside into _duplicates/ folders; journal ${r.name} (Undo below puts them back)` }));
      await load();
    });
  }
  async function loadJournals() {
    const j = await api("/api/journals");
    jbox.replaceChildren(el("h3", { text: "Journals" }), ...j.journals.map(x => el("div", { class: "toolbar journal", "data-name": x.name },
      el("span", { text: `${x.name}: ${x.moves} ${x.mode}(s), ${x.state}` }),
      x.state !== "undone" ? el("button", { class: "undo", text: "Undo", onclick: () => guarded(async () => {
        const r = await api("/api/undo", { json: { journal: x.name } });
        done.replaceChildren(el("p", { id: "undone", text: `${r.restored} file(s) put back` })); await load();
      }) }) : null)));
  }
  await load();
}

// --- clusters, outliers, create ----------------------------------------------------------------
async function viewClusters() {
  const c = await api("/api/clusters");
  const k = el("input", { id: "cluster-k", type: "number", min: 2, placeholder: "k (auto)", style: "width:7em" });
  const compute = el("button", { id: "compute-clusters", text: c.clusters.length ? "Recompute" : "Compute clusters", onclick: () => guarded(async () => {
    compute.disabled = true; await api("/api/clusters/compute", { json: { k: k.value } }); state.points = null; await viewClusters(); }) });
  const out = el("input", { id: "folders-out", placeholder: "/absolute/folder", size: 30 });
  const mode = el("select", { id: "folders-mode" }, el("option", { value: "symlink", text: "links" }), el("option", { value: "copy", text: "copies" }));
  const done = el("span", { id: "folders-done", class: "note" });
  const write = el("button", { id: "write-folders", text: "Write to folders", onclick: () => guarded(async () => {
    const r = await api("/api/clusters/write", { json: { out: out.value, mode: mode.value } });
    done.textContent = `wrote ${Object.keys(r.folders).length} folders to ${r.out}`; }) });
  main.replaceChildren(el("div", { class: "toolbar" }, k, compute, out, mode, write, done),
    ...c.clusters.map(cl => {
      const name = el("input", { class: "cluster-name", value: cl.name, size: 18 });
      return el("div", { class: "cluster", "data-cluster": cl.cluster },
        el("h3", {}, name, el("button", { text: "Rename", onclick: () => guarded(async () => {
          await api("/api/clusters/rename", { json: { cluster: cl.cluster, name: name.value } }); }) }),
          el("span", { class: "note", text: `${cl.size} images` })),
        el("div", { class: pixelated() }, ...cl.images.map(im => tile(im))));
    }));
}
async function viewOutliers() {
  main.replaceChildren(el("p", { class: "note", text: "scoring…" }));
  const r = await api("/api/outliers?top=60");
  main.replaceChildren(el("p", { class: "note", text: "Most unusual first; the reason is the largest of the reconstruction, structure and density scores." }),
    el("div", { class: pixelated(), id: "outliers" }, ...r.top.map(o => tile(o, `#${o.rank} ${o.score} · ${o.reason}`))));
}
async function viewCreate() {
  const ids = state.basket;
  const out = el("div", { id: "created", class: "created" });
  const go = el("button", { id: "make", class: "primary", disabled: !ids.length,
    text: ids.length === 1 ? "Traverse" : "Blend and interpolate", onclick: () => guarded(async () => {
      out.replaceChildren(el("p", { class: "note", text: "rendering…" }));
      const r = await api("/api/create", { json: { ids } });
      out.replaceChildren(...r.files.map(f => el("figure", {}, el("img", { src: `/api/made/${r.key}/${f}`, alt: f }),
        el("figcaption", {}, el("a", { href: `/api/made/${r.key}/${f}`, download: f, text: `download ${f}` })))));
    }) });
  main.replaceChildren(el("p", { class: "note", text: "Pick 1 image for a traversal, or 2-4 for a blend and an interpolation strip (from an image's page or a map selection)." }),
    el("div", { class: pixelated() }, ...ids.map(i => tile({ id: i, name: `#${i}`, path: "" }))),
    el("div", { class: "toolbar" }, go, el("button", { text: "Clear", onclick: () => { state.basket = []; saveBasket(); viewCreate(); } })), out);
}

// --- tasks and routing -------------------------------------------------------------------------
async function pollTasks() {
  const t = await api("/api/tasks").catch(() => ({}));
  const parts = Object.values(t).filter(x => x.state !== "done" || x.seconds < 30).map(x =>
    `${x.name}: ${x.state === "running" ? `${x.done}/${x.total || "?"}` : x.state}${x.message ? " (" + x.message + ")" : ""}`);
  document.getElementById("tasks").textContent = parts.join(" · ");
  const rescan = t.rescan;
  if (rescan && rescan.state === "done" && state.rescanSeen !== rescan.seconds && !Object.values(t).some(x => x.state === "running")) {
    state.points = null;  // the map shows the rescanned rows when it is next opened
    state.rescanSeen = rescan.seconds;
  }
  setTimeout(pollTasks, Object.values(t).some(x => x.state === "running") ? 1000 : 4000);
}
document.getElementById("rescan").onclick = () => guarded(async () => { await api("/api/rescan", { method: "POST" }); });

async function route() {
  const [, view = "map", arg] = location.hash.split("/");
  document.body.dataset.view = view;
  document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", a.dataset.view === view));
  const views = { map: viewMap, image: () => viewImage(+arg), search: viewSearch, duplicates: viewDuplicates,
                  clusters: viewClusters, outliers: viewOutliers, create: viewCreate };
  await guarded(async () => { await (views[view] || viewMap)(); document.body.dataset.ready = view; });
}
window.addEventListener("hashchange", route);
(async () => {
  state.summary = await api("/api/summary").catch(e => { showError(e.message); return null; });
  saveBasket(); route(); pollTasks();
})();
