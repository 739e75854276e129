// soundmorph page: vanilla JS, talks only to its own server (see soundmorph/web/server.py).
"use strict";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const clamp01 = (v) => Math.min(1, Math.max(0, v));
const COLORS = { a: "#3ec9b6", b: "#f2a94e", result: "#ef5f9a", train: "#a9b8d4", holdout: "#9f7aea", upload: "#e8d44d" };
const FIGURES = [  // soundmorph.quality figures shown under a sweep: [key, label, what is better]
  ["endpoint_relative", "ends vs sources", "lower: the ends sound like their sources"],
  ["intermediateness", "intermediateness", "lower: each step is as far along as its ratio"],
  ["smoothness_cv", "step evenness (CV)", "lower: every step changes the sound equally"],
  ["max_step_ratio", "largest step / mean", "near 1: no jumps"],
  ["rho_a", "moves away from A (ρ)", "+1 is best"],
  ["rho_b", "moves towards B (ρ)", "-1 is best"],
  ["centroid_r2", "brightness linear (R²)", "higher is better"],
  ["centroid_error", "centroid off the line", "lower is better"],
];

const state = {
  sounds: [], model: null, limits: null,
  a: "0", b: "1", corners: ["0", "1", "2", "3"], pad: { x: 0.5, y: 0.5 },
  current: null, marker: null, shown: null, hover: null,
  phase: "",  // phase method of every render; "" is the model's own
  highlight: null,  // the library row the A and B keys take
  rerender: null,  // what R does: the last kind of render, asked for again
};

// "&phase=NAME" when a method other than the model's is chosen (keeps the model's cache keys)
const phaseParam = () => (state.phase ? `&phase=${enc(state.phase)}` : "");

// -- talking to the server ---------------------------------------------------------------------
async function api(path, options) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : `${response.status} ${response.statusText}`;
    throw new Error(detail);
  }
  return body;
}

function setStatus(text, kind = "info") {
  const el = $("status");
  el.textContent = text;
  el.dataset.kind = kind;
}

// A render that takes longer than half a second shows a moving bar and its time so far.
const PROGRESS_AFTER_MS = 500;
let pending = 0;
async function tracked(label, work) {
  const started = performance.now();
  pending += 1;
  const timer = setTimeout(() => showProgress(label, started), PROGRESS_AFTER_MS);
  try {
    return await work();
  } finally {
    clearTimeout(timer);
    pending -= 1;
    if (pending === 0) $("progress").hidden = true;
  }
}

function showProgress(label, started) {
  const box = $("progress");
  box.hidden = false;
  document.body.dataset.progressShown = String(Number(document.body.dataset.progressShown || 0) + 1);
  const tick = () => {
    if (box.hidden) return;
    $("progress-text").textContent = `${label} · ${((performance.now() - started) / 1000).toFixed(1)} s`;
    setTimeout(tick, 100);
  };
  tick();
}

// Drag a result out of the browser as a WAV file (Chromium's DownloadURL: "type:name:absolute URL"),
// the same bytes and name as its download link.
function dragResult(event, item) {
  if (!item) { event.preventDefault(); return; }
  const url = new URL(`${item.wav}?download=1`, window.location.href).href;
  event.dataTransfer.effectAllowed = "copy";
  event.dataTransfer.setData("DownloadURL", `audio/wav:${item.download}:${url}`);
  event.dataTransfer.setData("text/uri-list", url);
  event.dataTransfer.setData("text/plain", url);
}

