// Show only the fieldsets of the chosen agent kind. Without this script every fieldset shows, which still works.
(function () {
  const form = document.getElementById("agent-form");
  if (!form) return;
  const select = form.querySelector("select[name=kind]");
  function update() {
    const kind = select ? select.value : form.dataset.kind;
    form.querySelectorAll("fieldset[data-kind]").forEach((fieldset) => {
      fieldset.hidden = fieldset.dataset.kind !== kind;
    });
  }
  if (select) select.addEventListener("change", update);
  update();
})();
