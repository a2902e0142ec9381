// The script of a tapegrad live page. It only shows what the run's server sends (Server-Sent
// Events: a setup, then frames), and posts the learner's commands back; it computes no value
// and no gradient. Every request carries the page's token, read from the page itself.
"use strict";
(function () {
  var box = document.getElementById("tg-live");
  var q = function (sel) { return box.querySelector(sel); };
  var SVG = "http://www.w3.org/2000/svg";
  var COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"];
  // the regions' colours, opaque (a translucent one would darken where cells meet)
  var REGION = ["#f2c5ca", "#c2dbeb", "#d1ede4", "#feefc5", "#e0d4e6"];
  var DOT = ["#d53e4f", "#3288bd", "#66c2a5", "#fdae61", "#9970ab"];
  var setup = null, frame = null, source = null;
  var tok = "token=" + encodeURIComponent(TOKEN);

  function el(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) { return v === null || v === undefined ? "–" : (+v).toPrecision(4); }

  function command(action, lr) {
    var body = {action: action};
    if (lr !== undefined) body.lr = lr;
    return fetch("/control?" + tok, {method: "POST", body: JSON.stringify(body)});
  }

  function onSetup(s) {
    setup = s;
    var body = q(".tg-layers tbody");
    while (body.firstChild) body.removeChild(body.firstChild);
    s.layers.forEach(function (layer, i) {
      var tr = document.createElement("tr");
      tr.innerHTML = '<td></td><td class="tg-r"></td><td class="tg-r" data-w="' + i +
        '"></td><td class="tg-r" data-g="' + i + '"></td><td class="tg-barcell">' +
        '<div class="tg-fill" data-bar="' + i + '"></div></td>';
      tr.children[0].textContent = layer[0];
      tr.children[1].textContent = layer[1];
      body.appendChild(tr);
    });
    q(".tg-boundary").classList.toggle("tg-hidden", !s.grid);
    var outcome = q(".tg-outcome");
    outcome.textContent = "";
    if (s.classes) {
      var t = document.createElement("table");
      t.className = "tg-confusion";
      var cap = t.createCaption();
      cap.textContent = "confusion on the " + s.measured + " rows: rows true, columns predicted";
      for (var a = -1; a < s.classes; a++) {
        var tr = t.insertRow();
        for (var b = -1; b < s.classes; b++) {
          var c = tr.insertCell();
          if (a < 0 && b >= 0) c.textContent = b;
          else if (b < 0 && a >= 0) c.textContent = a;
          else if (a >= 0) { c.className = "tg-r"; c.setAttribute("data-cm", a + "-" + b); }
        }
      }
      outcome.appendChild(t);
    } else {
      var svg = el("svg", {"class": "tg-scatter", width: 260, height: 260});
      outcome.appendChild(svg);
      var p = document.createElement("p");
      p.textContent = "predicted against true, on the " + s.measured + " rows";
      outcome.appendChild(p);
    }
    var graph = q(".tg-graph");
    graph.innerHTML = s.graph;  // explain's picture, made and escaped by the server
    q(".tg-out").textContent = "sample " + s.sample;
  }

  function drawChart(svg, name, series) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 460, H = 210, L = 52, R = 12, T = 24, B = 30, x = frame.curves.x;
    var total = Math.max(frame.entries, x.length ? x[x.length - 1] : 1);
    var ys = [];
    series.forEach(function (s) { s[1].forEach(function (v) { if (v !== null) ys.push(v); }); });
    if (!ys.length) { svg.style.display = "none"; return; }
    svg.style.display = "";
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    var px = function (k) { return (L + (W - L - R) * k / total).toFixed(1); };
    var py = function (v) { return (T + (H - T - B) * (hi - v) / (hi - lo)).toFixed(1); };
    svg.appendChild(el("rect", {"class": "tg-frame", x: L, y: T, width: W - L - R, height: H - T - B}));
    svg.appendChild(el("text", {x: L - 4, y: T + 4, "text-anchor": "end"}, fmt(hi)));
    svg.appendChild(el("text", {x: L - 4, y: H - B, "text-anchor": "end"}, fmt(lo)));
    svg.appendChild(el("text", {x: (W + L) / 2, y: H - 10, "text-anchor": "middle"}, frame.unit));
    var lx = L;
    series.forEach(function (s, i) {
      var pts = [];
      s[1].forEach(function (v, j) { if (v !== null) pts.push(px(x[j]) + "," + py(v)); });
      if (!pts.length) return;
      svg.appendChild(el("polyline", {points: pts.join(" "), stroke: COLOURS[i]}));
      svg.appendChild(el("text", {x: lx, y: 14, fill: COLOURS[i]}, s[0]));
      lx += 10 + 6.5 * s[0].length;
    });
    svg.appendChild(el("text", {x: W - R, y: 14, "text-anchor": "end"}, name));
  }

  function drawGrid(f) {
    var canvas = q(".tg-boundary canvas"), g = setup.grid;
    if (!g || !f.grid) return;
    var ctx = canvas.getContext("2d"), n = g.n, W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    var cw = W / n, ch = H / n;
    for (var r = 0; r < n; r++) {
      for (var c = 0; c < n; c++) {
        ctx.fillStyle = REGION[+f.grid[r * n + c] % REGION.length];
        ctx.fillRect(Math.floor(c * cw), Math.floor(H - (r + 1) * ch), Math.ceil(cw) + 1,
          Math.ceil(ch) + 1);
      }
    }
    setup.points.forEach(function (p) {
      var x = (p[0] - g.x[0]) / (g.x[1] - g.x[0]) * W;
      var y = H - (p[1] - g.y[0]) / (g.y[1] - g.y[0]) * H;
      ctx.beginPath();
      ctx.arc(x, y, 3, 0, 2 * Math.PI);
      ctx.fillStyle = DOT[p[2] % DOT.length];
      ctx.fill();
      ctx.strokeStyle = "#222";
      ctx.lineWidth = 0.5;
      ctx.stroke();
    });
  }

  function drawOutcome(f) {
    if (f.confusion) {
      box.querySelectorAll("[data-cm]").forEach(function (c) {
        var tp = c.getAttribute("data-cm").split("-"), row = f.confusion[+tp[0]];
        var n = row[+tp[1]], sum = row.reduce(function (a, b) { return a + b; }, 0);
        c.textContent = n;
        var hue = tp[0] === tp[1] ? "46,125,50" : "198,40,40";
        c.style.background = "rgba(" + hue + "," + (sum ? 0.7 * n / sum : 0).toFixed(3) + ")";
      });
    }
    var svg = q(".tg-scatter");
    if (!svg || !f.pred || !setup.truth) return;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var vals = setup.truth.concat(f.pred).filter(function (v) { return v !== null; });
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals), S = 260, P = 30;
    if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
    var pos = function (v, flip) {
      var p = P + (v - lo) / (hi - lo) * (S - 2 * P);
      return (flip ? S - p : p).toFixed(1);
    };
    svg.appendChild(el("rect", {"class": "tg-frame", x: P, y: P, width: S - 2 * P, height: S - 2 * P}));
    svg.appendChild(el("line", {"class": "tg-diag", x1: pos(lo), y1: pos(lo, true), x2: pos(hi), y2: pos(hi, true)}));
    setup.truth.forEach(function (t, i) {
      var p = f.pred[i];
      if (t === null || p === null) return;
      svg.appendChild(el("circle", {"class": "tg-dot", cx: pos(t), cy: pos(p, true), r: 2}));
    });
  }

  function drawSample(f) {
    var s = f.sample;
    if (!s) return;
    q(".tg-out").textContent = "sample " + setup.sample + ": output " + fmt(s.out);
    s.cells.forEach(function (c) {
      var g = document.getElementById(c[0]);
      if (!g) return;
      var texts = g.getElementsByTagName("text");
      var t = texts[texts.length - c[1]];
      if (t) t.textContent = c[2];
    });
  }

  function onFrame(f) {
    frame = f;
    q(".tg-step").textContent = f.step;
    q(".tg-entry").textContent = f.unit === "epoch" ? "(epoch " + f.entry + " of " + f.entries + ")"
      : "of " + f.entries;
    q(".tg-lr").textContent = fmt(f.lr);
    var state = q(".tg-state");
    state.textContent = f.stopped && f.state !== "running" ? f.state + ": " + f.stopped : f.state;
    state.setAttribute("data-state", f.state);
    box.setAttribute("data-step", f.step);
    box.setAttribute("data-state", f.state);
    q('[data-act="pause"]').textContent = f.state === "paused" ? "resume" : "pause";
    var top = 0;
    f.norms.forEach(function (n) { if (n[1] !== null && n[1] > top) top = n[1]; });
    f.norms.forEach(function (n, i) {
      var w = q('[data-w="' + i + '"]'), g = q('[data-g="' + i + '"]'), bar = q('[data-bar="' + i + '"]');
      if (w) w.textContent = fmt(n[0]);
      if (g) g.textContent = fmt(n[1]);
      if (bar) bar.style.width = (top ? 100 * (n[1] || 0) / top : 0) + "%";
    });
    var c = f.curves;
    drawChart(q('[data-chart="loss"]'), "loss", [["train", c.loss], ["validation", c.val_loss]]);
    drawChart(q('[data-chart="accuracy"]'), "accuracy",
      [["train", c.accuracy], ["validation", c.val_accuracy]]);
    if (setup) { drawGrid(f); drawOutcome(f); drawSample(f); }
    q(".tg-open").href = "/explain?" + tok + "&step=" + f.step;
  }

  function connect() {
    source = new EventSource("/events?" + tok);
    source.addEventListener("setup", function (e) { onSetup(JSON.parse(e.data)); });
    source.addEventListener("frame", function (e) { onFrame(JSON.parse(e.data)); });
    source.addEventListener("end", function () {
      source.close();  // the run is over and its server gone: nothing to reconnect to
      box.setAttribute("data-ended", "1");
      box.querySelectorAll(".tg-bar button").forEach(function (b) { b.disabled = true; });
    });
  }

  q('[data-act="pause"]').addEventListener("click", function () {
    command(frame && frame.state === "paused" ? "resume" : "pause");
  });
  q('[data-act="step"]').addEventListener("click", function () { command("step"); });
  q('[data-act="stop"]').addEventListener("click", function () { command("stop"); });
  q('[data-act="lr"]').addEventListener("click", function () {
    var v = parseFloat(q(".tg-lr-input").value);
    if (v > 0) command("lr", v);
  });
  q(".tg-graph").addEventListener("click", function () {
    if (frame) window.open(q(".tg-open").href, "_blank", "noopener");
  });
  connect();
})();