// A row of playable, draggable results (a sweep's steps, generated sounds).
function resultButton(item, label, sub, row) {
  const button = document.createElement("button");
  button.type = "button";
  button.draggable = true;
  button.title = `${item.download}: click to play, drag out as a WAV`;
  const head = document.createElement("span");
  head.textContent = `▶ ${label}`;
  const small = document.createElement("span");
  small.className = "step";
  small.textContent = sub;
  button.append(head, small);
  button.addEventListener("click", () => {
    for (const other of row.children) other.classList.toggle("current", other === button);
    show(item);
  });
  button.addEventListener("dragstart", (event) => dragResult(event, item));
  return button;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

// Only one request of a kind in flight; while it runs, the newest asked-for one waits (older ones are dropped).
function latestOnly(fn) {
  let running = false;
  let queued = null;
  const run = async (args) => {
    running = true;
    try { await fn(...args); } catch (error) { setStatus(error.message, "error"); }
    running = false;
    if (queued) { const next = queued; queued = null; run(next); }
  };
  return (...args) => { if (running) queued = args; else run(args); };
}

// -- the current result ------------------------------------------------------------------------
const showPicture = debounce((result) => {
  if (state.current && state.current.key === result.key) $("spectrogram").src = result.png;
}, 120);  // the audio comes first; the picture (slower to draw) once the result holds still

function show(result, { play = true } = {}) {
  state.current = result;
  const player = $("player");
  player.src = result.wav;
  if (play) player.play().catch(() => {});
  $("result-name").textContent = result.name;
  const link = $("download");
  link.href = `${result.wav}?download=1`;
  link.download = result.download;
  link.setAttribute("aria-disabled", "false");
  if (result.kind !== "sweep") for (const cell of $("sweep-row").children) cell.classList.remove("current");
  if (result.kind !== "generate") for (const cell of $("generate-row").children) cell.classList.remove("current");
  document.body.dataset.resultKey = result.key;
  document.body.dataset.resultKind = result.kind;
  const timing = result.cached ? "cached" : `${result.render_ms.toFixed(0)} ms on the server`;
  setStatus(`${result.download} · ${timing}`);
  moveMarker(result.x, result.y);
  showPicture(result);
}

const morphNow = latestOnly(async () => {
  state.rerender = () => morphNow();
  const alpha = Number($("alpha").value).toFixed(2);
  const url = `/api/morph?a=${enc(state.a)}&b=${enc(state.b)}&alpha=${alpha}${phaseParam()}${tempo()}`;
  show(await tracked(`morph at ${alpha}`, () => api(url)));
});
const morph = debounce(morphNow, 60);

const padNow = latestOnly(async () => {
  state.rerender = () => padNow();
  const { x, y } = state.pad;
  const ids = state.corners.map(enc).join(",");
  const url = `/api/blend?ids=${ids}&x=${x.toFixed(3)}&y=${y.toFixed(3)}${phaseParam()}${tempo()}`;
  show(await tracked("blend", () => api(url)));
});
const padRender = debounce(padNow, 60);

// The tempo asked for on the page ("" when empty: the server mixes the sources' tempi).
function tempo() {
  const value = $("bpm").value.trim();
  return value === "" ? "" : `&bpm=${enc(value)}`;
}

// A sound's kind, tempo and bars, e.g. "loop 128.0 BPM · 2 bars" (empty for a model without a grid).
function tempoText(sound) {
  if (!sound.kind) return "";
  if (sound.kind !== "loop") return "one-shot";
  return `${Number(sound.bpm).toFixed(1)} BPM · ${sound.bars} bar${sound.bars === 1 ? "" : "s"}`;
}

// -- library, selects, picking A and B -----------------------------------------------------------
function label(sound) {
  return sound.index === null ? `${sound.id} · ${sound.name}` : `${sound.index} · ${sound.name}`;
}

function fillSelect(select, value) {
  select.replaceChildren(...state.sounds.map((s) => new Option(label(s), s.id)));
  select.value = value;
}

function renderLibrary() {
  const items = state.sounds.map((sound) => {
    const li = document.createElement("li");
    li.dataset.id = sound.id;
    li.dataset.testid = `sound-${sound.id}`;
    const play = document.createElement("button");
    play.className = "play";
    play.type = "button";
    play.textContent = "▶";
    play.title = "play the original";
    play.dataset.testid = `play-${sound.id}`;
    play.addEventListener("click", () => playOriginal(sound));
    const name = document.createElement("span");
    name.className = "name";
    name.title = sound.name;
    const index = document.createElement("span");
    index.className = "index";
    index.textContent = sound.index === null ? sound.id : String(sound.index);
    name.append(index, sound.name.replace(/\.[^.]+$/, ""));
    if (tempoText(sound)) {
      const beat = document.createElement("span");
      beat.className = "tempo";
      beat.dataset.testid = `tempo-${sound.id}`;
      beat.textContent = tempoText(sound);
      name.append(beat);
    }
    name.addEventListener("click", () => playOriginal(sound));
    li.addEventListener("click", () => highlight(sound.id));
    const pickers = document.createElement("span");
    pickers.className = "pickers";
    if (sound.split !== "train") {
      const tag = document.createElement("span");
      tag.className = `tag ${sound.split}`;
      tag.textContent = sound.split === "holdout" ? "held out" : sound.split;
      pickers.append(tag);
    }
    for (const side of ["a", "b"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `to-${side}`;
      button.textContent = side.toUpperCase();
      button.title = `use as ${side.toUpperCase()}`;
      button.addEventListener("click", () => pick(side, sound.id));
      pickers.append(button);
    }
    li.append(play, name, pickers);
    return li;
  });
  $("library").replaceChildren(...items);
  fillSelect($("select-a"), state.a);
  fillSelect($("select-b"), state.b);
  state.corners.forEach((id, k) => fillSelect($(`corner-${k}`), id));
  markPicks();
}

function markPicks() {  // show A and B (and the highlighted row) in the list, the selects and on the map
  for (const li of $("library").children) {
    li.classList.toggle("is-a", li.dataset.id === state.a);
    li.classList.toggle("is-b", li.dataset.id === state.b);
    li.classList.toggle("highlight", li.dataset.id === state.highlight);
  }
  $("select-a").value = state.a;
  $("select-b").value = state.b;
  drawMap();
}

function highlight(id) {
  state.highlight = id;
  for (const li of $("library").children) {
    const on = li.dataset.id === id;
    li.classList.toggle("highlight", on);
    if (on) li.scrollIntoView({ block: "nearest" });
  }
  document.body.dataset.highlight = id;
}

function playOriginal(sound) {
  const player = $("player");
  player.src = `/api/sounds/${enc(sound.id)}/original.wav`;
  player.play().catch(() => {});
  setStatus(`original: ${sound.name}`);
}

function pick(side, id) {
  state[side] = id;
  markPicks();
  morph();
}

// -- 4-corner pad ----------------------------------------------------------------------------------
function padWeights(x, y) {
  return [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y];
}

function placePuck() {
  const { x, y } = state.pad;
  const puck = $("puck");
  puck.style.left = `${x * 100}%`;
  puck.style.top = `${y * 100}%`;
  padWeights(x, y).forEach((w, k) => { $(`weight-${k}`).textContent = `${Math.round(w * 100)}%`; });
}

function setupPad() {
  const pad = $("pad");
  const move = (event) => {
    const box = pad.getBoundingClientRect();
    state.pad = { x: clamp01((event.clientX - box.left) / box.width), y: clamp01((event.clientY - box.top) / box.height) };
    placePuck();
    padRender();
  };
  pad.addEventListener("pointerdown", (event) => { pad.setPointerCapture(event.pointerId); move(event); });
  pad.addEventListener("pointermove", (event) => { if (pad.hasPointerCapture(event.pointerId)) move(event); });
  for (let k = 0; k < 4; k++) {
    $(`corner-${k}`).addEventListener("change", (event) => { state.corners[k] = event.target.value; padRender(); });
  }
  placePuck();
}

// -- latent map ------------------------------------------------------------------------------------
function mapFrame(canvas) {  // PCA coordinates -> canvas pixels, each axis fitted to the canvas
  const xs = state.sounds.map((s) => s.x);
  const ys = state.sounds.map((s) => s.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const [w, h, margin] = [canvas.clientWidth, canvas.clientHeight, 22];
  const sx = (w - 2 * margin) / Math.max(x1 - x0, 1e-6);
  const sy = (h - 2 * margin) / Math.max(y1 - y0, 1e-6);
  return (x, y) => [margin + (x - x0) * sx, h - margin - (y - y0) * sy];
}

function drawMap() {
  const canvas = $("map");
  if (!state.sounds.length || !canvas.clientWidth) return;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * dpr;
  canvas.height = canvas.clientHeight * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  const toPixel = mapFrame(canvas);
  const byId = Object.fromEntries(state.sounds.map((s) => [s.id, s]));
  const [sa, sb] = [byId[state.a], byId[state.b]];
  if (sa && sb) {  // the A-B line the slider moves along
    ctx.setLineDash([4, 4]);
    ctx.strokeStyle = "#ffffff40";
    ctx.beginPath();
    ctx.moveTo(...toPixel(sa.x, sa.y));
    ctx.lineTo(...toPixel(sb.x, sb.y));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  for (const s of state.sounds) {
    const [px, py] = toPixel(s.x, s.y);
    ctx.fillStyle = s.split === "holdout" ? COLORS.holdout : s.split === "upload" ? COLORS.upload : COLORS.train;
    ctx.beginPath();
    ctx.arc(px, py, 4, 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.font = "bold 11px system-ui, sans-serif";
  for (const [side, s] of [["a", sa], ["b", sb]]) {
    if (!s) continue;
    const [px, py] = toPixel(s.x, s.y);
    ctx.strokeStyle = COLORS[side];
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(px, py, 8, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.fillStyle = COLORS[side];
    ctx.fillText(side.toUpperCase(), px + 10, py - 8);
  }
  if (state.hover) {
    const [px, py] = toPixel(state.hover.x, state.hover.y);
    ctx.fillStyle = "#e5e8ef";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(label(state.hover), Math.min(px + 8, canvas.clientWidth - 160), py + 16);
  }
  if (state.shown) {
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    let [px, py] = toPixel(state.shown.x, state.shown.y);
    [px, py] = [Math.min(w - 8, Math.max(8, px)), Math.min(h - 8, Math.max(8, py))];  // off the map: at its edge
    ctx.shadowColor = COLORS.result;
    ctx.shadowBlur = 14;
    ctx.fillStyle = COLORS.result;
    ctx.beginPath();
    ctx.arc(px, py, 6, 0, 2 * Math.PI);
    ctx.fill();
    ctx.shadowBlur = 0;
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }
}

function moveMarker(x, y) {  // glide the result marker to its new place
  const from = state.shown ? { ...state.shown } : { x, y };
  const start = performance.now();
  state.marker = { x, y };
  const step = (now) => {
    if (state.marker.x !== x || state.marker.y !== y) return;  // a newer move took over
    const t = Math.min(1, (now - start) / 180);
    const e = t * (2 - t);
    state.shown = { x: from.x + (x - from.x) * e, y: from.y + (y - from.y) * e };
    drawMap();
    if (t < 1) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}

function nearestSound(event) {
  const canvas = $("map");
  const box = canvas.getBoundingClientRect();
  const toPixel = mapFrame(canvas);
  let best = null;
  let bestDistance = 14;
  for (const s of state.sounds) {
    const [px, py] = toPixel(s.x, s.y);
    const d = Math.hypot(px - (event.clientX - box.left), py - (event.clientY - box.top));
    if (d < bestDistance) { best = s; bestDistance = d; }
  }
  return best;
}

function setupMap() {
  const canvas = $("map");
  canvas.addEventListener("click", (event) => {
    const s = nearestSound(event);
    if (s) pick(event.shiftKey ? "b" : "a", s.id);
  });
  canvas.addEventListener("pointermove", (event) => {
    const s = nearestSound(event);
    if (s !== state.hover) { state.hover = s; drawMap(); }
  });
  canvas.addEventListener("pointerleave", () => { state.hover = null; drawMap(); });
  window.addEventListener("resize", drawMap);
}

// -- sweep ---------------------------------------------------------------------------------------------
// A whole number typed in an input, within the server's bounds.
function bounded(id, low, high, fallback) {
  const value = Math.round(Number($(id).value));
  return Number.isFinite(value) && $(id).value !== "" ? Math.min(high, Math.max(low, value)) : fallback;
}

async function sweep() {
  state.rerender = () => sweep().catch((error) => setStatus(error.message, "error"));
  const steps = bounded("steps", 2, state.limits.sweep_steps, 7);
  setStatus(`rendering a sweep of ${steps}…`, "busy");
  const [a, b] = [state.a, state.b];
  const query = `a=${enc(a)}&b=${enc(b)}&steps=${steps}${phaseParam()}${tempo()}`;
  const result = await tracked(`sweep of ${steps}`, () => api(`/api/sweep?${query}`));
  const row = $("sweep-row");
  const cells = result.steps.map((item, k) => {
    const button = resultButton(item, k + 1, `α ${item.alpha.toFixed(2)}`, row);
    button.dataset.testid = `sweep-step-${k}`;
    button.style.setProperty("--t", item.alpha);
    return button;
  });
  row.replaceChildren(...cells);
  const zip = $("sweep-zip");
  zip.href = `/api/sweep.zip?${query}`;
  zip.setAttribute("download", "");  // the server names it
  zip.setAttribute("aria-disabled", "false");
  const names = Object.fromEntries(state.sounds.map((s) => [s.id, label(s)]));
  $("sweep-pair").textContent = `${names[a] ?? a} → ${names[b] ?? b}`;
  showQuality(result.quality);
  const total = result.steps.reduce((sum, item) => sum + (item.cached ? 0 : item.render_ms), 0);
  const timing = total > 0 ? `${total.toFixed(0)} ms on the server` : "cached";
  setStatus(`sweep of ${steps}: ${timing} · click a step to hear it`);
}

function showQuality(quality) {
  const box = $("sweep-quality");
  if (!quality) { box.textContent = "morph-quality figures: not available (soundmorph.quality is not installed)"; return; }
  if (quality.error) { box.textContent = `morph-quality figures: ${quality.error}`; return; }
  const list = document.createElement("dl");
  for (const [key, name, better] of FIGURES) {
    if (!(key in quality)) continue;
    const row = document.createElement("div");
    row.title = better;
    const term = document.createElement("dt");
    term.textContent = name;
    const value = document.createElement("dd");
    value.textContent = quality[key] === null ? "—" : Number(quality[key]).toFixed(3);
    row.append(term, value);
    list.append(row);
  }
  box.replaceChildren(list);
}

// -- uploads ---------------------------------------------------------------------------------------------
async function upload(file) {
  const limit = state.limits ? state.limits.upload_mb * 1024 * 1024 : Infinity;
  if (file.size > limit) throw new Error(`${file.name}: larger than ${state.limits.upload_mb} MB`);
  setStatus(`encoding ${file.name}…`, "busy");
  const form = new FormData();
  form.append("file", file, file.name);
  const sound = await tracked(`encoding ${file.name}`, () => api("/api/upload", { method: "POST", body: form }));
  state.sounds = state.sounds.filter((s) => s.id !== sound.id).concat([sound]);
  state.b = sound.id;
  renderLibrary();
  setStatus(`${sound.name} joined the list as ${sound.id} (now B)`);
  morphNow();
}

function setupUploads() {
  const zone = $("dropzone");
  const guarded = (file) => upload(file).catch((error) => setStatus(error.message, "error"));
  $("upload-input").addEventListener("change", (event) => {
    if (event.target.files.length) guarded(event.target.files[0]);
    event.target.value = "";
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) guarded(event.dataTransfer.files[0]);
  });
}

// -- glide and generate ----------------------------------------------------------------------------------
async function glide() {
  state.rerender = () => glide().catch((error) => setStatus(error.message, "error"));
  const repeats = bounded("repeats", 1, state.limits.repeats, 4);
  const curve = $("curve").value || "linear";
  const url = `/api/glide?a=${enc(state.a)}&b=${enc(state.b)}&repeats=${repeats}&curve=${enc(curve)}${phaseParam()}${tempo()}`;
  setStatus(`rendering a glide of ${repeats} repeats…`, "busy");
  const result = await tracked(`glide of ${repeats}`, () => api(url));
  show(result);
}

async function generate() {
  state.rerender = () => generate().catch((error) => setStatus(error.message, "error"));
  const count = bounded("count", 1, state.limits.count, 4);
  const seed = $("seed").value.trim();
  const url = `/api/generate?count=${count}${seed === "" ? "" : `&seed=${enc(seed)}`}${phaseParam()}${tempo()}`;
  setStatus(`generating ${count} sound${count === 1 ? "" : "s"}…`, "busy");
  const result = await tracked(`generating ${count}`, () => api(url));
  const row = $("generate-row");
  const cells = result.sounds.map((item, k) => {
    const button = resultButton(item, k + 1, `seed ${result.seed}`, row);
    button.dataset.testid = `generated-${k}`;
    button.style.setProperty("--t", 0.5);
    return button;
  });
  row.replaceChildren(...cells);
  row.dataset.seed = String(result.seed);
  cells[0].classList.add("current");
  show(result.sounds[0]);
  setStatus(`${count} new sound${count === 1 ? "" : "s"} (seed ${result.seed}) · click one to hear it, drag it out as a WAV`);
}

// -- keys ------------------------------------------------------------------------------------------------
function togglePlay() {
  const player = $("player");
  if (!player.getAttribute("src")) return;
  if (player.paused) player.play().catch(() => {}); else player.pause();
}

function nudge(delta) {  // move the A/B ratio and render there
  const slider = $("alpha");
  const value = clamp01(Math.round((Number(slider.value) + delta) * 100) / 100);
  slider.value = value.toFixed(2);
  $("alpha-out").textContent = value.toFixed(2);
  morph();
}

function moveHighlight(step) {
  const ids = state.sounds.map((s) => s.id);
  const at = ids.indexOf(state.highlight);
  highlight(ids[Math.min(ids.length - 1, Math.max(0, at < 0 ? 0 : at + step))]);
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat && event.key === " ") return;
  const target = event.target;
  if (target instanceof Element && target.closest("input:not([type=range]), select, textarea")) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const actions = {
    " ": togglePlay,
    ArrowLeft: () => nudge(event.shiftKey ? -0.01 : -0.05),
    ArrowRight: () => nudge(event.shiftKey ? 0.01 : 0.05),
    ArrowUp: () => moveHighlight(-1),
    ArrowDown: () => moveHighlight(1),
    a: () => { if (state.highlight !== null) pick("a", state.highlight); },
    b: () => { if (state.highlight !== null) pick("b", state.highlight); },
    r: () => { if (state.rerender) state.rerender(); },
  };
  if (!(key in actions)) return;
  event.preventDefault();  // no page scroll, no slider step of its own, no button press by space
  if (target instanceof HTMLElement && target.tagName === "BUTTON") target.blur();
  actions[key]();
}

// -- phase method ----------------------------------------------------------------------------------
function renderPhaseChoice(methods, own) {
  const select = $("phase");
  const options = Object.entries(methods).map(([name, entry]) => {
    const option = document.createElement("option");
    option.value = name === own ? "" : name;
    option.textContent = name === own ? `${name} (model's)` : name;
    option.title = entry.summary + (entry.needs_source ? " · not for Surprise" : "");
    return option;
  });
  select.replaceChildren(...options);
  select.value = "";
  select.addEventListener("change", () => {
    state.phase = select.value;
    morphNow();  // re-render the morph with the new method (errors show in the status line)
  });
}

// -- start -----------------------------------------------------------------------------------------------
async function start() {
  const library = await api("/api/library");
  state.model = library.model;
  state.limits = library.limits;
  state.sounds = library.sounds;
  const n = state.sounds.length;
  const ids = state.sounds.map((s) => s.id);
  state.a = ids[0];
  state.b = ids[Math.min(1, n - 1)];
  state.corners = [0, 1, 2, 3].map((k) => ids[k % n]);
  state.highlight = ids[0];
  const limits = library.limits;
  $("steps").max = String(limits.sweep_steps);
  $("repeats").max = String(limits.repeats);
  $("count").max = String(limits.count);
  $("curve").replaceChildren(...limits.curves.map((name) => new Option(name, name)));
  const m = library.model;
  $("model-info").textContent =
    `${m.name} · ${n} sounds · preset ${m.preset} · ${m.clip_seconds} s at ${m.sample_rate} Hz · latent ${m.latent_dim} · ${m.device}`;
  $("upload-limits").textContent =
    `up to ${library.limits.upload_mb} MB and ${library.limits.upload_seconds} s; kept in memory until the server stops`;
  renderLibrary();
  if (m.grid && m.grid.mode === "loop") {
    $("tempo-row").hidden = false;
    $("model-info").textContent += ` · grid ${m.grid.bars} bars at ${m.grid.bpm} BPM`;
  }
  renderPhaseChoice(library.phase_methods || {}, m.phase);
  document.body.dataset.ready = "true";
  const first = await api(`/api/morph?a=${enc(state.a)}&b=${enc(state.b)}&alpha=0.50`);
  show(first, { play: false });
  state.rerender = () => morphNow();
}

function setup() {
  $("alpha").addEventListener("input", () => {
    $("alpha-out").textContent = Number($("alpha").value).toFixed(2);
    morph();
  });
  $("bpm").addEventListener("change", () => morph());
  $("select-a").addEventListener("change", (event) => pick("a", event.target.value));
  $("select-b").addEventListener("change", (event) => pick("b", event.target.value));
  $("loop").addEventListener("change", (event) => { $("player").loop = event.target.checked; });
  $("player").loop = $("loop").checked;
  const surprise = () => {
    state.rerender = surprise;
    setStatus("drawing a new sound…", "busy");
    tracked("a new sound", () => api(`/api/surprise?${phaseParam().slice(1)}`)).then((result) => {
      show(result);
      setStatus(`${result.download} · new sound (seed ${result.seed}) · ${result.render_ms.toFixed(0)} ms`);
    }).catch((error) => setStatus(error.message, "error"));
  };
  $("surprise").addEventListener("click", surprise);
  $("glide").addEventListener("click", () => glide().catch((error) => setStatus(error.message, "error")));
  $("generate").addEventListener("click", () => generate().catch((error) => setStatus(error.message, "error")));
  for (const id of ["result-name", "player"]) {
    $(id).addEventListener("dragstart", (event) => dragResult(event, state.current));
  }
  document.addEventListener("keydown", onKey);
  $("sweep").addEventListener("click", () => sweep().catch((error) => setStatus(error.message, "error")));
  $("spectrogram").addEventListener("error", () => {
    if ($("spectrogram").getAttribute("src")) setStatus("the spectrogram could not be drawn", "error");
  });
  setupPad();
  setupMap();
  setupUploads();
  start().catch((error) => setStatus(`cannot load the library: ${error.message}`, "error"));
}

setup();
