// The one .js under web/ (ComfyUI imports each; the panel's .mjs are not loaded twice): the tab, its
// settings and command, the panel's adapter, the offer of a workflow's models.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { createLaunchpad, VIEW_IDS } from "../panel/panel.mjs";
import { callJson } from "../panel/http.mjs";
import { plural } from "../panel/format.mjs";

const TAB = "launchpad.sidebar";
const TOAST_MS = { error: 10000, other: 5000 };
const GRAPH_SETTLE_MS = 500;
const WORKFLOW_POLL_MS = 2000;
const REFRESH_MS = 1000; // a burst of finished downloads, one refresh
const OFFER_MS = 20000;
const OFFER_WAIT_S = 15; // for Civitai and the Hub
const HERE = "Install on this server";

let panel = null;
let adapter = null;

// fetchApi adds /api, and the headers ComfyUI's server expects
const comfyJson = (path, options) => callJson(api.fetchApi.bind(api), path, options);

// 1.58 has toast.success/error/info/warning (add() is deprecated there), 1.27 and 1.49 only add();
// an action (a button) only 1.58: its toast's id, else null.
function showToast(manager, severity, summary, detail, action) {
  const toast = manager.toast;
  const life = action ? OFFER_MS : TOAST_MS[severity === "error" ? "error" : "other"];
  const kind = severity === "warn" ? "warning" : severity;
  if (typeof toast?.[kind] === "function") {
    return toast[kind](summary, { description: detail, duration: life, action });
  }
  toast?.add?.({ severity, summary, detail, life });
  return null;
}

// the open workflow whose graph has this id (what ComfyUI sends with a prompt)
function workflowName(manager, id) {
  const workflows = manager.workflow?.workflows || [];
  const found = workflows.find((workflow) => {
    const ids = [workflow.activeState?.id, workflow.initialState?.id, workflow.changeTracker?.activeState?.id];
    return ids.includes(id);
  });
  return found?.filename || null;
}

// through ComfyUI's API: its jobs API (0.33 and later), else /interrupt and /queue
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
    graph() {
      if (!app.graph) {
        return null;
      }
      return { workflow: app.graph.serialize(), name: manager.workflow?.activeWorkflow?.filename };
    },
    // as ComfyUI's template browser opens one
    async openTemplate(name) {
      const response = await fetch(api.fileURL(`/templates/${name}.json`));
      if (!response.ok) {
        throw new Error(`this ComfyUI's templates have no ${name} (HTTP ${response.status})`);
      }
      await app.loadGraphData(await response.json(), true, true, name);
    },
    workflowName: (id) => workflowName(manager, id),
    cancelPrompt,
    modelsChanged,
  };
}

// A model arrived: ComfyUI's lists read again by the command its R key runs, and by 1.27's model
// store (that command leaves its Model Library as it was).
let refreshTimer = 0;
function modelsChanged() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    app.extensionManager.command.execute("Comfy.RefreshNodeDefinitions");
    const pinia = document.getElementById("vue-app")?.__vue_app__?.config.globalProperties.$pinia;
    pinia?._s.get("models")?.loadModelFolders?.();
  }, REFRESH_MS);
}

// An opened workflow's models, offered once (the first, the page's restored one, never) by a toast
// whose action installs them (1.58); toasts of 1.27 and 1.49 have none: the Workflow view opens.
const offered = new Set(); // workflow ids
async function offerInstall() {
  const workflow = adapter.graph()?.workflow;
  if (!workflow || offered.has(workflow.id)) {
    return;
  }
  offered.add(workflow.id);
  if (offered.size === 1 || adapter.setting("Launchpad.OfferInstall") === false) {
    return;
  }
  const { summary } = await panel.api("/workflow/models", "POST", { workflow, wait: OFFER_WAIT_S });
  if (!summary.installable || adapter.graph()?.workflow.id !== workflow.id) {
    return;
  }
  const manager = app.extensionManager;
  const onClick = () => {
    manager.toast.dismiss(id);
    showWorkflowModels();
    panel.installWorkflow(adapter.graph());
  };
  const title = `This workflow needs ${plural(summary.missing, "missing model")}`;
  const detail = `${summary.install_label} on this server with Launchpad; see its Workflow view.`;
  const id = showToast(manager, "info", title, detail, { label: HERE, onClick });
  if (id === null && !manager.sidebarTab?.activeSidebarTabId) { // a sidebar in use stays as it is
    showWorkflowModels();
  }
}

let graphTimer = 0;
function graphChanged(opened) {
  clearTimeout(graphTimer);
  graphTimer = setTimeout(() => {
    panel?.notify("graph");
    if (opened === true) {
      offerInstall().catch((error) => console.warn("[Launchpad] no offer:", error.message));
    }
  }, GRAPH_SETTLE_MS);
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
  afterConfigureGraph: () => graphChanged(true), // loaded, dropped, pasted or switched to
  settings: [
    setting("DefaultView", "View shown when the Launchpad tab opens", "Default view", "presets", VIEW_IDS),
    setting("ConfirmDeletes", "Ask before deleting model files", "Confirm deletes", true),
    setting("Toasts", "Notify when a preset is installed or a download fails", "Notifications", true),
    setting("OfferInstall", "Offer to install a workflow's missing models on this server", "Workflows", true),
  ],
  setup() {
    const manager = app.extensionManager;
    if (typeof manager?.registerSidebarTab !== "function") {
      console.warn("[Launchpad] This ComfyUI frontend has no sidebar tabs (extensionManager.registerSidebarTab), "
        + "so the panel is not shown. Update ComfyUI's frontend; the API still answers at /api/launchpad/.");
      return;
    }
    // created before any download can start: no launchpad.* event goes unheard
    adapter = comfyAdapter(manager);
    panel = createLaunchpad(adapter, { comfy: true });
    api.addEventListener("graphChanged", graphChanged);
    // a switched workflow no hook or event told of
    let shownWorkflow = null;
    setInterval(() => {
      const active = manager.workflow?.activeWorkflow;
      if (active !== shownWorkflow) {
        shownWorkflow = active;
        graphChanged(true);
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
