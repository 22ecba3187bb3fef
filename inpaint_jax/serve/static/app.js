// The page of `inpaint-jax serve`: open a photo, paint the hole, send both to /api/inpaint.
//
// The hole is painted on `mask`, a canvas at the photo's own resolution (opaque = hole), so
// the mask sent is the photo's size whatever the photo is shown at; the page shows the
// photo scaled to fit, with the hole tinted. Strokes are kept as a list and replayed, so
// undo costs no copies of the mask.
"use strict";

const $ = (id) => document.getElementById(id);
const view = $("canvas");
const vctx = view.getContext("2d");
const mask = document.createElement("canvas");
const mctx = mask.getContext("2d");
const tint = document.createElement("canvas");
const MAX_VIEW = { w: 720, h: 540 };

const state = {
  info: null, file: null, photo: null, scale: 1, tool: "brush",
  history: [],  // strokes {tool, size, points: [[x, y], ...]} and {clear: true}, in photo pixels
  stroke: null, pointer: null, result: null, chosen: 0, busy: false,
};

// ------------------------------------------------------------------ messages

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setStatus(message) { $("status").textContent = message; }

// ------------------------------------------------------------------ settings

async function loadInfo() {
  let info;
  try {
    const response = await fetch("/api/info");
    info = await response.json();
  } catch (e) {
    showError(`cannot reach the server: ${e.message}`);
    return;
  }
  state.info = info;
  for (const m of info.models) $("model").add(new Option(m.label, m.name));
  for (const t of info.mask_types) $("mask_type").add(new Option(`${t} (generated)`, t));
  for (const c of info.crops) $("crop").add(new Option(c, c));
  $("fills").max = info.max_fills;
  fillPresets();
}

function fillPresets() {
  const model = state.info.models.find((m) => m.name === $("model").value);
  $("preset").replaceChildren(...model.presets.map((p) => new Option(p, p)));
  $("preset").value = model.default_preset;
  followPreset();
}

// The mirror box shows the preset's own setting; the user may change it after.
function followPreset() {
  $("mirror").checked = Boolean(state.info.preset_mirror[$("preset").value]);
}

// ------------------------------------------------------------------ the photo

