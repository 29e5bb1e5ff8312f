// Models: each folder's files, their presets, the room left; deletes after asking. Above, old
// templates' trees with their `launchpad migrate` commands.
import { button, commandNote, empty, errorBox, facts, fill, h, liveLine, muted, nameLine, searchBox } from "./dom.mjs";
import { plural, size } from "./format.mjs";
import { lockButton } from "./lock.mjs";

// folders start open while the list is this short
const OPEN_UP_TO = 30;

// adopted folders with the command that moves them in, trees not migrated with the one showing the plan
async function showOldTrees(ctl, element) {
  let migration;
  try {
    migration = await ctl.api("/migrate");
  } catch {
    fill(element); // no note is better than a failed one over the list
    return;
  }
  fill(element, migration.notes.map((note) => commandNote(note.text, note.command)));
}

// the live pods whose leases name the file (no other pod can delete it)
function podChips(model) {
  return (model.pods || []).map((pod) => {
    const label = pod.this_pod ? "this pod" : `pod ${pod.pod}`;
    return h("span.lp-chip.lp-pod", { title: `used by ${label}: ${pod.serves.join(", ")}` }, label);
  });
}

export function modelsView(ctl, root) {
  let search = "";
  const opened = new Map(); // folder -> open, as the user left it
  const count = liveLine();
  const oldTrees = h("div");
  const body = h("div.lp-scroll");
  const searchInput = searchBox("models", (event) => {
    search = event.target.value.trim().toLowerCase();
    render();
  });
  const lock = lockButton(ctl, "what is installed", "/lock/installed");
  root.append(h("div.lp-toolbar", searchInput, lock), oldTrees, count, body);

  async function remove(model) {
    const owners = model.presets.map(ctl.presetName).join(", ");
    const belongs = owners ? ` It belongs to ${owners}.` : "";
    const message = `This deletes ${model.folder}/${model.name} (${size(model.size)}) from disk.${belongs}`;
    if (!(await ctl.confirm(`Delete ${model.name}?`, message))) {
      return;
    }
    if (await ctl.act(`delete ${model.name}`, `/models/${model.id}`, "DELETE")) {
      ctl.toast("info", "Model deleted", model.name);
      ctl.refresh("models", "presets");
    }
  }

  function modelRow(model) {
    const owners = model.presets.map((id) => h("span.lp-chip", ctl.presetName(id)));
    return h("li.lp-row",
      h("div", nameLine(model.name, model.path, null), facts(size(model.size), owners, podChips(model))),
      button("Delete", () => remove(model),
        { icon: "trash", kind: ".lp-danger.lp-icon", of: model.name, title: "Delete" }));
  }

  function folderGroup(folder, files, space, shownCount) {
    const bytes = files.reduce((total, model) => total + model.size, 0);
    const free = space?.free != null ? ` · ${size(space.free)} free` : "";
    const open = opened.get(folder) ?? (Boolean(search) || shownCount <= OPEN_UP_TO);
    return h("details", { open, ontoggle: (event) => opened.set(folder, event.target.open) },
      h("summary", h("span.lp-name", folder), muted(`${plural(files.length, "file")} · ${size(bytes)}${free}`)),
      h("ul.lp-rows", { "aria-label": `${folder} files` }, files.map(modelRow)));
  }

  function render() {
    const data = ctl.state.models;
    if (!data) {
      fill(body, empty("Loading models…"));
      return;
    }
    const models = data.models.filter((model) => model.name.toLowerCase().includes(search));
    const byFolder = new Map();
    for (const model of models) {
      if (!byFolder.has(model.folder)) {
        byFolder.set(model.folder, []);
      }
      byFolder.get(model.folder).push(model);
    }
    const partial = data.total > data.models.length ? ` (showing the first ${data.models.length})` : "";
    count.textContent = `${plural(data.total, "file")} · ${size(data.total_bytes)}${partial}`;
    const folders = [...byFolder.keys()].sort((a, b) => a.localeCompare(b));
    const nothing = search ? "No model matches." : "No model files yet.";
    fill(body,
      folders.map((folder) => folderGroup(folder, byFolder.get(folder), data.space?.[folder], models.length)),
      !models.length && empty(nothing));
  }

  render();
  ctl.load.models().catch((error) => fill(body, errorBox(error)));
  showOldTrees(ctl, oldTrees);
  return {
    update(kind) {
      if (kind === "models") {
        showOldTrees(ctl, oldTrees); // an adoption or a move changes the folders
      }
      if (kind === "models" || kind === "presets") {
        render();
      }
    },
  };
}
