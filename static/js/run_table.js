// The run page's counters and its episode table: one page of rows at a time (episodes.json), filtered by
// status, scenario and condition. The live socket code (run_live.js) feeds it through
// window.GauntletRunTable: summary(obj) renders the counters of a run summary (or a whole state),
// upsert(row) patches a row the page shows, or re-reads the page when the row joins or leaves it, and
// reload(state) re-renders the table after a full state read.
(function () {
  "use strict";
  const form = document.getElementById("episode-filter");
  const body = document.getElementById("episodes");
  if (!form || !body) return;
  const url = form.dataset.url;
  const episodeUrl = form.dataset.episodeUrl.split("|");
  const traceUrl = form.dataset.traceUrl.split("|");
  const perPage = Number(form.dataset.perPage || 50);
  const errorBox = document.getElementById("filter-error");
  let page = Number(form.dataset.page || 1);
  let pages = Number(form.dataset.pages || 1);
  let filter = readFilter();
  let refreshTimer = null;
  let generation = 0; // the newest load; an older answer arriving late is dropped
  // Rows re-read at most this often however many events ask for it.
  const REFRESH_MS = 500;

  const STATUS_TESTS = {
    queued: function (r) { return r.status === "queued"; },
    running: function (r) { return r.status === "running"; },
    scored: function (r) { return r.status === "scored"; },
    succeeded: function (r) { return r.status === "scored" && r.success === true; },
    failed: function (r) { return r.status === "scored" && r.success !== true; },
    harmed: function (r) { return r.status === "scored" && r.harms > 0; },
    errored: function (r) { return r.status === "errored"; },
    unmeasured: function (r) { return r.status === "unmeasured"; },
    cancelled: function (r) { return r.status === "cancelled"; },
  };

  function readFilter() {
    const data = new FormData(form);
    return { status: data.get("status") || "", scenario: data.get("scenario") || "", condition: data.get("condition") || "" };
  }
  function filtered() { return Boolean(filter.status || filter.scenario || filter.condition); }
  function query(p) {
    const params = new URLSearchParams();
    for (const key of ["status", "scenario", "condition"]) if (filter[key]) params.set(key, filter[key]);
    params.set("page", String(p));
    return params.toString();
  }
  function matches(row) {
    if (filter.status && !(STATUS_TESTS[filter.status] || function () { return false; })(row)) return false;
    if (filter.scenario && row.scenario !== filter.scenario) return false;
    if (filter.condition && row.condition !== filter.condition) return false;
    return true;
  }

  function text(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = value;
  }
  function fmtRate(r) {
    if (!r || r.value === null || r.value === undefined) return "– (n=" + (r ? r.n : 0) + ")";
    return r.value.toFixed(2) + " [" + r.low.toFixed(2) + ", " + r.high.toFixed(2) + "] n=" + r.n;
  }
  // Same rendering as the server's floatformat:"-2": integers bare, anything else with 2 decimals.
  function fmtNum(v) { return Number.isInteger(v) ? String(v) : v.toFixed(2); }
  function fmtDistribution(d, unit) {
    if (!d || !d.n) return "– (n=0)";
    return "median " + fmtNum(d.median) + unit + " · p90 " + fmtNum(d.p90) + unit + " n=" + d.n;
  }
  function fmtPerEpisode(m) {
    if (!m || !m.n) return "–";
    return fmtNum(m.mean) + " (total " + m.total + ")";
  }
  function yesNo(v) { return v === null || v === undefined ? "–" : (v ? "yes" : "no"); }

  function summary(s) {
    if (!s || !s.counts) return;
    text("c-done", s.done);
    text("c-total", s.total);
    text("c-running", s.counts.running);
    text("c-unmeasured", s.counts.unmeasured);
    text("c-cancelled", s.counts.cancelled);
    const m = s.metrics || {};
    for (const key of ["success_rate", "harmful_rate", "recovery_rate", "infra_error_rate", "containment_rate"]) {
      text("m-" + key, fmtRate(m[key]));
    }
    text("m-time_to_recover_steps", fmtDistribution(m.time_to_recover_steps, ""));
    text("m-time_to_recover_s", fmtDistribution(m.time_to_recover_s, " s"));
    text("m-backtracks_per_episode", fmtPerEpisode(m.backtracks_per_episode));
    text("m-rollbacks_per_episode", fmtPerEpisode(m.rollbacks_per_episode));
    const progress = document.getElementById("progress");
    if (progress) {
      progress.max = s.total;
      progress.value = s.done;
    }
    const status = document.getElementById("run-status");
    if (status && s.status) {
      status.textContent = s.status;
      status.className = "status " + s.status;
    }
    // A run that has ended has nothing left to cancel.
    const cancel = document.getElementById("cancel-run");
    if (cancel && ["complete", "partial", "cancelled"].includes(s.status)) cancel.hidden = true;
  }

  function cell(className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    return td;
  }
  function link(parts, id, label) {
    const a = document.createElement("a");
    a.href = parts[0] + id + parts[1];
    a.textContent = label;
    return a;
  }
  function buildRow(r) {
    const tr = document.createElement("tr");
    tr.id = "episode-" + r.id;
    tr.dataset.id = r.id;
    const first = cell("");
    first.appendChild(link(episodeUrl, r.id, "#" + r.id));
    const scenario = cell("");
    scenario.textContent = r.scenario;
    const trial = cell("");
    trial.textContent = r.trial;
    const last = cell("");
    last.appendChild(link(traceUrl, r.id, "trace.jsonl"));
    tr.append(first, scenario, trial, cell("ep-status"), cell("ep-success"), cell("ep-harms"), cell("ep-faults"),
      cell("ep-steps"), last);
    patchRow(tr, r);
    return tr;
  }
  function patchRow(tr, r) {
    const status = tr.querySelector(".ep-status");
    status.textContent = "";
    const badge = document.createElement("span");
    badge.className = "status " + r.status;
    badge.textContent = r.status;
    status.appendChild(badge);
    if (r.infra_error) {
      const err = document.createElement("span");
      err.className = "error";
      err.title = r.infra_error;
      err.textContent = " infra error";
      status.appendChild(err);
    }
    tr.querySelector(".ep-success").textContent = yesNo(r.success);
    if (r.harms !== undefined) tr.querySelector(".ep-harms").textContent = r.harms;
    if (r.steps !== undefined) tr.querySelector(".ep-steps").textContent = r.steps;
    if (r.faults !== undefined && r.recovered !== undefined) {
      tr.querySelector(".ep-faults").textContent = r.faults + " (" + r.recovered + ")";
    }
  }
  function renderRows(rows) {
    body.textContent = "";
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = cell("muted");
      td.colSpan = 9;
      td.textContent = filtered() ? "No episode matches this filter." : "No episode.";
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (r) { body.appendChild(buildRow(r)); });
  }
  function renderPager(p) {
    page = p.page;
    pages = p.pages;
    text("page-number", p.page);
    text("page-count", p.pages);
    text("page-total", p.count);
    for (const [id, target] of [["page-prev", p.page > 1 ? p.page - 1 : 0], ["page-next", p.page < p.pages ? p.page + 1 : 0]]) {
      const a = document.getElementById(id);
      if (!a) continue;
      a.hidden = !target;
      a.href = target ? "?" + query(target) : "#";
      a.dataset.page = target;
    }
  }

  async function load(p) {
    const mine = ++generation;
    clearTimeout(refreshTimer);
    refreshTimer = null;
    try {
      const response = await fetch(url + "?" + query(p), { credentials: "same-origin", cache: "no-store" });
      const data = await response.json();
      if (mine !== generation) return;
      if (!response.ok) {
        errorBox.textContent = data.error || "This page of episodes cannot be shown.";
        return;
      }
      errorBox.textContent = "";
      renderRows(data.rows);
      renderPager(data);
    } catch (error) {
      // The next event or resync asks again.
    }
  }
  function refreshSoon() {
    if (!refreshTimer) refreshTimer = setTimeout(function () { load(page); }, REFRESH_MS);
  }

  // An episode's new row: patched in place when shown; when it joins or leaves what the filter and page show,
  // the page is re-read (soon, once for a burst of events), as its position depends on the other rows.
  function upsert(row) {
    const tr = document.getElementById("episode-" + row.id);
    const fits = matches(row);
    if (tr) {
      patchRow(tr, row);
      if (!fits) refreshSoon();
      return;
    }
    if (!fits) return;
    const shown = Array.prototype.map.call(body.querySelectorAll("tr[data-id]"), function (el) { return Number(el.dataset.id); });
    // Rows are in id order: a matching episode belongs here if it falls among the shown ones, or after them
    // on a page with room.
    // On the first page, before the first shown row too: episodes come to match out of id order.
    const inside = shown.length && row.id < shown[shown.length - 1] && (page === 1 || row.id > shown[0]);
    const after = shown.length < perPage && (!shown.length || row.id > shown[shown.length - 1]);
    if (inside || after) refreshSoon();
  }

  // After a full state read: its rows are the first unfiltered page; any other page is read again.
  function reload(state) {
    if (page === 1 && !filtered() && state && state.episodes && state.page) {
      generation++;
      renderRows(state.episodes);
      renderPager(state.page);
    } else {
      load(page);
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    filter = readFilter();
    history.replaceState(null, "", "?" + query(1));
    load(1);
  });
  for (const id of ["page-prev", "page-next"]) {
    const a = document.getElementById(id);
    if (!a) continue;
    a.addEventListener("click", function (event) {
      event.preventDefault();
      const target = Number(a.dataset.page || 0) || (id === "page-next" ? page + 1 : page - 1);
      history.replaceState(null, "", "?" + query(target));
      load(target);
    });
  }
  renderPager({ page: page, pages: pages, count: Number(document.getElementById("page-total").textContent) });

  window.GauntletRunTable = { summary: summary, upsert: upsert, reload: reload, load: load, matches: matches };
})();
