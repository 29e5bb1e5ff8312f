// The panel: state that outlives the DOM, the shell showing one view; adapters: docs/architecture.md.
import { button, h, icon } from "./dom.mjs";
import { capitalize } from "./format.mjs";
import { goToLogin } from "./http.mjs";
import { isActive } from "./jobs.mjs";
import { downloadsView } from "./downloads.mjs";
import { modelsView } from "./models.mjs";
import { presetsView } from "./presets.mjs";
import { queueView } from "./queue.mjs";
import { systemView } from "./system.mjs";
import { workflowView } from "./workflow.mjs";

// id (its title too), icon, function; the queue only in ComfyUI
const VIEWS = [
  { id: "presets", icon: "box", make: presetsView },
  { id: "workflow", icon: "sitemap", make: workflowView },
  { id: "downloads", icon: "download", make: downloadsView },
  { id: "models", icon: "folder", make: modelsView },
  { id: "system", icon: "chart-bar", make: systemView },
  { id: "queue", icon: "list", make: queueView, comfyOnly: true },
];
export const VIEW_IDS = VIEWS.map((view) => view.id);

// from this module's URL: the pack's folder name varies
const STYLESHEET = new URL("./panel.css", import.meta.url).href;

const REFRESH_DELAY_MS = 250; // a burst of events makes one fetch

