// The alerts' Acknowledge buttons: POST who has seen it, then the alert leaves the list
// (it stays open while its condition holds; `candlelab alerts` still lists it). Who: the
// name in #acknowledger, remembered with the chart view's reviewer name.
import { api } from "./api.js";

const REMEMBERED = "candlelab.reviewer"; // the annotator's reviewer name: one person, one name
const who = document.getElementById("acknowledger");

function name() {
  return (who && who.value.trim()) || localStorage.getItem(REMEMBERED) || "labeller";
}

async function acknowledge(button) {
  const row = button.closest("tr");
  button.disabled = true;
  try {
    await api("POST", `/api/alerts/${button.dataset.alert}/acknowledge`, { by: name() });
  } catch (error) {
    button.disabled = false;
    row.querySelector("td.why").textContent += ` (not acknowledged: ${error.message})`;
    return;
  }
  // The same alert may be listed twice (a model's card and its version's page): all go.
  document.querySelectorAll(`tr[data-alert="${button.dataset.alert}"]`).forEach((shown) => {
    const body = shown.parentElement;
    shown.remove();
    if (!body.querySelector("tr")) body.append(emptyRow());
  });
}

function emptyRow() {
  const row = document.createElement("tr");
  row.innerHTML = '<td class="empty">No open alert to see to.</td>';
  return row;
}

if (who) {
  who.value = localStorage.getItem(REMEMBERED) || "";
  who.addEventListener("change", () => localStorage.setItem(REMEMBERED, who.value.trim()));
}
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.acknowledge");
  if (button) acknowledge(button);
});
