// Presets: filter and search the catalog; install, cancel, retry and uninstall with live per-file progress.
import { ACTIVE } from "./panel.mjs";
import { bar, button, cap, empty, errorBox, h, jobBar, percent, plural, rate, size } from "./ui.mjs";

const STATES = { installed: "Installed", partial: "Partly installed", missing: "Not installed" };

// The newest job of each file of a preset: what its card shows.
function latestJobs(ctl, id) {
  const byKey = new Map();
  for (const j of ctl.jobsOf(id)) {
    const seen = byKey.get(j.key);
    if (!seen || (j.created_at || 0) >= (seen.created_at || 0)) byKey.set(j.key, j);
  }
  return [...byKey.values()];
}

function matches(p, { search, category, state }) {
  if (category && p.category !== category) return false;
  if (state && (state === "installed") !== (p.state === "installed")) return false;
  const text = `${p.id} ${p.name} ${p.description} ${p.tags.join(" ")}`.toLowerCase();
  return search.toLowerCase().split(/\s+/).every((w) => text.includes(w));
}

function gpuVram(ctl) { // the largest GPU's memory in GB, once the System view has read it
  const devices = ctl.state.system?.gpu?.devices || [];
  const most = Math.max(0, ...devices.map((d) => d.memory_total || 0));
  return most ? most / 1e9 : null;
}

export function presetsView(ctl, root) {
  const { state } = ctl;
  const cards = new Map();
  const f = state.filter;
  const search = h("input", { type: "search", class: "lp-input lp-grow", placeholder: "Search presets",
    "aria-label": "Search presets", value: f.search, oninput: (e) => { f.search = e.target.value.trim(); filter(); } });
  const category = h("select", { class: "lp-input", "aria-label": "Category",
    onchange: (e) => { f.category = e.target.value; filter(); } });
  const installed = h("select", { class: "lp-input", "aria-label": "Installed state",
    onchange: (e) => { f.state = e.target.value; filter(); } },
  [["", "Any state"], ["installed", "Installed"], ["missing", "Not installed"]].map(([value, text]) =>
    h("option", { value, text, selected: f.state === value })));
  const count = h("p", { class: "lp-muted", "aria-live": "polite" });
  const list = h("div", { class: "lp-cards lp-scroll", role: "list" });
  root.append(h("div", { class: "lp-toolbar" }, search, category, installed), count, list);

  function filter() {
    let shown = 0;
    for (const card of cards.values()) {
      card.el.hidden = !matches(card.p, f);
      if (!card.el.hidden) shown++;
    }
    const total = state.presets.length;
    const done = state.presets.filter((p) => p.state === "installed").length;
    count.textContent = `${shown === total ? total : `${shown} of ${total}`} presets · ${done} installed`;
    list.classList.toggle("lp-none", !shown);
  }

  function render() {
    if (!state.presets) {
      list.classList.add("lp-none");
      return list.replaceChildren(empty("Loading presets…"));
    }
    category.replaceChildren(h("option", { value: "", text: "Categories" }),
      ...state.categories.map((c) => h("option", { value: c, text: c, selected: f.category === c })));
    // the list is rebuilt when presets change state: keep the keyboard focus where it was
    const had = document.activeElement?.closest?.(".lp-card");
    const focus = had && [had.dataset.preset, document.activeElement.getAttribute("aria-label")];
    cards.clear();
    const frag = document.createDocumentFragment();
    for (const p of state.presets) {
      const card = makeCard(ctl, p);
      cards.set(p.id, card);
      frag.append(card.el);
    }
    list.replaceChildren(frag, empty("No preset matches."));
    filter();
    const card = focus && cards.get(focus[0])?.el;
    if (card) (card.querySelector(`[aria-label="${CSS.escape(focus[1] || "")}"]`) || card).focus();
  }

  render();
  return {
    update(kind, data) {
      if (kind === "presets") render();
      else if (kind === "snapshot" || kind === "system") cards.forEach((c) => c.update());
      else if (kind === "progress") cards.get(data.preset_id)?.update();
      else if (kind === "jobs") data.preset_ids?.forEach((id) => cards.get(id)?.update());
    },
  };
}

