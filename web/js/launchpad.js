// The one .js under web/ (ComfyUI imports each; the panel's .mjs files are not loaded twice): the
// sidebar tab, its settings and command, and the panel's adapter to ComfyUI's frontend.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { createLaunchpad, VIEW_IDS } from "../panel/panel.mjs";
import { callJson } from "../panel/http.mjs";

const TAB = "launchpad.sidebar";
const TOAST_MS = { error: 10000, other: 5000 };
// a graph that changed, loaded or was switched to is looked at again after this long
const GRAPH_SETTLE_MS = 500;
const WORKFLOW_POLL_MS = 2000;

let panel = null;

// fetchApi adds /api, and the headers ComfyUI's server expects
const comfyJson = (path, options) => callJson(api.fetchApi.bind(api), path, options);

// Toasts through the frontend's current API: 1.58 has toast.success/error/info/warning and keeps
// add() only as a deprecated mapping; 1.27 and 1.49 have only PrimeVue's add().
function showToast(manager, severity, summary, detail) {
  const toast = manager.toast;
  const life = severity === "error" ? TOAST_MS.error : TOAST_MS.other;
  const kind = severity === "warn" ? "warning" : severity;
  if (typeof toast?.[kind] === "function") {
    toast[kind](summary, { description: detail, duration: life });
  } else {
    toast?.add?.({ severity, summary, detail, life });
  }
}

// The open workflow whose serialized graph has this id (what ComfyUI sends with a prompt).
function workflowName(manager, id) {
  const workflows = manager.workflow?.workflows || [];
  const found = workflows.find((workflow) => {
    const ids = [workflow.activeState?.id, workflow.initialState?.id, workflow.changeTracker?.activeState?.id];
    return ids.includes(id);
  });
  return found?.filename || null;
}

// Stops a prompt through ComfyUI's own API: its jobs API where it has one (ComfyUI 0.33 and
// later), else /interrupt for the running prompt and /queue for a pending one.
function cancelPrompt(promptId, { running, how }) {
  const call = (path, body) => comfyJson(path, { method: "POST", body });
  if (how === "jobs") {
    return call(`/jobs/${encodeURIComponent(promptId)}/cancel`);
  }
  if (running) {
    return call("/interrupt", { prompt_id: promptId });
  }
  return call("/queue", { delete: [promptId] });
}

function comfyAdapter(manager) {
  return {
    json: comfyJson,
    on: (type, listener) => api.addEventListener(type, (event) => listener(event.detail)),
    toast: (severity, summary, detail) => showToast(manager, severity, summary, detail),
    // its "default" type says Confirm
    async confirm(title, message, action) {
      if (!manager.dialog?.confirm) {
        return window.confirm(`${title}\n\n${message}`);
      }
      const type = action === "Delete" ? "delete" : "default";
      return Boolean(await manager.dialog.confirm({ title, message, type }));
    },
    setting: (id) => manager.setting?.get(id),
    // the open workflow, for the Workflow view
    graph() {
      if (!app.graph) {
        return null;
      }
      return { workflow: app.graph.serialize(), name: manager.workflow?.activeWorkflow?.filename };
    },
    // a template ComfyUI serves, opened as its template browser opens one
    async openTemplate(name) {
      const response = await fetch(api.fileURL(`/templates/${name}.json`));
      if (!response.ok) {
        throw new Error(`this ComfyUI's templates have no ${name} (HTTP ${response.status})`);
      }
      await app.loadGraphData(await response.json(), true, true, name);
    },
    workflowName: (id) => workflowName(manager, id),
    cancelPrompt,
  };
}

let graphTimer = 0;
function graphChanged() {
  clearTimeout(graphTimer);
  graphTimer = setTimeout(() => panel?.notify("graph"), GRAPH_SETTLE_MS);
}

function setting(id, name, category, defaultValue, options) {
  return {
    id: `Launchpad.${id}`,
    name,
    defaultValue,
    options,
    type: options ? "combo" : "boolean",
    category: ["Launchpad", "Panel", category],
  };
}

function showWorkflowModels() {
  panel?.show("workflow");
  const manager = app.extensionManager;
  if (manager.sidebarTab?.activeSidebarTabId !== TAB) {
    manager.command.execute(`Workspace.ToggleSidebarTab.${TAB}`);
  }
}

app.registerExtension({
  name: "launchpad.Main",
  commands: [{
    id: "launchpad.workflowModels",
    label: "Models for this workflow",
    icon: "pi pi-sitemap",
    function: showWorkflowModels,
  }],
  menuCommands: [{ path: ["Extensions", "Launchpad"], commands: ["launchpad.workflowModels"] }],
  afterConfigureGraph: graphChanged,
  settings: [
    setting("DefaultView", "View shown when the Launchpad tab opens", "Default view", "presets", VIEW_IDS),
    setting("ConfirmDeletes", "Ask before deleting model files", "Confirm deletes", true),
    setting("Toasts", "Notify when a preset is installed or a download fails", "Notifications", true),
  ],
  setup() {
    const manager = app.extensionManager;
    if (typeof manager?.registerSidebarTab !== "function") {
      console.warn("[Launchpad] This ComfyUI frontend has no sidebar tabs (extensionManager.registerSidebarTab), "
        + "so the panel is not shown. Update ComfyUI's frontend; the API still answers at /api/launchpad/.");
      return;
    }
    // Created here, before any download can start, so no launchpad.* event goes unheard.
    panel = createLaunchpad(comfyAdapter(manager), { comfy: true });
    api.addEventListener("graphChanged", graphChanged);
    // a switched workflow, should no hook or event have said so
    let shownWorkflow = null;
    setInterval(() => {
      const active = manager.workflow?.activeWorkflow;
      if (active !== shownWorkflow) {
        shownWorkflow = active;
        graphChanged();
      }
    }, WORKFLOW_POLL_MS);
    manager.registerSidebarTab({
      id: TAB,
      icon: "pi pi-cloud-download",
      title: "Launchpad",
      tooltip: "Launchpad: model presets, downloads, models and system",
      type: "custom",
      render: (element) => panel.mount(element), // on every open, into a fresh element
      destroy: () => panel.unmount(),
    });
  },
});
