// Workflow: the models the open graph (standalone: a pasted or opened file) needs, as the server
// analysed it; the missing ones installed in one click, with live progress.
import { badge, button, errorBox, facts, fill, h, liveLine, muted, nameLine } from "./dom.mjs";
import { capitalize, plural, progressText, sizeOrUnknown } from "./format.mjs";
import { isActive, jobBar } from "./jobs.mjs";
import { saveLock } from "./lock.mjs";

// Moving or zooming the graph changes these, and nothing the server would say.
const LAYOUT_KEYS = new Set(["pos", "size", "extra"]);

function signature(workflow) {
  return JSON.stringify(workflow, (key, value) => (LAYOUT_KEYS.has(key) ? undefined : value));
}

// "Install 2 missing (~1.2 GB)", "~" while a size is estimated; one no source gave is unknown, not 0.
function installLabel(summary) {
  const count = `Install ${summary.installable} missing`;
  const unknown = summary.sizes_unknown;
  const total = sizeOrUnknown(summary.bytes_missing, summary.sizes_estimated > 0);
  if (unknown === summary.installable) {
    return `${count} (size unknown)`;
  }
  if (unknown) {
    return `${count} (${total} + ${unknown} of unknown size)`;
  }
  return `${count} (${total})`;
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

export function workflowView(ctl, root) {
  const { state, adapter } = ctl;
  state.workflow ??= {}; // the last analysis, kept while the tab is closed
  const analysis = state.workflow;
  const head = liveLine();
  const list = h("ul.lp-rows.lp-scroll", { "aria-label": "Models of this workflow" });
  const install = button(" ", installMissing, { icon: "download", kind: ".lp-primary" });
  const lockButton = button("Lock file", saveWorkflowLock, {
    icon: "lock",
    title: "Save the models lock of what this workflow needs (docs/lockfile.md)",
  });

  // ComfyUI's open graph; standalone, the workflow last pasted or opened
  function currentGraph() {
    return adapter.graph?.() || analysis.graph;
  }

  function saveWorkflowLock() {
    const graph = currentGraph();
    saveLock(ctl, "/workflow/lock", { workflow: graph.workflow, name: graph.name || undefined });
  }

  async function installMissing() {
    await ctl.run("Could not install", async () => {
      const answer = await ctl.api("/workflow/install", "POST", currentGraph());
      ctl.started(answer.jobs);
    });
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
  root.append(h("div.lp-toolbar", head, install, lockButton), list);

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

  // the newest job for the model: from the events, else what the analysis found
  function jobOf(model, jobs) {
    return jobs.filter((candidate) => candidate.key === model.key).pop() || model.job;
  }

  function modelRow(model, job) {
    const downloading = isActive(job);
    const shownState = downloading ? job.state : model.state;
    let note = model.reason;
    if (note && model.state === "unknown") {
      const wanters = model.nodes.map((node) => `${node.type} #${node.id}`).join(", ");
      note += `; wanted by ${wanters}`;
    }
    const source = model.optional ? "bypassed" : model.presets[0] && ctl.presetName(model.presets[0]);
    return h("li.lp-row", { "data-key": model.key },
      h("div",
        nameLine(model.name, model.key, badge(shownState, capitalize(shownState))),
        facts(model.folder, model.size && sizeOrUnknown(model.size, model.size_estimated), source),
        downloading && [jobBar(job), muted(progressText(job))],
        note && muted(note),
        job?.state === "failed" && errorBox(job.error)));
  }

  function render() {
    const summary = analysis.summary;
    const jobs = [...state.jobs.values()];
    const models = summary ? analysis.models : [];
    if (summary) {
      install.lastChild.textContent = installLabel(summary);
      head.textContent = headline(analysis.name, summary);
    } else {
      head.textContent = analysis.key ? "" : "Open a workflow to see the models it needs.";
    }
    fill(list, errorBox(analysis.error), models.map((model) => modelRow(model, jobOf(model, jobs))));
    lockButton.hidden = !summary;
    // while its downloads run, a second click would only join them
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
      if (kind === "graph" || kind === "reconnected") {
        check(kind === "reconnected");
      } else {
        render();
      }
    },
  };
}
