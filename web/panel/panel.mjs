// The Launchpad panel: state that outlives the DOM, and the shell that shows one view at a time. Each host
// hands in an adapter (json, on, toast, confirm, setting: see docs/architecture.md, "Frontend").
import { h, icon } from "./ui.mjs";
import { presetsView } from "./presets.mjs";
import { downloadsView, modelsView, queueView } from "./lists.mjs";
import { systemView } from "./system.mjs";
import { workflowView } from "./workflow.mjs";

const VIEWS = [
  { id: "presets", title: "Presets", icon: "box", make: presetsView },
  { id: "workflow", title: "Workflow", icon: "sitemap", make: workflowView },
  { id: "downloads", title: "Downloads", icon: "download", make: downloadsView },
  { id: "models", title: "Models", icon: "folder", make: modelsView },
  { id: "system", title: "System", icon: "chart-bar", make: systemView },
  { id: "queue", title: "Queue", icon: "list", make: queueView, comfy: true },
];
export const VIEW_IDS = VIEWS.map((v) => v.id);
export const ACTIVE = new Set(["queued", "resolving", "downloading", "verifying"]);
const EVENTS = ["download", "preset", "system", "model", "catalog"].map((e) => "launchpad." + e);
const CSS = new URL("./panel.css", import.meta.url).href;

