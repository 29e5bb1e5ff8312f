// System: CPU, memory, GPUs and disks with a short history, and versions. The server samples only
// under a watch lease: the view holds one while visible.
import { bar, empty, errorBox, fill, h, muted, nameLine } from "./dom.mjs";
import { size } from "./format.mjs";

const LEASE_SECONDS = 30;
const HISTORY_SAMPLES = 60;

function percentText(value) {
  return value == null ? "?" : `${Math.round(value)}%`;
}

function tone(pct) {
  if (pct >= 90) {
    return ".lp-bad";
  }
  if (pct >= 75) {
    return ".lp-warn";
  }
  return "";
}

function sparkline(values, label) {
  const samples = (values || []).slice(-HISTORY_SAMPLES);
  const points = [];
  samples.forEach((value, index) => {
    if (value != null) {
      const x = ((index * 100) / (samples.length - 1)).toFixed(1);
      points.push(`${x},${100 - value}`);
    }
  });
  if (points.length < 2) {
    return null;
  }
  const line = points.join(" ");
  const first = points[0].split(",")[0];
  const last = points.at(-1).split(",")[0];
  const box = h("div");
  box.innerHTML = `<svg class="lp-spark" viewBox="0 -5 100 105" preserveAspectRatio="none" role="img">`
    + `<polygon points="${first},100 ${line} ${last},100"/><polyline points="${line}"/></svg>`;
  const svg = box.firstChild;
  // not in the markup: a disk's name comes from the machine
  svg.setAttribute("aria-label", `${label}, last ${samples.length} samples`);
  return svg;
}

function metric(label, pct, text, history) {
  const barLabel = `${label} ${pct == null ? "unknown" : percentText(pct)}`;
  return h("div.lp-metric",
    nameLine(label, null, muted(text)),
    bar(pct, barLabel, tone(pct)),
    sparkline(history, `${label} history`));
}

function gpuMetrics(gpu, history) {
  const own = history.gpus?.find((entry) => entry.index === gpu.index) || {};
  const temperature = gpu.temperature != null ? ` · ${Math.round(gpu.temperature)} °C` : "";
  const vram = `${size(gpu.memory_used)} of ${size(gpu.memory_total)}`;
  return [
    h("h3.lp-sub", `GPU ${gpu.index} · ${gpu.name}`),
    metric("Utilization", gpu.utilization, percentText(gpu.utilization) + temperature, own.utilization),
    metric("VRAM", gpu.memory_percent, vram, own.memory),
  ];
}

export function systemView(ctl, root) {
  // one id per page: a renewed lease is the same lease
  ctl.watchId ??= `lp-${Math.random().toString(36).slice(2, 12)}`;
  const watchId = ctl.watchId;
  let timer = 0;
  let watching = false;
  const body = h("div.lp-scroll");
  root.append(body);

  async function watch() {
    watching = true;
    clearTimeout(timer);
    try {
      const answer = await ctl.api("/system/watch", "POST", { client_id: watchId, ttl: LEASE_SECONDS });
      if (!watching) {
        unwatch(); // hidden while the request was on its way
        return;
      }
      ctl.state.system = { ...ctl.state.system, ...answer.reading };
      render();
    } catch (error) {
      fill(body, errorBox(error));
    }
    if (watching) {
      timer = setTimeout(watch, (LEASE_SECONDS / 3) * 1000); // renewed well before it runs out
    }
  }

  function unwatch() {
    watching = false;
    clearTimeout(timer);
    ctl.api(`/system/watch/${watchId}`, "DELETE").catch(() => {});
  }

  function onVisibility() {
    if (document.hidden) {
      unwatch();
    } else {
      watch();
    }
  }
  document.addEventListener("visibilitychange", onVisibility);

  function render() {
    const reading = ctl.state.system;
    if (!reading) {
      fill(body, empty("Reading the system…"));
      return;
    }
    const history = reading.history || {};
    const cpu = reading.cpu || {};
    const memory = reading.memory || {};
    const gpus = reading.gpu?.devices || [];
    const cpus = cpu.limit ?? cpu.count ?? "?";
    fill(body,
      metric("CPU", cpu.percent, `${percentText(cpu.percent)} of ${cpus} CPUs`, history.cpu),
      metric("Memory", memory.percent, `${size(memory.used)} of ${size(memory.total)}`, history.memory),
      gpus.map((gpu) => gpuMetrics(gpu, history)),
      !gpus.length && [h("h3.lp-sub", "GPU"), empty(reading.gpu?.reason || "No GPU found.")],
      h("h3.lp-sub", "Disks"),
      (reading.disks || []).map((disk) => {
        const network = disk.network ? " · network" : "";
        return metric(disk.name, disk.percent, `${size(disk.free)} free of ${size(disk.total)}${network}`);
      }),
      h("p.lp-muted.lp-versions", reading.versions_line));
  }

  render();
  if (!document.hidden) {
    watch();
  }
  return {
    update(kind) {
      if (kind === "system") {
        render();
      } else if (kind === "reconnected" && watching) {
        watch();
      }
    },
    destroy() {
      document.removeEventListener("visibilitychange", onVisibility);
      unwatch();
    },
  };
}
