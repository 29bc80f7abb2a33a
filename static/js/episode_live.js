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
