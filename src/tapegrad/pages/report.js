// The script of a tapegrad training report. It runs inside `function (uid) { ... }`, finds
// every element through the page's container id, and only shows what Python recorded: at the
// selected moment its boundary picture, its texts, its bar widths and marker position, and
// the chosen sample's explain view. It computes no value and no gradient.
"use strict";
var box = document.getElementById(uid);
var data = JSON.parse(document.getElementById(uid + "-data").textContent);
var moments = data.moments;
var q = function (sel) { return box.querySelector(sel); };
var all = function (sel) { return Array.prototype.slice.call(box.querySelectorAll(sel)); };
var range = q(".tg-moment"), menu = q(".tg-sample"), label = q(".tg-step");
var img = q(".tg-boundary-img");
// Only this page's own parts: an explain view inside it has elements of its own.
var cells = all("[data-cell]"), norms = all("[data-norm]"), weights = all("[data-weights]");
var bars = all("[data-bar]"), marks = all(".tg-mark");
var views = all(".tg-views > .tg-view");
var confusion = all("[data-cm]"), scatter = q(".tg-scatter");
var SVG = "http://www.w3.org/2000/svg";

// A confusion matrix: each cell's count, shaded by its share of its true class's rows.
function fillConfusion(m) {
  if (!m.confusion) return;
  confusion.forEach(function (c) {
    var tp = c.getAttribute("data-cm").split("-"), row = m.confusion[+tp[0]];
    var n = row[+tp[1]], sum = row.reduce(function (a, b) { return a + b; }, 0);
    c.textContent = n;
    var share = sum ? n / sum : 0, hue = tp[0] === tp[1] ? "46,125,50" : "198,40,40";
    c.style.background = "rgba(" + hue + "," + (0.7 * share).toFixed(3) + ")";
  });
}

// A regression: a dot per row at (true, predicted) in the label's own units, the diagonal
// where they agree, each axis's ends and the label's name.
var MARGIN = {left: 56, right: 12, top: 22, bottom: 34};

function drawScatter(m) {
  if (!scatter || !m.pred || !data.truth) return;
  var size = +scatter.getAttribute("width"), t = data.truth, g = MARGIN;
  var w = size - g.left - g.right, h = size - g.top - g.bottom;
  var px = function (v) { return g.left + w * (v - t.lo) / (t.hi - t.lo); };
  var py = function (v) { return g.top + h * (t.hi - v) / (t.hi - t.lo); };
  while (scatter.firstChild) scatter.removeChild(scatter.firstChild);
  var add = function (tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); });
    if (text !== undefined) e.textContent = text;
    scatter.appendChild(e);
    return e;
  };
  add("rect", {"class": "tg-frame", x: g.left, y: g.top, width: w, height: h});
  add("line", {"class": "tg-diag", x1: px(t.lo), y1: py(t.lo), x2: px(t.hi), y2: py(t.hi)});
  add("text", {x: g.left - 4, y: g.top + 4, "text-anchor": "end"}, t.ticks[1]);
  add("text", {x: g.left - 4, y: g.top + h, "text-anchor": "end"}, t.ticks[0]);
  add("text", {x: g.left, y: g.top + h + 13}, t.ticks[0]);
  add("text", {x: g.left + w, y: g.top + h + 13, "text-anchor": "end"}, t.ticks[1]);
  fit(add("text", {x: g.left + w / 2, y: size - 6, "text-anchor": "middle"}, "true " + t.name), w);
  fit(add("text", {x: 2, y: 13}, "predicted " + t.name), size - 4);
  t.values.forEach(function (v, i) {
    var p = m.pred[i];
    if (v === null || p === null) return;
    add("circle", {"class": "tg-dot", cx: px(v).toFixed(1), cy: py(p).toFixed(1), r: 2});
  });
}

// A text longer than `most` pixels is cut short with an ellipsis; its whole text is its title.
function fit(text, most) {
  var whole = text.textContent;
  if (text.getComputedTextLength() <= most) return;
  var n = whole.length;
  while (n > 1 && text.getComputedTextLength() > most) {
    n -= 1;
    text.textContent = whole.slice(0, n) + "\u2026";
  }
  var title = document.createElementNS(SVG, "title");
  title.textContent = whole;
  text.appendChild(title);
}

function show() {
  var k = +range.value, s = +menu.value, m = moments[k];
  box.setAttribute("data-moment", k);
  label.textContent = m.step;
  if (img && m.img) img.src = m.img;
  cells.forEach(function (c) { c.textContent = m.cells[c.getAttribute("data-cell")]; });
  norms.forEach(function (c) { c.textContent = m.norms[+c.getAttribute("data-norm")]; });
  weights.forEach(function (c) { c.textContent = m.weights[+c.getAttribute("data-weights")]; });
  bars.forEach(function (b) { b.style.width = (100 * m.bars[+b.getAttribute("data-bar")]) + "%"; });
  marks.forEach(function (l) { l.setAttribute("x1", m.mark); l.setAttribute("x2", m.mark); });
  fillConfusion(m);
  drawScatter(m);
  views.forEach(function (v) {
    var on = +v.getAttribute("data-m") === k && +v.getAttribute("data-s") === s;
    v.classList.toggle("tg-off", !on);
  });
}

range.addEventListener("input", show);
menu.addEventListener("change", show);
show();
