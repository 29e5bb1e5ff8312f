// Presets: filter and search the catalog; install, cancel, retry and uninstall with live per-file progress.
import {
  active, bar, button, cap, empty, errorBox, fill, h, jobBar, live, meta, muted, percent, plural, rate, rateOf, searchBox, size, top,
} from "./ui.mjs";

const STATES = { installed: "Installed", partial: "Partly installed", missing: "Not installed" };

// what a card shows: the newest job of each of its files
function latestJobs(ctl, id) {
  const byKey = new Map();
  for (const j of ctl.state.jobs.values()) {
    const seen = byKey.get(j.key);
    if (j.preset_ids?.includes(id) && (j.created_at || 0) >= (seen?.created_at || 0)) byKey.set(j.key, j);
  }
  return [...byKey.values()];
}

function matches(p, { search, category, state }) {
  if (category && p.category !== category) return false;
  if (state && (state === "installed") !== (p.state === "installed")) return false;
  const text = `${p.id} ${p.name} ${p.description} ${p.tags.join(" ")}`.toLowerCase();
  return search.toLowerCase().split(/\s+/).every((w) => text.includes(w));
}

export function presetsView(ctl, root) {
  const { state } = ctl;
  const cards = new Map();
  const f = state.filter;
  const set = (key) => (e) => { f[key] = e.target.value.trim(); filter(); };
  const options = (list, chosen) => list.map(([value, text]) => h("option", { value, selected: chosen === value }, text));
  const category = h("select.lp-input", { "aria-label": "Category", onchange: set("category") });
  const count = live();
  const list = h("div.lp-cards.lp-scroll", { role: "list" });
  root.append(h("div.lp-toolbar",
    searchBox("presets", set("search"), f.search), category,
    h("select.lp-input", { "aria-label": "Installed state", onchange: set("state") },
      options([["", "Any state"], ["installed", "Installed"], ["missing", "Not installed"]], f.state))), count, list);

  function filter() {
    let shown = 0;
    for (const card of cards.values()) {
      card.el.hidden = !matches(card.p, f);
      shown += !card.el.hidden;
    }
    const total = state.presets.length;
    const done = state.presets.filter((p) => p.state === "installed").length;
    count.textContent = `${shown === total ? total : `${shown} of ${total}`} presets · ${done} installed`;
    list.lastChild.hidden = shown > 0; // "No preset matches."
  }

  function render() {
    if (!state.presets) return fill(list, empty("Loading presets…"));
    fill(category, options([["", "Categories"], ...state.categories.map((c) => [c, c])], f.category));
    // the list is rebuilt when presets change state: keep the keyboard focus where it was
    const had = document.activeElement?.closest?.(".lp-card");
    const focus = had && [had.dataset.preset, document.activeElement.getAttribute("aria-label")];
    cards.clear();
    for (const p of state.presets) cards.set(p.id, makeCard(ctl, p));
    fill(list, [...cards.values()].map((c) => c.el), empty("No preset matches."));
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
  const badge = h("span");
  const need = p.min_vram_gb, vram = h("span", need ? `${need} GB VRAM` : "");
  const progress = h("div.lp-progress");
  const actions = h("div.lp-actions");
  const el = h("article.lp-card", { role: "listitem", "aria-label": name, "data-preset": p.id, tabindex: "-1" },
    h("div.lp-top", h("h3", name), badge),
    p.description && h("p.lp-desc", { title: p.description }, p.description),
    progress,
    h("div.lp-foot", meta(p.category, p.total_size != null && size(p.total_size), plural(p.file_count, "file"), vram),
      actions));
  let mode = "";

  const install = () => ctl.run(`Could not install ${name}`, async () => {
    const jobs = ctl.started((await ctl.api("/presets/install", "POST", { presets: [p.id] })).jobs);
    if (!jobs.length) ctl.toast("info", name, "Nothing to download: every file is already here or queued.");
  });
  const uninstall = async () => {
    const ok = await ctl.confirm(`Uninstall ${name}?`, `This deletes its model files (up to ${size(p.bytes_installed)}) `
      + "from disk. Files that other installed presets use are kept.");
    const r = ok && await ctl.act(`uninstall ${name}`, `/presets/${p.id}/uninstall`);
    if (r) {
      ctl.toast("info", `Uninstalled ${name}`, `${r.deleted.length} file(s) deleted`
        + (r.kept.length ? `, ${r.kept.length} kept for other presets` : ""));
      ctl.refresh("presets", "models");
    }
  };

  function update() {
    const jobs = latestJobs(ctl, p.id);
    const failed = jobs.filter((j) => j.state === "failed");
    const next = jobs.some(active) ? "active" : failed.length ? "failed" : p.state;
    const gpus = ctl.state.system?.gpu?.devices || []; // known once the System view has read them
    const have = Math.max(0, ...gpus.map((d) => d.memory_total || 0)) / 1e9;
    vram.className = need && have && have < need ? "lp-warn" : "";
    vram.title = need && have ? `This machine's largest GPU has ${have.toFixed(0)} GB` : "";

    if (next === "active") {
      const done = ctl.state.progress.get(p.id) || { bytes_done: 0 }, pct = percent(done.bytes_done, done.bytes_total);
      badge.textContent = done.state === "downloading" ? `Downloading ${pct == null ? "" : Math.floor(pct) + "%"}`
        : "Queued";
      fill(progress, bar(pct, `${name} download progress`), muted(rateOf(done)), h("ul.lp-files", { "aria-label": `Files of ${name}` }, jobs.map((j) => h("li",
          top(j.name, `${j.folder}/${j.name}`, muted(j.state === "downloading" ? rate(j) : cap(j.state))), jobBar(j)))));
    } else if (next === "failed") {
      badge.textContent = "Failed";
      const seen = new Set();
      fill(progress, failed.filter((j) => !seen.has(j.error?.message) && seen.add(j.error?.message))
        .map((j) => h("div", muted(j.name), errorBox(j.error))));
    } else {
      badge.textContent = STATES[p.state] + (p.state === "partial" ? ` (${p.files_installed}/${p.file_count})` : "");
      fill(progress);
    }
    badge.className = "lp-badge lp-" + next;
    if (next === mode) return; // rebuilding buttons every tick would steal keyboard focus
    mode = next;
    const open = ctl.adapter.openTemplate, t = p.template || p.workflows[0]; // ComfyUI serves the templates
    fill(actions,
      next === "active" && button("Cancel", () => ctl.act(`cancel ${name}`, `/presets/${p.id}/cancel`),
        { icon: "times", of: name }),
      next === "failed" && button("Retry", () => latestJobs(ctl, p.id).forEach((j) => j.state === "failed"
        && ctl.act(`retry ${j.name}`, `/downloads/${j.id}/retry`)), { icon: "refresh", kind: ".lp-primary", of: name }),
      (next === "missing" || next === "partial") && button(next === "partial" ? "Finish install" : "Install", install,
        { icon: "download", kind: ".lp-primary", of: name }),
      next === "installed" && open && t && button("Open", () => ctl.run(`Could not open ${t}`, () => open(t)),
        { icon: "external-link", of: `the ${name} workflow`, title: `Open the ${t} template` }),
      next !== "active" && (p.state !== "missing" || p.files_installed > 0)
        && button("Uninstall", uninstall, { icon: "trash", kind: ".lp-danger", of: name }),
    );
  }

  update();
  return { el, p, update };
}
