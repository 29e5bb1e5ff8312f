// Workflow: the models the open graph (standalone: a pasted or opened file) needs, each missing
// one's sources, best first, and how sure each is. One click installs the sure ones, a name match
// only once the user says so. The server analyses; this view only shows what it says.
import { badge, button, commandNote, errorBox, facts, fill, h, liveLine, muted, nameLine } from "./dom.mjs";
import { capitalize, plural, progressText, size } from "./format.mjs";
import { isActive, jobBar } from "./jobs.mjs";

// moving or zooming the graph changes these, nothing the server would say
const LAYOUT_KEYS = new Set(["pos", "size", "extra"]);

function signature(workflow) {
  return JSON.stringify(workflow, (key, value) => (LAYOUT_KEYS.has(key) ? undefined : value));
}

// "Install 2 missing (1.2 GB)"; an unknown size is said to be so, never counted as 0
export function installLabel(summary) {
  const count = `Install ${summary.installable} missing`;
  const unknown = summary.sizes_unknown;
  if (unknown === summary.installable) {
    return `${count} (size unknown)`;
  }
  if (unknown) {
    return `${count} (${size(summary.bytes_missing)} + ${unknown} of unknown size)`;
  }
  return `${count} (${size(summary.bytes_missing)})`;
}

function headline(name, summary) {
  const counts = [
    plural(summary.needed, "model"),
    `${summary.present} present`,
    `${summary.missing} missing`,
    `${summary.unknown} unknown`,
  ];
  return `${name || "This workflow"}: ${counts.join(" · ")}`;
}

// What installs this workflow's models on another pod, from the saved file.
function installCommand(name) {
  const file = `${(name || "workflow").replace(/\.json$/i, "")}.json`.replaceAll("'", "'\\''");
  return `launchpad workflow '${file}' --install`;
}

export function workflowView(ctl, root) {
  const { state, adapter } = ctl;
  if (!state.workflow) {
    state.workflow = {}; // the last analysis, kept while the tab is closed
  }
  const analysis = state.workflow;
  const head = liveLine();
  const list = h("ul.lp-rows.lp-scroll", { "aria-label": "Models of this workflow" });
  const install = button(" ", () => ctl.installWorkflow(currentGraph()), { icon: "download", kind: ".lp-primary" });
  const command = h("div");

  // standalone: the workflow last pasted or opened
  function currentGraph() {
    return adapter.graph?.() || analysis.graph;
  }

  async function installFrom(model, candidate) {
    const message = `${candidate.found_as || model.name} from ${candidate.where} may not be the file this `
      + `workflow was made with. Install it as ${model.key}?`;
    if (candidate.certainty !== "name" || await adapter.confirm("Only the name matches", message, "Install")) {
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
    const text = h("textarea.lp-input", {
      rows: 2,
      "aria-label": "Workflow JSON",
      placeholder: "Paste a workflow (JSON) or open its file",
    });
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
  root.append(h("div.lp-toolbar", head, install), list, command);

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
        answer = await ctl.api("/workflow/models", "POST", { workflow: graph.workflow });
      } catch (error) {
        answer = { error };
      }
      if (analysis.key === key) { // no newer graph was asked about meanwhile
        Object.assign(analysis, { summary: null, error: null, name: graph.name }, answer);
      }
    }
    render();
  }

  // the best source and the others; a name match's row asks before its button installs it
  function sources(model) {
    const [best, ...others] = model.candidates;
    const action = model.confirm && button("Install", () => installFrom(model, best), { icon: "download",
      of: model.name });
    return [muted(best.label), others.length > 0 && muted(`or ${others.map((c) => c.label).join("; ")}`), action];
  }

  function modelRow(model, jobs) {
    const job = jobs.filter((candidate) => candidate.key === model.key).pop() || model.job;
    const downloading = isActive(job);
    const shownState = downloading ? job.state : model.state;
    let note = model.reason;
    if (note && model.state === "unknown" && model.nodes.length) {
      note += `; wanted by ${model.nodes.map((node) => `${node.type} #${node.id}`).join(", ")}`;
    }
    const missing = model.state === "missing" && !downloading && model.candidates.length;
    const [best, others, action] = missing ? sources(model) : [];
    const row = h("li.lp-row", { "data-key": model.key },
      h("div",
        nameLine(model.name, model.key, badge(shownState, model.confirm ? "Ask first" : capitalize(shownState))),
        facts(model.folder, model.size && size(model.size), model.optional && "bypassed"),
        best,
        others,
        downloading && [jobBar(job), muted(progressText(job))],
        note && muted(note),
        job?.state === "failed" && errorBox(job.error)),
      action);
    return { row, downloading };
  }

  function render() {
    const summary = analysis.summary;
    const jobs = [...state.jobs.values()];
    let busy = false;
    if (summary) {
      install.lastChild.textContent = installLabel(summary);
      head.textContent = headline(analysis.name, summary) + (analysis.resolving ? " · looking up the rest…" : "");
    } else {
      head.textContent = analysis.key ? "" : "Open a workflow to see the models it needs.";
    }
    const rows = (summary ? analysis.models : []).map((model) => {
      const { row, downloading } = modelRow(model, jobs);
      if (downloading) {
        busy = true;
      }
      return row;
    });
    fill(list, errorBox(analysis.error), rows);
    install.hidden = busy || !summary?.installable;
    fill(command, summary?.needed && commandNote("On another pod, with this workflow saved:",
      installCommand(analysis.name)));
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
