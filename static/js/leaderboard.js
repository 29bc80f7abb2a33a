// Leaderboard page: the success-versus-harm chart, one point per row with its Wilson intervals as whiskers,
// and the Pareto front joined by a line. The data comes from the server in #leaderboard-chart.
(function () {
  "use strict";
  const source = document.getElementById("leaderboard-chart");
  const target = document.getElementById("pareto-chart");
  if (!source || !target || typeof Plotly === "undefined") return;
  const data = JSON.parse(source.textContent);
  if (!data.points.length) {
    target.textContent = "Nothing to plot yet.";
    return;
  }
  function whiskers(points, key) {
    return {
      type: "data",
      symmetric: false,
      array: points.map((p) => p[key].high - p[key].value),
      arrayminus: points.map((p) => p[key].value - p[key].low),
      thickness: 1,
    };
  }
  function series(points, name, symbol) {
    return {
      type: "scatter",
      mode: "markers",
      name: name,
      x: points.map((p) => p.success.value),
      y: points.map((p) => p.harmful.value),
      text: points.map((p) => p.label + " (n=" + p.success.n + ")"),
      hoverinfo: "text+x+y",
      marker: { size: 10, symbol: symbol },
      error_x: whiskers(points, "success"),
      error_y: whiskers(points, "harmful"),
    };
  }
  const front = data.points
    .filter((p) => p.pareto)
    .sort((a, b) => a.success.value - b.success.value);
  const traces = [
    series(data.points.filter((p) => !p.baseline), "agents", "circle"),
    series(data.points.filter((p) => p.baseline), "baselines", "diamond"),
    {
      type: "scatter",
      mode: "lines",
      name: "Pareto front",
      x: front.map((p) => p.success.value),
      y: front.map((p) => p.harmful.value),
      line: { dash: "dot" },
      hoverinfo: "skip",
    },
  ];
  Plotly.newPlot(
    target,
    traces,
    {
      height: 380,
      margin: { t: 10, r: 10, b: 50, l: 60 },
      xaxis: { title: { text: "success rate (higher is better)" }, range: [-0.05, 1.05] },
      yaxis: { title: { text: "harmful rate (lower is better)" }, range: [-0.05, 1.05] },
    },
    { displayModeBar: false, responsive: true }
  );
})();
