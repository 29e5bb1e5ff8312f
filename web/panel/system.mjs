// System: CPU, memory, each GPU and the disks as bars with a short history. The server samples only
// while a watch lease lives, so the view holds one only while it is visible, renewing it as it goes.
import { bar, empty, errorBox, h, size } from "./ui.mjs";

const TTL = 30;
const tone = (pct) => (pct >= 90 ? "lp-bad" : pct >= 75 ? "lp-warn" : "");

// The recent samples (percentages) as a filled line; the samples kept so far span the whole width.
function spark(values, label) {
  const pts = (values || []).slice(-60);
  if (pts.filter((v) => v != null).length < 2) return null;
  const xy = pts.map((v, i) => (v == null ? "" : `${((i * 59) / (pts.length - 1)).toFixed(1)},${(20 - v * 0.19).toFixed(1)}`))
    .filter(Boolean);
  const box = h("div");
  box.innerHTML = `<svg class="lp-spark" viewBox="0 0 59 20" preserveAspectRatio="none" role="img"><polygon points="${
    xy[0].split(",")[0]},20 ${xy.join(" ")} ${xy.at(-1).split(",")[0]},20"/><polyline points="${xy.join(" ")}"/></svg>`;
  box.firstChild.setAttribute("aria-label", `${label}, last ${pts.length} samples`);
  return box.firstChild;
}

function metric(label, pct, text, history) {
  return h("div", { class: "lp-metric" },
    h("div", { class: "lp-file-top" }, h("span", { class: "lp-name", text: label }),
      h("span", { class: "lp-muted", text })),
    bar(pct, `${label} ${pct == null ? "unknown" : Math.round(pct) + "%"}`, tone(pct)), spark(history, `${label} history`));
}

const pctText = (v) => (v == null ? "?" : `${Math.round(v)}%`);

export function systemView(ctl, root) {
  const id = ctl.watchId ||= "lp-" + Math.random().toString(36).slice(2, 12);
  let timer = 0, live = false;
  const body = h("div", { class: "lp-system lp-scroll" });
  root.append(body);

  async function watch() {
    live = true;
    clearTimeout(timer);
    try {
      const r = await ctl.api("/system/watch", "POST", { client_id: id, ttl: TTL });
      if (!live) return unwatch(); // hidden while the request was in flight
      ctl.state.system = { ...ctl.state.system, ...r.reading };
      render();
    } catch (err) {
      body.replaceChildren(errorBox(err));
    }
    if (live) timer = setTimeout(watch, (TTL / 3) * 1000);
  }
  function unwatch() {
    live = false;
    clearTimeout(timer);
    ctl.api(`/system/watch/${id}`, "DELETE").catch(() => {});
  }
  const onVisibility = () => (document.hidden ? unwatch() : watch());
  document.addEventListener("visibilitychange", onVisibility);

  function render() {
    const s = ctl.state.system;
    if (!s) return body.replaceChildren(empty("Reading the system…"));
    const hist = s.history || {};
    const parts = [];
    const cpu = s.cpu || {};
    parts.push(metric("CPU", cpu.percent, `${pctText(cpu.percent)} of ${cpu.limit ?? cpu.count ?? "?"} CPUs`, hist.cpu));
    const mem = s.memory || {};
    parts.push(metric("Memory", mem.percent, `${size(mem.used)} of ${size(mem.total)}`, hist.memory));
    const gpus = s.gpu?.devices || [];
    for (const g of gpus) {
      const gh = (hist.gpus || []).find((x) => x.index === g.index) || {};
      parts.push(h("h3", { class: "lp-sub", text: `GPU ${g.index} · ${g.name}` }),
        metric("Utilization", g.utilization, pctText(g.utilization)
          + (g.temperature != null ? ` · ${Math.round(g.temperature)} °C` : ""), gh.utilization),
        metric("VRAM", g.memory_percent, `${size(g.memory_used)} of ${size(g.memory_total)}`, gh.memory));
    }
    if (!gpus.length) parts.push(h("h3", { class: "lp-sub", text: "GPU" }), empty(s.gpu?.reason || "No GPU found."));
    parts.push(h("h3", { class: "lp-sub", text: "Disks" }));
    for (const d of s.disks || []) {
      parts.push(metric(d.name, d.percent, `${size(d.free)} free of ${size(d.total)}${d.network ? " · network" : ""}`));
    }
    const v = Object.entries(s.versions || {}).map(([k, x]) => `${k} ${x}`).join(" · ");
    parts.push(h("p", { class: "lp-muted lp-versions", text: v }));
    body.replaceChildren(...parts);
  }

  render();
  if (!document.hidden) watch();
  return {
    update(kind) {
      if (kind === "system") render();
      else if (kind === "reconnected" && live) watch();
    },
    destroy() {
      document.removeEventListener("visibilitychange", onVisibility);
      unwatch();
    },
  };
}
