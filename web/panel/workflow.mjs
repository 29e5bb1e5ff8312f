// Workflow: the models the open graph (standalone: a pasted or opened file) needs, as the server
// analysed it: each missing one's sources, best first, how sure each is; one click installs the
// sure ones.
import { badge, button, commandNote, comfyuiNeed, errorBox, facts, fill, h, liveLine, muted, nameLine }
  from "./dom.mjs";
import { capitalize, progressText, sizeOrUnknown } from "./format.mjs";
import { isActive, jobBar } from "./jobs.mjs";
import { lockButton } from "./lock.mjs";

// moving or zooming the graph changes these, nothing the server says
const LAYOUT_KEYS = new Set(["pos", "size", "extra"]);

function signature(workflow) {
  return JSON.stringify(workflow, (key, value) => (LAYOUT_KEYS.has(key) ? undefined : value));
}

export function workflowView(ctl, root) {
  const { state, adapter } = ctl;
  state.workflow ??= {}; // the last analysis, kept while the tab is closed
  const analysis = state.workflow;
  const head = liveLine();
  const need = h("p.lp-meta"); // the ComfyUI it needs
  const list = h("ul.lp-rows.lp-scroll", { "aria-label": "Models of this workflow" });
  const install = button(" ", () => ctl.installWorkflow(currentGraph()), { icon: "download", kind: ".lp-primary" });
  const command = h("div");
  const lock = lockButton(ctl, "what this workflow needs", "/workflow/lock", () => request(currentGraph()));

  // standalone: the workflow last pasted or opened
  function currentGraph() {
    return adapter.graph?.() || analysis.graph;
  }

  // the graph and, when known, its file name (a template's says which ComfyUI it needs)
  function request(graph) {
    return { workflow: graph.workflow, name: graph.name || undefined };
  }

  async function installFrom(model, candidate) {
    const message = `${candidate.label} may not be the file this workflow was made with. Install it as ${model.key}?`;
    if (await adapter.confirm("Only the name matches", message, "Install")) {
      await ctl.installWorkflow(currentGraph(), { [model.key]: candidate.id });
    }
  }

  function useText(json, name) {
    ctl.run("Not a workflow", () => {
      analysis.graph = { workflow: JSON.parse(json), name };
      check();
    });
  }

  if (!adapter.graph) {
    const placeholder = "Paste a workflow (JSON) or open its file";
    const text = h("textarea.lp-input", { rows: 2, "aria-label": "Workflow JSON", placeholder });
    const file = h("input", {
      type: "file",
      accept: ".json",
      "aria-label": "Open a workflow file",
      onchange: async (event) => {
        const [chosen] = event.target.files;
        if (chosen) {
          useText(await chosen.text(), chosen.name);
        }
      },
    });
    root.append(h("div.lp-toolbar", text, file, button("Check", () => useText(text.value))));
  }
  root.append(h("div.lp-toolbar", head, install, lock), need, list, command);

  async function check(force = false) {
    const graph = currentGraph();
    const key = graph?.workflow ? signature(graph.workflow) : null;
    if (!key) {
      analysis.key = null;
      analysis.summary = null;
    } else if (force || key !== analysis.key) {
      analysis.key = key;
      let answer;
      try {
        answer = await ctl.api("/workflow/models", "POST", request(graph));
      } catch (error) {
        answer = { error };
      }
      if (analysis.key === key) { // no newer graph was asked about meanwhile
        Object.assign(analysis, { summary: null, error: null }, answer);
      }
    }
    render();
  }

  // the newest job: from the events, else the analysis's
  function jobOf(model, jobs) {
    return jobs.filter((candidate) => candidate.key === model.key).pop() || model.job;
  }

  // a name match's button asks first
  function sources(model) {
    const [best, ...others] = model.candidates;
    const action = model.confirm && button("Install", () => installFrom(model, best), { icon: "download",
      of: model.name });
    return [muted(best.label), others.length > 0 && muted(`or ${others.map((c) => c.label).join("; ")}`), action];
  }

  function modelRow(model, job) {
    const downloading = isActive(job);
    const shownState = downloading ? job.state : model.state;
    const missing = model.state === "missing" && !downloading && model.candidates.length;
    const [best, others, action] = missing ? sources(model) : [];
    return h("li.lp-row", { "data-key": model.key },
      h("div",
        nameLine(model.name, model.key, badge(shownState, model.confirm ? "Ask first" : capitalize(shownState))),
        facts(model.folder, model.size && sizeOrUnknown(model.size, model.size_estimated),
          model.optional && "bypassed"),
        best,
        others,
        downloading && [jobBar(job), muted(progressText(job))],
        model.reason && muted(model.reason),
        job?.state === "failed" && errorBox(job.error)),
      action);
  }

  function render() {
    const summary = analysis.summary;
    const jobs = [...state.jobs.values()];
    const models = summary ? analysis.models : [];
    if (summary) {
      install.lastChild.textContent = summary.install_label;
      head.textContent = summary.headline;
    } else {
      head.textContent = analysis.key ? "" : "Open a workflow to see the models it needs.";
    }
    fill(need, summary && comfyuiNeed(summary));
    fill(list, errorBox(analysis.error), models.map((model) => modelRow(model, jobOf(model, jobs))));
    lock.hidden = !summary;
    fill(command, summary?.needed && commandNote("On another pod, with this workflow saved:", summary.command));
    // a second click would only join the downloads
    const busy = models.some((model) => isActive(jobOf(model, jobs)));
    install.hidden = busy || !summary?.installable;
  }

  ctl.load.workflow = () => check(true);
  check();
  return {
    update(kind, data) {
      const ours = analysis.models?.some((model) => model.key === data?.key);
      if (kind === "jobs" && data.state === "done" && ours) {
        ctl.refresh("workflow"); // a file arrived: the server says what is present now
      }
      if (kind === "graph" || kind === "reconnected" || kind === "resolve") {
        check(kind !== "graph");
      } else {
        render();
      }
    },
  };
}
