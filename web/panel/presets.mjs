// Presets: the catalog, filtered and sorted; install, cancel, retry and uninstall with live progress.
import { bar, button, comfyuiNeed, empty, errorBox, facts, fill, h, liveLine, muted, nameLine, searchBox }
  from "./dom.mjs";
import { percent, plural, progressText, size, sizeOrUnknown } from "./format.mjs";
import { isActive, jobBar, jobStatus, latestJobs } from "./jobs.mjs";

const STATE_NAMES = { installed: "Installed", partial: "Partly installed", missing: "Not installed" };
// the API's `?sort=` orders
const SORTS = [["", "Catalog order"], ["popularity", "Most used"], ["name", "Name"], ["size", "Smallest"]];

// the API's `search`: every word in the id, name, description, tags or workflows
function matches(preset, { search, category, state }) {
  if (category && preset.category !== category) {
    return false;
  }
  if (state && (state === "installed") !== (preset.state === "installed")) {
    return false;
  }
  const words = [preset.id, preset.name, preset.description, ...preset.tags, ...preset.workflows];
  const text = words.join(" ").toLowerCase();
  return search.toLowerCase().split(/\s+/).every((word) => text.includes(word));
}

function options(choices, chosen) {
  return choices.map(([value, text]) => h("option", { value, selected: chosen === value }, text));
}

// "2 catalog entries skipped", opening to say which and why.
function warningsNotice(warnings, open, ontoggle) {
  if (!warnings?.length) {
    return null;
  }
  const items = warnings.map((warning) => {
    const where = [warning.file, warning.preset && `preset ${warning.preset}`, warning.field].filter(Boolean);
    return h("li", h("span.lp-name", where.join(" · ")), muted(warning.message));
  });
  const count = warnings.length === 1 ? "1 catalog entry" : `${warnings.length} catalog entries`;
  return h("details.lp-notice", { open, ontoggle },
    h("summary", `${count} skipped: see why`),
    h("ul.lp-rows", { "aria-label": "Skipped catalog entries" }, items));
}

export function presetsView(ctl, root) {
  const { state } = ctl;
  const filter = state.filter;
  const cards = new Map();
  let noticeOpen = false; // as the user left it, across the list's rebuilds

  function setFilter(key) {
    return (event) => {
      filter[key] = event.target.value.trim();
      applyFilter();
    };
  }

  const category = h("select.lp-input", { "aria-label": "Category", onchange: setFilter("category") });
  const installedState = h("select.lp-input", { "aria-label": "Installed state", onchange: setFilter("state") },
    options([["", "Any state"], ["installed", "Installed"], ["missing", "Not installed"]], filter.state));
  const sort = h("select.lp-input", { "aria-label": "Sort", onchange: sortBy }, options(SORTS, filter.sort));
  const count = liveLine();
  const origin = muted("");
  const notice = h("div");
  const list = h("div.lp-cards.lp-scroll", { role: "list" });
  const noMatch = empty("No preset matches.");
  root.append(
    h("div.lp-toolbar", searchBox("presets", setFilter("search"), filter.search), category, installedState, sort),
    count,
    origin,
    notice,
    list,
  );

  function sortBy(event) {
    filter.sort = event.target.value;
    ctl.refresh("presets");
  }

  function applyFilter() {
    let shown = 0;
    for (const card of cards.values()) {
      card.element.hidden = !matches(card.preset, filter);
      if (!card.element.hidden) {
        shown += 1;
      }
    }
    const total = state.presets.length;
    const installed = state.presets.filter((preset) => preset.state === "installed").length;
    const listed = shown === total ? `${total}` : `${shown} of ${total}`;
    count.textContent = `${listed} presets · ${installed} installed`;
    noMatch.hidden = shown > 0;
  }

  function render() {
    if (!state.presets) {
      fill(list, empty("Loading presets…"));
      return;
    }
    const categories = state.categories.map((name) => [name, name]);
    fill(category, options([["", "Categories"], ...categories], filter.category));
    origin.textContent = state.sources;
    fill(notice, warningsNotice(state.warnings, noticeOpen, (event) => {
      noticeOpen = event.target.open;
    }));
    // rebuilt when presets change state: the focus stays where it was
    const focused = document.activeElement?.closest?.(".lp-card");
    const focusedPreset = focused?.dataset.preset;
    const focusedLabel = document.activeElement?.getAttribute("aria-label");
    cards.clear();
    for (const preset of state.presets) {
      cards.set(preset.id, presetCard(ctl, preset));
    }
    fill(list, [...cards.values()].map((card) => card.element), noMatch);
    applyFilter();
    const card = cards.get(focusedPreset)?.element;
    if (card) {
      const again = focusedLabel && card.querySelector(`[aria-label="${CSS.escape(focusedLabel)}"]`);
      (again || card).focus();
    }
  }

  render();
  return {
    update(kind, data) {
      if (kind === "presets") {
        render();
      } else if (kind === "snapshot" || kind === "system") {
        cards.forEach((card) => card.update());
      } else if (kind === "progress") {
        cards.get(data.preset_id)?.update();
      } else if (kind === "jobs") {
        data.preset_ids?.forEach((id) => cards.get(id)?.update());
      }
    },
  };
}

// inside ComfyUI a button opening the template; standalone, its name
function templateLink(ctl, template) {
  const open = ctl.adapter.openTemplate;
  if (!open) {
    return template;
  }
  return button(template, () => ctl.run(`Could not open ${template}`, () => open(template)),
    { icon: "external-link", title: "Open in ComfyUI" });
}