function openFile(file) {
  showError("");
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError(`${file.name} is not an image (its type is ${file.type})`);
    return;
  }
  const limit = state.info ? state.info.limits.max_upload_bytes : Infinity;
  if (file.size > limit) {
    showError(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; the limit is ${(limit / 2 ** 20).toFixed(0)} MB`);
    return;
  }
  const url = URL.createObjectURL(file);
  const image = new Image();
  image.onload = () => {
    state.file = file;
    state.photo = image;
    mask.width = tint.width = image.naturalWidth;
    mask.height = tint.height = image.naturalHeight;
    // Fit the page; a small photo is shown up to 4x larger, to paint on it comfortably.
    state.scale = Math.min(4, MAX_VIEW.w / image.naturalWidth, MAX_VIEW.h / image.naturalHeight);
    view.width = Math.max(1, Math.round(image.naturalWidth * state.scale));
    view.height = Math.max(1, Math.round(image.naturalHeight * state.scale));
    state.history = [];
    replay();
    $("run").disabled = false;
    $("hint").textContent = `${file.name}: ${image.naturalWidth}x${image.naturalHeight}. Paint over what should be filled.`;
    $("results").hidden = true;
  };
  image.onerror = () => showError(`${file.name} is not an image this browser can open`);
  image.src = url;
}

// ------------------------------------------------------------------ painting

function drawStroke(s) {
  mctx.save();
  mctx.globalCompositeOperation = s.tool === "eraser" ? "destination-out" : "source-over";
  mctx.fillStyle = mctx.strokeStyle = "#000";
  mctx.lineWidth = s.size;
  mctx.lineCap = mctx.lineJoin = "round";
  const [x0, y0] = s.points[0];
  if (s.points.length === 1) {
    mctx.beginPath();
    mctx.arc(x0, y0, s.size / 2, 0, 2 * Math.PI);
    mctx.fill();
  } else {
    mctx.beginPath();
    mctx.moveTo(x0, y0);
    for (const [x, y] of s.points.slice(1)) mctx.lineTo(x, y);
    mctx.stroke();
  }
  mctx.restore();
}

function replay() {
  mctx.clearRect(0, 0, mask.width, mask.height);
  for (const s of state.history) {
    if (s.clear) mctx.clearRect(0, 0, mask.width, mask.height);
    else drawStroke(s);
  }
  if (state.stroke) drawStroke(state.stroke);
  redraw();
}

function redraw() {
  vctx.clearRect(0, 0, view.width, view.height);
  if (!state.photo) return;
  vctx.drawImage(state.photo, 0, 0, view.width, view.height);
  const tctx = tint.getContext("2d");
  tctx.clearRect(0, 0, tint.width, tint.height);
  tctx.drawImage(mask, 0, 0);
  tctx.globalCompositeOperation = "source-in";
  tctx.fillStyle = "#ff2d55";
  tctx.fillRect(0, 0, tint.width, tint.height);
  tctx.globalCompositeOperation = "source-over";
  vctx.globalAlpha = 0.55;
  vctx.drawImage(tint, 0, 0, view.width, view.height);
  vctx.globalAlpha = 1;
  if (state.pointer && !painted()) return;
  if (state.pointer) {  // the brush's outline under the pointer
    vctx.beginPath();
    vctx.arc(state.pointer[0], state.pointer[1], Number($("size").value) / 2, 0, 2 * Math.PI);
    vctx.strokeStyle = "#fff";
    vctx.lineWidth = 1.5;
    vctx.stroke();
  }
}

function painted() { return $("mask_type").value === ""; }

function photoPoint(event) {
  const box = view.getBoundingClientRect();
  const x = (event.clientX - box.left) * (view.width / box.width);
  const y = (event.clientY - box.top) * (view.height / box.height);
  return { view: [x, y], photo: [x / state.scale, y / state.scale] };
}

view.addEventListener("pointerdown", (event) => {
  if (!state.photo || !painted() || state.busy) return;
  view.setPointerCapture(event.pointerId);
  const p = photoPoint(event);
  state.stroke = { tool: state.tool, size: Number($("size").value) / state.scale, points: [p.photo] };
  replay();
});

view.addEventListener("pointermove", (event) => {
  if (!state.photo) return;
  const p = photoPoint(event);
  state.pointer = p.view;
  if (state.stroke) {
    state.stroke.points.push(p.photo);
    replay();
  } else {
    redraw();
  }
});

function endStroke() {
  if (!state.stroke) return;
  state.history.push(state.stroke);
  state.stroke = null;
  replay();
}
view.addEventListener("pointerup", endStroke);
view.addEventListener("pointercancel", endStroke);
view.addEventListener("pointerleave", () => { state.pointer = null; redraw(); });

function setTool(tool) {
  state.tool = tool;
  for (const id of ["brush", "eraser"]) {
    $(id).classList.toggle("on", id === tool);
    $(id).setAttribute("aria-pressed", String(id === tool));
  }
}

function undo() {
  state.history.pop();
  replay();
}

$("brush").addEventListener("click", () => setTool("brush"));
$("eraser").addEventListener("click", () => setTool("eraser"));
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", () => {
  if (state.history.length) state.history.push({ clear: true });
  replay();
});
$("size").addEventListener("input", () => { $("size_value").textContent = $("size").value; redraw(); });
$("mask_type").addEventListener("change", () => {
  const byHand = painted();
  for (const id of ["brush", "eraser", "undo", "clear", "size"]) $(id).disabled = !byHand;
  redraw();
});
$("model").addEventListener("change", fillPresets);
$("preset").addEventListener("change", followPreset);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
});

// ------------------------------------------------------------------ opening files

$("photo").addEventListener("change", () => openFile($("photo").files[0]));
for (const target of [$("drop"), $("canvas_area")]) {
  target.addEventListener("dragover", (event) => { event.preventDefault(); target.classList.add("over"); });
  target.addEventListener("dragleave", () => target.classList.remove("over"));
  target.addEventListener("drop", (event) => {
    event.preventDefault();
    target.classList.remove("over");
    openFile(event.dataTransfer.files[0]);
  });
}

// ------------------------------------------------------------------ filling

function maskBlob() {
  // White = known, black = hole, at the photo's resolution: the CLI's mask-file rule.
  const out = document.createElement("canvas");
  out.width = mask.width;
  out.height = mask.height;
  const octx = out.getContext("2d");
  octx.fillStyle = "#fff";
  octx.fillRect(0, 0, out.width, out.height);
  octx.drawImage(mask, 0, 0);
  return new Promise((resolve) => out.toBlob(resolve, "image/png"));
}

async function run() {
  showError("");
  if (!state.photo) { showError("open a photo first"); return; }
  const form = new FormData();
  form.append("photo", state.file, state.file.name);
  if (painted()) {
    if (!state.history.length) { showError("paint the hole first (or choose a generated mask)"); return; }
    form.append("mask", await maskBlob(), "mask.png");
  } else {
    form.append("mask_type", $("mask_type").value);
  }
  for (const id of ["model", "preset", "crop", "fills", "seed", "iterations"]) {
    if ($(id).value !== "") form.append(id, $(id).value);
  }
  form.append("mirror", $("mirror").checked ? "true" : "false");

  state.busy = true;
  $("run").disabled = true;
  $("progress").hidden = false;
  $("progress").removeAttribute("value");
  setStatus("sending…");
  try {
    const response = await fetch("/api/inpaint?progress=1", { method: "POST", body: form });
    if (!response.ok) {
      const body = await response.json().catch(() => ({ error: response.statusText }));
      throw new Error(body.error + (response.status === 503 ? " (the server is busy)" : ""));
    }
    await readEvents(response);
  } catch (e) {
    showError(e.message);
    setStatus("");
  } finally {
    state.busy = false;
    $("run").disabled = false;
    $("progress").hidden = true;
  }
}

async function readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const event = JSON.parse(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      if ("queued" in event) {
        setStatus(event.queued ? `waiting: ${event.queued} search(es) ahead` : "starting…");
      } else if ("progress" in event) {
        const [n, total] = event.progress;
        $("progress").max = total;
        $("progress").value = n;
        setStatus(`searching: ${n} / ${total} iterations`);
      } else if ("error" in event) {
        throw new Error(event.error);
      } else if ("result" in event) {
        showResult(event.result);
      }
    }
    if (done) return;
  }
}

function showResult(result) {
  state.result = result;
  $("masked").src = result.masked_png;
  $("generated").src = result.generated_png;
  $("fill_choices").replaceChildren(...result.fills.map((fill, j) => {
    const button = document.createElement("button");
    button.type = "button";
    button.title = `fill ${j + 1}: total loss ${fill.total_loss.toFixed(4)}`;
    const image = document.createElement("img");
    image.src = fill.png;
    image.alt = `fill ${j + 1}`;
    button.append(image);
    button.addEventListener("click", () => choose(j));
    return button;
  }));
  $("fill_choices").hidden = result.fills.length < 2;
  choose(0);
  $("results").hidden = false;
  const s = result.settings;
  let text = `${result.photo.missing_percent}% of the model's view missing; ${s.model}, ` +
    `${s.preset} (${s.iterations_run} iterations, ${s.restarts} restart(s)` +
    `${s.tune_steps ? `, ${s.tune_steps} tuning steps` : ""}${s.mirror ? ", mirror" : ""}), ` +
    `${result.seconds} s.`;
  if (result.fills.length < result.fills_asked) {
    text += ` Only ${result.fills.length} of the ${result.fills_asked} fills asked for differ.`;
  }
  setStatus(text);
}

function choose(j) {
  const result = state.result;
  const fill = result.fills[j];
  state.chosen = j;
  $("chosen").src = fill.png;
  $("pasted").src = fill.pasted_png;
  $("pasted").style.width = `${view.width}px`;  // as large as the photo is shown above
  $("download").href = fill.pasted_png;
  const stem = state.file.name.replace(/\.[^.]+$/, "");
  $("download").download = `${stem}_filled${result.fills.length > 1 ? `_${j + 1}` : ""}.png`;
  $("chosen_caption").textContent = result.fills.length > 1 ? `fill ${j + 1} of ${result.fills.length} (blended)` : "blended result";
  [...$("fill_choices").children].forEach((b, i) => b.classList.toggle("on", i === j));
  const l = result.losses;
  $("scores").textContent = `search losses (best fill): total ${l.total.toFixed(4)} = context ` +
    `${l.context.toFixed(4)} + prior ${l.prior.toFixed(4)}; this fill's total ${fill.total_loss.toFixed(4)}.` +
    (result.photo.note ? ` Framing: ${result.photo.note}.` : "");
}

$("run").addEventListener("click", run);
loadInfo();
