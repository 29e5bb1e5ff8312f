// The DOM by hand (1.58 offers extensions no Vue, no PrimeVue), and the views' pieces.

// h("p.lp-muted", {attributes, on* listeners}, ...children); props optional
export function h(tag, props, ...children) {
  let attributes = props;
  if (props?.constructor !== Object) {
    children.unshift(props);
    attributes = {};
  }
  const [name, ...classes] = tag.split(".");
  const element = document.createElement(name);
  element.className = classes.join(" ");
  for (const [key, value] of Object.entries(attributes)) {
    if (value == null || value === false) {
      continue;
    }
    if (key.startsWith("on")) {
      element.addEventListener(key.slice(2), value);
    } else {
      element.setAttribute(key, value === true ? "" : value);
    }
  }
  return fill(element, children);
}

// lists flattened, null and false left out: a child can be `cond && h(...)`
export function fill(element, ...children) {
  const kept = children.flat(Infinity).filter((child) => child != null && child !== false);
  element.replaceChildren(...kept);
  return element;
}

export function icon(name) {
  return h(`i.pi.pi-${name}`, { "aria-hidden": "true" });
}

// kind: more classes; of: what it acts on, read out after the label
export function button(label, onclick, { icon: iconName, kind = "", of, title } = {}) {
  const name = of ? `${label} ${of}` : undefined;
  return h(`button.lp-btn${kind}`, { type: "button", onclick, "aria-label": name, title },
    iconName && icon(iconName),
    label && h("span", label));
}

// a command to copy into a terminal
export function commandNote(text, command) {
  return h("div.lp-card.lp-old",
    muted(text),
    h("div.lp-top",
      h("code", command),
      button("Copy", () => navigator.clipboard?.writeText(command), { icon: "copy", of: command })));
}

export function muted(text) {
  return h("p.lp-muted", text);
}

// a line whose changes screen readers announce
export function liveLine() {
  return h("p.lp-muted", { "aria-live": "polite" });
}

export function empty(text) {
  return h("p.lp-empty", text);
}

export function searchBox(what, oninput, value) {
  const label = `Search ${what}`;
  return h("input.lp-input.lp-grow", { type: "search", placeholder: label, "aria-label": label, value, oninput });
}

// a name, and a badge or note beside it while there is room
export function nameLine(name, title, side) {
  return h("div.lp-top", h("span.lp-name", { title }, name), side);
}

// "checkpoints · 1.2 GB · Flux dev", wrapping
export function facts(...items) {
  const spans = items.flat().filter(Boolean).map((item) => (item.nodeType ? item : h("span", item)));
  return h("p.lp-meta", spans);
}

// the server's "needs ComfyUI 0.16.4+": amber when the running ComfyUI is older
export function comfyuiNeed(item) {
  return item.comfyui_need && h(item.comfyui_ok === false ? "span.lp-warn" : "span", item.comfyui_need);
}

export function badge(state, text = state) {
  return h(`span.lp-badge.lp-${state}`, text);
}

// `label` names it for screen readers; `pct` null: the size is unknown
export function bar(pct, label, tone = "") {
  const known = pct != null;
  return h(`div.lp-bar${tone}`, {
    role: "progressbar",
    "aria-label": label,
    "aria-valuenow": known ? pct.toFixed(0) : undefined,
  }, h("span", { style: `width:${known ? pct : 0}%` }));
}

// an error, and the page it names to act on (a gated model's license)
export function errorBox(error) {
  if (!error) {
    return null;
  }
  const details = error.details || {};
  const found = details.license_url || details.url || error.message?.match(/https?:\/\/[^\s)"']+/)?.[0];
  // only http(s): a javascript: URL must never become a link
  const url = /^https?:\/\//.test(found) ? found.replace(/[.,;]$/, "") : null;
  const linkText = details.license_url ? "Open the license page" : "Open link";
  return h("div.lp-error",
    icon("exclamation-triangle"),
    h("span", error.message || String(error)),
    url && h("a", { href: url, target: "_blank", rel: "noreferrer" }, linkText));
}