export function createLaunchpad(adapter, { comfy = false, icons = true } = {}) {
  const state = { presets: null, categories: [], jobs: new Map(), progress: new Map(), models: null,
    system: null, queue: null, view: null, filter: { search: "", category: "", state: "" }, offline: false };
  const views = VIEWS.filter((v) => comfy || !v.comfy);
  let shell = null, current = null, timer = 0;
  const pending = new Set();

  const ctl = {
    adapter, state,
    api: (path, method, body) => adapter.json("/launchpad" + path, method ? { method, body: body || {} } : {}),
    toast: (severity, summary, detail) => adapter.toast(severity, summary, detail),
    notify: (kind, data) => {
      current?.update(kind, data);
      if (shell && (kind === "jobs" || kind === "snapshot")) badge();
    },
    async run(what, fn) { // an action: its failure becomes an error toast, never an unhandled rejection
      try { return await fn(); } catch (err) { ctl.toast("error", what, err.message); return null; }
    },
    async confirm(title, message) {
      return adapter.setting?.("Launchpad.ConfirmDeletes") === false || adapter.confirm(title, message);
    },
    refresh(...what) { // coalesce bursts (a preset finishing emits many events) into one fetch each
      what.forEach((w) => pending.add(w));
      clearTimeout(timer);
      timer = setTimeout(() => { const todo = [...pending]; pending.clear(); todo.forEach((w) => quietly(load[w]())); },
        250);
    },
    presetName: (id) => state.presets?.find((p) => p.id === id)?.name || id.replace(/^(\w+):/, "$1 "),
    keep(job) { // a job in an HTTP answer may be older than what events already told
      const old = state.jobs.get(job.id);
      if (!old || job.updated_at > old.updated_at) state.jobs.set(job.id, job);
    },
    jobsOf: (presetId) => [...state.jobs.values()].filter((j) => j.preset_ids?.includes(presetId)),
    mount, unmount, show, load: null,
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
  const toasts = () => adapter.setting?.("Launchpad.Toasts") !== false;

  const on = {
    "launchpad.download": (job) => {
      const before = state.jobs.get(job.id);
      state.jobs.set(job.id, job);
      ctl.notify("jobs", job);
      if (job.state === "failed" && before?.state !== "failed" && toasts()) {
        ctl.toast("error", `Download failed: ${job.name}`, job.error?.message || "");
      }
      if (!ACTIVE.has(job.state) && before && ACTIVE.has(before.state)) ctl.refresh("presets", "models");
    },
    "launchpad.preset": (p) => {
      const before = state.progress.get(p.preset_id);
      state.progress.set(p.preset_id, p);
      ctl.notify("progress", p);
      if (before?.state !== p.state && p.state === "done" && toasts()) {
        ctl.toast("success", p.preset_id.includes(":") ? "Installed" : "Preset installed", ctl.presetName(p.preset_id));
      }
      if (!ACTIVE.has(p.state)) ctl.refresh("presets");
    },
    "launchpad.system": (reading) => { state.system = reading; ctl.notify("system"); },
    "launchpad.model": () => ctl.refresh("presets", "models"),
    "launchpad.catalog": () => ctl.refresh("presets"),
    reconnecting: () => { state.offline = true; conn(); },
    reconnected: () => {
      state.offline = false; conn();
      ctl.refresh("snapshot", "presets", ...(state.models ? ["models"] : []));
      current?.update("reconnected");
    },
    status: () => { if (state.view === "queue") ctl.refresh("queue"); },
  };
  // Subscribed once, now: events that arrive while the panel is closed still update the state and toast.
  for (const type of [...EVENTS, "reconnecting", "reconnected", "status"]) adapter.on(type, (d) => on[type](d));
  // In ComfyUI, read ahead once the page has settled, so the first open of the tab is instant too.
  if (comfy) setTimeout(() => state.presets || [load.snapshot(), load.presets()].forEach(quietly), 2000);

  function badge() {
    const n = [...state.jobs.values()].filter((j) => ACTIVE.has(j.state)).length;
    const el = shell?.querySelector("#lp-tab-downloads .lp-count");
    if (el) { el.textContent = n || ""; el.hidden = !n; }
  }
  const conn = () => shell?.classList.toggle("lp-offline", state.offline);

  function show(id) {
    if (!shell) { state.view = id; return; }
    const spec = views.find((v) => v.id === id) || views[0];
    current?.destroy?.();
    state.view = spec.id;
    for (const tab of shell.querySelectorAll("[role=tab]")) {
      const on = tab.dataset.view === spec.id;
      tab.setAttribute("aria-selected", on);
      tab.tabIndex = on ? 0 : -1;
    }
    const body = shell.querySelector(".lp-view");
    body.setAttribute("aria-labelledby", "lp-tab-" + spec.id);
    body.replaceChildren();
    current = spec.make(ctl, body);
  }

  function onKey(e) { // arrow keys move between tabs (WAI-ARIA tabs pattern)
    const tabs = [...shell.querySelectorAll("[role=tab]")];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (j == null) return;
    e.preventDefault();
    const tab = tabs[(j + tabs.length) % tabs.length];
    tab.focus();
    show(tab.dataset.view);
  }

  function mount(el) {
    unmount();
    const started = performance.now();
    if (!document.querySelector(`link[href="${CSS}"]`)) document.head.append(h("link", { rel: "stylesheet", href: CSS }));
    const tabs = views.map((v) => h("button", { type: "button", role: "tab", id: "lp-tab-" + v.id, "data-view": v.id,
      "aria-controls": "lp-view", title: v.title, onclick: () => show(v.id) },
    icon(v.icon), h("span", { class: "lp-tab-label", text: v.title }),
    v.id === "downloads" && h("span", { class: "lp-count", hidden: true })));
    shell = h("div", { class: icons ? "lp" : "lp lp-noicons", role: "region", "aria-label": "Launchpad" },
      h("header", { class: "lp-head" }, h("h2", { text: "Launchpad" }),
        h("span", { class: "lp-conn", role: "status", text: "Reconnecting…" })),
      h("div", { class: "lp-tabs", role: "tablist", "aria-label": "Launchpad views", onkeydown: onKey }, tabs),
      h("section", { class: "lp-view", id: "lp-view", role: "tabpanel" }));
    el.replaceChildren(shell);
    conn();
    show(state.view || adapter.setting?.("Launchpad.DefaultView") || "presets");
    badge();
    // What is known shows at once; the snapshot and the list are fetched again on every open.
    const rendered = () => {
      const detail = { ms: performance.now() - started, presets: state.presets?.length ?? 0, cached };
      requestAnimationFrame(() => shell?.dispatchEvent(new CustomEvent("lp:rendered", { bubbles: true, detail })));
    };
    const cached = !!state.presets;
    if (cached) rendered();
    const first = [load.snapshot(), load.presets()];
    Promise.allSettled(first).then(() => cached || rendered());
    first.forEach(quietly);
    return unmount;
  }

  function unmount() {
    current?.destroy?.();
    current = null;
    shell?.remove();
    shell = null;
  }

  return ctl;
}
