// The episode page's live screencast: while the episode runs, the agent's browser as frames from
// /ws/episodes/ID/ (runs.consumers.EpisodeConsumer), with the step and action they follow. The socket
// itself tells the worker that someone watches; closing the page stops the video.
(function () {
  "use strict";
  const section = document.getElementById("live-screen");
  if (!section) return;
  const screen = document.getElementById("screen");
  const status = document.getElementById("screen-status");
  const step = document.getElementById("screen-step");
  const action = document.getElementById("screen-action");
  let frames = 0;
  let retry = 1000;
  const steps = document.querySelector("table.steps tbody");

  function cell(row, content, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.append(content); else td.textContent = content;
    row.append(td);
    return td;
  }

  // A step taken while the page is open: a row like the server's, with what the live event carries.
  function addStep(step) {
    if (!steps || document.getElementById("step-" + step.index)) return;
    const empty = steps.querySelector("td[colspan]");
    if (empty) empty.parentElement.remove();
    const row = document.createElement("tr");
    row.id = "step-" + step.index;
    row.className = "live-step";
    cell(row, String(step.index));
    const url = document.createElement("code");
    url.className = "muted";
    url.textContent = step.url || "";
    cell(row, url);
    const action = document.createElement("code");
    action.textContent = step.action;
    cell(row, action);
    const result = cell(row, step.error ? "" : "ok");
    if (step.error) {
      const error = document.createElement("span");
      error.className = "error";
      error.textContent = step.error;
      result.append(error);
    }
    (step.milestones || []).forEach(function (m) {
      const div = document.createElement("div"); div.className = "good"; div.textContent = "milestone: " + m; result.append(div);
    });
    (step.harms || []).forEach(function (h) {
      const div = document.createElement("div"); div.className = "error"; div.textContent = "harm: " + h; result.append(div);
    });
    (step.faults || []).forEach(function (f) {
      const div = document.createElement("div"); div.className = "muted"; div.textContent = "fault: " + f; result.append(div);
    });
    cell(row, "");
    cell(row, "");
    steps.append(row);
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/ws/episodes/" + section.dataset.episode + "/");
    socket.onopen = function () {
      retry = 1000;
      status.textContent = "waiting for the next step…";
    };
    socket.onmessage = function (message) {
      const frame = JSON.parse(message.data);
      if (frame.type === "hello" && frame.status !== "running" && frame.status !== "queued") {
        status.textContent = "the episode has ended: reload the page for its steps";
        socket.close();
        return;
      }
      if (frame.type === "step") { addStep(frame); return; }
      if (frame.type === "episode") {
        if (frame.status !== "running" && frame.status !== "queued") {
          status.textContent = "the episode has ended: loading its results…";
          socket.close();
          setTimeout(function () { location.reload(); }, 500);
        }
        return;
      }
      if (frame.type !== "frame") return;
      frames += 1;
      screen.src = "data:image/jpeg;base64," + frame.data;
      screen.hidden = false;
      screen.dataset.frames = String(frames);
      step.textContent = frame.step;
      action.textContent = frame.action || "(first step)";
      status.textContent = "live";
    };
    socket.onclose = function (event) {
      if (event.code === 4403) {
        status.textContent = "you may not watch this episode";
        return;
      }
      if (status.textContent.startsWith("the episode has ended")) return;
      status.textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }
  connect();
})();
