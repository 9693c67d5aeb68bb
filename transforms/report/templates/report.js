"use strict";
// winnow report: sortable tables and the threshold what-if. No network, no eval, data from one JSON block.
(function () {
  function sortTable(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-v"), y = b.cells[index].getAttribute("data-v");
      if (x === null) { x = a.cells[index].textContent; }
      if (y === null) { y = b.cells[index].textContent; }
      var nx = parseFloat(x), ny = parseFloat(y), r;
      if (x === "" && y !== "") { return 1; }
      if (y === "" && x !== "") { return -1; }
      if (!isNaN(nx) && !isNaN(ny)) { r = nx - ny; } else { r = x < y ? -1 : (x > y ? 1 : 0); }
      return asc ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable th"), function (th) {
    th.addEventListener("click", function () { sortTable(th); });
    th.setAttribute("tabindex", "0");
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortTable(th); } });
  });

  var block = document.getElementById("whatif-data");
  if (!block) { return; }
  var data = JSON.parse(block.textContent);
  function pct(k, n) { return n ? (100 * k / n).toFixed(1) + "%" : "n/a"; }
  function fmt(n) { return n.toLocaleString("en-US"); }
  Array.prototype.forEach.call(document.querySelectorAll(".whatif"), function (div) {
    var col = div.getAttribute("data-col");
    var d = data.columns[col];
    if (!d) { return; }
    var slider = div.querySelector("input");
    var label = div.querySelector(".wi-threshold");
    var lines = div.querySelectorAll("tr[data-i]");
    function kept(row, i) {
      if (i === 0) { return row.off; }
      return row.at[i - 1] + (data.on_missing_keep ? row.nulls : 0);
    }
    function update() {
      var i = parseInt(slider.value, 10);
      label.textContent = i === 0 ? "off (no threshold on " + col + ")" : col + " \u2265 " + d.steps[i - 1];
      Array.prototype.forEach.call(lines, function (tr) {
        var row = d.rows[parseInt(tr.getAttribute("data-i"), 10)];
        var k = kept(row, i);
        tr.querySelector(".wi-kept").textContent = fmt(k) + " of " + fmt(row.scored) + " (" + pct(k, row.scored) + ")";
        var delta = k - row.kept;
        tr.querySelector(".wi-delta").textContent = (delta >= 0 ? "+" : "") + fmt(delta);
        var bar = tr.querySelector("rect.wi-bar");
        bar.setAttribute("width", row.scored ? (120 * k / row.scored).toFixed(1) : "0");
      });
    }
    slider.addEventListener("input", update);
    update();
  });
})();
