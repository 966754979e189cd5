// The transcript editor (a gr.HTML's js_on_load): `element` is the component, `props.value` the data from
// server/editor/model.py, `trigger('submit', {edits})` sends the edits to the server, `watch` re-renders on new data.
// Listeners sit on `element` (delegation), so a re-rendered template keeps working.
const SKIP_S = 5;
const state = { files: [], file: 0, undo: [], redo: [], editing: null, raf: 0, now: null };
const $ = (sel) => element.querySelector(sel);
const audio = () => $(".ed-audio");
const clock = (s) => {
  const m = Math.floor(s / 60), r = s - 60 * m;
  return `${m}:${r.toFixed(1).padStart(4, "0")}`;
};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const current = () => state.files[state.file];
const snapshot = () => JSON.stringify(state.files.map((f) => f.segments.map((s) => [s.text, s.speaker, s.edited])));
const restore = (snap) => {
  JSON.parse(snap).forEach((segs, i) => segs.forEach(([text, speaker, edited], j) => {
    Object.assign(state.files[i].segments[j], { text, speaker, edited });
  }));
};
const status = (text) => { const el = $(".ed-status"); if (el) el.textContent = text; };
const dirty = () => { status("Unsaved edits: press Save edits (or Ctrl+Enter)."); $(".ed-save").disabled = false; };

function wordsOf(seg) {
  // A segment's words as shown: the model's words with their times while the text is as transcribed, else the
  // text's words spread over the segment (the server re-times them the same way when it saves).
  const words = seg.text.split(/\s+/).filter(Boolean);
  if (seg.words.length === words.length) return seg.words.map((w, i) => [words[i], w[1], w[2]]);
  const total = words.reduce((a, w) => a + w.length + 1, 0) || 1;
  let at = seg.start;
  return words.map((w) => { const span = (seg.end - seg.start) * (w.length + 1) / total; const out = [w, at, at + span]; at += span; return out; });
}

function renderSegment(seg, i, speakers) {
  const words = wordsOf(seg).map(([w, s, e]) =>
    `<span class="ed-word" data-s="${s}" data-e="${e}">${esc(w)}</span>`).join(" ");
  const who = speakers.length
    ? `<select class="ed-speaker" data-i="${i}" aria-label="Speaker of segment ${i + 1}">${speakers.map((sp) =>
      `<option${sp === seg.speaker ? " selected" : ""}>${esc(sp)}</option>`).join("")}</select>` : "";
  return `<div class="ed-seg${seg.edited ? " ed-edited" : ""}" data-i="${i}" data-s="${seg.start}" data-e="${seg.end}">
    <button type="button" class="ed-time" data-i="${i}" title="Play from here">${clock(seg.start)}</button>${who}
    <button type="button" class="ed-edit" data-i="${i}" title="Edit this segment's text">✎ Edit</button>
    <div class="ed-text" data-i="${i}">${words}</div></div>`;
}

function render() {
  const data = props.value;
  state.files = data && data.files ? JSON.parse(JSON.stringify(data.files)) : [];
  state.file = Math.min(state.file, Math.max(state.files.length - 1, 0));
  state.undo = []; state.redo = []; state.editing = null; state.now = null;
  element.querySelector(".ed").dataset.empty = state.files.length ? "0" : "1";
  const picker = $(".ed-file");
  picker.innerHTML = state.files.map((f, i) => `<option value="${i}">${esc(f.name)}</option>`).join("");
  picker.hidden = state.files.length < 2;
  showFile();
  status(state.files.length ? "Click a word to hear it; ✎ Edit to correct a segment." : "");
}

function showFile() {
  const f = current();
  const player = audio();
  if (!f) { $(".ed-segs").innerHTML = ""; player.removeAttribute("src"); return; }
  if (player.getAttribute("src") !== f.audio) { if (f.audio) player.src = f.audio; else player.removeAttribute("src"); }
  $(".ed-segs").innerHTML = f.segments.map((s, i) => renderSegment(s, i, f.speakers)).join("");
  $(".ed-save").disabled = true;
  $(".ed-undo").disabled = !state.undo.length; $(".ed-redo").disabled = !state.redo.length;
}

function change(apply) {
  state.undo.push(snapshot()); state.redo = [];
  apply(); showFile(); dirty();
  $(".ed-undo").disabled = false; $(".ed-redo").disabled = true;
}

function startEdit(i) {
  if (state.editing !== null) finishEdit(true);
  const box = element.querySelector(`.ed-text[data-i="${i}"]`);
  const seg = current().segments[i];
  box.innerHTML = `<textarea class="ed-input" rows="3" aria-label="Text of segment ${i + 1}">${esc(seg.text)}</textarea>
    <button type="button" class="ed-done">Done</button> <button type="button" class="ed-cancel">Cancel</button>`;
  state.editing = i;
  $(".ed-save").disabled = false;  // Save applies the edit being typed too
  const input = box.querySelector("textarea");
  input.focus(); input.setSelectionRange(input.value.length, input.value.length);
}

