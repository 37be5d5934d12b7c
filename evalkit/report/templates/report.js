/* evalkit report: draws the figures and wires the filters. Plain JS, no framework.
   Data is read with JSON.parse and shown with textContent only, never innerHTML. */
(function () {
  "use strict";
  var body = document.body;

  function drawFigures() {
    var node = document.getElementById("evalkit-figures");
    var figures = node ? JSON.parse(node.textContent) : [];
    var pending = [];
    figures.forEach(function (f) {
      var div = document.getElementById(f.id);
      if (!div || !window.Plotly) { return; }
      var config = { displaylogo: false, displayModeBar: false, responsive: true, showLink: false };
      pending.push(window.Plotly.newPlot(div, f.figure.data, f.figure.layout, config));
    });
    Promise.all(pending).then(function () { body.setAttribute("data-plots-ready", String(pending.length)); },
      function (err) { body.setAttribute("data-plots-ready", "error"); throw err; });
  }

  /* "show all" / "show less" for truncated texts (the full text is already in the page). */
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button.toggle") : null;
    if (!btn) { return; }
    var box = btn.parentNode;
    var full = box.querySelector(".full");
    var short = box.querySelector(".preview");
    var expand = full.hidden;
    full.hidden = !expand;
    short.hidden = expand;
    btn.textContent = expand ? "show less" : btn.getAttribute("data-label");
  });

  function searchText(el) {
    if (el._evalkitText === undefined) { el._evalkitText = el.textContent.toLowerCase(); }
    return el._evalkitText;
  }

  /* Flip explorer: every <select data-filter> must match the flip's data-* value; search is a substring. */
  function setupFlips() {
    var panel = document.getElementById("flip-filters");
    if (!panel) { return; }
    var selects = Array.prototype.slice.call(panel.querySelectorAll("select[data-filter]"));
    var search = document.getElementById("flip-search");
    var count = document.getElementById("flip-count");
    var flips = Array.prototype.slice.call(document.querySelectorAll("#flip-list .flip"));
    function apply() {
      var needle = search.value.trim().toLowerCase();
      var shown = 0;
      flips.forEach(function (row) {
        var ok = selects.every(function (s) {
          return s.value === "" || row.getAttribute("data-" + s.getAttribute("data-filter")) === s.value;
        });
        if (ok && needle) { ok = searchText(row).indexOf(needle) !== -1; }
        row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      count.textContent = shown + " of " + flips.length + " shown";
    }
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    search.addEventListener("input", apply);
    apply();
  }

  /* Per-suite sample tables: substring search and "only where arms disagree". */
  function setupSamples() {
    Array.prototype.forEach.call(document.querySelectorAll("details.suite-samples"), function (box) {
      var search = box.querySelector(".sample-search");
      var disagree = box.querySelector(".sample-disagree");
      var rows = Array.prototype.slice.call(box.querySelectorAll("tr.sample-row"));
      function apply() {
        var needle = search.value.trim().toLowerCase();
        rows.forEach(function (row) {
          var ok = !disagree.checked || row.getAttribute("data-disagree") === "1";
          if (ok && needle) { ok = searchText(row).indexOf(needle) !== -1; }
          row.hidden = !ok;
        });
      }
      search.addEventListener("input", apply);
      disagree.addEventListener("change", apply);
    });
  }

  setupFlips();
  setupSamples();
  drawFigures();
}());
