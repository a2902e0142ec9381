// The player of a tapegrad explain page. It runs inside `function (uid) { ... }`, finds every
// element through the page's container id (so it works inside a notebook's output), and only
// shows what Python recorded: texts for the panel, texts for the picture's cells, which boxes
// to highlight. It computes no value and no gradient. A mistake page (`explain(root,
// mistake=...)`) shows two columns of numbers per node, the right walk's and the mistaken
// one's, each recorded by Python from a walk it actually ran.
"use strict";
var box = document.getElementById(uid);
var data = JSON.parse(document.getElementById(uid + "-data").textContent);
var steps = data.steps;
var last = steps.length - 1;
var q = function (sel) { return box.querySelector(sel); };
var els = data.els.map(function (name) { return document.getElementById(uid + "-" + name); });
var lit = [];
var cur = -1;
var timer = null;
var title = q(".tg-title"), lines = q(".tg-lines"), count = q(".tg-count");
var range = q(".tg-range"), jump = q(".tg-jump"), play = q('[data-act="play"]');
var pic = q(".tg-pic");
var svg = pic.querySelector("svg"), zoom = q('[data-act="zoom"]');
var focused = null;  // the box the current step is about

// A graph page: the cells' texts and the highlighted boxes of each step.
function graphPlayer() {
  var cellNodes = data.cells.map(function (c) {
    var texts = els[c[0]].getElementsByTagName("text");
    return texts[texts.length - (c[1] === "data" ? 2 : 1)];  // data, grad: the last two cells
  });
  var base = data.cells.map(function (c) { return c[2]; });
  var shown = cellNodes.map(function (t) { return t.textContent; });
  var pending = els.map(function () { return false; });

  function textsAt(k) {
    var t = base.slice();
    for (var s = 1; s <= k; s++) {
      var sets = steps[s].s;
      for (var i = 0; i < sets.length; i++) t[sets[i][0]] = sets[i][1];
    }
    return t;
  }

  return function (k) {
    var t = textsAt(k);
    for (var i = 0; i < t.length; i++) {
      if (t[i] !== shown[i]) { cellNodes[i].textContent = t[i]; shown[i] = t[i]; }
    }
    for (i = 0; i < els.length; i++) {
      var p = k < data.born[i];
      if (p !== pending[i]) { els[i].classList.toggle("tg-pending", p); pending[i] = p; }
    }
    var step = steps[k];
    mark(step.u, "tg-touch");
    mark(step.f, "tg-focus");
    box.setAttribute("data-phase", step.p);
    return step.f.length ? els[step.f[0]] : null;
  };
}

// A mistake page: both walks' numbers per node in the table and the picture's grad cells,
// the node each walk works on, and the first node whose numbers differ, from its step on.
function mistakePlayer() {
  var rows = box.querySelectorAll(".tg-grads tbody tr");
  var gradNodes = els.map(function (el) {
    var texts = el.getElementsByTagName("text");
    return texts[texts.length - 1];
  });
  return function (k) {
    var r = data.right[k], w = data.wrong[k], step = steps[k];
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      row.querySelector(".tg-r").textContent = r[i];
      row.querySelector(".tg-w").textContent = w[i];
      row.classList.toggle("tg-diff", r[i] !== w[i]);
      row.classList.toggle("tg-first", i === data.first && k >= data.firstStep);
      row.classList.toggle("tg-at-r", i === step.r);
      row.classList.toggle("tg-at-w", i === step.w);
      gradNodes[i].textContent = r[i] === w[i] ? "grad " + r[i] : "grad " + r[i] + " | " + w[i];
    }
    if (step.r >= 0) mark([step.r], "tg-focus");
    if (step.w >= 0) mark([step.w], step.w === step.r ? "tg-focus" : "tg-wrongfocus");
    if (data.first >= 0 && k >= data.firstStep) mark([data.first], "tg-first");
    box.setAttribute("data-phase", k === 0 ? "seed" : "backward");
    var at = step.w >= 0 ? step.w : step.r;
    return at >= 0 ? els[at] : null;
  };
}

