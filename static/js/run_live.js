// Live run page: websocket events are hints. Each carries the run's sequence number and the changed episode's
// row and the run's summary, so the page patches itself. Events can overtake each other (they are committed
// by several workers): one that arrives ahead of a missing one waits in a short reorder window; if the
// missing one has not come by then, we ask the server for what changed since our sequence number (a delta),
// not for the whole state.
// The server sends a heartbeat with the run's latest sequence number every few seconds: being behind it
// means events were lost (catch up over HTTP), and hearing nothing for two periods means the socket is
// dead even if the browser has not noticed (reconnect). The "live" label says which of these is true.
(function () {
  "use strict";
  const root = document.getElementById("counters");
  if (!root) return;
  const runId = root.dataset.run;
  const stateUrl = root.dataset.stateUrl;
  const live = document.getElementById("live");
  let seq = Number(root.dataset.seq || 0);
  let latestSeq = seq; // the newest sequence number the server told us exists
  let socket = null;
  let socketUp = false;
  let everUp = false;
  let synced = false; // this socket's snapshot has arrived
  let downSince = Date.now();
  let lastHeard = Date.now();
  let silenceMs = 15000; // until the snapshot says how often the server beats
  let retryMs = 500;
  let retryTimer = null;
  let resyncing = false;
  let behindSince = 0; // when we first knew of a sequence number we have not seen; 0: up to date
  let finished = false;
  const FINAL = ["complete", "partial", "cancelled"];
  // Unreachable for this long, the server is not coming back soon: say offline (still retrying).
  const OFFLINE_AFTER_MS = 30000;
  // A heartbeat can overtake the event it counts (committed, still in flight): give that event this long
  // before paying for a full re-read of the state.
  const IN_FLIGHT_MS = 1000;
  // An event that arrives ahead of a missing one waits this long, or until this many wait, for the missing
  // one before we decide it was lost and read the delta.
  const REORDER_MS = 250;
  const REORDER_MAX = 8;
  const waiting = new Map(); // seq -> event, arrived ahead of seq + 1
  let gapTimer = null;
  let failedAt = 0; // when a read of what we missed last failed
  const RETRY_MS = 2000;

  // The counters and the episode table are run_table.js's (window.GauntletRunTable).
  const table = window.GauntletRunTable;
  function upsertRow(row) {
    if (table) table.upsert(row);
  }

  function addFeed(s) {
    const feed = document.getElementById("feed");
    const li = document.createElement("li");
    li.textContent = s.scenario + " #" + s.trial + " step " + s.index + ": ";
    const code = document.createElement("code");
    code.textContent = s.action;
    li.appendChild(code);
    if (s.error) {
      const err = document.createElement("span");
      err.className = "error";
      err.textContent = " " + s.error;
      li.appendChild(err);
    }
    feed.insertBefore(li, feed.firstChild);
    while (feed.children.length > 30) feed.removeChild(feed.lastChild);
  }

  function renderSummary(run) {
    if (table) table.summary(run);
    finished = FINAL.includes(run.status);
    // Other parts of the page (the scorecard) follow the run from here rather than opening their own socket.
    document.dispatchEvent(new CustomEvent("gauntlet:run-state", { detail: run }));
  }

  function renderFeed(steps) {
    const feed = document.getElementById("feed");
    feed.innerHTML = "";
    steps.slice().reverse().forEach(addFeed);
  }

  // The whole state (state.json without "since"): only when a delta would be larger than the table.
  function renderState(state) {
    seq = Math.max(seq, state.seq);
    renderSummary(state);
    if (table) table.reload(state);
    renderFeed(state.feed);
    noteSeq();
  }

  function renderDelta(delta) {
    seq = Math.max(seq, delta.seq);
    renderSummary(delta.run);
    delta.episodes.forEach(upsertRow);
    renderFeed(delta.steps);
    noteSeq();
  }

  function noteSeq() {
    latestSeq = Math.max(latestSeq, seq);
    if (latestSeq <= seq) behindSince = 0;
    else if (!behindSince) behindSince = Date.now();
  }
  function behindTooLong() {
    return behindSince > 0 && Date.now() - behindSince >= IN_FLIGHT_MS;
  }

  function showStatus() {
    let label = "live";
    let kind = "on";
    if (!navigator.onLine || (!socketUp && Date.now() - downSince > OFFLINE_AFTER_MS)) {
      label = "offline";
      kind = "offline";
    } else if (!socketUp) {
      label = everUp ? "reconnecting…" : "connecting…";
      kind = "down";
    } else if (!synced || resyncing || behindTooLong()) {
      label = "catching up…";
      kind = "behind";
    } else if (finished) {
      label = "run finished";
    }
    if (live.textContent !== label) live.textContent = label;
    live.className = "live " + kind;
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    return response.ok ? response.json() : null;
  }

  // Read what changed since our sequence number, then apply the events that waited for it.
  async function catchUp() {
    if (resyncing) return;
    resyncing = true;
    clearTimeout(gapTimer);
    gapTimer = null;
    showStatus();
    let read = false;
    try {
      const delta = await getJson(stateUrl + "?since=" + seq);
      if (delta && delta.full) {
        const state = await getJson(stateUrl);
        if (state) {
          // The whole state replaces ours, even a sequence number ahead of the run's (a page of another
          // life of this run): later events count from the state's.
          seq = latestSeq = state.seq;
          renderState(state);
          read = true;
        }
      } else if (delta) {
        renderDelta(delta);
        read = true;
      }
    } catch (error) {
      // Still behind: the next event or heartbeat tries again.
    } finally {
      if (!read) failedAt = Date.now();
      resyncing = false;
      drainWaiting();
      showStatus();
    }
  }

  function apply(event) {
    seq = event.seq;
    if (event.type === "step") {
      addFeed(event.data);
      if (event.data.row) upsertRow(event.data.row);
    } else if (event.type === "episode") {
      upsertRow(event.data.row);
      renderSummary(event.data.run);
    } else if (event.type === "run") {
      renderSummary(event.data.run);
      // A cancel or a retry changed many episodes at once under this one number: read their rows.
      if (event.data.changed) {
        seq = event.seq - 1;
        catchUp();
      }
    }
  }

  // Apply the waiting events that follow on from our sequence number; give the rest the reorder window.
  function drainWaiting() {
    // While a read is in flight, events wait: the read's rows are older than they are, and would undo them.
    if (resyncing) return;
    while (waiting.has(seq + 1)) {
      const next = waiting.get(seq + 1);
      waiting.delete(seq + 1);
      apply(next);
    }
    for (const waitingSeq of waiting.keys()) if (waitingSeq <= seq) waiting.delete(waitingSeq);
    noteSeq();
    // After a failed read, the next waits RETRY_MS rather than following at once.
    const retryIn = failedAt + RETRY_MS - Date.now();
    if (!waiting.size) {
      clearTimeout(gapTimer);
      gapTimer = null;
    } else if (waiting.size >= REORDER_MAX && retryIn <= 0) {
      catchUp();
    } else if (!gapTimer) {
      gapTimer = setTimeout(function () {
        gapTimer = null;
        if (waiting.size) catchUp();
      }, Math.max(REORDER_MS, retryIn));
    }
  }

  function onEvent(event) {
    lastHeard = Date.now();
    if (event.type === "snapshot") {
      if (event.heartbeat_s) silenceMs = event.heartbeat_s * 2000 + 1000;
      synced = true;
      latestSeq = Math.max(latestSeq, event.seq);
      noteSeq();
      // The page shows the state it was rendered with (or last caught up to): read only what it missed.
      if (event.seq > seq) catchUp();
      showStatus();
      return;
    }
    latestSeq = Math.max(latestSeq, event.seq);
    noteSeq();
    if (event.type === "heartbeat") {
      if (behindTooLong()) catchUp();
      else if (behindSince) setTimeout(function () { if (behindTooLong()) catchUp(); }, IN_FLIGHT_MS + 20);
      return;
    }
    if (event.seq <= seq) return; // already reflected
    waiting.set(event.seq, event);
    drainWaiting();
  }

  function drop() {
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      socket.close();
      socket = null;
    }
    if (socketUp) downSince = Date.now();
    socketUp = false;
    synced = false;
  }

  function reconnectLater() {
    drop();
    showStatus();
    clearTimeout(retryTimer);
    if (!navigator.onLine) return; // the "online" event reconnects
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }

  function connect() {
    drop();
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const opening = new WebSocket(scheme + location.host + "/ws/runs/" + runId + "/");
    socket = opening;
    lastHeard = Date.now();
    opening.onopen = function () {
      retryMs = 500;
      socketUp = everUp = true;
      lastHeard = Date.now();
      showStatus();
    };
    opening.onmessage = function (message) {
      onEvent(JSON.parse(message.data));
    };
    opening.onclose = reconnectLater;
  }

  // A socket can die without a close event (a stalled server, a dropped NAT entry): silence is the signal.
  // The same check covers a handshake that never completes.
  setInterval(function () {
    if (socket && Date.now() - lastHeard > silenceMs) reconnectLater();
    else showStatus();
  }, 1000);
  window.addEventListener("offline", reconnectLater);
  window.addEventListener("online", function () {
    retryMs = 500;
    connect();
  });
  connect();
})();
