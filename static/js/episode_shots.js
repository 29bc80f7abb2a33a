// The episode page's screenshots full size: a click on a thumbnail opens it in a dialog; ← and → (or the
// buttons) go to the previous and next step's screenshot, Esc closes.
(function () {
  "use strict";
  const viewer = document.getElementById("shot-viewer");
  if (!viewer) return;
  const links = Array.from(document.querySelectorAll("a.shot"));
  const full = document.getElementById("shot-full");
  const stepLabel = document.getElementById("shot-step");
  let current = -1;

  function show(index) {
    if (index < 0 || index >= links.length) return;
    current = index;
    full.src = links[index].href;
    full.alt = "step " + links[index].dataset.step;
    stepLabel.textContent = links[index].dataset.step;
    document.getElementById("shot-prev").disabled = index === 0;
    document.getElementById("shot-next").disabled = index === links.length - 1;
    if (!viewer.open) viewer.showModal();
  }

  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      show(index);
    });
  });
  document.getElementById("shot-prev").addEventListener("click", function () { show(current - 1); });
  document.getElementById("shot-next").addEventListener("click", function () { show(current + 1); });
  document.getElementById("shot-close").addEventListener("click", function () { viewer.close(); });
  // On the document, not the dialog: the focused button may be the one the last step disabled.
  document.addEventListener("keydown", function (event) {
    if (!viewer.open) return;
    if (event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
    if (event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
  });
})();
