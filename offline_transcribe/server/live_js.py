"""The page's Live in the browser: the microphone is captured in an AudioWorklet, downsampled to 16 kHz, sent as
PCM16 over the server's own WebSocket (``live/ws``, the Realtime protocol with the page's events) and the live
text and status it sends back are shown. ``CLIENT`` defines ``liveClient()``; the Gradio events of ``live.wire``
run it inline (``js=``), so nothing depends on a script having loaded first.
"""

from __future__ import annotations

CLIENT = r"""
const liveClient = () => window.__transcribeLive ||= (() => {
  const RATE = 16000;
  const WORKLET = `registerProcessor("live-capture", class extends AudioWorkletProcessor {
    constructor() { super(); this.b = new Float32Array(2048); this.n = 0;
      this.port.onmessage = () => { this.port.postMessage(this.b.slice(0, this.n)); this.n = 0; }; }
    process(inputs) { const c = inputs[0] && inputs[0][0];
      if (c) for (let i = 0; i < c.length; i++) { this.b[this.n++] = c[i];
        if (this.n === this.b.length) { this.port.postMessage(this.b.slice(0)); this.n = 0; } }
      return true; } });`;
  const el = (id) => document.getElementById(id);
  const show = (text, status) => {
    if (text !== null && el("live-text")) el("live-text").innerHTML = text;
    if (status !== null && el("live-status")) el("live-status").textContent = status;
  };
  const recording = (on) => { if (el("live")) el("live").dataset.live = on ? "recording" : ""; };
  let failure = "", ws = null, ctx = null, media = null, node = null;
  let rest = new Float32Array(0), done = null, flushed = null;

  const downsample = (input) => {  // a box filter over each output sample's span of input samples
    const all = new Float32Array(rest.length + input.length);
    all.set(rest); all.set(input, rest.length);
    const ratio = ctx.sampleRate / RATE, n = Math.floor(all.length / ratio), out = new Int16Array(n);
    for (let k = 0; k < n; k++) {
      const a = Math.floor(k * ratio), b = Math.max(a + 1, Math.floor((k + 1) * ratio));
      let sum = 0;
      for (let i = a; i < b; i++) sum += all[i];
      out[k] = Math.max(-1, Math.min(1, sum / (b - a))) * 32767;
    }
    rest = all.slice(Math.floor(n * ratio));
    return out;
  };
  const send = (samples) => {
    if (!ws || ws.readyState !== WebSocket.OPEN || !samples.length) return;
    const pcm = downsample(samples), bytes = new Uint8Array(pcm.buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    ws.send(JSON.stringify({type: "input_audio_buffer.append", audio: btoa(text)}));
  };
  const release = () => {
    try { node && node.disconnect(); } catch (e) {}
    media && media.getTracks().forEach((t) => t.stop());
    ctx && ctx.close().catch(() => {});
    node = media = ctx = null;
  };
  const received = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "live.view") show(event.text, event.status);
    else if (event.type === "live.recording") { show(null, event.status); done && done(event.token); }
    else if (event.type === "error") { failure = "✗ " + event.error.message; show(null, failure); }
  };

  return {
    async start(model, phrases, replacements) {
      if (ws) return [];
      recording(true);
      failure = "";
      show("", "● Starting the microphone…");
      try {
        media = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1}});
        ctx = new AudioContext();
        await ctx.resume();
        const url = URL.createObjectURL(new Blob([WORKLET], {type: "application/javascript"}));
        await ctx.audioWorklet.addModule(url);
        const address = new URL("live/ws", window.location.href);
        address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
        address.search = "";
        const socket = ws = new WebSocket(address);
        socket.onmessage = received;
        await new Promise((ok, fail) => {
          socket.onopen = ok;
          socket.onerror = () => fail(new Error("the server refused the connection"));
        });
        socket.onclose = () => {
          if (ws !== socket) return;
          ws = null;
          release();
          recording(false);
          show(null, failure || "✗ The connection to the server was lost.");
          done && done("");
        };
        socket.send(JSON.stringify({type: "session.update", session: {type: "transcription", audio: {input: {
          format: {type: "audio/pcm", rate: RATE}, transcription: {model: model}, turn_detection: null}}}}));
        // The tab's Vocabulary and Replacements boxes, on their own: a problem in them leaves the format as sent.
        socket.send(JSON.stringify({type: "session.update", session: {type: "transcription", audio: {input: {
          transcription: {hotwords: (phrases || "").split("\n"), replacements: replacements || ""}}}}}));
        rest = new Float32Array(0);
        node = new AudioWorkletNode(ctx, "live-capture");
        node.port.onmessage = (e) => {
          if (flushed) { const f = flushed; flushed = null; f(e.data); } else send(e.data);
        };
        ctx.createMediaStreamSource(media).connect(node);
        node.connect(ctx.destination);  // silent: the worklet writes no output, but it is pulled
      } catch (error) {
        const socket = ws;
        ws = null;
        socket && socket.close();
        release();
        recording(false);
        show(null, "✗ Live could not start: " + error.message);
      }
      return [];
    },
    async stop() {
      const socket = ws;
      if (!socket) { recording(false); return ""; }
      if (node) {
        const tail = await Promise.race([new Promise((ok) => { flushed = ok; node.port.postMessage("flush"); }),
                                         new Promise((ok) => setTimeout(() => ok(null), 500))]);
        flushed = null;
        if (tail) send(tail);
      }
      release();
      const token = await new Promise((ok) => {
        done = ok;
        socket.send(JSON.stringify({type: "input_audio_buffer.commit"}));
      });
      done = null;
      ws = null;
      socket.close();
      recording(false);
      return token || "";
    },
    final(text, status) { if (status) show(text, status); },
  };
})();
"""


def handler(body: str) -> str:
    """A Gradio ``js=`` function with the client defined inline: ``body`` uses ``liveClient()``."""
    return f"async (...args) => {{ {CLIENT}\n{body} }}"
