// The episode page's "what the agent saw": opening it reads the step's observation (runs:step_observation)
// and shows how the page changed since the agent's previous step (a diff of the accessibility trees), then
// the accessibility tree and the DOM text exactly as they were sent.
(function () {
  "use strict";

  function block(title, text, className) {
    const wrap = document.createElement("div");
    const heading = document.createElement("div");
    heading.className = "muted";
    heading.textContent = title;
    const pre = document.createElement("pre");
    pre.className = className || "";
    pre.textContent = text;
    wrap.append(heading, pre);
    return wrap;
  }

  function diffBlock(lines, previous) {
    const pre = document.createElement("pre");
    pre.className = "diff";
    lines.forEach(function (line) {
      const span = document.createElement("span");
      if (line.startsWith("+") && !line.startsWith("+++")) span.className = "added";
      else if (line.startsWith("-") && !line.startsWith("---")) span.className = "removed";
      span.textContent = line + "\n";
      pre.append(span);
    });
    const wrap = document.createElement("div");
    const heading = document.createElement("div");
    heading.className = "muted";
    heading.textContent = "Page change since step " + previous + " (accessibility tree)";
    wrap.append(heading, pre);
    return wrap;
  }

  document.querySelectorAll("details.seen").forEach(function (details) {
    details.addEventListener("toggle", function () {
      if (!details.open || details.dataset.loaded) return;
      details.dataset.loaded = "1";
      const body = details.querySelector(".seen-body");
      fetch(details.dataset.url, { credentials: "same-origin" })
        .then(function (response) { return response.json().then(function (data) { return [response.ok, data]; }); })
        .then(function (result) {
          const ok = result[0], data = result[1];
          body.textContent = "";
          body.classList.remove("muted");
          if (!ok) { body.textContent = data.error || "not available"; return; }
          if (data.previous_step !== null) {
            body.append(data.diff.length ? diffBlock(data.diff, data.previous_step)
              : block("Page change since step " + data.previous_step, "(no change)"));
          }
          if (data.axtree !== null) body.append(block("Accessibility tree, as sent", data.axtree, "axtree"));
          if (data.dom !== null) body.append(block("DOM text, as sent", data.dom));
          Object.keys(data.images || {}).forEach(function (name) {
            const heading = document.createElement("div");
            heading.className = "muted";
            heading.textContent = (name === "screenshot" ? "Screenshot" : "Set-of-marks screenshot") + ", as sent";
            const img = document.createElement("img");
            img.src = data.images[name];
            img.alt = name + " sent at step " + data.step;
            img.className = "sent-image";
            body.append(heading, img);
          });
          if (!body.childNodes.length) body.textContent = "Sent: " + data.fields.join(", ");
        })
        .catch(function () { body.textContent = "could not read the step's observation"; delete details.dataset.loaded; });
    });
  });
})();
