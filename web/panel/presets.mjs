// Presets: the catalog, filtered and searched; install, cancel, retry, uninstall, each file's
// progress live; the catalog's skipped entries at the top.
import { bar, button, empty, errorBox, facts, fill, h, liveLine, muted, nameLine, searchBox } from "./dom.mjs";
import { capitalize, percent, plural, progressText, size, sizeOrUnknown } from "./format.mjs";
import { isActive, jobBar, latestJobs } from "./jobs.mjs";

const STATE_NAMES = { installed: "Installed", partial: "Partly installed", missing: "Not installed" };

// as the API's `search`: every word in the id, name, description or tags
function matches(preset, { search, category, state }) {
  if (category && preset.category !== category) {
    return false;
  }
  if (state && (state === "installed") !== (preset.state === "installed")) {
    return false;
  }
  const text = `${preset.id} ${preset.name} ${preset.description} ${preset.tags.join(" ")}`.toLowerCase();
  return search.toLowerCase().split(/\s+/).every((word) => text.includes(word));
}

function options(choices, chosen) {
  return choices.map(([value, text]) => h("option", { value, selected: chosen === value }, text));
}

// "2 catalog entries skipped", opening to say which and why
function warningsNotice(warnings, open, ontoggle) {
  if (!warnings?.length) {
    return null;
  }
  const items = warnings.map((warning) => {
    const where = [warning.file, warning.preset && `preset ${warning.preset}`, warning.field]
      .filter(Boolean)
      .join(" · ");
    return h("li", h("span.lp-name", where), muted(warning.message));
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
  let noticeOpen = false; // as the user left it, across rebuilds

  function setFilter(key) {
    return (event) => {
      filter[key] = event.target.value.trim();
      applyFilter();
    };
  }

  const category = h("select.lp-input", { "aria-label": "Category", onchange: setFilter("category") });
  const installedState = h("select.lp-input", { "aria-label": "Installed state", onchange: setFilter("state") },
    options([["", "Any state"], ["installed", "Installed"], ["missing", "Not installed"]], filter.state));
  const count = liveLine();
  const notice = h("div");
  const list = h("div.lp-cards.lp-scroll", { role: "list" });
  const noMatch = empty("No preset matches.");
  root.append(
    h("div.lp-toolbar", searchBox("presets", setFilter("search"), filter.search), category, installedState),
    count,
    notice,
    list,
  );

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
    fill(notice, warningsNotice(state.warnings, noticeOpen, (event) => {
      noticeOpen = event.target.open;
    }));
    // rebuilt when presets change state: the keyboard focus stays where it was
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

// A file being installed: name, bar, and speed and ETA on their own line.
function fileLine(job) {
  const downloading = job.state === "downloading";
  return h("li",
    nameLine(job.name, `${job.folder}/${job.name}`, muted(capitalize(job.state))),
    jobBar(job),
    downloading && muted(progressText(job)));
}

function presetCard(ctl, preset) {
  const name = preset.name;
  const stateBadge = h("span");
  const needed = preset.min_vram_gb;
  const vram = h("span", needed ? `${needed} GB VRAM` : "");
  const progress = h("div.lp-progress");
  const actions = h("div.lp-actions");
  const element = h("article.lp-card", {
    role: "listitem",
    "aria-label": name,
    "data-preset": preset.id,
    tabindex: "-1",
  },
  h("div.lp-top", h("h3", name), stateBadge),
  preset.description && h("p.lp-desc", { title: preset.description }, preset.description),
  progress,
  h("div.lp-foot",
    facts(preset.category, sizeOrUnknown(preset.total_size), plural(preset.file_count, "file"), vram),
    actions));
  let mode = "";

  async function install() {
    await ctl.run(`Could not install ${name}`, async () => {
      const answer = await ctl.api("/presets/install", "POST", { presets: [preset.id] });
      const jobs = ctl.started(answer.jobs);
      if (!jobs.length) {
        ctl.toast("info", name, "Nothing to download: every file is already here or queued.");
      }
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

  // The largest GPU is known once the System view has read it: warn when it is too small.
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
      h("ul.lp-files", { "aria-label": `Files of ${name}` }, jobs.map(fileLine)));
  }

  // one error box per message: ten files refused for one token say it once
  function showFailed(failed) {
    stateBadge.textContent = "Failed";
    const messages = new Set();
    const distinct = failed.filter((job) => {
      const message = job.error?.message;
      if (messages.has(message)) {
        return false;
      }
      messages.add(message);
      return true;
    });
    fill(progress, distinct.map((job) => h("div", muted(job.name), errorBox(job.error))));
  }

  function showActions(next) {
    const template = preset.template || preset.workflows[0];
    const open = ctl.adapter.openTemplate; // ComfyUI serves the templates; standalone has none
    const canUninstall = next !== "active" && (preset.state !== "missing" || preset.files_installed > 0);
    fill(actions,
      next === "active" && button("Cancel", () => ctl.act(`cancel ${name}`, `/presets/${preset.id}/cancel`),
        { icon: "times", of: name }),
      next === "failed" && button("Retry", retryFailed, { icon: "refresh", kind: ".lp-primary", of: name }),
      next === "missing" && button("Install", install, { icon: "download", kind: ".lp-primary", of: name }),
      next === "partial" && button("Finish install", install, { icon: "download", kind: ".lp-primary", of: name }),
      next === "installed" && open && template && button("Open",
        () => ctl.run(`Could not open ${template}`, () => open(template)),
        { icon: "external-link", of: `the ${name} workflow`, title: `Open the ${template} template` }),
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
    // rebuilt on every tick, the buttons would steal the keyboard focus
    if (next !== mode) {
      mode = next;
      showActions(next);
    }
  }

  update();
  return { element, preset, update };
}
