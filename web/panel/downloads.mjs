// Downloads: every job, live, running ones first; finished ones can be cleared.
import { badge, button, errorBox, facts, fill, h, liveLine, nameLine } from "./dom.mjs";
import { capitalize } from "./format.mjs";
import { isActive, jobBar, jobStatus } from "./jobs.mjs";

// running jobs first, oldest first (as they run); then the rest, newest first
function byRelevance(a, b) {
  const running = Number(isActive(b)) - Number(isActive(a));
  if (running !== 0) {
    return running;
  }
  if (isActive(a)) {
    return a.created_at - b.created_at;
  }
  return (b.updated_at || 0) - (a.updated_at || 0);
}

export function downloadsView(ctl, root) {
  const { state } = ctl;
  const rows = new Map();
  const summary = liveLine();
  const clear = button("Clear finished", clearFinished, { icon: "eraser", title: "Forget them; their files stay" });
  const list = h("ul.lp-rows.lp-scroll", { "aria-label": "Downloads" });
  root.append(h("div.lp-toolbar", summary, clear), list);

  async function clearFinished() {
    const answer = await ctl.act("clear the finished downloads", "/downloads/clear");
    if (answer) {
      ctl.forgetJobs(answer.cleared);
    }
  }

  function showSummary() {
    const jobs = [...state.jobs.values()];
    const running = jobs.filter(isActive).length;
    const failed = jobs.filter((job) => job.state === "failed").length;
    const done = jobs.filter((job) => job.state === "done").length;
    clear.hidden = running === jobs.length;
    if (!jobs.length) {
      summary.textContent = "No downloads yet. Install a preset to start one.";
      return;
    }
    summary.textContent = `${running} active · ${failed} failed · ${done} done`;
  }

  function render() {
    rows.clear();
    for (const job of [...state.jobs.values()].sort(byRelevance)) {
      rows.set(job.id, jobRow(ctl, job));
    }
    fill(list, [...rows.values()].map((row) => row.element));
    showSummary();
  }

  render();
  ctl.load.snapshot().catch((error) => fill(list, errorBox(error))); // drops jobs whose file is gone
  return {
    update(kind, job) {
      if (kind === "snapshot" || (kind === "jobs" && !rows.has(job.id))) {
        render();
      } else if (kind === "jobs") {
        rows.get(job.id).update(job);
        showSummary();
      } else if (kind === "presets") {
        rows.forEach((row) => row.update());
      }
    },
  };
}

function jobRow(ctl, initial) {
  let job = initial;
  const text = h("div");
  const actions = h("div.lp-actions");
  const element = h("li.lp-row", { "data-job": job.id }, text, actions);
  let mode = "";

  function update(next) {
    if (next) {
      job = next;
    }
    const presets = (job.preset_ids || []).map(ctl.presetName).join(", ");
    fill(text,
      nameLine(job.name, job.path || job.name, badge(job.state)),
      facts(job.folder, presets),
      jobBar(job),
      jobStatus(job),
      job.state === "failed" && errorBox(job.error));
    let action = "retry";
    if (isActive(job)) {
      action = "cancel";
    } else if (job.state === "done") {
      action = "";
    }
    // rebuilt only when the action changes: the focus survives the ticks
    if (action === mode) {
      return;
    }
    mode = action;
    const look = action === "cancel"
      ? { icon: "times", of: job.name }
      : { icon: "refresh", kind: ".lp-primary", of: job.name };
    fill(actions, action && button(capitalize(action),
      () => ctl.act(`${action} ${job.name}`, `/downloads/${job.id}/${action}`), look));
  }

  update();
  return { element, update };
}
