// Downloads (every job, live), Models (files per ComfyUI folder) and Queue (ComfyUI's prompts).
import { ACTIVE } from "./panel.mjs";
import { button, cap, empty, errorBox, fill, h, jobBar, muted, plural, rate, size, top } from "./ui.mjs";

const order = (a, b) => (ACTIVE.has(b.state) - ACTIVE.has(a.state))
  || (ACTIVE.has(a.state) ? a.created_at - b.created_at : (b.updated_at || 0) - (a.updated_at || 0));
const row = (...kids) => h("li.lp-row", ...kids);
// a list row's name and the facts under it
const item = (name, title, ...meta) => h("div", h("span.lp-name", { title }, name), h("p.lp-meta", meta));

export function downloadsView(ctl, root) {
  const { state } = ctl;
  const rows = new Map();
  const count = h("p.lp-muted", { "aria-live": "polite" });
  const list = h("ul.lp-rows.lp-scroll", { "aria-label": "Downloads" });
  root.append(count, list);

  function summary() {
    const jobs = [...state.jobs.values()];
    const n = (s) => jobs.filter((j) => (s === "active" ? ACTIVE.has(j.state) : j.state === s)).length;
    count.textContent = jobs.length ? `${n("active")} active · ${n("failed")} failed · ${n("done")} done`
      : "No downloads yet. Install a preset to start one.";
  }
  function render() {
    rows.clear();
    fill(list, [...state.jobs.values()].sort(order).map((j) => {
      rows.set(j.id, jobRow(ctl, j));
      return rows.get(j.id).el;
    }));
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
  const info = h("div");
  const actions = h("div.lp-actions");
  const el = row({ "data-job": job.id }, info, actions);
  let mode = "";
  const act = (verb) => ctl.run(`Could not ${verb} ${job.name}`, () => ctl.api(`/downloads/${job.id}/${verb}`, "POST"));
  function update(next) {
    if (next) job = next;
    const j = job;
    const text = j.state === "downloading" ? `${rate(j)} · ${size(j.bytes_done)} of ${size(j.bytes_total)}`
      : j.state === "done" ? `Done · ${size(j.bytes_total ?? j.bytes_done)}`
        : cap(j.state) + (j.message && j.message !== j.state && j.state !== "failed" ? `: ${j.message}` : "");
    fill(info, top(j.name, j.path || j.name, h(`span.lp-badge.lp-${j.state}`, j.state)),
      h("p.lp-meta", h("span", j.folder), h("span", (j.preset_ids || []).map(ctl.presetName).join(", "))),
      jobBar(j), muted(text), j.state === "failed" && errorBox(j.error));
    const m = ACTIVE.has(j.state) ? "cancel" : j.state === "done" ? "" : "retry";
    if (m === mode) return;
    mode = m;
    fill(actions, m ? button(cap(m), () => act(m), m === "cancel" ? { icon: "times", aria: `Cancel ${j.name}` }
      : { icon: "refresh", kind: ".lp-primary", aria: `Retry ${j.name}` }) : "");
  }
  update();
  return { el, update };
}

export function modelsView(ctl, root) {
  const { state } = ctl;
  let search = "";
  const count = h("p.lp-muted", { "aria-live": "polite" });
  const body = h("div.lp-scroll");
  root.append(h("div.lp-toolbar", h("input.lp-input.lp-grow", { type: "search", placeholder: "Search models",
    "aria-label": "Search models", oninput: (e) => { search = e.target.value.trim().toLowerCase(); render(); } })),
  count, body);
  const chosen = new Map(); // folder -> open, as the user left it

  const remove = async (m) => {
    const used = m.presets.length ? ` It belongs to ${m.presets.map(ctl.presetName).join(", ")}.` : "";
    if (await ctl.confirm(`Delete ${m.name}?`, `This deletes ${m.folder}/${m.name} (${size(m.size)}) from disk.${used}`)
      && await ctl.run(`Could not delete ${m.name}`, () => ctl.api(`/models/${m.id}`, "DELETE"))) {
      ctl.toast("info", "Model deleted", m.name);
      ctl.refresh("models", "presets");
    }
  };

  function render() {
    const data = state.models;
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
      h("ul.lp-rows", { "aria-label": `${folder} files` }, files.map((m) => row(
        item(m.name, m.path, h("span", size(m.size)), m.presets.map((id) => h("span.lp-chip", ctl.presetName(id)))),
        button("Delete", () => remove(m), { icon: "trash", kind: ".lp-danger.lp-icon", aria: `Delete ${m.name}`,
          title: "Delete" })))));
    }), !models.length && empty(search ? "No model matches." : "No model files yet."));
  }
  render();
  ctl.load.models().catch((e) => fill(body, errorBox(e)));
  return { update: (kind) => (kind === "models" || kind === "presets") && render() };
}

export function queueView(ctl, root) { // read-only: ComfyUI's own Queue tab has the actions
  const list = h("div.lp-scroll");
  root.append(list);
  const section = (title, items, none) => [h("h3.lp-sub", `${title} (${items.length})`),
    items.length ? h("ul.lp-rows", { "aria-label": title }, items.map((q) => row(item(`#${q.number}`, null,
      h("span", `${q.node_count} nodes`), h("span", { title: q.prompt_id }, q.prompt_id.slice(0, 8))))))
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
