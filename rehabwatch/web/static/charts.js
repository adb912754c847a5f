// The patient page's charts (uPlot, served by this app). The numbers come from the page's
// own <script type="application/json" id="chart-data">; the same numbers are in its table.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var n = data.labels.length;
  var xs = data.labels.map(function (_, i) { return i; });
  var css = getComputedStyle(document.documentElement);
  function colour(name) { return css.getPropertyValue(name).trim(); }
  function only(state) {  // steps of the days in one state, null elsewhere (gaps stay gaps)
    return data.steps.map(function (v, i) { return data.state[i] === state ? v : null; });
  }
  function xAxis() {
    return {
      values: function (u, splits) {
        return splits.map(function (i) { return Number.isInteger(i) && i >= 0 && i < n ? data.labels[i] : ""; });
      },
      space: 60, grid: {show: false}
    };
  }
  function width(el) { return Math.max(320, el.clientWidth || el.parentNode.clientWidth || 800); }
  function marks(u) {  // phase changes (dashed) and alerts opened (triangles)
    var ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
    ctx.save();
    ctx.textAlign = "left"; ctx.textBaseline = "alphabetic";
    ctx.font = (11 * devicePixelRatio) + "px system-ui, sans-serif";
    data.phases.forEach(function (m) {
      var x = Math.max(u.valToPos(m[0] - 0.5, "x", true), u.bbox.left);
      if (m[0] > 0) {
        ctx.strokeStyle = "#4a4f57"; ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      }
      ctx.fillStyle = "#1a1a1a"; ctx.setLineDash([]);
      ctx.fillText(m[1], x + 6 * devicePixelRatio, top + 12 * devicePixelRatio);
    });
    data.alerts.forEach(function (a) {
      var x = u.valToPos(a[0], "x", true), y = top + 18 * devicePixelRatio, s = 6 * devicePixelRatio;
      ctx.fillStyle = a[2] === "high" ? colour("--high") : a[2] === "warning" ? colour("--warning") : colour("--info");
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x - s, y + 1.6 * s); ctx.lineTo(x + s, y + 1.6 * s); ctx.closePath(); ctx.fill();
    });
    ctx.restore();
  }
  var bars = uPlot.paths.bars({size: [0.7, 40]});
  var stepped = uPlot.paths.stepped({align: 1});
  function bar(label, state, fill) {
    return {label: label, paths: bars, fill: fill, stroke: fill, points: {show: false}, data: only(state)};
  }
  var top = Math.max.apply(null, data.steps.concat(data.low, data.high, [1000]).filter(function (v) { return v !== null; })) * 1.15;
  var high = data.high.map(function (v, i) { return v === null && data.low[i] !== null ? top : v; });
  var stepSeries = [
    bar("within target", 4, colour("--within")), bar("below target", 3, colour("--below")),
    bar("above overload threshold", 5, colour("--over")), bar("valid, no target", 6, "#8fb3d9"),
    {label: "target low", stroke: "#2e7d32", width: 1, paths: stepped, points: {show: false}, data: data.low},
    {label: "target high", stroke: "#2e7d32", width: 1, dash: [3, 3], paths: stepped, points: {show: false}, data: high},
    {label: "7-day median", stroke: "#1a1a1a", width: 2, points: {show: false}, data: data.median}
  ];
  function chart(el, series, height, opts) {
    var options = Object.assign({
      width: width(el), height: height,
      scales: {x: {time: false, range: [-0.6, n - 0.4]},
               y: {range: function (u, min, max) { return [0, Math.max(max, opts && opts.floor || 0) * 1.18]; }}},
      axes: [xAxis(), {size: 55, values: function (u, splits) { return splits.map(function (v) { return v.toLocaleString("en"); }); }}],
      series: [{label: "day", value: function (u, i) { return i === null ? "–" : data.labels[i]; }}].concat(series.map(function (s) {
        var out = Object.assign({}, s); delete out.data;
        out.value = function (u, v) { return v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en"); };
        return out;
      }))
    }, opts || {});
    delete options.floor;
    var plot = new uPlot(options, [xs].concat(series.map(function (s) { return s.data; })), el);
    window.addEventListener("resize", function () { plot.setSize({width: width(el), height: height}); });
    return plot;
  }
  chart(document.getElementById("steps-chart"), stepSeries, 300, {
    bands: [{series: [6, 5], fill: "rgba(46,125,50,0.2)"}], floor: 1000,
    hooks: {draw: [marks]}
  });
  var wear = document.getElementById("wear-chart"), bout = document.getElementById("bout-chart");
  var half = function (el) { return Math.max(320, (el.parentNode.clientWidth - 20) / 2); };
  wear.style.width = half(wear) + "px"; bout.style.width = half(bout) + "px";
  chart(wear, [
    {label: "worn min 07–22", paths: bars, fill: "#9aa3ad", stroke: "#7d848d", points: {show: false}, data: data.wear},
    {label: "valid from", stroke: "#2e7d32", dash: [4, 3], points: {show: false}, data: data.wear.map(function () { return 600; })}
  ], 170, {floor: 800});
  if (data.bout.every(function (v) { return v === null; })) {
    bout.removeAttribute("role"); bout.removeAttribute("aria-label");
    bout.innerHTML = "<p class=\"hint\">No stationary bouts known in this window: the tracker's data is coarser than a minute, or no day had data.</p>";
    return;
  }
  chart(bout, [
    {label: data.posture ? "longest sitting bout, min" : "longest stationary bout, min", stroke: colour("--accent"), width: 2, points: {show: true, size: 5}, data: data.bout},
    {label: "phase limit", stroke: colour("--high"), dash: [4, 3], paths: stepped, points: {show: false}, data: data.limit}
  ], 170, {floor: 40});
})();