function presetCard(ctl, preset) {
  const name = preset.name;
  const stateBadge = h("span");
  const needed = preset.vram_gb;
  const vram = h("span", needed ? `${preset.vram_estimated ? "~" : ""}${needed} GB VRAM` : "");
  const progress = h("div.lp-progress");
  const actions = h("div.lp-actions");
  const element = h("article.lp-card", { role: "listitem", "aria-label": name, "data-preset": preset.id, tabindex: -1 },
  h("div.lp-top", h("h3", name), stateBadge),
  preset.description && h("p.lp-desc", { title: preset.description }, preset.description),
  progress,
  preset.workflows.length > 0 && h("p.lp-meta.lp-templates", "Templates:",
    preset.workflows.map((template) => templateLink(ctl, template))),
  h("div.lp-foot",
    facts(preset.category, sizeOrUnknown(preset.size, preset.size_estimated), plural(preset.file_count, "file"),
      vram, comfyuiNeed(preset)),
    actions));
  let mode = "";

  async function install() {
    if (preset.comfyui_ok === false) {
      const question = `Its workflows need ComfyUI ${preset.min_comfyui} or newer; `
        + `this is ${ctl.state.comfyui}. Download its files anyway?`;
      const sure = await ctl.confirm(`${name} needs a newer ComfyUI`, question, "Install");
      if (!sure) {
        return;
      }
    }
    await ctl.run(`Could not install ${name}`, async () => {
      const answer = await ctl.api("/presets/install", "POST", { presets: [preset.id] });
      const jobs = ctl.started(answer.jobs);
      if (!jobs.length) {
        ctl.toast("info", name, "Nothing to download: every file is already here or queued.");
      }
      answer.warnings.forEach((warning) => ctl.toast("warn", `Installing ${name}`, warning));
    });
  }

  async function uninstall() {
    const sure = await ctl.confirm(`Uninstall ${name}?`,
      `This deletes its model files (up to ${size(preset.bytes_installed)}) from disk. `
      + "Files that other installed presets use are kept.");
    if (!sure) {
      return;
    }
    const result = await ctl.act(`uninstall ${name}`, `/presets/${preset.id}/uninstall`);
    if (result) {
      const kept = result.kept.length ? `, ${result.kept.length} kept for other presets` : "";
      ctl.toast("info", `Uninstalled ${name}`, `${plural(result.deleted.length, "file")} deleted${kept}`);
      ctl.refresh("presets", "models");
    }
  }

  function retryFailed() {
    for (const job of latestJobs(ctl.state.jobs.values(), preset.id)) {
      if (job.state === "failed") {
        ctl.act(`retry ${job.name}`, `/downloads/${job.id}/retry`);
      }
    }
  }

  // known once the System view has read the GPUs
  function showVram() {
    const gpus = ctl.state.system?.gpu?.devices || [];
    const largest = Math.max(0, ...gpus.map((gpu) => gpu.memory_total || 0)) / 1e9;
    const tooSmall = needed && largest && largest < needed;
    vram.className = tooSmall ? "lp-warn" : "";
    vram.title = needed && largest ? `This machine's largest GPU has ${largest.toFixed(0)} GB` : "";
  }

  function showActive(jobs) {
    const total = ctl.state.progress.get(preset.id) || { bytes_done: 0 };
    const pct = percent(total.bytes_done, total.bytes_total);
    const downloading = total.state === "downloading";
    stateBadge.textContent = downloading ? `Downloading ${pct === null ? "" : `${Math.floor(pct)}%`}` : "Queued";
    fill(progress,
      bar(pct, `${name} download progress`),
      muted(progressText(total, { sizes: true })),
      h("ul.lp-files", { "aria-label": `Files of ${name}` }, jobs.map((job) => h("li",
        nameLine(job.name, `${job.folder}/${job.name}`), jobBar(job), jobStatus(job)))));
  }

  // one box per message: ten files refused for one missing token say it once
  function showFailed(failed) {
    stateBadge.textContent = "Failed";
    const byMessage = new Map(failed.map((job) => [job.error?.message, job]));
    fill(progress, [...byMessage.values()].map((job) => h("div", muted(job.name), errorBox(job.error))));
  }

  function showActions(next) {
    const canUninstall = next !== "active" && (preset.state !== "missing" || preset.files_installed > 0);
    const primary = { kind: ".lp-primary", of: name };
    fill(actions,
      next === "active" && button("Cancel", () => ctl.act(`cancel ${name}`, `/presets/${preset.id}/cancel`),
        { icon: "times", of: name }),
      next === "failed" && button("Retry", retryFailed, { ...primary, icon: "refresh" }),
      next === "missing" && button("Install", install, { ...primary, icon: "download" }),
      next === "partial" && button("Finish install", install, { ...primary, icon: "download" }),
      canUninstall && button("Uninstall", uninstall, { icon: "trash", kind: ".lp-danger", of: name }));
  }

  function update() {
    const jobs = latestJobs(ctl.state.jobs.values(), preset.id);
    const failed = jobs.filter((job) => job.state === "failed");
    let next = preset.state;
    if (jobs.some(isActive)) {
      next = "active";
    } else if (failed.length) {
      next = "failed";
    }
    showVram();
    if (next === "active") {
      showActive(jobs);
    } else if (next === "failed") {
      showFailed(failed);
    } else {
      const counted = preset.state === "partial" ? ` (${preset.files_installed}/${preset.file_count})` : "";
      stateBadge.textContent = STATE_NAMES[preset.state] + counted;
      fill(progress);
    }
    stateBadge.className = `lp-badge lp-${next}`;
    // rebuilt on every tick, the buttons would steal the focus
    if (next !== mode) {
      mode = next;
      showActions(next);
    }
  }

  update();
  return { element, preset, update };
}