export function createLaunchpad(adapter, { comfy = false, icons = true } = {}) {
  const state = {
    presets: null,
    categories: [],
    sources: null, // where the presets come from, in words
    comfyui: null, // the running ComfyUI's version
    warnings: null, // the catalog's skipped entries
    jobs: new Map(), // by id
    progress: new Map(), // preset (or group) id -> its progress
    models: null,
    system: null,
    queue: null,
    session: null,
    view: null,
    filter: { search: "", category: "", state: "", sort: "" },
    offline: false,
  };
  const views = VIEWS.filter((view) => comfy || !view.comfyOnly);
  let shell = null;
  let current = null;
  let refreshTimer = 0;
  const pendingRefresh = new Set();

  function setting(id) {
    return adapter.setting?.(`Launchpad.${id}`);
  }

  const ctl = {
    adapter,
    state,

    api(path, method, body) {
      return adapter.json(`/launchpad${path}`, { method, body });
    },

    toast: adapter.toast,

    notify(kind, data) {
      current?.update(kind, data);
      updateBadge();
    },

    // a failure is an error toast, never an unhandled rejection
    async run(what, action) {
      try {
        return await action();
      } catch (error) {
        ctl.toast("error", what, error.message);
        return undefined;
      }
    },

    act(what, path, method = "POST") {
      return ctl.run(`Could not ${what}`, () => ctl.api(path, method));
    },

    // `action` names the yes button; the setting is for deletes
    confirm(title, message, action = "Delete") {
      if (action === "Delete" && setting("ConfirmDeletes") === false) {
        return true;
      }
      return adapter.confirm(title, message, action);
    },

    refresh(...kinds) {
      for (const kind of kinds) {
        if (kind) {
          pendingRefresh.add(kind);
        }
      }
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(() => {
        const todo = [...pendingRefresh];
        pendingRefresh.clear();
        for (const kind of todo) {
          quietly(load[kind]());
        }
      }, REFRESH_DELAY_MS);
    },

    presetName(id) {
      const preset = state.presets?.find((p) => p.id === id);
      // "workflow:my_graph" reads "workflow my_graph"
      return preset?.name || id.replace(/^(\w+):/, "$1 ");
    },

    // choices: model key -> candidate id
    installWorkflow(graph, choices) {
      return ctl.run("Could not install", async () => {
        ctl.started((await ctl.api("/workflow/install", "POST", { ...graph, choices })).jobs);
      });
    },

    // an install's answer may be older than the events
    started(jobs) {
      for (const job of jobs) {
        const known = state.jobs.get(job.id);
        if (!(known?.updated_at >= job.updated_at)) {
          state.jobs.set(job.id, job);
        }
      }
      ctl.notify("snapshot");
      return jobs;
    },

    forgetJobs(ids) {
      for (const id of ids) {
        state.jobs.delete(id);
      }
      ctl.notify("snapshot");
    },

    mount,
    unmount,
    show,
  };

  const load = {
    async presets() {
      const sort = state.filter.sort;
      const data = await ctl.api(sort ? `/presets?sort=${sort}` : "/presets");
      state.presets = data.presets;
      state.categories = data.categories;
      state.sources = data.sources_line;
      state.comfyui = data.comfyui_version;
      for (const preset of data.presets) {
        if (preset.progress && !state.progress.has(preset.id)) {
          state.progress.set(preset.id, preset.progress);
        }
      }
      if (data.warnings > 0) {
        await quietly(load.warnings());
      } else {
        state.warnings = null;
      }
      ctl.notify("presets");
    },

    async warnings() {
      state.warnings = (await ctl.api("/catalog/warnings")).warnings;
    },

    async snapshot() {
      const data = await ctl.api("/downloads");
      const jobs = new Map(data.jobs.map((job) => [job.id, job]));
      // an event can overtake the snapshot
      for (const known of state.jobs.values()) {
        const listed = jobs.get(known.id);
        const newer = listed ? known.updated_at > listed.updated_at : known.updated_at > data.taken_at;
        if (newer) {
          jobs.set(known.id, known);
        }
      }
      state.jobs = jobs;
      state.progress = new Map(Object.entries(data.presets || {}));
      ctl.notify("snapshot");
    },

    async models() {
      state.models = await ctl.api("/models?limit=1000");
      ctl.notify("models");
    },

    async queue() {
      const queue = await ctl.api("/queue");
      queue.received_at = Date.now() / 1000; // with `now`: the server's clock at any time
      state.queue = queue;
      ctl.notify("queue");
    },

    async session() {
      state.session = await ctl.api("/session");
      showLogout();
    },
  };
  ctl.load = load;

  function quietly(promise) {
    return promise.catch((error) => console.warn("[Launchpad]", error.message));
  }

  function reread() {
    return [load.snapshot(), load.presets()].map(quietly);
  }

  function setOffline(offline) {
    state.offline = offline;
    shell?.classList.toggle("lp-offline", offline);
  }

  const handlers = {
    download(job) {
      const before = state.jobs.get(job.id);
      state.jobs.set(job.id, job);
      ctl.notify("jobs", job);
      const failedNow = job.state === "failed" && before?.state !== "failed";
      if (failedNow && setting("Toasts") !== false) {
        ctl.toast("error", `Download failed: ${job.name}`, job.error?.message);
      }
      if (!isActive(job) && isActive(before)) {
        ctl.refresh("presets", "models");
      }
      if (job.state === "done" && before?.state !== "done") {
        adapter.modelsChanged?.(); // ComfyUI lists the file
      }
    },

    preset(progress) {
      const id = progress.preset_id;
      const before = state.progress.get(id);
      state.progress.set(id, progress);
      ctl.notify("progress", progress);
      const doneNow = progress.state === "done" && before?.state !== "done";
      if (doneNow && setting("Toasts") !== false) {
        // a group of a workflow's files ("workflow:name") is no preset
        const summary = id.includes(":") ? "Installed" : "Preset installed";
        ctl.toast("success", summary, ctl.presetName(id));
      }
      if (progress.state === "removed") {
        ctl.refresh("snapshot", "presets"); // uninstalled, or its jobs cleared
      } else if (!isActive(progress)) {
        ctl.refresh("presets");
      }
    },

    system(reading) {
      state.system = reading;
      ctl.notify("system");
    },

    // a file was deleted: its download drops out too
    model() {
      ctl.refresh("presets", "models", "snapshot");
    },

    // a preset file changed, or the sources answered sizes
    catalog() {
      ctl.refresh("presets");
    },

    resolve(data) {
      ctl.notify("resolve", data);
    },
  };

  // Subscribed now (in ComfyUI's setup(), before any download): ComfyUI dispatches only event types
  // someone listens to. A closed panel's state and toasts still follow them.
  for (const [type, handler] of Object.entries(handlers)) {
    adapter.on(`launchpad.${type}`, handler);
  }
  adapter.on("reconnecting", () => setOffline(true));
  adapter.on("reconnected", () => {
    setOffline(false);
    ctl.refresh("snapshot", "presets", state.models && "models");
    current?.update("reconnected");
  });
  // "status": ComfyUI's queue changed
  adapter.on("status", () => {
    if (state.view === "queue") {
      ctl.refresh("queue");
    }
  });
  if (comfy) {
    // read ahead: the first open is instant too
    setTimeout(() => {
      if (!state.presets) {
        reread();
      }
    }, 2000);
  }

  function updateBadge() {
    const count = shell?.querySelector(".lp-count");
    if (!count) {
      return;
    }
    const running = [...state.jobs.values()].filter(isActive).length;
    count.textContent = running || "";
    count.hidden = !running;
  }

  function showLogout() {
    const logout = shell?.querySelector(".lp-logout");
    if (logout) {
      const session = state.session;
      // a token is the caller's to drop
      logout.hidden = !(session?.auth_enabled && session.method === "session");
    }
  }

  async function logOut() {
    const done = await ctl.run("Could not log out", () => ctl.api("/logout", "POST"));
    if (done) {
      goToLogin();
    }
  }

  function show(id) {
    if (!shell) {
      state.view = id;
      return;
    }
    const view = views.find((candidate) => candidate.id === id) || views[0];
    current?.destroy?.();
    state.view = view.id;
    for (const tab of shell.querySelectorAll("[role=tab]")) {
      const selected = tab.id === `lp-tab-${view.id}`;
      tab.setAttribute("aria-selected", selected);
      tab.tabIndex = selected ? 0 : -1;
    }
    const body = shell.querySelector(".lp-view");
    body.setAttribute("aria-labelledby", `lp-tab-${view.id}`);
    body.replaceChildren();
    current = view.make(ctl, body);
  }

  // arrows, Home and End move between the tabs (the WAI-ARIA tabs pattern)
  function onTabKey(event) {
    const tabs = [...shell.querySelectorAll("[role=tab]")];
    const index = tabs.indexOf(document.activeElement);
    const targets = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: -1 };
    const target = targets[event.key];
    if (index < 0 || target === undefined) {
      return;
    }
    event.preventDefault();
    const tab = tabs.at(target % tabs.length);
    tab.focus();
    tab.click();
  }

  function tabButton(view) {
    const title = capitalize(view.id);
    return h("button", {
      type: "button",
      role: "tab",
      id: `lp-tab-${view.id}`,
      "aria-controls": "lp-view",
      "aria-label": title,
      title,
      onclick: () => show(view.id),
    },
    icon(view.icon),
    h("span.lp-label", title),
    view.id === "downloads" && h("span.lp-count", { hidden: true }));
  }

  function mount(element) {
    unmount();
    const startedAt = performance.now();
    if (!document.querySelector(`link[href="${STYLESHEET}"]`)) {
      document.head.append(h("link", { rel: "stylesheet", href: STYLESHEET }));
    }
    const logout = button("Log out", logOut, { icon: "sign-out", kind: ".lp-logout" });
    logout.hidden = true;
    shell = h(icons ? "div.lp" : "div.lp.lp-noicons", { role: "region", "aria-label": "Launchpad" },
      h("header",
        h("h2", "Launchpad"),
        h("span.lp-conn", { role: "status" }, "Reconnecting…"),
        logout),
      h("div.lp-tabs", { role: "tablist", "aria-label": "Launchpad views", onkeydown: onTabKey },
        views.map(tabButton)),
      h("section.lp-view", { id: "lp-view", role: "tabpanel" }));
    element.replaceChildren(shell);
    setOffline(state.offline);
    show(state.view || setting("DefaultView"));
    updateBadge();
    if (state.session) {
      showLogout();
    } else {
      quietly(load.session());
    }
    // what is known shows at once; the snapshot and list are fetched on every open
    const cached = Boolean(state.presets);
    const fetches = reread();
    Promise.all(cached ? [] : fetches).then(() => {
      const detail = { ms: performance.now() - startedAt, presets: state.presets?.length ?? 0, cached };
      requestAnimationFrame(() => {
        shell?.dispatchEvent(new CustomEvent("lp:rendered", { bubbles: true, detail }));
      });
    });
  }

  function unmount() {
    current?.destroy?.();
    shell?.remove();
    current = null;
    shell = null;
  }

  return ctl;
}
