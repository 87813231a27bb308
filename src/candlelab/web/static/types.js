// The types page: span label types and annotation types, edited in place through the API.
import { api } from "./api.js";

const status = document.getElementById("types-status");

function say(text, bad = false) {
  status.textContent = text;
  status.classList.toggle("bad", bad);
}

function cell(row, node) {
  const td = document.createElement("td");
  td.append(node);
  row.append(td);
  return node;
}

function input(value, attrs = {}) {
  const el = document.createElement("input");
  Object.assign(el, attrs);
  el.value = value ?? "";
  return el;
}

function select(options, value) {
  const el = document.createElement("select");
  for (const [v, text] of options) el.append(new Option(text, v, false, String(v) === String(value)));
  return el;
}

function checkbox(checked) {
  const el = input("", { type: "checkbox" });
  el.checked = checked;
  return el;
}

async function save(path, body, what) {
  try {
    await api("PATCH", path, body);
    say(`${what} saved`);
    await load();
  } catch (error) {
    say(`${what}: ${error.message}`, true);
  }
}

function labelRow(t) {
  const row = document.createElement("tr");
  row.dataset.id = t.id;
  const name = cell(row, input(t.name, { maxLength: 80, ariaLabel: "Name" }));
  const color = cell(row, input(t.color, { type: "color", ariaLabel: "Colour" }));
  const keys = [["", "none"], ...Array.from({ length: 9 }, (_, i) => [String(i + 1), String(i + 1)])];
  const hotkey = cell(row, select(keys, t.hotkey ?? ""));
  const direction = cell(row, select([[0, "none"], [1, "long"], [-1, "short"]], t.direction));
  const description = cell(row, input(t.description, { maxLength: 2000, ariaLabel: "Description" }));
  const active = cell(row, checkbox(t.is_active));
  const button = cell(row, document.createElement("button"));
  button.textContent = "Save";
  button.addEventListener("click", () => save(`/api/span-label-types/${t.id}`, {
    name: name.value, color: color.value, hotkey: hotkey.value, direction: Number(direction.value),
    description: description.value, is_active: active.checked,
  }, `label type ${name.value}`));
  if (!t.is_active) row.classList.add("inactive");
  return row;
}

function annotationRow(t) {
  const row = document.createElement("tr");
  row.dataset.id = t.id;
  const name = cell(row, input(t.name, { maxLength: 80, ariaLabel: "Name" }));
  const color = cell(row, input(t.color, { type: "color", ariaLabel: "Colour" }));
  const shapes = ["circle", "square", "arrowUp", "arrowDown"].map((s) => [s, s]);
  const shape = cell(row, select(shapes, t.shape));
  const active = cell(row, checkbox(t.is_active));
  const button = cell(row, document.createElement("button"));
  button.textContent = "Save";
  button.addEventListener("click", () => save(`/api/annotation-types/${t.id}`, {
    name: name.value, color: color.value, shape: shape.value, is_active: active.checked,
  }, `annotation type ${name.value}`));
  if (!t.is_active) row.classList.add("inactive");
  return row;
}

async function load() {
  const [labels, kinds] = await Promise.all([
    api("GET", "/api/span-label-types"), api("GET", "/api/annotation-types"),
  ]);
  document.querySelector("#label-types tbody").replaceChildren(...labels.map(labelRow));
  document.querySelector("#annotation-types tbody").replaceChildren(...kinds.map(annotationRow));
}

function creator(formId, path, shape) {
  const form = document.getElementById(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = shape(new FormData(form));
    try {
      await api("POST", path, body);
      say(`${body.name} added`);
      form.reset();
      await load();
    } catch (error) {
      say(`${body.name}: ${error.message}`, true);
    }
  });
}

creator("new-label-type", "/api/span-label-types", (data) => ({
  name: data.get("name"), color: data.get("color"), hotkey: data.get("hotkey") || null,
  direction: Number(data.get("direction")), description: data.get("description") || null,
}));
creator("new-annotation-type", "/api/annotation-types", (data) => ({
  name: data.get("name"), color: data.get("color"), shape: data.get("shape"),
}));
load().catch((error) => say(error.message, true));
