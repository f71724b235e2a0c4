// latentfolio gallery: one page, views by URL hash. Every name is put in the page as text
// (textContent), never as HTML, so a file called <img src=x onerror=...> shows as its name.
"use strict";
const TOKEN = document.querySelector('meta[name="lf-token"]').content;
const main = document.getElementById("main");
const state = {
  summary: null, points: null, selected: [], list: [],  // list: the ids of the grid last shown, in order
  basket: JSON.parse(localStorage.getItem("lf-basket") || "[]").filter(b => b && typeof b === "object"),
  files: { folder: "", sort: "name", desc: false, below: true },
};

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
function bytes(n) {
  if (n == null) return "—";
  const u = ["bytes", "kB", "MB", "GB"]; let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return i ? `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}` : `${n} bytes`;
}
function when(iso) { return iso ? iso.replace("T", " ").slice(0, 16) : "—"; }
function clusterName(c) {
  if (c == null || c === -2) return "—";
  return (state.summary && state.summary.cluster_names[String(c)]) || (c < 0 ? "noise" : `cluster ${c}`);
}
function pixelated() { return state.summary && state.summary.source !== "folder" ? "grid pixelated" : "grid"; }
async function copyText(text, button) {
  try { await navigator.clipboard.writeText(text); button.textContent = "Copied"; }
  catch (e) { button.textContent = "Select and copy"; }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
}

// --- tiles, grids and their selection ----------------------------------------------------------
// A grid of tiles: a click opens (the image page, or the viewer in Files); ctrl/cmd-click adds or
// removes one tile from the selection, shift-click selects the run from the last tile clicked.
function tile(img, caption, href) {
  const t = el("a", { class: "tile", href: href === null ? null : (href || `#/image/${img.id}`), "data-id": img.id, title: img.path || img.name },
    el("img", { src: `/api/thumb/${img.id}`, alt: img.name, loading: "lazy" }),
    el("span", { class: "name", text: img.name }),
    caption != null ? el("span", { class: "caption", text: caption }) : null);
  if (state.selected.includes(img.id)) t.classList.add("selected");
  return t;
}
function grid(attrs, images, caption, onOpen) {
  const g = el("div", Object.assign({ class: pixelated() }, attrs), ...images.map(im => tile(im, caption ? caption(im) : null, onOpen ? null : undefined)));
  g.addEventListener("click", e => {
    const t = e.target.closest(".tile");
    if (!t || !g.contains(t)) return;
    const id = +t.dataset.id, ids = [...g.querySelectorAll(".tile")].map(x => +x.dataset.id);
    if (e.ctrlKey || e.metaKey || e.shiftKey) {
      e.preventDefault();
      let sel = new Set(state.selected);
      if (e.shiftKey && g.anchor != null && ids.includes(g.anchor)) {
        const [a, b] = [ids.indexOf(g.anchor), ids.indexOf(id)].sort((p, q) => p - q);
        ids.slice(a, b + 1).forEach(i => sel.add(i));
      } else if (sel.has(id)) sel.delete(id); else sel.add(id);
      g.anchor = id;
      setSelection([...sel]);
      return;
    }
    state.list = ids;  // the arrow keys of the image page and the viewer walk this list
    if (onOpen) { e.preventDefault(); onOpen(ids, ids.indexOf(id)); }
  });
  return g;
}
function setSelection(ids) {
  state.selected = ids;
  document.querySelectorAll(".tile").forEach(t => t.classList.toggle("selected", ids.includes(+t.dataset.id)));
  const bar = document.getElementById("selection-bar");
  bar.hidden = !ids.length;
  document.getElementById("selection-count").textContent = `${ids.length} selected`;
}
function selectionBar() {
  const out = el("input", { id: "export-out", placeholder: "/absolute/folder/for/links", size: 26 });
  const said = el("span", { id: "selection-said", class: "note" });
  return el("div", { id: "selection-bar", hidden: true },
    el("strong", { id: "selection-count" }),
    el("button", { id: "export-csv", text: "Export CSV", onclick: () => exportSel("csv") }),
    el("button", { id: "export-json", text: "Export JSON", onclick: () => exportSel("json") }),
    out, el("button", { id: "export-folder", text: "Write links", onclick: () => guarded(async () => {
      said.textContent = `writing ${state.selected.length} links…`;
      const r = await api("/api/export-folder", { json: { ids: state.selected, out: out.value } });
      said.textContent = `wrote ${r.images} links to ${r.out}/selection`;
    }).then(() => { if (document.getElementById("error").textContent) said.textContent = ""; }) }),
    el("button", { text: "Pick for Create", onclick: () => { addToBasket(state.selected.slice(0, 4)); said.textContent = "picked for Create"; } }),
    el("button", { id: "clear-selection", text: "Clear", onclick: () => { said.textContent = ""; setSelection([]); } }), said);
}
async function exportSel(fmt) {
  await guarded(async () => {
    const r = await api("/api/export", { json: { ids: state.selected, format: fmt }, raw: true });
    const url = URL.createObjectURL(await r.blob());
    el("a", { href: url, download: `selection.${fmt}` }).click();
  });
}
function nameOf(id) {
  const p = state.points, i = p ? p.ids.indexOf(id) : -1;
  return i >= 0 ? p.names[i] : (document.querySelector(`.tile[data-id="${id}"] .name`) || {}).textContent || `image ${id}`;
}
function addToBasket(ids) {
  for (const id of ids) if (!state.basket.some(b => b.id === id)) state.basket.push({ id, name: nameOf(id) });
  state.basket = state.basket.slice(-4); saveBasket();
}
function saveBasket() {
  localStorage.setItem("lf-basket", JSON.stringify(state.basket));
  document.getElementById("basket-count").textContent = state.basket.length ? `(${state.basket.length})` : "";
}

