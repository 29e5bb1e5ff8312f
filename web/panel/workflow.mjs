// This workflow: the models the open graph (standalone: a pasted or opened file) needs, the missing ones
// installed in one click with the downloads' live progress. The server analyses; this only shows.
import { active, button, cap, entry, errorBox, fill, h, jobBar, live, muted, plural, rate, size } from "./ui.mjs";
import { saveLock } from "./lock.mjs";

// a graph moved or zoomed asks nothing new
const sig = (w) => JSON.stringify(w, (k, v) => (["pos", "size", "extra"].includes(k) ? undefined : v));

export function workflowView(ctl, root) {
  const { state, adapter } = ctl, wf = state.wf ||= {};
  const graph = () => adapter.graph?.() || wf.graph;
  const head = live();
  const list = h("ul.lp-rows.lp-scroll", { "aria-label": "Models of this workflow" });
  const go = button(" ", () => ctl.run("Could not install", async () =>
    ctl.started((await ctl.api("/workflow/install", "POST", graph())).jobs)), { icon: "download", kind: ".lp-primary" });
  const lockButton = button("Lock file", () => saveLock(ctl, "/workflow/lock", { workflow: graph().workflow,
    name: wf.name || undefined }), { icon: "lock", title: "Save the models lock of what this workflow needs (docs/lockfile.md)" });
  const text = h("textarea.lp-input", { rows: 2, "aria-label": "Workflow JSON",
    placeholder: "Paste a workflow (JSON) or open its file" });
  const use = (json, name) => ctl.run("Not a workflow", () => { wf.graph = { workflow: JSON.parse(json), name }; check(); });
  root.append(adapter.graph ? "" : h("div.lp-toolbar", text, h("input", { type: "file", accept: ".json",
    "aria-label": "Open a workflow file", onchange: async ({ target: { files: [f] } }) => f && use(await f.text(), f.name) }),
  button("Check", () => use(text.value))), h("div.lp-toolbar", head, go, lockButton), list);

  async function check(force) {
    const g = graph(), key = g?.workflow && sig(g.workflow);
    if (key && (force || key !== wf.key)) {
      wf.key = key;
      const r = await ctl.api("/workflow/models", "POST", { workflow: g.workflow }).catch((error) => ({ error }));
      if (wf.key === key) Object.assign(wf, { summary: null, error: null, name: g.name }, r);
    } else if (!key) wf.key = wf.summary = null;
    render();
  }

  function render() {
    const s = wf.summary, jobs = [...state.jobs.values()];
    let busy = 0;
    go.lastChild.textContent = s && `Install ${s.installable} missing (${size(s.bytes_missing)}${s.sizes_unknown
      ? "+" : ""})`;
    head.textContent = s ? `${wf.name || "This workflow"}: ${plural(s.needed, "model")} · ${s.present} present · ${
      s.missing} missing · ${s.unknown} unknown` : wf.key ? "" : "Open a workflow to see the models it needs.";
    fill(list, errorBox(wf.error), (s ? wf.models : []).map((m) => {
      const j = jobs.filter((x) => x.key === m.key).pop() || m.job, on = active(j);
      busy ||= on;
      const st = on ? j.state : m.state;
      return h("li.lp-row", { "data-key": m.key }, entry(m.name, m.key, h(`span.lp-badge.lp-${st}`, cap(st)),
        [m.folder, m.size && size(m.size), m.optional ? "bypassed" : m.presets[0] && ctl.presetName(m.presets[0])],
        on && [jobBar(j), muted(rate(j))],
        m.reason && muted(m.reason + (m.state === "unknown"
          ? `; wanted by ${m.nodes.map((n) => `${n.type} #${n.id}`).join(", ")}` : "")),
        j?.state === "failed" && errorBox(j.error)));
    }));
    lockButton.hidden = !s;
    go.hidden = busy || !s?.installable; // while its downloads run, a second click would only join them
  }

  ctl.load.workflow = () => check(1);
  check();
  return {
    update(kind, data) {
      if (kind === "jobs" && data.state === "done" && wf.models?.some((m) => m.key === data.key)) ctl.refresh("workflow");
      if (kind === "graph" || kind === "reconnected") check(kind === "reconnected");
      else render();
    },
  };
}