function makeCard(ctl, p) {
  const name = p.name;
  const badge = h("span", { class: "lp-badge" });
  const vram = h("span");
  const progress = h("div", { class: "lp-progress" });
  const actions = h("div", { class: "lp-actions" });
  const el = h("article", { class: "lp-card", role: "listitem", "aria-label": name, "data-preset": p.id,
    tabindex: "-1" },
    h("div", { class: "lp-card-top" }, h("h3", { text: name }), badge),
    p.description && h("p", { class: "lp-desc", text: p.description, title: p.description }),
    progress,
    h("div", { class: "lp-card-foot" }, h("p", { class: "lp-meta" }, h("span", { text: p.category }),
      h("span", { text: p.total_size == null ? "" : size(p.total_size) }),
      h("span", { text: plural(p.file_count, "file") }), vram), actions));
  let mode = "";

  const install = () => ctl.run(`Could not install ${name}`, async () => {
    const r = await ctl.api("/presets/install", "POST", { presets: [p.id] });
    r.jobs.forEach(ctl.keep);
    if (!r.jobs.length) ctl.toast("info", name, "Nothing to download: every file is already here or queued.");
    ctl.notify("snapshot");
  });
  const cancel = () => ctl.run(`Could not cancel ${name}`, () => ctl.api(`/presets/${p.id}/cancel`, "POST"));
  const retry = (failed) => ctl.run(`Could not retry ${name}`, () =>
    Promise.all(failed.map((j) => ctl.api(`/downloads/${j.id}/retry`, "POST"))));
  const uninstall = async () => {
    const ok = await ctl.confirm(`Uninstall ${name}?`, `This deletes its model files (up to ${size(p.bytes_installed)}) `
      + "from disk. Files that other installed presets use are kept.");
    if (!ok) return;
    const r = await ctl.run(`Could not uninstall ${name}`, () => ctl.api(`/presets/${p.id}/uninstall`, "POST"));
    if (r) {
      ctl.toast("info", `Uninstalled ${name}`, `${r.deleted.length} file(s) deleted`
        + (r.kept.length ? `, ${r.kept.length} kept for other presets` : ""));
      ctl.refresh("presets", "models");
    }
  };

  function update() {
    const jobs = latestJobs(ctl, p.id);
    const active = jobs.filter((j) => ACTIVE.has(j.state));
    const failed = jobs.filter((j) => j.state === "failed");
    const prog = ctl.state.progress.get(p.id);
    const next = active.length ? "active" : failed.length ? "failed" : p.state;
    const need = p.min_vram_gb, have = gpuVram(ctl);
    vram.textContent = need ? `${need} GB VRAM` : "";
    vram.className = need && have && have < need ? "lp-warn" : "";
    vram.title = need && have ? `This machine's largest GPU has ${have.toFixed(0)} GB` : "";

    if (next === "active") {
      const done = prog || { bytes_done: 0 }, pct = percent(done.bytes_done, done.bytes_total);
      badge.textContent = done.state === "downloading" ? `Downloading ${pct == null ? "" : Math.floor(pct) + "%"}`
        : "Queued";
      progress.replaceChildren(bar(pct, `${name} download progress`),
        h("p", { class: "lp-muted", text: `${rate(done)} · ${size(done.bytes_done)} of ${size(done.bytes_total)}` }),
        h("ul", { class: "lp-files", "aria-label": `Files of ${name}` }, jobs.map(fileRow)));
    } else if (next === "failed") {
      badge.textContent = "Failed";
      const seen = new Set();
      progress.replaceChildren(...failed.filter((j) => !seen.has(j.error?.message) && seen.add(j.error?.message))
        .map((j) => h("div", {}, h("p", { class: "lp-muted", text: j.name }), errorBox(j.error))));
    } else {
      badge.textContent = STATES[p.state] + (p.state === "partial" ? ` (${p.files_installed}/${p.file_count})` : "");
      progress.replaceChildren();
    }
    el.dataset.state = next;
    if (next === mode) return; // rebuilding buttons every tick would steal keyboard focus
    mode = next;
    const b = [];
    if (next === "active") b.push(button("Cancel", cancel, { icon: "times", aria: `Cancel ${name}` }));
    if (next === "failed") b.push(button("Retry", () => retry(latestJobs(ctl, p.id).filter((j) => j.state === "failed")),
      { icon: "refresh", kind: "lp-primary", aria: `Retry ${name}` }));
    if (next === "missing" || next === "partial") {
      b.push(button(next === "partial" ? "Finish install" : "Install", install,
        { icon: "download", kind: "lp-primary", aria: `Install ${name}` }));
    }
    const open = ctl.adapter.openTemplate, t = p.template || p.workflows[0]; // ComfyUI serves the templates
    if (next === "installed" && open && t) b.push(button("Open", () => ctl.run(`Could not open ${t}`, () => open(t)),
      { icon: "external-link", aria: `Open the ${name} workflow`, title: `Open the ${t} template` }));
    if (next !== "active" && (p.state !== "missing" || p.files_installed)) {
      b.push(button("Uninstall", uninstall, { icon: "trash", kind: "lp-danger", aria: `Uninstall ${name}` }));
    }
    actions.replaceChildren(...b);
  }

  update();
  return { el, p, update };
}

function fileRow(j) {
  return h("li", {}, h("div", { class: "lp-file-top" },
    h("span", { class: "lp-name", text: j.name, title: `${j.folder}/${j.name}` }),
    h("span", { class: "lp-muted", text: j.state === "downloading" ? rate(j) : cap(j.state) })), jobBar(j));
}
