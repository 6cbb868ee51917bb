// Click a header to sort its table; numeric cells sort by their data-v value, others as text.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var vx = x.dataset.v !== undefined ? parseFloat(x.dataset.v) : x.textContent.trim().toLowerCase();
        var vy = y.dataset.v !== undefined ? parseFloat(y.dataset.v) : y.textContent.trim().toLowerCase();
        var c = vx < vy ? -1 : vx > vy ? 1 : 0;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