// --- the full-screen viewer ------------------------------------------------------------------
// Previous and next on the arrow keys, Escape closes, I shows or hides the file's facts.
const viewer = { ids: [], at: 0 };
function openViewer(ids, at) {
  viewer.ids = ids; viewer.at = at;
  document.getElementById("viewer").hidden = false;
  document.body.classList.add("viewing");
  showInViewer();
}
function closeViewer() {
  document.getElementById("viewer").hidden = true;
  document.body.classList.remove("viewing");
}
async function showInViewer() {
  const id = viewer.ids[viewer.at], box = document.getElementById("viewer");
  box.dataset.id = id;
  box.querySelector("img").src = `/api/image/${id}`;
  box.querySelector(".count").textContent = `${viewer.at + 1} / ${viewer.ids.length}`;
  box.querySelector(".vname").textContent = nameOf(id);
  box.querySelector(".details").href = `#/image/${id}`;
  const facts = box.querySelector(".facts");
  facts.replaceChildren(el("p", { class: "note", text: "reading the file…" }));
  await guarded(async () => {
    const f = await api(`/api/facts/${id}`);
    if (viewer.ids[viewer.at] !== id) return;
    box.querySelector(".vname").textContent = f.name;
    facts.replaceChildren(factsPanel(f));
  });
}
function stepViewer(d) {
  if (!viewer.ids.length) return;
  viewer.at = (viewer.at + d + viewer.ids.length) % viewer.ids.length;
  showInViewer();
}
function buildViewer() {
  const box = el("div", { id: "viewer", hidden: true, role: "dialog", "aria-label": "image viewer" },
    el("div", { class: "vbar" },
      el("button", { class: "prev", text: "◀", title: "previous (←)", onclick: () => stepViewer(-1) }),
      el("span", { class: "count" }), el("strong", { class: "vname" }),
      el("button", { class: "next", text: "▶", title: "next (→)", onclick: () => stepViewer(1) }),
      el("a", { class: "details", text: "details page", onclick: closeViewer }),
      el("button", { class: "info-toggle", text: "Info (I)", onclick: () => box.classList.toggle("no-info") }),
      el("button", { class: "close", text: "Close (Esc)", onclick: closeViewer })),
    el("div", { class: "vbody" }, el("img", { alt: "" }), el("aside", { class: "facts" })));
  document.body.append(box);
}
function factsPanel(f) {
  const size = f.width ? `${f.width.toLocaleString()} × ${f.height.toLocaleString()} px` : "—";
  const camera = [f.make, f.model].filter(Boolean).join(" ");
  const rows = [["file", f.name], ["folder", f.folder || "(top)"], ["dimensions", size],
    ["format", f.format ? `${f.format}${f.mode ? ", " + f.mode : ""}${f.frames > 1 ? `, ${f.frames} frames` : ""}` : "—"],
    ["size", bytes(f.bytes)], ["modified", when(f.modified)]];
  if (f.date) rows.push(["taken", f.date]);
  if (camera) rows.push(["camera", camera]);
  rows.push(["colour profile", f.colour_profile || (f.format === "dataset image" ? "—" : "none (sRGB)")]);
  if (f.label != null) rows.push(["label", f.label]);
  if (f.cluster != null) rows.push(["cluster", clusterName(f.cluster)]);
  const out = el("div", { class: "facts-panel" }, el("table", { class: "info" },
    ...rows.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: String(v) })))));
  if (f.problem) out.append(el("p", { class: "error-line", text: f.problem }));
  if (f.location) {
    const path = el("input", { class: "location", readonly: true, value: f.location, title: "the folder that holds the file" });
    const copy = el("button", { class: "copy-location", text: "Copy", onclick: () => copyText(f.location, copy) });
    out.append(el("div", { class: "actions" },
      el("a", { class: "button open-original", href: `/api/original/${f.id}`, target: "_blank", rel: "noopener", text: "Open the original" })),
      el("label", { class: "note", text: "Show in folder:" }), el("div", { class: "copyrow" }, path, copy));
  }
  return out;
}
document.addEventListener("keydown", e => {
  if (e.target.closest && e.target.closest("input, select, textarea")) return;
  if (!document.getElementById("viewer").hidden) {
    if (e.key === "ArrowRight") { stepViewer(1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { stepViewer(-1); e.preventDefault(); }
    else if (e.key === "Escape") closeViewer();
    else if (e.key === "i" || e.key === "I") document.getElementById("viewer").classList.toggle("no-info");
    return;
  }
  if (document.body.dataset.view === "image" && (e.key === "ArrowRight" || e.key === "ArrowLeft")) {
    const id = +document.querySelector(".image-page")?.dataset.id, i = state.list.indexOf(id);
    if (i >= 0 && state.list.length > 1) {
      const n = state.list[(i + (e.key === "ArrowRight" ? 1 : -1) + state.list.length) % state.list.length];
      location.hash = `#/image/${n}`;
    }
  }
});

// --- files -------------------------------------------------------------------------------------
async function viewFiles() {
  const f = state.files;
  const tree = el("nav", { id: "folders", class: "tree" });
  const sort = el("select", { id: "sort" }, ...["name", "date", "size"].map(s => el("option", { value: s, text: `sort by ${s}` })));
  const order = el("button", { id: "order", title: "reverse the order" });
  const below = el("input", { type: "checkbox", id: "below", checked: f.below });
  const count = el("span", { id: "files-count", class: "note" });
  const body = el("div", { id: "files" }), more = el("button", { id: "more-files", text: "Show more", hidden: true });
  sort.value = f.sort; order.textContent = f.desc ? "↓ descending" : "↑ ascending";
  main.replaceChildren(el("div", { class: "browser" }, tree,
    el("section", {}, el("div", { class: "toolbar" }, sort, order, el("label", {}, below, " include subfolders"), count), body, more)));
  const folders = (await api("/api/folders")).folders;
  tree.replaceChildren(...folders.map(d => el("a", { href: "", class: "folder" + (d.folder === f.folder ? " active" : ""),
    "data-folder": d.folder, style: `padding-left:${6 + 12 * d.depth}px`, title: d.folder || "all folders",
    onclick: e => { e.preventDefault(); f.folder = d.folder; viewFiles(); } },
    el("span", { text: d.folder ? d.folder.split("/").pop() : (state.summary?.catalog || "all") }), el("span", { class: "n", text: String(d.total) }))));
  let shown = [];
  async function load(offset) {
    const q = new URLSearchParams({ folder: f.folder, sort: f.sort, order: f.desc ? "desc" : "asc", offset, below: f.below ? 1 : 0 });
    const r = await api(`/api/browse?${q}`);
    shown = offset ? shown.concat(r.images) : r.images;
    const caption = im => f.sort === "date" ? when(im.modified) : bytes(im.bytes);
    body.replaceChildren(grid({ id: "file-grid" }, shown, caption, openViewer));
    state.list = shown.map(im => im.id);
    count.textContent = `${r.total.toLocaleString()} images${f.folder ? " in " + f.folder : ""}`;
    more.hidden = shown.length >= r.total;
    more.textContent = `Show more (${(r.total - shown.length).toLocaleString()} left)`;
  }
  sort.onchange = () => { f.sort = sort.value; viewFiles(); };
  order.onclick = () => { f.desc = !f.desc; viewFiles(); };
  below.onchange = () => { f.below = below.checked; viewFiles(); };
  more.onclick = () => guarded(() => load(shown.length));
  await load(0);
}

// --- map -------------------------------------------------------------------------------------
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
async function viewMap() {
  const color = el("select", { id: "color" }, ...["label", "cluster", "outlier"].map(c => el("option", { value: c, text: `colour by ${c}` })));
  const thumbs = el("input", { type: "checkbox", id: "map-thumbs", checked: state.mapThumbs !== false });
  main.replaceChildren(el("div", { class: "toolbar" }, color, el("label", {}, thumbs, " thumbnails when zoomed in"),
    el("span", { id: "selection", class: "note", text: "Drag to select (lasso); scroll to zoom; double-click to reset" })),
    el("div", { id: "map" }), el("div", { id: "hover", hidden: true }));
  await refreshSummary();  // cluster names renamed since (in another tab, too)
  if (!state.points) {
    main.querySelector("#map").append(el("p", { class: "note loading", text: `placing ${state.summary ? state.summary.images.toLocaleString() : ""} images…` }));
    state.points = await api("/api/points");
  }
  color.value = state.points.labels.length ? "label" : "cluster";
  color.onchange = () => guarded(async () => {
    if (color.value === "outlier" && !state.points.outlier) {
      document.getElementById("selection").textContent = "scoring outliers…";
      await api("/api/outliers?top=1"); state.points = await api("/api/points");
    }
    drawMap(color.value);
  });
  thumbs.onchange = () => { state.mapThumbs = thumbs.checked; showThumbs(document.getElementById("map")); };
  drawMap(color.value);
}
function groupOf(by, i) {
  const p = state.points;
  return by === "label" ? p.label[i] : p.cluster[i];
}
function groupName(by, v) {
  const p = state.points;
  return by === "label" ? (v >= 0 ? p.labels[v] : "no label") : (v >= 0 ? clusterName(v) : (v === -1 && p.cluster.includes(-1) ? "noise" : "no cluster"));
}
function drawMap(by) {
  const p = state.points, div = document.getElementById("map");
  state.mapBy = by;
  let traces;
  const groups = new Map();
  if (by !== "outlier") for (let i = 0; i < p.ids.length && groups.size <= 40; i++) {
    const v = groupOf(by, i);
    if (!groups.has(v)) groups.set(v, []);
    groups.get(v).push(i);
  }
  if (by !== "outlier" && groups.size <= 40) {
    // one trace per group, each one colour: plotly draws 100k points without parsing 100k colours
    traces = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([v, idx]) => ({
      type: "scattergl", mode: "markers", name: groupName(by, v), x: idx.map(i => p.x[i]), y: idx.map(i => p.y[i]),
      customdata: idx.map(i => p.ids[i]), text: idx.map(i => p.names[i]), hovertemplate: "%{text}<extra></extra>",
      marker: { size: 5, opacity: 0.8, color: v < 0 ? "#bbb" : PALETTE[v % PALETTE.length] } }));
  } else {
    traces = [{ type: "scattergl", mode: "markers", x: p.x, y: p.y, customdata: p.ids, text: p.names,
      hovertemplate: `%{text}<br>${by} %{marker.color}<extra></extra>`,
      marker: { size: 5, opacity: 0.8, color: by === "outlier" ? p.outlier : p.cluster, colorscale: "Viridis", showscale: true } }];
  }
  // the top margin holds plotly's toolbar, so it never covers the legend's first entry
  const layout = { margin: { l: 30, r: 10, t: 34, b: 30 }, dragmode: "lasso", hovermode: "closest", images: [], shapes: [],
                   showlegend: traces.length > 1, legend: { itemsizing: "constant", y: 1, yanchor: "top" },
                   xaxis: { zeroline: false }, yaxis: { zeroline: false, scaleanchor: "x" } };
  div.replaceChildren();
  Plotly.newPlot(div, traces, layout, { displaylogo: false, responsive: true, scrollZoom: true }).then(() => {
    window.__lfMapPainted = performance.now(); document.body.dataset.mapPoints = p.ids.length;
    showThumbs(div);
  });
  div.on("plotly_click", e => { location.hash = `#/image/${e.points[0].customdata}`; });
  div.on("plotly_selected", e => {
    const ids = e ? e.points.map(q => q.customdata) : [];
    document.getElementById("selection").textContent = ids.length ? "" : "Drag to select (lasso); scroll to zoom";
    setSelection(ids);
  });
  const hover = document.getElementById("hover");
  div.on("plotly_hover", e => {
    const q = e.points[0];
    hover.replaceChildren(el("img", { src: `/api/thumb/${q.customdata}` }), el("div", { class: "hname", text: q.text || "" }),
      q.data.name ? el("div", { class: "note", text: q.data.name }) : null);
    hover.style.left = (e.event.clientX + 14) + "px"; hover.style.top = (e.event.clientY + 14) + "px"; hover.hidden = false;
  });
  div.on("plotly_unhover", () => { hover.hidden = true; });
  div.on("plotly_relayout", () => { if (!state.placing) showThumbs(div); });
}
function showThumbs(div) {
  // Zoomed in (500 images or fewer in view): one thumbnail per cell of an 8-across grid, the point
  // nearest the cell's centre, framed in its colour; never two piled on one another (as PixPlot).
  const xa = div._fullLayout.xaxis.range, ya = div._fullLayout.yaxis.range, p = state.points;
  const inView = [];
  for (let i = 0; i < p.x.length && inView.length <= 500; i++)
    if (p.x[i] >= xa[0] && p.x[i] <= xa[1] && p.y[i] >= ya[0] && p.y[i] <= ya[1]) inView.push(i);
  const cell = Math.max(xa[1] - xa[0], ya[1] - ya[0]) / 8, best = new Map();
  if (state.mapThumbs !== false && inView.length <= 500) for (const i of inView) {
    const cx = Math.floor((p.x[i] - xa[0]) / cell), cy = Math.floor((p.y[i] - ya[0]) / cell), key = `${cx},${cy}`;
    const d = Math.hypot(p.x[i] - xa[0] - (cx + 0.5) * cell, p.y[i] - ya[0] - (cy + 0.5) * cell);
    if (!best.has(key) || d < best.get(key)[1]) best.set(key, [i, d, cx, cy]);
  }
  const size = cell * 0.86, images = [], shapes = [];
  for (const [i, , cx, cy] of best.values()) {
    const x = xa[0] + (cx + 0.5) * cell, y = ya[0] + (cy + 0.5) * cell;
    images.push({ source: `/api/thumb/${p.ids[i]}`, xref: "x", yref: "y", x, y, sizex: size, sizey: size,
                  xanchor: "center", yanchor: "middle", layer: "above" });
    const v = state.mapBy === "outlier" ? null : groupOf(state.mapBy, i);
    shapes.push({ type: "rect", xref: "x", yref: "y", x0: x - size / 2, x1: x + size / 2, y0: y - size / 2, y1: y + size / 2,
                  line: { width: 3, color: v == null ? "#888" : (v < 0 ? "#bbb" : PALETTE[v % PALETTE.length]) }, layer: "above" });
  }
  document.body.dataset.mapThumbs = images.length;
  if (images.length || (div.layout.images || []).length) {
    state.placing = true;  // this relayout is ours: its event must not place them again
    Plotly.relayout(div, { images, shapes }).finally(() => { state.placing = false; });
  }
}

// --- image page ------------------------------------------------------------------------------
function outlierWords(o, n) {
  if (!o) return "being computed (reload the page)";
  const pct = Math.max(1, Math.round(100 * (1 - (o.rank - 1) / Math.max(1, n))));
  const why = { reconstruction: "the model redraws it less well than most", structure: "its structure is redrawn less well than most",
                density: "few images have codes like it", content: "few images show anything like it" }[o.reason] || o.reason;
  return `more unusual than ${100 - pct}% of the collection (rank ${o.rank}): ${why}`;
}
async function viewImage(id) {
  const [info, facts] = await Promise.all([api(`/api/info/${id}`), api(`/api/facts/${id}`).catch(e => ({ problem: e.message }))]);
  const pick = el("button", { id: "pick", text: "Pick for Create", onclick: () => { addToBasket([info.id]); pick.textContent = "Picked"; } });
  const view = el("button", { id: "view-full", text: "Full screen", onclick: () => {
    const ids = state.list.includes(info.id) ? state.list : [info.id]; openViewer(ids, ids.indexOf(info.id)); } });
  const about = el("details", { id: "about-model" }, el("summary", { text: "About the model" }),
    el("p", { class: "note", text: "What the collection's own autoencoder makes of this image. It is trained for a few minutes to sort and search, not to redraw pictures." }),
    el("table", { class: "info" },
      el("tr", {}, el("td", { text: "reconstruction" }), el("td", { text: info.psnr != null ? `${info.psnr} dB PSNR` : (info.recon_note || "—") })),
      el("tr", {}, el("td", { text: "how unusual" }), el("td", { id: "outlier-words", text: outlierWords(info.outlier, state.summary ? state.summary.images : 1) })),
      el("tr", {}, el("td", { text: "used for" }), el("td", { text: { train: "training the model", val: "checking the model while it trained", test: "testing the model" }[info.split] || "indexing only (not training)" }))),
    info.psnr != null ? el("div", { class: "recon" }, el("p", { class: "note", id: "recon-note", text: info.recon_note }),
      info.recon_shown ? el("img", { src: `/api/recon/${info.id}`, alt: "model input | reconstruction" }) : null) : null);
  const neighbourRows = [];
  if (info.content_neighbours) neighbourRows.push(
    el("h3", { text: `${info.content_neighbours.length} nearest by content (what the pictures show)` }),
    grid({ id: "content-neighbours", class: pixelated() + " row12" }, info.content_neighbours));
  neighbourRows.push(el("h3", { text: `${info.neighbours.length} nearest by the model's codes (colour and layout)` }),
    grid({ id: "neighbours", class: pixelated() + " row12" }, info.neighbours));
  main.replaceChildren(el("div", { class: "image-page", "data-id": info.id },
    el("div", { class: "picture" }, el("h2", { id: "image-name", text: info.name }),
      el("img", { class: "main-img", src: `/api/image/${info.id}`, alt: info.name, onclick: () => view.click() })),
    el("div", { class: "side" }, facts.problem && !facts.name ? el("p", { class: "error-line", text: facts.problem }) : factsPanel(facts),
      el("div", { class: "toolbar" }, view, pick), about)),
    ...neighbourRows);
}

// --- search ----------------------------------------------------------------------------------
function viewSearch() {
  const results = el("div", { id: "results" });
  const input = el("input", { type: "file", id: "upload", accept: "image/*,.psd,.kra,.ora,.heic,.jxl" });
  const path = el("input", { id: "query-path", placeholder: "or a path the server can read", size: 40 });
  const show = r => results.replaceChildren(el("p", { class: "note", text: `nearest to ${r.query} (${r.space === "codes" ? "by the model's codes" : `by content, ${r.space}`})` }),
    grid({}, r.results, h => `d=${h.distance}`));
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
// Identical and same-picture groups are ticked; near groups (perhaps two works that look alike)
// are shown unticked, with their closeness in words and a side-by-side comparison at full size.
async function viewDuplicates() {
  const keep = el("select", { id: "keep-rule" }, ...["largest", "sharpest", "oldest"].map(k => el("option", { value: k, text: `keep the ${k}` })));
  const psnr = el("input", { id: "same-psnr", type: "number", value: 32, step: 1, min: 1, style: "width:5em" });
  const thr = el("input", { id: "threshold", type: "number", step: "any", placeholder: "auto", style: "width:7em" });
  const mode = el("select", { id: "apply-mode" }, el("option", { value: "move", text: "move copies to _duplicates/" }),
    el("option", { value: "symlink", text: "link copies into _duplicates/" }));
  const body = el("div", { id: "dup-groups" }), planBox = el("div", { id: "plan" }), jbox = el("div", { id: "journals" });
  const done = el("div", { id: "dup-done", class: "note" });
  const advanced = el("details", { class: "advanced" }, el("summary", { text: "advanced" }),
    el("label", { text: "same picture: at least " }), psnr, el("span", { text: " dB alike; " }),
    el("label", { text: "near: code distance at most " }), thr);
  main.replaceChildren(el("div", { class: "toolbar" }, keep, el("button", { id: "find", text: "Find", onclick: () => load() }), advanced),
    done, body, planBox, jbox);
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
    if (!data.groups.length) {
      body.replaceChildren(el("p", { class: "note", id: "dup-summary", text: `No duplicates among ${state.summary ? state.summary.images.toLocaleString() : "these"} images.` }));
      return;
    }
    body.replaceChildren(el("p", { class: "note", id: "dup-summary",
      text: `${data.groups.length} groups: ${t.identical} identical, ${t.same} re-encoded or resized, ${t.near} near (ticked groups are set aside by Apply; near groups may be different works and start unticked)` }),
      ...data.groups.map((g, i) => {
        const k = keepers[i] ?? g.keep;
        const box = el("input", { type: "checkbox", class: "include", "data-group": i, checked: g.tier !== "near" });
        const words = g.tier === "near" ? `near · ${g.closeness}` : (g.tier === "same" ? "same picture" : "identical");
        return el("div", { class: `group tier-${g.tier}`, "data-group": i, "data-tier": g.tier },
          el("div", { class: "head" }, el("label", {}, box, " set aside the copies"), el("span", { class: `badge ${g.tier}`, text: words }),
            el("span", { class: "note", text: `suggested keeper: ${g.rule}` }),
            el("button", { class: "compare", text: "Compare side by side", onclick: () => compare(g, k) })),
          el("div", { class: pixelated() }, ...g.images.map(im => {
            const t = tile(im, im.id === k ? "keep" : im.relation, null);
            if (im.id === k) t.classList.add("keep");
            t.onclick = () => { keepers[i] = im.id; renderGroups(); };
            return t;
          })));
      }),
      el("div", { class: "toolbar" }, mode,
        el("button", { id: "dry-run", text: "Show plan (dry run)", onclick: dryRun }),
        el("button", { id: "apply", class: "primary", text: "Apply", disabled: true, onclick: applyPlan })));
  }
  function compare(g, k) {
    const ids = [k, ...g.images.map(im => im.id).filter(x => x !== k)];
    const names = Object.fromEntries(g.images.map(im => [im.id, im.name]));
    const box = el("div", { id: "compare", role: "dialog" },
      el("div", { class: "vbar" }, el("strong", { text: `${g.tier === "near" ? g.closeness : g.tier}: the keeper and its copies, at full size` }),
        el("button", { class: "close", text: "Close (Esc)", onclick: () => box.remove() })),
      el("div", { class: "side-by-side" }, ...ids.map(id => el("figure", {}, el("img", { src: `/api/image/${id}`, alt: names[id] }),
        el("figcaption", { text: `${id === k ? "keep: " : ""}${names[id]}` })))));
    box.tabIndex = -1;
    box.addEventListener("keydown", e => { if (e.key === "Escape") box.remove(); });
    document.body.append(box); box.focus();
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

// --- clusters, outliers, create, unreadable -------------------------------------------------------
async function viewClusters() {
  const c = await api("/api/clusters");
  const k = el("input", { id: "cluster-k", type: "number", min: 2, placeholder: "k (auto)", style: "width:7em" });
  const compute = el("button", { id: "compute-clusters", text: c.clusters.length ? "Recompute" : "Compute clusters", onclick: () => guarded(async () => {
    compute.disabled = true; compute.textContent = "clustering…";
    await api("/api/clusters/compute", { json: { k: k.value } }); state.points = null; await refreshSummary(); await viewClusters();
  }).finally(() => { compute.disabled = false; }) });
  const out = el("input", { id: "folders-out", placeholder: "/absolute/folder", size: 30 });
  const mode = el("select", { id: "folders-mode" }, el("option", { value: "symlink", text: "links" }), el("option", { value: "copy", text: "copies" }));
  const done = el("span", { id: "folders-done", class: "note" });
  const write = el("button", { id: "write-folders", text: "Write to folders", onclick: () => guarded(async () => {
    write.disabled = true;
    done.textContent = `writing ${state.summary ? state.summary.images.toLocaleString() : ""} ${mode.value === "copy" ? "copies" : "links"} into one folder per cluster…`;
    const r = await api("/api/clusters/write", { json: { out: out.value, mode: mode.value } });
    done.textContent = `wrote ${Object.keys(r.folders).length} folders to ${r.out}`;
  }).finally(() => { write.disabled = false; if (document.getElementById("error").textContent) done.textContent = ""; }) });
  main.replaceChildren(el("div", { class: "toolbar" }, k, compute, out, mode, write, done),
    c.clusters.length ? null : el("p", { class: "note", text: "No clusters yet: compute them (k: how many; auto picks one)." }),
    ...c.clusters.map(cl => {
      const name = el("input", { class: "cluster-name", value: cl.name, size: 18 });
      const said = el("span", { class: "note" });
      const g = grid({}, cl.images);
      const more = el("button", { class: "more", text: `Show more (${cl.size - cl.images.length} left)`, hidden: cl.images.length >= cl.size });
      let shown = cl.images;
      more.onclick = () => guarded(async () => {
        const r = await api(`/api/clusters/images?cluster=${cl.cluster}&offset=${shown.length}`);
        shown = shown.concat(r.images);
        g.replaceWith(grid({}, shown)); more.hidden = shown.length >= r.size;
        more.textContent = `Show more (${r.size - shown.length} left)`;
      });
      return el("div", { class: "cluster", "data-cluster": cl.cluster },
        el("h3", {}, name, el("button", { text: "Rename", onclick: () => guarded(async () => {
          const r = await api("/api/clusters/rename", { json: { cluster: cl.cluster, name: name.value } });
          name.value = r.name; said.textContent = "renamed"; await refreshSummary(); }) }),
          el("span", { class: "note", text: `${cl.size} images` }), said),
        g, more);
    }));
}
async function viewOutliers() {
  main.replaceChildren(el("p", { class: "note", text: "scoring…" }));
  const r = await api("/api/outliers?top=60");
  main.replaceChildren(el("p", { class: "note", text: "Most unusual first; the reason is the largest of the reconstruction, structure, density and content scores." }),
    grid({ id: "outliers" }, r.top, o => `#${o.rank} · ${o.reason}`));
}
async function viewCreate() {
  const picks = state.basket;
  const out = el("div", { id: "created", class: "created" });
  const go = el("button", { id: "make", class: "primary", disabled: !picks.length,
    text: picks.length === 1 ? "Traverse" : "Blend and interpolate", onclick: () => guarded(async () => {
      out.replaceChildren(el("p", { class: "note", text: "rendering…" }));
      const r = await api("/api/create", { json: { ids: picks.map(b => b.id) } });
      out.replaceChildren(...r.files.map(f => el("figure", {}, el("img", { src: `/api/made/${r.key}/${f}`, alt: f }),
        el("figcaption", {}, el("a", { href: `/api/made/${r.key}/${f}`, download: f, text: `download ${f}` })))));
    }) });
  main.replaceChildren(el("p", { class: "note", text: "Pick 1 image for a traversal, or 2-4 for a blend and an interpolation strip (from an image's page, or a selection in any grid or the map)." }),
    grid({ id: "picks" }, picks),
    el("div", { class: "toolbar" }, go, el("button", { text: "Clear", onclick: () => { state.basket = []; saveBasket(); viewCreate(); } })), out);
}
async function viewUnreadable() {
  const r = await api("/api/unreadable");
  main.replaceChildren(el("h2", { text: `${r.total} file(s) the index could not read` }),
    el("p", { class: "note", text: "They are tried again when they change. Each line: the file, and why." }),
    el("table", { class: "info", id: "unreadable-files" }, ...r.files.map(f => el("tr", {},
      el("td", { class: "path", text: f.path }), el("td", { text: f.reason || "" })))));
}

// --- header: tasks, rescan, thumbnail size, routing ----------------------------------------------
async function refreshSummary() {
  state.summary = await api("/api/summary");
  const s = state.summary;
  document.getElementById("rescan").hidden = !s.rescan;
  const bad = document.getElementById("unreadable-link");
  bad.hidden = !s.unreadable; bad.textContent = `${s.unreadable} unreadable`;
}
async function pollTasks() {
  const t = await api("/api/tasks").catch(() => ({}));
  const parts = Object.values(t).filter(x => x.state !== "done" || x.seconds < 30).map(x =>
    `${x.name}: ${x.state === "running" ? `${x.done}/${x.total || "?"}` : x.state}${x.message ? " (" + x.message + ")" : ""}`);
  document.getElementById("tasks").textContent = parts.join(" · ");
  const rescan = t.rescan;
  if (rescan && rescan.state === "done" && state.rescanSeen !== rescan.seconds && !Object.values(t).some(x => x.state === "running")) {
    state.points = null;  // the map shows the rescanned rows when it is next opened
    state.rescanSeen = rescan.seconds;
    refreshSummary().catch(() => {});
  }
  setTimeout(pollTasks, Object.values(t).some(x => x.state === "running") ? 1000 : 4000);
}
document.getElementById("rescan").onclick = () => guarded(async () => { await api("/api/rescan", { method: "POST" }); });
const sizer = document.getElementById("tile-size");
sizer.value = localStorage.getItem("lf-tile") || 112;
const setTile = () => { document.documentElement.style.setProperty("--tile", `${sizer.value}px`); localStorage.setItem("lf-tile", sizer.value); };
sizer.oninput = setTile; setTile();

async function route() {
  const [, view = "map", arg] = location.hash.split("/");
  document.body.dataset.view = view;
  closeViewer(); document.getElementById("compare")?.remove();
  document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", a.dataset.view === view));
  const views = { map: viewMap, files: viewFiles, image: () => viewImage(+arg), search: viewSearch, duplicates: viewDuplicates,
                  clusters: viewClusters, outliers: viewOutliers, create: viewCreate, unreadable: viewUnreadable };
  await guarded(async () => { await (views[view] || viewMap)(); document.body.dataset.ready = view; });
}
window.addEventListener("hashchange", route);
(async () => {
  buildViewer(); document.body.append(selectionBar());
  await refreshSummary().catch(e => showError(e.message));
  saveBasket(); route(); pollTasks();
})();
