// The listening bench of a clip page (reports/listening.py): plays the top k % of the frames a method marked.
// Plain Web Audio, no library, nothing fetched: a folder report's script asset hands over the record and the
// clip's wav as base64 (serauditBench.load), a self-contained report inlines the record as JSON and the wav as
// a data: URI. Each bench's state is exposed
// for tests and curious readers as window.serauditBench.state(clip id) (k, frames, seconds, kept_frames, mode,
// playing, cursor_s, clock, the levels in dBFS, gain_db) and as data- attributes on its section (data-k,
// data-frames, data-seconds, data-mode, data-cursor, data-level-db, data-playing, data-clock, data-row, data-audio).
(function () {
  "use strict";
  var B = window.serauditBench = window.serauditBench || {benches: {}};
  if (B.scan) { B.scan(); return; }

  // A magma-like colour scale (dark = quiet, light = loud).
  var STOPS = [[0, 0, 4], [28, 16, 68], [79, 18, 123], [129, 37, 129], [181, 54, 122], [229, 80, 100],
               [251, 135, 97], [254, 194, 135], [252, 253, 191]];
  function colour(v) {
    var x = v / 255 * (STOPS.length - 1), i = Math.min(Math.floor(x), STOPS.length - 2), f = x - i;
    return [0, 1, 2].map(function (c) { return Math.round(STOPS[i][c] + f * (STOPS[i + 1][c] - STOPS[i][c])); });
  }
  function base64Bytes(text) {
    var raw = atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  function db(power) { return power > 0 ? 10 * Math.log10(power) : null; }
  function fmtDb(v) { return v === null || v === undefined ? "silent" : (v > 0 ? "+" : "") + v.toFixed(1) + " dBFS"; }
  function fmtS(v) { return v.toFixed(2) + " s"; }

  function Bench(section, record) {
    var self = this;
    this.section = section;
    this.data = record;
    var d = this.data;
    this.clip = d.clip;
    this.hopSamples = Math.round(d.frame_hop_s * d.sample_rate);
    this.heard = [];
    d.heard.forEach(function (run) { for (var f = run[0]; f < run[1]; f++) self.heard.push(f); });
    this.rows = d.rows.map(function (row, i) {
      var order = row.profile.map(function (v, j) { return j; });
      order.sort(function (a, b) { return row.profile[b] - row.profile[a] || a - b; });
      var tr = section.querySelector('tr[data-row="' + i + '"]');
      return {row: row, order: order, tr: tr, slider: tr.querySelector("input[type=range]"), k: d.start_k,
              frames: null, envelope: null, keptDb: null, removedDb: null};
    });
    this.active = 0;
    this.mode = "original";
    this.normalise = false;
    this.samples = null;      // the decoded original (Float32Array at the record's sample rate)
    this.originalDb = null;
    this.ctx = null;          // the AudioContext, made on the first press of Play
    this.playing = false;
    this.cursor = 0;          // seconds
    this.clock = "none";      // what drives the cursor: "audio" (AudioContext.currentTime) or "page" (performance.now)
    this.view = section.querySelector(".bench-view");
    this.mel = section.querySelector("canvas.bench-mel");
    this.strip = section.querySelector("canvas.bench-strip");
    this.cursorLine = section.querySelector(".bench-cursor");
    this.drawMel();
    this.rows.forEach(function (r, i) {
      r.slider.addEventListener("input", function () { self.setK(i, parseFloat(r.slider.value)); });
      r.tr.querySelector("input[type=radio]").addEventListener("change", function () { self.setActive(i); });
      self.select(i);
    });
    section.querySelectorAll(".bench-mode input").forEach(function (input) {
      input.addEventListener("change", function () { if (input.checked) self.setMode(input.value); });
    });
    section.querySelector(".bench-play").addEventListener("click", function () { self.toggle(); });
    var norm = section.querySelector(".bench-normalise input");
    norm.addEventListener("change", function () { self.setNormalise(norm.checked); });
    this.view.addEventListener("click", function (event) {
      var box = self.mel.getBoundingClientRect();
      self.seek(Math.max(0, Math.min(1, (event.clientX - box.left) / box.width)) * d.duration_s);
    });
    this.update();
  }

  Bench.prototype.decode = function (bytes) {
    var self = this, d = this.data;
    var Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
    if (!Offline) { this.fail("this browser has no Web Audio"); return; }
    new Offline(1, 1, d.sample_rate).decodeAudioData(bytes).then(function (buffer) {
      self.samples = buffer.getChannelData(0);
      var power = 0;
      for (var i = 0; i < self.samples.length; i++) power += self.samples[i] * self.samples[i];
      self.originalDb = db(power / Math.max(self.samples.length, 1));
      self.peak = self.samples.reduce(function (m, v) { return Math.max(m, Math.abs(v)); }, 0);
      self.rows.forEach(function (r, i) { self.select(i); });
      self.section.setAttribute("data-audio", "ready");
      self.showQuiet();
      self.update();
    }, function (err) { self.fail("the clip could not be decoded (" + err + ")"); });
  };

  Bench.prototype.fail = function (why) {
    this.section.setAttribute("data-audio", "failed");
    this.section.querySelector(".bench-now").textContent = "Playback unavailable: " + why + ".";
  };

  // The frames row i keeps at its k: the top k % of the heard frames by the row's profile, at least the strongest one.
  Bench.prototype.select = function (i) {
    var r = this.rows[i], d = this.data, n = this.heard.length;
    var count = n ? Math.max(1, Math.min(n, Math.round(r.k / 100 * n))) : 0;
    var frames = new Uint8Array(d.n_frames);
    for (var j = 0; j < count; j++) frames[this.heard[r.order[j]]] = 1;
    r.frames = frames;
    r.count = count;
    if (this.samples) this.envelope(r);
    this.describe(i);
  };

  // The gain that keeps the selected frames: 1 on them, 0 elsewhere, each edge a linear fade of fade_s (centred on it).
  Bench.prototype.envelope = function (r) {
    var x = this.samples, n = x.length, hop = this.hopSamples, d = this.data;
    var mask = new Float32Array(n);
    for (var f = 0; f < r.frames.length; f++) {
      if (!r.frames[f]) continue;
      for (var s = f * hop, e = Math.min((f + 1) * hop, n); s < e; s++) mask[s] = 1;
    }
    var w = Math.max(1, Math.round(d.fade_s * d.sample_rate)), half = Math.floor(w / 2);
    var sums = new Float64Array(n + 1);
    for (var i = 0; i < n; i++) sums[i + 1] = sums[i] + mask[i];
    var env = new Float32Array(n), kept = 0, keptW = 0, removed = 0, removedW = 0;
    for (i = 0; i < n; i++) {
      var a = Math.max(0, i - half), b = Math.min(n, i - half + w);
      var g = (sums[b] - sums[a]) / w;
      env[i] = g;
      kept += g * g * x[i] * x[i]; keptW += g * g;
      removed += (1 - g) * (1 - g) * x[i] * x[i]; removedW += (1 - g) * (1 - g);
    }
    r.envelope = env;
    r.keptDb = keptW > 0 ? db(kept / keptW) : null;       // RMS of the kept part while it sounds
    r.removedDb = removedW > 0 ? db(removed / removedW) : null;
  };

  Bench.prototype.describe = function (i) {
    var r = this.rows[i], hop = this.data.frame_hop_s;
    r.tr.querySelector("output").textContent = r.k === 0 ? "strongest frame" : (r.k + " %");
    r.tr.querySelector(".bench-kept").textContent = r.count + " frames, " + fmtS(r.count * hop);
    r.tr.querySelector(".bench-kept-db").textContent = this.samples ? fmtDb(r.keptDb) : "…";
    r.tr.querySelector(".bench-removed-db").textContent = this.samples ? fmtDb(r.removedDb) : "…";
  };

  Bench.prototype.setK = function (i, k) {
    this.rows[i].k = k;
    this.select(i);
    if (i !== this.active) this.setActive(i); else this.changed();
  };

  Bench.prototype.setActive = function (i) {
    this.active = i;
    this.rows[i].tr.querySelector("input[type=radio]").checked = true;
    this.changed();
  };

  Bench.prototype.setMode = function (mode) {
    this.mode = mode;
    this.section.querySelector('.bench-mode input[value="' + mode + '"]').checked = true;
    if (this.playing) this.applyGains(0.005);
    this.update();
  };

  Bench.prototype.setNormalise = function (on) {
    this.normalise = on;
    if (this.playing) this.master.gain.setTargetAtTime(this.masterGain(), this.ctx.currentTime, 0.01);
    this.update();
  };

  // What the active row keeps or removes changed: redraw, and if playing, play the new parts from where we are.
  Bench.prototype.changed = function () {
    if (this.playing) { var at = this.position(); this.stop(); this.play(at); }
    this.update();
  };

  // The gain normalised playback adds: up to the target level, at most max_gain_db, never past full scale.
  Bench.prototype.normaliseGainDb = function () {
    if (this.originalDb === null) return 0;
    var n = this.data.normalise, headroom = this.peak > 0 ? -20 * Math.log10(this.peak / 0.98) : n.max_gain_db;
    return Math.max(0, Math.min(n.target_dbfs - this.originalDb, n.max_gain_db, headroom));
  };
  Bench.prototype.masterGain = function () {
    return this.normalise ? Math.pow(10, this.normaliseGainDb() / 20) : 1;
  };

  Bench.prototype.showQuiet = function () {
    var d = this.data, quiet = this.originalDb !== null && this.originalDb < d.quiet_dbfs;
    var note = this.section.querySelector(".bench-quiet"), label = this.section.querySelector(".bench-normalise");
    note.hidden = !quiet;
    label.hidden = !quiet;
    if (quiet) {
      var gain = this.normaliseGainDb();
      note.textContent = "This clip is quiet: " + fmtDb(this.originalDb) + " RMS, below " + d.quiet_dbfs +
        " dBFS. Normalised playback raises everything the bench plays by the same +" + gain.toFixed(1) +
        " dB (towards " + d.normalise.target_dbfs + " dBFS, at most +" + d.normalise.max_gain_db +
        " dB, never past the clip's peak), so original, kept and removed keep their levels relative to each other.";
      label.querySelector("span").textContent = "normalised playback (+" + gain.toFixed(1) + " dB)";
    }
  };

  Bench.prototype.buffers = function () {
    var ctx = this.ctx, d = this.data, env = this.rows[this.active].envelope, x = this.samples;
    function make(gain) {
      var buffer = ctx.createBuffer(1, x.length, d.sample_rate), out = buffer.getChannelData(0);
      for (var i = 0; i < x.length; i++) out[i] = x[i] * gain(i);
      return buffer;
    }
    return {original: make(function () { return 1; }), kept: make(function (i) { return env[i]; }),
            removed: make(function (i) { return 1 - env[i]; })};
  };

  Bench.prototype.toggle = function () {
    if (this.playing) { this.cursor = this.position(); this.stop(); this.update(); }
    else this.play(this.cursor >= this.data.duration_s - 0.01 ? 0 : this.cursor);
  };

  // Play the original, kept and removed parts together from `at` seconds; the mode's gain is 1, the others' 0 (A/B).
  Bench.prototype.play = function (at) {
    var self = this;
    if (!this.samples) return;
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!this.ctx) {
      this.ctx = new Context();
      this.master = this.ctx.createGain();
      this.master.connect(this.ctx.destination);
    }
    if (this.ctx.state === "suspended") this.ctx.resume();
    var buffers = this.buffers(), start = this.ctx.currentTime + 0.02;
    this.master.gain.value = this.masterGain();
    this.voices = {};
    Object.keys(buffers).forEach(function (mode) {
      var source = self.ctx.createBufferSource(), gain = self.ctx.createGain();
      source.buffer = buffers[mode];
      gain.gain.value = mode === self.mode ? 1 : 0;
      source.connect(gain).connect(self.master);
      source.start(start, at);
      self.voices[mode] = {source: source, gain: gain};
    });
    this.voices.original.source.onended = function () {
      if (self.voices && self.voices.original.source === this) { self.cursor = self.data.duration_s; self.stop(); self.update(); }
    };
    this.playing = true;
    this.startedAt = {audio: start, page: performance.now() + 20, offset: at};
    this.clock = "audio";
    this.tick();
  };

  Bench.prototype.applyGains = function (seconds) {
    var self = this, now = this.ctx.currentTime;
    Object.keys(this.voices).forEach(function (mode) {
      self.voices[mode].gain.gain.setTargetAtTime(mode === self.mode ? 1 : 0, now, seconds);
    });
  };

  Bench.prototype.stop = function () {
    var voices = this.voices;
    this.voices = null;
    this.playing = false;
    if (voices) Object.keys(voices).forEach(function (m) { try { voices[m].source.stop(); } catch (e) { /* ended */ } });
  };

  // Where playback is (seconds): from the audio clock; from the page clock when the audio clock stands still
  // (a context with no output device, e.g. a headless browser), so the cursor still shows the time.
  Bench.prototype.position = function () {
    if (!this.playing) return this.cursor;
    var s = this.startedAt, audio = this.ctx.currentTime - s.audio, page = (performance.now() - s.page) / 1000;
    if (audio <= 0 && page > 0.25) this.clock = "page";
    else if (audio > 0) this.clock = "audio";
    var t = s.offset + Math.max(0, this.clock === "page" ? page : audio);
    return Math.min(t, this.data.duration_s);
  };

  Bench.prototype.tick = function () {
    var self = this;
    if (!this.playing) return;
    this.cursor = this.position();
    if (this.clock === "page" && this.cursor >= this.data.duration_s) { this.stop(); }
    this.update();
    requestAnimationFrame(function () { self.tick(); });
  };

  Bench.prototype.seek = function (t) {
    if (this.playing) { this.stop(); this.play(t); }
    this.cursor = t;
    this.update();
  };

  Bench.prototype.drawMel = function () {
    var d = this.data, pic = d.log_mel, canvas = this.mel;
    if (!pic) { canvas.hidden = true; return; }
    canvas.width = pic.frames;
    canvas.height = pic.bands;
    var g = canvas.getContext("2d"), image = g.createImageData(pic.frames, pic.bands), cells = base64Bytes(pic.data);
    for (var f = 0; f < pic.frames; f++) {
      for (var b = 0; b < pic.bands; b++) {
        var c = colour(cells[f * pic.bands + b]), p = ((pic.bands - 1 - b) * pic.frames + f) * 4;
        image.data[p] = c[0]; image.data[p + 1] = c[1]; image.data[p + 2] = c[2]; image.data[p + 3] = 255;
      }
    }
    g.putImageData(image, 0, 0);
  };

  // The strip under the log-mel: the active row's profile per frame, the kept frames in orange, unheard frames hatched.
  Bench.prototype.drawStrip = function () {
    var d = this.data, r = this.rows[this.active], canvas = this.strip, n = d.n_frames, h = 40;
    var key = this.active + "/" + r.k;
    if (this.drawn === key) return;
    this.drawn = key;
    canvas.width = n;
    canvas.height = h;
    var g = canvas.getContext("2d"), heard = new Uint8Array(n), value = new Float32Array(n);
    this.heard.forEach(function (f, j) { heard[f] = 1; value[f] = r.row.profile[j] / d.profile_steps; });
    g.fillStyle = "#f3f4f6";
    g.fillRect(0, 0, n, h);
    for (var f = 0; f < n; f++) {
      if (!heard[f]) { g.fillStyle = f % 4 < 2 ? "#d5d9e0" : "#ffffff"; g.fillRect(f, 0, 1, h); continue; }
      var bar = Math.max(1, Math.round(value[f] * (h - 2)));
      g.fillStyle = r.frames[f] ? "#e07b00" : "#8893a5";
      g.fillRect(f, h - bar, 1, bar);
    }
  };

  Bench.prototype.keptFrames = function (r) {
    var out = [];
    for (var f = 0; f < r.frames.length; f++) if (r.frames[f]) out.push(f);
    return out;
  };

  Bench.prototype.state = function () {
    var r = this.rows[this.active], level = this.originalDb;
    if (this.mode === "kept") level = r.keptDb; else if (this.mode === "removed") level = r.removedDb;
    var gain = this.normalise ? this.normaliseGainDb() : 0;
    return {clip: this.clip, model: r.row.model, method: r.row.method, row: this.active, k: r.k,
            frames: r.count, seconds: +(r.count * this.data.frame_hop_s).toFixed(3), heard_frames: this.heard.length,
            mode: this.mode, playing: this.playing, cursor_s: +this.cursor.toFixed(3), clock: this.clock,
            audio_ready: this.samples !== null, level_dbfs: level === null ? null : +level.toFixed(2),
            original_dbfs: this.originalDb === null ? null : +this.originalDb.toFixed(2),
            kept_dbfs: r.keptDb === null ? null : +r.keptDb.toFixed(2),
            removed_dbfs: r.removedDb === null ? null : +r.removedDb.toFixed(2),
            normalised: this.normalise, gain_db: +gain.toFixed(2), kept_frames: this.keptFrames(r),
            context_time: this.ctx ? this.ctx.currentTime : null};
  };

  Bench.prototype.update = function () {
    var s = this.state(), section = this.section, d = this.data;
    this.drawStrip();
    this.cursorLine.style.left = (100 * s.cursor_s / d.duration_s) + "%";
    var attrs = {k: s.k, frames: s.frames, seconds: s.seconds, mode: s.mode, cursor: s.cursor_s, playing: s.playing,
                 clock: s.clock, row: s.model + "/" + s.method, "level-db": s.level_dbfs === null ? "" : s.level_dbfs};
    Object.keys(attrs).forEach(function (k) { section.setAttribute("data-" + k, String(attrs[k])); });
    section.querySelector(".bench-play").textContent = s.playing ? "Pause" : "Play";
    this.rows.forEach(function (r, i) { r.tr.classList.toggle("bench-active", i === s.row); });
    if (section.getAttribute("data-audio") === "failed") return;
    var what = s.mode === "original" ? "the original clip" :
      (s.mode === "kept" ? "the kept part" : "the removed part") + " of " + s.method + ", " + this.rows[s.row].row.title +
      " (" + (s.k === 0 ? "strongest frame" : "top " + s.k + " %") + ": " + s.frames + " frames, " + fmtS(s.seconds) + ")";
    var level = !s.audio_ready ? "level: decoding the clip…" : "level " + fmtDb(s.level_dbfs) + " RMS" +
      (s.normalised && s.level_dbfs !== null ? ", played at " + fmtDb(s.level_dbfs + s.gain_db) + " (normalised +" + s.gain_db.toFixed(1) + " dB)" : "");
    section.querySelector(".bench-now").textContent = (s.playing ? "Playing " : "Ready to play ") + what + " — " + level +
      " — at " + fmtS(s.cursor_s) + " of " + fmtS(d.duration_s) + ".";
  };

  function start(section, record, wav) {
    section.setAttribute("data-bench", "on");
    try {
      var bench = new Bench(section, record);
      B.benches[bench.clip] = bench;
      bench.decode(base64Bytes(wav).buffer);
    } catch (err) {
      section.setAttribute("data-bench", "failed");
      throw err;
    }
  }
  // A folder report: the clip's script asset hands over its record and its wav (base64).
  B.load = function (clip, record, wav) {
    document.querySelectorAll("section.bench:not([data-bench])").forEach(function (section) {
      if (section.getAttribute("data-clip") === clip) start(section, record, wav);
    });
  };
  // A self-contained report: the record is inline JSON and the wav a data: URI on the section.
  B.scan = function () {
    document.querySelectorAll("section.bench:not([data-bench])").forEach(function (section) {
      var inline = section.querySelector("script.bench-data"), src = section.getAttribute("data-audio-src");
      if (inline && src) start(section, JSON.parse(inline.textContent), src.slice(src.indexOf(",") + 1));
    });
  };
  B.state = function (clip) {
    var bench = clip ? B.benches[clip] : B.benches[Object.keys(B.benches)[0]];
    return bench ? bench.state() : null;
  };
  B.scan();
})();
