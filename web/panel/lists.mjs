// Downloads (every job, live), Models (files per ComfyUI folder) and Queue (ComfyUI's prompts).
import { active, button, cap, empty, entry, errorBox, fill, h, jobBar, live, muted, plural, rateOf, searchBox, size } from "./ui.mjs";
import { saveLock } from "./lock.mjs";

const order = (a, b) => (active(b) - active(a))
  || (active(a) ? a.created_at - b.created_at : (b.updated_at || 0) - (a.updated_at || 0));

export function downloadsView(ctl, root) {
  const { state } = ctl;
  const rows = new Map();
  const count = live();
  const list = h("ul.lp-rows.lp-scroll", { "aria-label": "Downloads" });
  root.append(count, list);

  function summary() {
    const jobs = [...state.jobs.values()];
    const n = (s) => jobs.filter((j) => (s === "active" ? active(j) : j.state === s)).length;
    count.textContent = jobs.length ? `${n("active")} active · ${n("failed")} failed · ${n("done")} done`
      : "No downloads yet. Install a preset to start one.";
  }
  function render() {
    rows.clear();
    for (const j of [...state.jobs.values()].sort(order)) rows.set(j.id, jobRow(ctl, j));
    fill(list, [...rows.values()].map((r) => r.el));
    summary();
  }
  render();
  return {
    update(kind, job) {
      if (kind === "snapshot" || (kind === "jobs" && !rows.has(job.id))) render();
      else if (kind === "jobs") { rows.get(job.id).update(job); summary(); }
      else if (kind === "presets") rows.forEach((r) => r.update());
    },
  };
}

function jobRow(ctl, job) {
  const actions = h("div.lp-actions");
  const el = h("li.lp-row", { "data-job": job.id }, h("div"), actions);
  let mode = "";
  function update(next) {
    if (next) job = next;
    const j = job;
    const text = j.state === "downloading" ? rateOf(j)
      : j.state === "done" ? `Done · ${size(j.bytes_total ?? j.bytes_done)}`
        : cap(j.state) + (j.message && j.message !== j.state && j.state !== "failed" ? `: ${j.message}` : "");
    el.firstChild.replaceWith(entry(j.name, j.path || j.name, h(`span.lp-badge.lp-${j.state}`, j.state),
      [j.folder, (j.preset_ids || []).map(ctl.presetName).join(", ")], jobBar(j), muted(text),
      j.state === "failed" && errorBox(j.error)));
    const m = active(j) ? "cancel" : j.state === "done" ? "" : "retry";
    if (m === mode) return;
    mode = m;
    fill(actions, m && button(cap(m), () => ctl.act(`${m} ${j.name}`, `/downloads/${j.id}/${m}`),
      m === "cancel" ? { icon: "times", of: j.name } : { icon: "refresh", kind: ".lp-primary", of: j.name }));
  }
  update();
  return { el, update };
}

export function modelsView(ctl, root) {
  let search = "";
  const count = live();
  const body = h("div.lp-scroll");
  const lockButton = button("Lock file", () => saveLock(ctl, "/lock/installed"),
    { icon: "lock", title: "Save the models lock of what is installed (docs/lockfile.md)" });
  root.append(h("div.lp-toolbar", searchBox("models", (e) => { search = e.target.value.trim().toLowerCase(); render(); }),
    lockButton), count, body);
  const chosen = new Map(); // folder -> open, as the user left it

  const remove = async (m) => {
    const used = m.presets.length ? ` It belongs to ${m.presets.map(ctl.presetName).join(", ")}.` : "";
    if (await ctl.confirm(`Delete ${m.name}?`, `This deletes ${m.folder}/${m.name} (${size(m.size)}) from disk.${used}`)
      && await ctl.act(`delete ${m.name}`, `/models/${m.id}`, "DELETE")) {
      ctl.toast("info", "Model deleted", m.name);
      ctl.refresh("models", "presets");
    }
  };

  function render() {
    const data = ctl.state.models;
    if (!data) return fill(body, empty("Loading models…"));
    const models = data.models.filter((m) => m.name.toLowerCase().includes(search));
    const groups = new Map();
    for (const m of models) groups.set(m.folder, [...(groups.get(m.folder) || []), m]);
    const more = data.total > data.models.length ? ` (showing the first ${data.models.length})` : "";
    count.textContent = `${plural(data.total, "file")} · ${size(data.total_bytes)}${more}`;
    fill(body, [...groups].sort(([a], [b]) => a.localeCompare(b)).map(([folder, files]) => {
      const free = data.space?.[folder]?.free;
      return h("details", { open: chosen.get(folder) ?? (!!search || models.length <= 30),
        ontoggle: (e) => chosen.set(folder, e.target.open) },
      h("summary", h("span.lp-name", folder), muted(`${plural(files.length, "file")} · ${
        size(files.reduce((t, m) => t + m.size, 0))}${free != null ? ` · ${size(free)} free` : ""}`)),
      h("ul.lp-rows", { "aria-label": `${folder} files` }, files.map((m) => h("li.lp-row",
        entry(m.name, m.path, null, [size(m.size), m.presets.map((id) => h("span.lp-chip", ctl.presetName(id))),
          podChips(m)]),
        button("Delete", () => remove(m), { icon: "trash", kind: ".lp-danger.lp-icon", of: m.name, title: "Delete" })))));
    }), !models.length && empty(search ? "No model matches." : "No model files yet."));
  }
  render();
  ctl.load.models().catch((e) => fill(body, errorBox(e)));
  return { update: (kind) => (kind === "models" || kind === "presets") && render() };
}

// The live pods on this volume that serve the file (their leases name it): another pod cannot delete it.
function podChips(model) {
  return (model.pods || []).map((pod) => {
    const label = pod.this_pod ? "this pod" : `pod ${pod.pod}`;
    return h("span.lp-chip.lp-pod", { title: `used by ${label}: ${pod.serves.join(", ")}` }, label);
  });
}

export function queueView(ctl, root) { // read-only: ComfyUI's own Queue tab has the actions
  const list = h("div.lp-scroll");
  root.append(list);
  const section = (title, items, none) => [h("h3.lp-sub", `${title} (${items.length})`),
    items.length ? h("ul.lp-rows", { "aria-label": title }, items.map((q) => h("li.lp-row", entry(`#${q.number}`, null,
      null, [`${q.node_count} nodes`, h("span", { title: q.prompt_id }, q.prompt_id.slice(0, 8))]))))
      : empty(none)];
  function render() {
    const q = ctl.state.queue;
    fill(list, q ? [section("Running", q.running, "Nothing is running."),
      section("Pending", q.pending, "No prompt is waiting.")] : empty("Loading the queue…"));
  }
  render();
  ctl.load.queue().catch((e) => fill(list, errorBox(e)));
  return { update: (kind) => kind === "queue" && render() };
}
