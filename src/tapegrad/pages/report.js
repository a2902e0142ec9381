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
  views.forEach(function (v) {
    var on = +v.getAttribute("data-m") === k && +v.getAttribute("data-s") === s;
    v.classList.toggle("tg-off", !on);
  });
}

range.addEventListener("input", show);
menu.addEventListener("change", show);
show();