function finishEdit(keep) {
  const i = state.editing;
  if (i === null) return;
  const input = element.querySelector(".ed-input");
  const text = input ? input.value.replace(/\s+/g, " ").trim() : current().segments[i].text;
  state.editing = null;
  const seg = current().segments[i];
  if (keep && text !== seg.text) change(() => { seg.text = text; seg.edited = true; });
  else showFile();
}

function save() {
  if (state.editing !== null) finishEdit(true);
  const edits = state.files.map((f) => f.segments.map((s) => ({ text: s.text, speaker: s.speaker })));
  status("Saving: every download is written again…");
  $(".ed-save").disabled = true;
  trigger("submit", { edits: JSON.stringify(edits) });
}

function seek(t, play = true) {
  const player = audio();
  if (!player.getAttribute("src")) { status("The recording is not available to play here."); return; }
  player.currentTime = Math.max(0, t);
  if (play) player.play().catch(() => {});
}

function follow() {
  const player = audio();
  const t = player.currentTime;
  let now = null;
  for (const w of element.querySelectorAll(".ed-word")) {
    if (+w.dataset.s <= t + 1e-3) now = w; else break;
  }
  if (now && t > +now.dataset.e + 0.3) now = null;  // in a pause between words
  if (now !== state.now) {
    if (state.now) state.now.classList.remove("ed-now");
    if (now) {
      now.classList.add("ed-now");
      const box = $(".ed-segs").getBoundingClientRect(), r = now.getBoundingClientRect();
      if (r.top < box.top || r.bottom > box.bottom) now.scrollIntoView({ block: "center", behavior: "auto" });
    }
    state.now = now;
  }
  element.querySelector(".ed").dataset.time = t.toFixed(3);
  if (!player.paused) state.raf = requestAnimationFrame(follow);
}

element.addEventListener("click", (ev) => {
  const t = ev.target;
  if (t.classList.contains("ed-word") && state.editing === null) seek(+t.dataset.s);
  else if (t.classList.contains("ed-time")) seek(current().segments[+t.dataset.i].start);
  else if (t.classList.contains("ed-edit")) startEdit(+t.dataset.i);
  else if (t.classList.contains("ed-done")) finishEdit(true);
  else if (t.classList.contains("ed-cancel")) finishEdit(false);
  else if (t.classList.contains("ed-back")) seek(audio().currentTime - SKIP_S, !audio().paused);
  else if (t.classList.contains("ed-fwd")) seek(audio().currentTime + SKIP_S, !audio().paused);
  else if (t.classList.contains("ed-play")) { const p = audio(); if (p.paused) p.play().catch(() => {}); else p.pause(); }
  else if (t.classList.contains("ed-save")) save();
  else if (t.classList.contains("ed-undo") && state.undo.length) {
    state.redo.push(snapshot()); restore(state.undo.pop()); showFile(); dirty();
  } else if (t.classList.contains("ed-redo") && state.redo.length) {
    state.undo.push(snapshot()); restore(state.redo.pop()); showFile(); dirty();
  }
});
element.addEventListener("change", (ev) => {
  const t = ev.target;
  if (t.classList.contains("ed-speaker")) {
    const seg = current().segments[+t.dataset.i];
    change(() => { seg.speaker = t.value; });
  } else if (t.classList.contains("ed-speed")) audio().playbackRate = +t.value;
  else if (t.classList.contains("ed-file")) { finishEdit(true); state.file = +t.value; showFile(); }
});
element.addEventListener("keydown", (ev) => {
  if (ev.target.classList.contains("ed-input")) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); finishEdit(true); save(); }
    else if (ev.key === "Escape") { ev.preventDefault(); finishEdit(false); }
  }
});
element.addEventListener("play", () => { $(".ed-play").textContent = "❚❚ Pause"; state.raf = requestAnimationFrame(follow); }, true);
element.addEventListener("pause", () => { $(".ed-play").textContent = "▶ Play"; follow(); }, true);
element.addEventListener("seeked", () => follow(), true);

// Space, ← and → anywhere on the page, except while typing in a field.
if (!window.__transcriptEditorKeys) {
  window.__transcriptEditorKeys = true;
  document.addEventListener("keydown", (ev) => {
    const root = document.querySelector("#editor .ed");
    if (!root || root.dataset.empty === "1" || !root.offsetParent || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const t = ev.target;
    if (t.closest && t.closest("input, textarea, select, [contenteditable='true'], [contenteditable='']")) return;
    const player = root.querySelector(".ed-audio");
    if (ev.key === " " && !(t.tagName === "BUTTON" || t.tagName === "AUDIO")) {
      ev.preventDefault(); if (player.paused) player.play().catch(() => {}); else player.pause();
    } else if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
      ev.preventDefault(); player.currentTime = Math.max(0, player.currentTime + (ev.key === "ArrowLeft" ? -SKIP_S : SKIP_S));
    }
  });
}

watch("value", render);
render();
