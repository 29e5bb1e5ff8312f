// Small DOM and formatting helpers shared by every view (numbers as launchpad/humanize.py writes them).

// h("p.lp-muted", {attributes, on* listeners}, ...children); props may be left out.
export function h(tag, props, ...kids) {
  if (props?.constructor !== Object) { kids.unshift(props); props = {}; }
  const [name, ...cls] = tag.split(".");
  const el = document.createElement(name);
  el.className = cls.join(" ");
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  return fill(el, kids);
}

// Nested lists are flattened; null and false are left out.
export function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(9).filter((c) => c != null && c !== false));
  return el;
}

export const icon = (name) => h(`i.pi.pi-${name}`, { "aria-hidden": "true" });

// kind: more classes (".lp-primary"); of: what it acts on, read out after the label
export const button = (label, onclick, { icon: name, kind = "", of, title } = {}) =>
  h("button.lp-btn" + kind, { type: "button", onclick, "aria-label": of && `${label} ${of}`, title }, name && icon(name),
    label && h("span", label));

export function size(n) {
  if (!Number.isFinite(n)) return "?";
  let i = 0;
  for (; Math.abs(n) >= 1000 && i < 4; i++) n /= 1000;
  return i ? `${n.toFixed(1)} ${"BKMGT"[i]}B` : `${Math.round(n)} B`;
}

function duration(s) {
  s = Math.round(s);
  const hr = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return hr ? `${hr}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

// a job (or a preset's progress) not finished yet
const ACTIVE = new Set(["queued", "resolving", "downloading", "verifying"]);
export const active = (j) => ACTIVE.has(j?.state);

export const percent = (done, total) => (total > 0 ? Math.min(100, (100 * done) / total) : null);

// A progress bar; `label` names it for screen readers, `pct` null means "size unknown".
export const bar = (pct, label, tone = "") => h("div.lp-bar." + tone, { role: "progressbar", "aria-label": label,
  "aria-valuenow": pct?.toFixed(0) }, h("span", { style: `width:${pct ?? 0}%` }));

export const cap = (s) => s[0].toUpperCase() + s.slice(1);
export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
export const muted = (text) => h("p.lp-muted", text);
export const live = () => h("p.lp-muted", { "aria-live": "polite" });
export const empty = (text) => h("p.lp-empty", text);
export const searchBox = (what, oninput, value) => h("input.lp-input.lp-grow", { type: "search",
  placeholder: "Search " + what, "aria-label": "Search " + what, value, oninput });
// a name (ellipsised, whole in its tooltip) with `side` on its right
export const top = (name, title, side) => h("div.lp-top", h("span.lp-name", { title }, name), side);
export const meta = (...facts) => h("p.lp-meta", facts.flat().map((f) => (f?.nodeType ? f : h("span", f))));
// a list row's text: its top line, its facts, then any more lines
export const entry = (name, title, side, facts, ...more) => h("div", top(name, title, side), meta(facts), more);

export const jobBar = (j) => bar(j.state === "done" ? 100 : percent(j.bytes_done || 0, j.bytes_total),
  `${j.name} progress`, { failed: "lp-bad", done: "lp-ok" }[j.state]);

// "45% · 12.3 MB/s · 2m 30s left" (whatever of it is known), rateOf adds "· 1.2 GB of 3.0 GB"
export const rateOf = (x) => `${rate(x)} · ${size(x.bytes_done)} of ${size(x.bytes_total)}`;
export function rate({ bytes_done: done, bytes_total: total, speed, eta }) {
  const pct = percent(done || 0, total);
  return [pct == null ? size(done || 0) : `${Math.floor(pct)}%`, speed != null && `${size(speed)}/s`,
    eta >= 1 && duration(eta) + " left"].filter(Boolean).join(" · ");
}

// An error and, when it names one, the URL to act on (the gated model's license page).
export function errorBox(error) {
  if (!error) return null;
  const d = error.details || {};
  let url = d.license_url || d.url || error.message?.match(/https?:\/\/[^\s)"']+/)?.[0];
  url = /^https?:\/\//.test(url) && url.replace(/[.,;]$/, ""); // never a javascript: link
  return h("div.lp-error", icon("exclamation-triangle"), h("span", error.message || String(error)),
    url && h("a", { href: url, target: "_blank", rel: "noreferrer" }, d.license_url ? "Open the license page" : "Open link"));
}

// One JSON call through a host's fetch; an API error body {"error": {code, message, details}} is thrown.
export async function callJson(fetcher, path, { method = "GET", body } = {}) {
  const r = await fetcher(path, method === "POST"
    ? { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body ?? {}) } : { method });
  // the session ended (ENABLE_AUTH): log in again and come back here
  if (r.status === 401) location.assign("/launchpad/login?next=" + encodeURIComponent(location.pathname));
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const e = data?.error || {};
    throw Object.assign(new Error(e.message || `${method} ${path}: HTTP ${r.status}`), e);
  }
  return data;
}
