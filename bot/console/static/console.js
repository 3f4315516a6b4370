// Small helpers of the operator console; pages work without them.
"use strict";
document.addEventListener("submit", function (event) {
  // Forms with data-confirm ask before an action that cannot be undone.
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target && target.matches && target.matches("[data-print]")) {
    event.preventDefault();
    window.print();
  }
});
// Export jobs: poll the job's status URL and show progress until the file is ready.
function pollExport(box) {
  var url = box.getAttribute("data-status");
  var bar = box.querySelector("progress");
  var label = box.querySelector("[data-label]");
  var link = box.querySelector("a[data-file]");
  fetch(url, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (job) {
      if (bar) { bar.max = job.total || 1; bar.value = job.done; }
      if (label) { label.textContent = job.label; }
      if (job.ready) {
        if (link) { link.hidden = false; }
      } else if (!job.failed) {
        window.setTimeout(function () { pollExport(box); }, 500);
      }
    })
    .catch(function () { window.setTimeout(function () { pollExport(box); }, 2000); });
}
// The compose form shows only the fields of the chosen kind (all show without script).
function showKind(form) {
  var checked = form.querySelector("input[name=kind]:checked");
  var sets = form.querySelectorAll("fieldset[data-kind]");
  for (var i = 0; i < sets.length; i++) {
    sets[i].hidden = checked !== null && sets[i].getAttribute("data-kind") !== checked.value;
  }
}
document.addEventListener("change", function (event) {
  if (event.target && event.target.name === "kind" && event.target.form) {
    showKind(event.target.form);
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var kinds = document.querySelectorAll("form[data-kinds]");
  for (var k = 0; k < kinds.length; k++) { showKind(kinds[k]); }
  var boxes = document.querySelectorAll("[data-status]");
  for (var i = 0; i < boxes.length; i++) { pollExport(boxes[i]); }
});
