// The one file ComfyUI auto-loads from web/ (every .js there is imported; the panel is .mjs so it is
// not): registers the Launchpad sidebar tab and the panel's adapter for ComfyUI's frontend.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { createLaunchpad, VIEW_IDS } from "../panel/panel.mjs";
import { callJson } from "../panel/ui.mjs";

function comfyAdapter(manager) {
  return {
    json: (path, opts) => callJson(api.fetchApi.bind(api), path, opts), // fetchApi adds /api
    on: (type, fn) => api.addEventListener(type, (e) => fn(e.detail)),
    toast: (severity, summary, detail) =>
      manager.toast?.add({ severity, summary, detail, life: severity === "error" ? 10000 : 5000 }),
    confirm: async (title, message) => (manager.dialog?.confirm
      ? !!(await manager.dialog.confirm({ title, message, type: "delete" })) : window.confirm(`${title}\n\n${message}`)),
    setting: (id) => manager.setting?.get(id),
    // the open workflow, and a template opened from the server
    graph: () => app.graph && { workflow: app.graph.serialize(), name: manager.workflow?.activeWorkflow?.filename },
    openTemplate: async (name) =>
      app.loadGraphData(await (await fetch(api.fileURL(`/templates/${name}.json`))).json(), true, true, name),
  };
}

let soon = 0, seen, panel;
// a changed, loaded or switched graph: the Workflow view, if shown, looks again
const graphChanged = () => { clearTimeout(soon); soon = setTimeout(() => panel?.notify("graph"), 500); };

const TAB = "launchpad.sidebar";
const setting = (id, name, category, defaultValue, options) => ({ id: "Launchpad." + id, name, defaultValue, options,
  type: options ? "combo" : "boolean", category: ["Launchpad", "Panel", category] });

app.registerExtension({
  name: "launchpad.Main",
  commands: [{ id: "launchpad.workflowModels", label: "Models for this workflow", icon: "pi pi-sitemap",
    function() {
      panel?.show("workflow");
      const m = app.extensionManager;
      if (m.sidebarTab?.activeSidebarTabId !== TAB) m.command.execute("Workspace.ToggleSidebarTab." + TAB);
    } }],
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
    // Created here, before any download can start, so no launchpad.* event goes unheard (contract 6.9).
    panel = createLaunchpad(comfyAdapter(manager), { comfy: true });
    api.addEventListener("graphChanged", graphChanged);
    // a switched workflow, should no hook or event have said so
    setInterval(() => seen !== (seen = manager.workflow?.activeWorkflow) && graphChanged(), 2000);
    manager.registerSidebarTab({
      id: TAB,
      icon: "pi pi-cloud-download",
      title: "Launchpad",
      tooltip: "Launchpad: model presets, downloads, models and system",
      type: "custom",
      render: (el) => panel.mount(el), // called on every open, into a fresh element
      destroy: () => panel.unmount(),
    });
  },
});
