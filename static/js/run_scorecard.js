// The run page's scorecard: three Plotly charts drawn from the scorecard JSON, and the tables and charts
// re-read from scorecard.json as episodes finish. run_live.js announces every state it renders; the
// scorecard costs more to compute than the state, so it is re-read only when the number of finished
// episodes changed, and at most once every MIN_INTERVAL_MS however fast episodes finish.
(function () {
  "use strict";
  const root = document.getElementById("scorecard");
  if (!root || typeof Plotly === "undefined") return;
  const url = root.dataset.url;
  const MIN_INTERVAL_MS = 2000;
  const STALE_WAIT_MS = 10000;
  let done = Number(root.dataset.done || 0);
  let wanted = done; // the finished count the live state last reported
  let lastFetch = 0;
  let timer = null;
  const CONFIG = { displayModeBar: false, responsive: true };
  const SUCCESS = "#2456c9";
  const HARM = "#c0392b";

  function layout(title, extra) {
    return Object.assign(
      {
        title: { text: title, font: { size: 13 } },
        showlegend: true,
        margin: { l: 48, r: 12, t: 36, b: 48 },
        font: { size: 11 },
        paper_bgcolor: "#fff",
        plot_bgcolor: "#fff",
        legend: { orientation: "h", y: -0.2 },
        yaxis: { range: [0, 1.05], gridcolor: "#e3e6eb", zeroline: false },
      },
      extra
    );
  }
  function whiskers(points) {
    return {
      type: "data",
      symmetric: false,
      array: points.map(function (p) { return p.plus; }),
      arrayminus: points.map(function (p) { return p.minus; }),
      thickness: 1.2,
      width: 4,
    };
  }
  function values(points) { return points.map(function (p) { return p.value; }); }
  function counts(points) { return points.map(function (p) { return "n=" + p.n; }); }

  function drawPassHatK(data) {
    const trace = {
      x: data.k, y: data.value, type: "scatter", mode: "lines+markers", name: "pass^k",
      line: { color: SUCCESS }, hovertemplate: "pass^%{x} = %{y:.3f}<extra></extra>",
    };
    const empty = data.k.length === 0;
    Plotly.react("chart-pass-hat-k", [trace], layout("pass^k: all k trials of a scenario succeed", {
      xaxis: { title: { text: "k (trials)" }, dtick: 1, range: empty ? [0.5, 1.5] : [0.7, data.k.length + 0.3] },
      annotations: empty ? [{ text: "no scored episodes yet", showarrow: false, x: 1, y: 0.5 }] : [],
    }), CONFIG);
    document.getElementById("chart-pass-hat-k-note").textContent = data.note || "";
  }

  function drawConditions(data) {
    function bars(name, points, color) {
      return {
        x: data.labels, y: values(points), customdata: counts(points), name: name, type: "bar",
        marker: { color: color }, error_y: whiskers(points),
        hovertemplate: "%{x}: %{y:.2f} (%{customdata})<extra>" + name + "</extra>",
      };
    }
    // Overlay kinds are long ("adversarial:review_injection"): break them at the colon.
    const labels = data.labels.map(function (label) { return label.replace(":", ":<br>"); });
    const traces = [bars("success", data.success, SUCCESS), bars("harmful", data.harmful, HARM)];
    traces.forEach(function (trace) { trace.x = labels; });
    Plotly.react("chart-conditions", traces,
      layout("Success and harm by condition (95 % CI)", { barmode: "group", xaxis: { automargin: true, tickangle: 0 } }),
      CONFIG);
  }

  function drawSuccessHarm(data) {
    function point(name, success, harmful, marker) {
      return {
        x: [harmful.value], y: [success.value], error_x: whiskers([harmful]), error_y: whiskers([success]),
        type: "scatter", mode: "markers", name: name, marker: marker,
        hovertemplate: name + "<br>success %{y:.2f} (n=" + success.n + "), harmful %{x:.2f}<extra></extra>",
      };
    }
    const points = data.scenarios;
    let traces;
    if (points.length <= 8) {
      // A few scenarios: one trace each, so the legend says which point is which.
      traces = points.map(function (p) { return point(p.label, p.success, p.harmful, { size: 10, opacity: 0.8 }); });
    } else {
      traces = [{
        x: points.map(function (p) { return p.harmful.value; }),
        y: points.map(function (p) { return p.success.value; }),
        text: points.map(function (p) { return p.label; }),
        type: "scatter", mode: "markers", name: "scenarios",
        marker: { color: SUCCESS, size: 8, opacity: 0.6 },
        hovertemplate: "%{text}<br>success %{y:.2f}, harmful %{x:.2f}<extra></extra>",
      }];
    }
    traces.push(point("whole run", data.overall.success, data.overall.harmful,
      { color: "#1d2430", size: 14, symbol: "diamond" }));
    Plotly.react("chart-success-harm", traces, layout("Success versus harm (up and left is better)", {
      xaxis: { title: { text: "harmful rate" }, range: [-0.05, 1.05], gridcolor: "#e3e6eb", zeroline: false },
      yaxis: { title: { text: "success rate" }, range: [-0.05, 1.05], gridcolor: "#e3e6eb", zeroline: false },
      legend: { orientation: "v", x: 1.02, y: 1, font: { size: 10 } },
      margin: { l: 48, r: 8, t: 36, b: 44 },
    }), CONFIG);
  }

  function cells(row, tag, parent) {
    const tr = document.createElement("tr");
    row.forEach(function (value) {
      const cell = document.createElement(tag);
      if (value && typeof value === "object") {
        // A rate: its value, then its interval and k/n (as the server's template renders it).
        const detail = document.createElement("span");
        detail.className = "detail";
        detail.textContent = value.detail;
        cell.append(value.text + " ", detail);
      } else {
        cell.textContent = value;
      }
      tr.appendChild(cell);
    });
    parent.appendChild(tr);
  }

  function renderTables(tables) {
    tables.forEach(function (t) {
      const table = document.getElementById("sc-" + t.id);
      if (!table) return;
      const head = table.tHead;
      const body = table.tBodies[0];
      head.innerHTML = "";
      body.innerHTML = "";
      cells(t.columns, "th", head);
      t.rows.forEach(function (row) { cells(row, "td", body); });
      const note = document.getElementById("sc-" + t.id + "-note");
      if (note) note.textContent = t.note || "";
    });
  }

  function render(card) {
    const pending = document.getElementById("scorecard-pending");
    if (pending && !card.pending) pending.remove();
    done = card.done;
    root.dataset.done = String(done);
    renderTables(card.tables);
    drawPassHatK(card.charts.pass_hat_k);
    drawConditions(card.charts.conditions);
    drawSuccessHarm(card.charts.success_harm);
  }

  async function refresh() {
    timer = null;
    lastFetch = Date.now();
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) {
        const card = await response.json();
        render(card);
        // A big running run's card is recomputed every few seconds at most: ask again later, not at once.
        if (card.stale) lastFetch = Date.now() + STALE_WAIT_MS - MIN_INTERVAL_MS;
      }
    } catch (error) {
      // The next state the live page renders asks again.
    }
    if (wanted !== done) schedule();
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(refresh, Math.max(0, lastFetch + MIN_INTERVAL_MS - Date.now()));
  }

  document.addEventListener("gauntlet:run-state", function (event) {
    const state = event.detail;
    wanted = state.total - state.counts.queued - state.counts.running;
    if (wanted !== done) schedule();
  });
  const first = JSON.parse(document.getElementById("scorecard-data").textContent);
  render(first);
  // A big run's page leaves its scorecard to this script (runs.scorecard.page_scorecard).
  if (first.pending) refresh();
})();
