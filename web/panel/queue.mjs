// Queue: ComfyUI's prompts, their workflows and waits; each stopped through ComfyUI's API.
import { badge, button, empty, errorBox, facts, fill, h, nameLine } from "./dom.mjs";
import { duration, plural } from "./format.mjs";

const TICK_MS = 1000;

// "Flux portrait.json" when this tab has the workflow open
function promptName(ctl, item) {
  const name = item.workflow_id && ctl.adapter.workflowName?.(item.workflow_id);
  if (name) {
    return name;
  }
  return item.workflow_id ? `Workflow ${item.workflow_id.slice(0, 8)}` : `Prompt #${item.number}`;
}

// The server's clock now: a laptop's can be minutes off.
function serverNow(queue) {
  return queue.now + (Date.now() / 1000 - queue.received_at);
}

// since ComfyUI queued it (0.33+), else since Launchpad first saw it
function waited(item, now) {
  const since = item.queued_at ?? item.seen_at;
  const text = duration(Math.max(0, now - since));
  const title = item.queued_at != null ? "since it was queued" : "since Launchpad first saw it in the queue";
  return h("span.lp-elapsed", { "data-since": since, title }, text);
}

export function queueView(ctl, root) {
  const list = h("div.lp-scroll");
  root.append(list);

  async function stop(item, running) {
    const what = running ? "interrupt" : "cancel";
    const how = ctl.state.queue?.cancel;
    const done = await ctl.run(`Could not ${what} ${promptName(ctl, item)}`,
      () => ctl.adapter.cancelPrompt(item.prompt_id, { running, how }));
    if (done !== undefined) {
      ctl.refresh("queue");
    }
  }

  function promptRow(item, running) {
    const name = promptName(ctl, item);
    const label = running ? "Interrupt" : "Cancel";
    const now = serverNow(ctl.state.queue);
    return h("li.lp-row", { "data-prompt": item.prompt_id },
      h("div",
        nameLine(name, item.prompt_id, badge(running ? "running" : "pending", running ? "Running" : "Pending")),
        facts(`#${item.number}`, plural(item.node_count, "node"), waited(item, now))),
      button(label, () => stop(item, running), { icon: running ? "stop-circle" : "times", of: name }));
  }

  function section(title, items, running, none) {
    return [
      h("h3.lp-sub", `${title} (${items.length})`),
      items.length
        ? h("ul.lp-rows", { "aria-label": title }, items.map((item) => promptRow(item, running)))
        : empty(none),
    ];
  }

  function render() {
    const queue = ctl.state.queue;
    if (!queue) {
      fill(list, empty("Loading the queue…"));
      return;
    }
    fill(list,
      section("Running", queue.running, true, "Nothing is running."),
      section("Pending", queue.pending, false, "No prompt is waiting."));
  }

  const ticker = setInterval(() => {
    if (!ctl.state.queue) {
      return;
    }
    const now = serverNow(ctl.state.queue);
    for (const elapsed of list.querySelectorAll(".lp-elapsed")) {
      elapsed.textContent = duration(Math.max(0, now - Number(elapsed.dataset.since)));
    }
  }, TICK_MS);

  render();
  ctl.load.queue().catch((error) => fill(list, errorBox(error)));
  return {
    update(kind) {
      if (kind === "queue") {
        render();
      }
    },
    destroy() {
      clearInterval(ticker);
    },
  };
}
