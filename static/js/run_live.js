// Live run page: websocket events are hints. Each carries the run's sequence number; on a gap, a
// reconnect or a snapshot request we re-read the whole state over HTTP and re-render from it.
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

  // The counters and the episode table are run_table.js's (window.GauntletRunTable).
  const table = window.GauntletRunTable;

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

  function renderState(state) {
    seq = state.seq;
    if (table) {
      table.summary(state);
      table.reload(state);
    }
    const feed = document.getElementById("feed");
    feed.innerHTML = "";
    state.feed.slice().reverse().forEach(addFeed);
    finished = FINAL.includes(state.status);
    noteSeq();
    // Other parts of the page (the scorecard) follow the state from here rather than opening their own socket.
    document.dispatchEvent(new CustomEvent("gauntlet:run-state", { detail: state }));
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

  async function resync() {
    if (resyncing) return;
    resyncing = true;
    showStatus();
    try {
      const response = await fetch(stateUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) renderState(await response.json());
    } catch (error) {
      // Still behind: the next heartbeat tries again.
    } finally {
      resyncing = false;
      showStatus();
    }
  }

  function onEvent(event) {
    lastHeard = Date.now();
    if (event.type === "snapshot") {
      if (event.heartbeat_s) silenceMs = event.heartbeat_s * 2000 + 1000;
      synced = true;
      renderState(event.data);
      showStatus();
      return;
    }
    latestSeq = Math.max(latestSeq, event.seq);
    noteSeq();
    if (event.type === "heartbeat") {
      if (behindTooLong()) resync();
      else if (behindSince) setTimeout(function () { if (behindTooLong()) resync(); }, IN_FLIGHT_MS + 20);
      return;
    }
    if (event.seq <= seq) return; // already reflected
    if (event.seq !== seq + 1) {
      resync(); // a gap: some events were lost, re-read the truth
      return;
    }
    seq = event.seq;
    noteSeq();
    if (event.type === "step") {
      addFeed(event.data);
      const row = document.getElementById("episode-" + event.data.episode_id);
      if (row) row.querySelector(".ep-steps").textContent = event.data.index;
    } else {
      // Episode and run events change aggregates: re-read them rather than recompute here.
      resync();
    }
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