function mark(list, cls) {
  for (var i = 0; i < list.length; i++) {
    els[list[i]].classList.add(cls);
    lit.push([list[i], cls]);
  }
}

function reveal(el) {
  // Scroll the picture (not the page around it) so that `el` is in view.
  var a = pic.getBoundingClientRect(), b = el.getBoundingClientRect();
  if (b.left < a.left) pic.scrollLeft -= a.left - b.left + 20;
  else if (b.right > a.right) pic.scrollLeft += b.right - a.right + 20;
  if (b.top < a.top) pic.scrollTop -= a.top - b.top + 20;
  else if (b.bottom > a.bottom) pic.scrollTop += b.bottom - a.bottom + 20;
}

function go(k, fromHash) {
  k = Math.max(0, Math.min(last, k | 0));
  if (k === cur) return;
  cur = k;
  for (var i = 0; i < lit.length; i++) els[lit[i][0]].classList.remove(lit[i][1]);
  lit = [];
  var step = steps[k];
  focused = show(k);
  title.textContent = step.t;
  while (lines.firstChild) lines.removeChild(lines.firstChild);
  for (i = 0; i < step.l.length; i++) {
    var li = document.createElement("li");
    li.textContent = step.l[i];
    lines.appendChild(li);
  }
  count.textContent = k + " / " + last;
  range.value = k;
  jump.value = k;
  q('[data-act="reset"]').disabled = q('[data-act="back"]').disabled = k === 0;
  q('[data-act="next"]').disabled = k === last;
  if (k === last) stop();
  if (focused) reveal(focused);
  if (data.standalone && !fromHash) {
    try { history.replaceState(null, "", "#step=" + k); } catch (e) { /* a sandboxed frame */ }
  }
}

var show = data.mistake ? mistakePlayer() : graphPlayer();

function stop() {
  if (timer !== null) { clearInterval(timer); timer = null; }
  play.textContent = "play";
}

function toggle() {
  if (timer !== null) { stop(); return; }
  if (cur === last) go(0);
  play.textContent = "pause";
  timer = setInterval(function () { go(cur + 1); }, 900);
}

var acts = {
  reset: function () { stop(); go(0); },
  back: function () { stop(); go(cur - 1); },
  next: function () { stop(); go(cur + 1); },
  play: toggle,
  zoom: function () { fit(!box.classList.contains("tg-fit")); }
};

function fit(on) {
  box.classList.toggle("tg-fit", on);
  zoom.textContent = on ? "full size" : "fit";
  if (focused) reveal(focused);
}
// Fit a picture to the width when that shrinks it no more than halfway; bigger ones scroll.
var natural = svg.getBoundingClientRect().width;
fit(natural > pic.clientWidth && pic.clientWidth >= 0.5 * natural);
box.addEventListener("click", function (e) {
  var b = e.target.closest("button[data-act]");
  if (b && box.contains(b)) acts[b.getAttribute("data-act")]();
});
range.addEventListener("input", function () { stop(); go(+range.value); });
jump.addEventListener("change", function () { stop(); go(+jump.value); });

function key(e) {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  var tag = e.target && e.target.tagName;
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
  if (e.key === "ArrowRight" || e.key === "ArrowDown") acts.next();
  else if (e.key === "ArrowLeft" || e.key === "ArrowUp") acts.back();
  else if (e.key === "Home") acts.reset();
  else if (e.key === "End") { stop(); go(last); }
  else if (e.key === " " && tag !== "BUTTON") toggle();
  else return;
  e.preventDefault();
}

function fromHash() {
  var m = /^#step=(\d+)$/.exec(location.hash);
  return m ? +m[1] : null;
}

if (data.standalone) {
  document.addEventListener("keydown", key);
  window.addEventListener("hashchange", function () {
    var k = fromHash();
    if (k !== null) { stop(); go(k, true); }
  });
} else {
  box.addEventListener("keydown", key);  // in a notebook: only while the page has focus
}
var start = data.standalone ? fromHash() : null;
go(start === null ? data.start : start, true);
