// Downloads (every job, live), Models (files per ComfyUI folder) and Queue (ComfyUI's prompts).
import { ACTIVE } from "./panel.mjs";
import { button, cap, empty, errorBox, h, jobBar, plural, rate, size } from "./ui.mjs";

const order = (a, b) => (ACTIVE.has(b.state) - ACTIVE.has(a.state))
  || (ACTIVE.has(a.state) ? a.created_at - b.created_at : (b.updated_at || 0) - (a.updated_at || 0));

export function downloadsView(ctl, root) {
  const { state } = ctl;
  const rows = new Map();
  const count = h("p", { class: "lp-muted", "aria-live": "polite" });
  const list = h("ul", { class: "lp-rows lp-scroll", "aria-label": "Downloads" });
  root.append(count, list);

  function summary() {
    const jobs = [...state.jobs.values()];
    const n = (s) => jobs.filter((j) => (s === "active" ? ACTIVE.has(j.state) : j.state === s)).length;
    count.textContent = jobs.length ? `${n("active")} active · ${n("failed")} failed · ${n("done")} done`
      : "No downloads yet. Install a preset to start one.";
  }
  function render() {
    rows.clear();
    list.replaceChildren(...[...state.jobs.values()].sort(order).map((j) => {
      const row = jobRow(ctl, j);
      rows.set(j.id, row);
      return row.el;
    }));
    summary();
  }
  render();
  return {
    update(kind, job) {
      if (kind === "snapshot") render();
      else if (kind === "jobs") {
        if (rows.has(job.id)) { rows.get(job.id).update(job); summary(); } else render();
      } else if (kind === "presets") rows.forEach((r) => r.update());
    },
  };
}

function jobRow(ctl, job) {
  const info = h("div");
  const actions = h("div", { class: "lp-actions" });
  const el = h("li", { class: "lp-row", "data-job": job.id }, info, actions);
  let mode = "";
  const act = (what, verb) => ctl.run(`Could not ${verb} ${job.name}`, () => ctl.api(`/downloads/${job.id}/${what}`, "POST"));
  function update(next) {
    if (next) job = next;
    const j = job;
    const presets = (j.preset_ids || []).map(ctl.presetName).join(", ");
    const text = j.state === "downloading" ? `${rate(j)} · ${size(j.bytes_done)} of ${size(j.bytes_total)}`
      : j.state === "done" ? `Done · ${size(j.bytes_total ?? j.bytes_done)}`
        : cap(j.state) + (j.message && j.message !== j.state && j.state !== "failed" ? `: ${j.message}` : "");
    info.replaceChildren(
      h("div", { class: "lp-file-top" }, h("span", { class: "lp-name", text: j.name, title: j.path || j.name }),
        h("span", { class: `lp-badge lp-${j.state}`, text: j.state })),
      h("p", { class: "lp-meta" }, h("span", { text: j.folder }), presets && h("span", { text: presets })),
      jobBar(j),
      h("p", { class: "lp-muted", text }),
      j.state === "failed" ? errorBox(j.error) : "");
    el.dataset.state = j.state;
    const m = ACTIVE.has(j.state) ? "active" : j.state === "done" ? "done" : "stopped";
    if (m === mode) return;
    mode = m;
    actions.replaceChildren(...(m === "active" ? [button("Cancel", () => act("cancel", "cancel"),
      { icon: "times", aria: `Cancel ${j.name}` })] : m === "stopped" ? [button("Retry", () => act("retry", "retry"),
      { icon: "refresh", kind: "lp-primary", aria: `Retry ${j.name}` })] : []));
  }
  update();
  return { el, update };
}

