// The panel's adapter for `launchpad serve`: fetch, a reconnecting WebSocket to /ws (ComfyUI's
// {"type", "data"} envelope), and its own toasts and confirmation dialog.
import { button, callJson, h } from "./ui.mjs";

export function standaloneAdapter(base = new URL(".", location.href)) {
  const listeners = new Map();
  const emit = (type, data) => listeners.get(type)?.forEach((fn) => fn(data));
  let delay = 500, lost = false;

  function connect() {
    const ws = new WebSocket(new URL("ws", base).href.replace(/^http/, "ws"));
    ws.onopen = () => {
      delay = 500;
      if (lost) emit("reconnected"); // the panel re-reads its snapshot: events were missed meanwhile
      lost = false;
    };
    ws.onmessage = (m) => {
      const { type, data } = JSON.parse(m.data);
      emit(type, data);
    };
    ws.onclose = () => {
      if (!lost) emit("reconnecting");
      lost = true;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 8000);
    };
  }
  connect();

  const toasts = document.body.appendChild(h("div.lp-toasts", { role: "status" }));

  return {
    json: (path, opts) => callJson((p, init) => fetch(new URL(p.replace(/^\//, ""), base), init), path, opts),
    on: (type, fn) => listeners.set(type, [...(listeners.get(type) || []), fn]),
    toast(severity, summary, detail) {
      const el = h(`div.lp-card.lp-toast.lp-toast-${severity}`, h("strong", summary), detail && h("p", detail));
      toasts.append(el);
      setTimeout(() => el.remove(), severity === "error" ? 10000 : 5000);
    },
    confirm: (title, message) => new Promise((resolve) => {
      const done = (ok) => { dialog.close(); dialog.remove(); resolve(ok); };
      const dialog = document.body.appendChild(h("dialog.lp-card.lp-dialog", { "aria-label": title,
        oncancel: () => done(false) }, h("h2", title), h("p", message),
      h("div.lp-actions", button("Cancel", () => done(false)), button("Delete", () => done(true), { kind: ".lp-primary" }))));
      dialog.showModal(); // focus lands on Cancel, the safe choice
    }),
  };
}
