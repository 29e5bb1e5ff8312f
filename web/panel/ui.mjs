// Small DOM and formatting helpers shared by every view (numbers as launchpad/humanize.py writes them).

export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  el.append(...kids.flat(9).filter((c) => c != null && c !== false));
  return el;
}

export const icon = (name) => h("i", { class: `pi pi-${name}`, "aria-hidden": "true" });

export function button(label, onclick, { icon: name, kind = "", aria, title } = {}) {
  return h("button", { type: "button", class: `lp-btn ${kind}`, onclick, "aria-label": aria, title },
    name && icon(name), label && h("span", { text: label }));
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];
export function size(n) {
  if (n == null || !Number.isFinite(n)) return "?";
  let i = 0;
  while (Math.abs(n) >= 1000 && i < UNITS.length - 1) { n /= 1000; i++; }
  return i ? `${n.toFixed(1)} ${UNITS[i]}` : `${Math.round(n)} B`;
}

export const speed = (n) => (n == null ? "" : `${size(n)}/s`);

export function duration(s) {
  if (s == null || !Number.isFinite(s)) return "";
  s = Math.round(s);
  const hr = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return hr ? `${hr}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}

export const percent = (done, total) => (total > 0 ? Math.min(100, (100 * done) / total) : null);

// A progress bar; `label` names it for screen readers, `pct` null means "size unknown".
export function bar(pct, label, tone = "") {
  const el = h("div", { class: `lp-bar ${tone}`, role: "progressbar", "aria-label": label, "aria-valuemin": "0",
    "aria-valuemax": "100", "aria-valuenow": pct == null ? null : pct.toFixed(0) }, h("span", { class: "lp-fill" }));
  el.firstChild.style.width = `${pct ?? 0}%`;
  return el;
}

export const cap = (s) => s[0].toUpperCase() + s.slice(1);
export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// One file's bar: full and green when done, red when failed.
export const jobBar = (j) => bar(j.state === "done" ? 100 : percent(j.bytes_done || 0, j.bytes_total),
  `${j.name} progress`, { failed: "lp-bad", done: "lp-ok" }[j.state] || "");

// "45% · 12.3 MB/s · 2m 30s" (whatever of it is known)
export function rate({ bytes_done: done, bytes_total: total, speed: sp, eta }) {
  const pct = percent(done || 0, total);
  return [pct == null ? size(done || 0) : `${Math.floor(pct)}%`, speed(sp), eta >= 1 ? duration(eta) + " left" : ""]
    .filter(Boolean).join(" · ");
}

// A URL to act on in an error (the gated model's license page), from its details or its message.
export function errorLink(error) {
  const d = error?.details || {};
  const url = d.license_url || d.url || d.repo_url || (error?.message || "").match(/https?:\/\/[^\s)"']+/)?.[0];
  return /^https?:\/\//.test(url) ? url.replace(/[.,;]$/, "") : null; // never a javascript: link
}

export function errorBox(error) {
  if (!error) return null;
  const url = errorLink(error);
  return h("div", { class: "lp-error" }, icon("exclamation-triangle"),
    h("span", { text: error.message || String(error) }),
    url && h("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: /licen|gated|accept/i.test(
      error.message + error.code) ? "Open the license page" : "Open link" }));
}

// One JSON call through a host's fetch; an API error body {"error": {code, message, details}} is thrown.
export async function callJson(fetcher, path, { method = "GET", body } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined && method !== "GET" && method !== "DELETE") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetcher(path, init);
  // the session ended (ENABLE_AUTH): log in again and come back here
  if (r.status === 401) location.assign("/launchpad/login?next=" + encodeURIComponent(location.pathname));
  const data = (r.headers.get("content-type") || "").includes("json") ? await r.json() : null;
  if (!r.ok) {
    const e = data?.error || {};
    throw Object.assign(new Error(e.message || `${method} ${path}: HTTP ${r.status}`), e);
  }
  return data;
}

export const empty = (text) => h("p", { class: "lp-empty", text });