export function modelsView(ctl, root) {
  const { state } = ctl;
  let search = "";
  const input = h("input", { type: "search", class: "lp-input lp-grow", placeholder: "Search models",
    "aria-label": "Search models", oninput: (e) => { search = e.target.value.trim().toLowerCase(); render(); } });
  const count = h("p", { class: "lp-muted", "aria-live": "polite" });
  const body = h("div", { class: "lp-groups lp-scroll" });
  root.append(h("div", { class: "lp-toolbar" }, input), count, body);
  const chosen = new Map(); // folder -> open, as the user left it

  const remove = async (m) => {
    const used = m.presets.length ? ` It belongs to ${m.presets.map(ctl.presetName).join(", ")}.` : "";
    if (!await ctl.confirm(`Delete ${m.name}?`, `This deletes ${m.folder}/${m.name} (${size(m.size)}) from disk.${used}`)) {
      return;
    }
    if (await ctl.run(`Could not delete ${m.name}`, () => ctl.api(`/models/${m.id}`, "DELETE"))) {
      ctl.toast("info", "Model deleted", m.name);
      ctl.refresh("models", "presets");
    }
  };

  function render() {
    const data = state.models;
    if (!data) { body.replaceChildren(empty("Loading models…")); return; }
    const models = data.models.filter((m) => !search || m.name.toLowerCase().includes(search));
    const groups = Map.groupBy ? Map.groupBy(models, (m) => m.folder)
      : models.reduce((g, m) => g.set(m.folder, [...(g.get(m.folder) || []), m]), new Map());
    const more = data.total > data.models.length ? ` (showing the first ${data.models.length})` : "";
    count.textContent = `${plural(data.total, "file")} · ${size(data.total_bytes)}${more}`;
    body.replaceChildren(...[...groups].sort(([a], [b]) => a.localeCompare(b)).map(([folder, files]) => {
      const free = data.space?.[folder]?.free;
      const details = h("details", { open: chosen.get(folder) ?? (!!search || models.length <= 30),
        ontoggle: (e) => chosen.set(folder, e.target.open) },
      h("summary", {}, h("span", { class: "lp-name", text: folder }), h("span", { class: "lp-muted",
        text: `${plural(files.length, "file")} · ${size(files.reduce((t, m) => t + m.size, 0))}${free != null ? ` · ${size(free)} free` : ""}` })),
      h("ul", { class: "lp-rows", "aria-label": `${folder} files` }, files.map((m) => h("li", { class: "lp-row" },
        h("div", {}, h("span", { class: "lp-name", text: m.name, title: m.path }),
          h("p", { class: "lp-meta" }, h("span", { text: size(m.size) }),
            m.presets.map((id) => h("span", { class: "lp-chip", text: ctl.presetName(id) })))),
        button("Delete", () => remove(m), { icon: "trash", kind: "lp-danger lp-icon", aria: `Delete ${m.name}`, title: "Delete" })))));
      return details;
    }));
    if (!models.length) body.append(empty(search ? "No model matches." : "No model files yet."));
  }
  render();
  ctl.load.models().catch((e) => body.replaceChildren(errorBox(e)));
  return { update: (kind) => (kind === "models" || kind === "presets") && render() };
}

export function queueView(ctl, root) { // read-only: ComfyUI's own Queue tab has the actions
  const list = h("div", { class: "lp-scroll" });
  root.append(list);
  const section = (title, items, none) => [h("h3", { class: "lp-sub", text: `${title} (${items.length})` }),
    items.length ? h("ul", { class: "lp-rows", "aria-label": title }, items.map((q) => h("li", { class: "lp-row" },
      h("div", {}, h("span", { class: "lp-name", text: `#${q.number}` }), h("p", { class: "lp-meta" },
        h("span", { text: `${q.node_count} nodes` }), h("span", { text: q.prompt_id.slice(0, 8), title: q.prompt_id }))))))
      : empty(none)];
  function render() {
    const q = ctl.state.queue;
    list.replaceChildren(...(q ? [...section("Running", q.running, "Nothing is running."),
      ...section("Pending", q.pending, "No prompt is waiting.")] : [empty("Loading the queue…")]));
  }
  render();
  ctl.load.queue().catch((e) => list.replaceChildren(errorBox(e)));
  return { update: (kind) => kind === "queue" && render() };
}
