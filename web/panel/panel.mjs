// The Launchpad panel: state that outlives the DOM, and the shell that shows one view at a time. Each host
// hands in an adapter (json, on, toast, confirm, setting: see docs/architecture.md, "Frontend").
import { active, cap, h, icon } from "./ui.mjs";
import { presetsView } from "./presets.mjs";
import { downloadsView, modelsView, queueView } from "./lists.mjs";
import { systemView } from "./system.mjs";
import { workflowView } from "./workflow.mjs";

// id (its title too), icon, view; the last, the queue, only in ComfyUI
const VIEWS = [["presets", "box", presetsView], ["workflow", "sitemap", workflowView],
  ["downloads", "download", downloadsView], ["models", "folder", modelsView], ["system", "chart-bar", systemView],
  ["queue", "list", queueView]];
export const VIEW_IDS = VIEWS.map((v) => v[0]);
const CSS = new URL("./panel.css", import.meta.url).href;

export function createLaunchpad(adapter, { comfy = false, icons = true } = {}) {
  const state = { presets: null, jobs: new Map(), progress: new Map(), models: null,
    system: null, queue: null, view: null, filter: { search: "", category: "", state: "" }, offline: false };
  const views = comfy ? VIEWS : VIEWS.slice(0, -1);
  let shell = null, current = null, timer = 0;
  const pending = new Set();
  const setting = (id) => adapter.setting?.("Launchpad." + id);

  const ctl = {
    adapter, state,
    api: (path, method, body) => adapter.json("/launchpad" + path, { method, body }),
    toast: adapter.toast,
    notify: (kind, data) => {
      current?.update(kind, data);
      badge();
    },
    async run(what, fn) { // an action: its failure becomes an error toast, never an unhandled rejection
      try { return await fn(); } catch (err) { ctl.toast("error", what, err.message); }
    },
    act: (what, path, method = "POST") => ctl.run("Could not " + what, () => ctl.api(path, method)),
    confirm: (title, message) => setting("ConfirmDeletes") === false || adapter.confirm(title, message),
    refresh(...what) { // coalesce bursts (a preset finishing emits many events) into one fetch each
      what.forEach((w) => w && pending.add(w));
      clearTimeout(timer);
      timer = setTimeout(() => { const todo = [...pending]; pending.clear(); todo.forEach((w) => quietly(load[w]())); },
        250);
    },
    presetName: (id) => state.presets?.find((p) => p.id === id)?.name || id.replace(/^(\w+):/, "$1 "),
    started(jobs) { // an install's answer may be older than what events already told
      for (const job of jobs) if (!(state.jobs.get(job.id)?.updated_at >= job.updated_at)) state.jobs.set(job.id, job);
      ctl.notify("snapshot");
      return jobs;
    },
    mount, unmount, show,
  };

  const load = ctl.load = {
    async presets() {
      const data = await ctl.api("/presets");
      state.presets = data.presets;
      state.categories = data.categories;
      for (const p of data.presets) if (p.progress && !state.progress.has(p.id)) state.progress.set(p.id, p.progress);
      ctl.notify("presets");
    },
    async snapshot() {
      const data = await ctl.api("/downloads");
      const jobs = new Map(data.jobs.map((j) => [j.id, j]));
      const newest = Math.max(0, ...data.jobs.map((j) => j.updated_at));
      for (const old of state.jobs.values()) { // events that overtook the snapshot are newer: keep them
        const got = jobs.get(old.id);
        if (got ? old.updated_at > got.updated_at : old.updated_at > newest) jobs.set(old.id, old);
      }
      state.jobs = jobs;
      state.progress = new Map(Object.entries(data.presets || {}));
      ctl.notify("snapshot");
    },
    async models() { state.models = await ctl.api("/models?limit=1000"); ctl.notify("models"); },
    async queue() { state.queue = await ctl.api("/queue"); ctl.notify("queue"); },
  };
  const quietly = (p) => p.catch((err) => console.warn("[Launchpad]", err.message));
  const reread = () => [load.snapshot(), load.presets()].map(quietly);
  const toasts = () => setting("Toasts") !== false;
  const offline = (yes) => { state.offline = yes; shell?.classList.toggle("lp-offline", yes); };

  const on = {
    download(job) {
      const before = state.jobs.get(job.id);
      state.jobs.set(job.id, job);
      ctl.notify("jobs", job);
      if (job.state === "failed" && before?.state !== "failed" && toasts()) {
        ctl.toast("error", `Download failed: ${job.name}`, job.error?.message);
      }
      if (!active(job) && active(before)) ctl.refresh("presets", "models");
    },
    preset(p) {
      const before = state.progress.get(p.preset_id);
      state.progress.set(p.preset_id, p);
      ctl.notify("progress", p);
      if (before?.state !== p.state && p.state === "done" && toasts()) {
        ctl.toast("success", p.preset_id.includes(":") ? "Installed" : "Preset installed", ctl.presetName(p.preset_id));
      }
      if (!active(p)) ctl.refresh("presets");
    },
    system(reading) { state.system = reading; ctl.notify("system"); },
    model: () => ctl.refresh("presets", "models"),
    catalog: () => ctl.refresh("presets"),
  };
  // Subscribed once, now: events that arrive while the panel is closed still update the state and toast.
  for (const type in on) adapter.on("launchpad." + type, on[type]);
  adapter.on("reconnecting", () => offline(true));
  adapter.on("reconnected", () => {
    offline(false);
    ctl.refresh("snapshot", "presets", state.models && "models");
    current?.update("reconnected");
  });
  adapter.on("status", () => state.view === "queue" && ctl.refresh("queue"));
  // In ComfyUI, read ahead once the page has settled, so the first open of the tab is instant too.
  if (comfy) setTimeout(() => state.presets || reread(), 2000);

  function badge() {
    const n = [...state.jobs.values()].filter(active).length;
    const el = shell?.querySelector(".lp-count");
    if (el) { el.textContent = n || ""; el.hidden = !n; }
  }

  function show(id) {
    if (!shell) { state.view = id; return; }
    const [view, , make] = views.find((v) => v[0] === id) || views[0];
    current?.destroy?.();
    state.view = view;
    for (const tab of shell.querySelectorAll("[role=tab]")) {
      const on = tab.id === "lp-tab-" + view;
      tab.setAttribute("aria-selected", on);
      tab.tabIndex = on ? 0 : -1;
    }
    const body = shell.querySelector(".lp-view");
    body.setAttribute("aria-labelledby", "lp-tab-" + view);
    body.replaceChildren();
    current = make(ctl, body);
  }

  function onKey(e) { // arrow keys move between tabs (WAI-ARIA tabs pattern)
    const tabs = [...shell.querySelectorAll("[role=tab]")];
    const i = tabs.indexOf(document.activeElement);
    const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: -1 }[e.key];
    if (i < 0 || j == null) return;
    e.preventDefault();
    const tab = tabs.at(j % tabs.length);
    tab.focus();
    tab.click();
  }

  function mount(el) {
    unmount();
    const started = performance.now();
    if (!document.querySelector(`link[href="${CSS}"]`)) document.head.append(h("link", { rel: "stylesheet", href: CSS }));
    const tabs = views.map(([id, name]) => h("button", { type: "button", role: "tab", id: "lp-tab-" + id,
      "aria-controls": "lp-view", title: cap(id), onclick: () => show(id) },
    icon(name), h("span.lp-label", cap(id)), id === "downloads" && h("span.lp-count", { hidden: true })));
    shell = h(icons ? "div.lp" : "div.lp.lp-noicons", { role: "region", "aria-label": "Launchpad" },
      h("header", h("h2", "Launchpad"), h("span.lp-conn", { role: "status" }, "Reconnecting…")),
      h("div.lp-tabs", { role: "tablist", "aria-label": "Launchpad views", onkeydown: onKey }, tabs),
      h("section.lp-view", { id: "lp-view", role: "tabpanel" }));
    el.replaceChildren(shell);
    offline(state.offline);
    show(state.view || setting("DefaultView"));
    badge();
    // What is known shows at once; the snapshot and the list are fetched again on every open.
    const cached = !!state.presets, first = reread();
    Promise.all(cached ? [] : first).then(() => {
      const detail = { ms: performance.now() - started, presets: state.presets?.length ?? 0, cached };
      requestAnimationFrame(() => shell?.dispatchEvent(new CustomEvent("lp:rendered", { bubbles: true, detail })));
    });
  }

  function unmount() {
    current?.destroy?.();
    shell?.remove();
    current = shell = null;
  }

  return ctl;
}
