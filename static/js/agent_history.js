// Agent page: success and harmful rate of each version, one line per suite and run settings, with the
// 95 % intervals as whiskers and regressions marked. The data comes from the server in #agent-history.
(function () {
  "use strict";
  const source = document.getElementById("agent-history");
  const target = document.getElementById("history-chart");
  if (!source || !target || typeof Plotly === "undefined") return;
  const series = JSON.parse(source.textContent);
  function trace(s, key, name, dash) {
    const points = s.points.filter((p) => p[key].value !== null);
    return {
      type: "scatter",
      mode: "lines+markers",
      name: s.suite + " · " + s.settings_label + " · " + name,
      x: points.map((p) => "v" + p.version),
      y: points.map((p) => p[key].value),
      line: { dash: dash },
      marker: {
        size: points.map((p) => (p.regression ? 14 : 8)),
        symbol: points.map((p) => (p.regression ? "x" : "circle")),
      },
      text: points.map((p) => "n=" + p[key].n + (p.regression ? " · regression" : "")),
      error_y: {
        type: "data",
        symmetric: false,
        array: points.map((p) => p[key].high - p[key].value),
        arrayminus: points.map((p) => p[key].value - p[key].low),
        thickness: 1,
      },
    };
  }
  const traces = [];
  for (const s of series) {
    traces.push(trace(s, "success_rate", "success", "solid"));
    traces.push(trace(s, "harmful_rate", "harmful", "dot"));
  }
  Plotly.newPlot(
    target,
    traces,
    {
      height: 340,
      margin: { t: 10, r: 10, b: 40, l: 50 },
      xaxis: { title: { text: "version" }, type: "category" },
      yaxis: { title: { text: "rate" }, range: [-0.05, 1.05] },
    },
    { displayModeBar: false, responsive: true }
  );
})();
