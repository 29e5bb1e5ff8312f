// System: CPU, memory, each GPU and the disks as bars with a short history. The server samples only
// while a watch lease lives, so the view holds one only while it is visible, renewing it as it goes.
import { bar, empty, errorBox, fill, h, muted, size, top } from "./ui.mjs";

const TTL = 30;
const pctText = (v) => (v == null ? "?" : `${Math.round(v)}%`);

// The recent samples (percentages) as a filled line; the samples kept so far span the whole width.
function spark(values, label) {
  const pts = (values || []).slice(-60);
  const xy = pts.flatMap((v, i) => (v == null ? [] : [[((i * 100) / (pts.length - 1)).toFixed(1), 100 - v]]));
  if (xy.length < 2) return null;
  const box = h("div"), line = xy.join(" ");
  box.innerHTML = `<svg class="lp-spark" viewBox="0 -5 100 105" preserveAspectRatio="none" role="img"><polygon points="${
    xy[0][0]},100 ${line} ${xy.at(-1)[0]},100"/><polyline points="${line}"/></svg>`;
  // set here, not in the markup above: a disk's name comes from the machine
  box.firstChild.setAttribute("aria-label", `${label}, last ${pts.length} samples`);
  return box.firstChild;
}

const metric = (label, pct, text, history) => h("div.lp-metric", top(label, null, muted(text)),
  bar(pct, `${label} ${pct == null ? "unknown" : pctText(pct)}`, pct >= 90 ? "lp-bad" : pct >= 75 ? "lp-warn" : ""),
  spark(history, `${label} history`));

export function systemView(ctl, root) {
  const id = ctl.watchId ||= "lp-" + Math.random().toString(36).slice(2, 12);
  let timer = 0, live = false;
  const body = h("div.lp-scroll");
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
      fill(body, errorBox(err));
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
    if (!s) return fill(body, empty("Reading the system…"));
    const hist = s.history || {}, cpu = s.cpu || {}, mem = s.memory || {}, gpus = s.gpu?.devices || [];
    fill(body,
      metric("CPU", cpu.percent, `${pctText(cpu.percent)} of ${cpu.limit ?? cpu.count ?? "?"} CPUs`, hist.cpu),
      metric("Memory", mem.percent, `${size(mem.used)} of ${size(mem.total)}`, hist.memory),
      gpus.map((g) => {
        const gh = hist.gpus?.find((x) => x.index === g.index) || {};
        return [h("h3.lp-sub", `GPU ${g.index} · ${g.name}`),
          metric("Utilization", g.utilization, pctText(g.utilization)
            + (g.temperature != null ? ` · ${Math.round(g.temperature)} °C` : ""), gh.utilization),
          metric("VRAM", g.memory_percent, `${size(g.memory_used)} of ${size(g.memory_total)}`, gh.memory)];
      }),
      !gpus.length && [h("h3.lp-sub", "GPU"), empty(s.gpu?.reason || "No GPU found.")],
      h("h3.lp-sub", "Disks"),
      (s.disks || []).map((d) => metric(d.name, d.percent,
        `${size(d.free)} free of ${size(d.total)}${d.network ? " · network" : ""}`)),
      muted(Object.entries(s.versions || {}).map(([k, v]) => `${k} ${v}`).join(" · ")),
    );
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
