// The adapter for `launchpad serve`: fetch, a reconnecting WebSocket to /ws in ComfyUI's
// {"type", "data"} envelope, its own toasts and confirmation dialog.
import { button, h } from "./dom.mjs";
import { callJson } from "./http.mjs";

const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 8000;
const TOAST_MS = { error: 10000, other: 5000 };

export function standaloneAdapter(base = new URL(".", location.href)) {
  const listeners = new Map(); // event type -> functions
  let retryIn = FIRST_RETRY_MS;
  let lost = false;

  function emit(type, data) {
    for (const listener of listeners.get(type) || []) {
      listener(data);
    }
  }

  function connect() {
    const socket = new WebSocket(new URL("ws", base).href.replace(/^http/, "ws"));
    socket.onopen = () => {
      retryIn = FIRST_RETRY_MS;
      if (lost) {
        emit("reconnected"); // events were missed: the panel reads its snapshot again
      }
      lost = false;
    };
    socket.onmessage = (message) => {
      const { type, data } = JSON.parse(message.data);
      emit(type, data);
    };
    socket.onclose = () => {
      if (!lost) {
        emit("reconnecting");
      }
      lost = true;
      setTimeout(connect, retryIn);
      retryIn = Math.min(retryIn * 2, LAST_RETRY_MS);
    };
  }
  connect();

  const toasts = h("div.lp-toasts", { role: "status" });
  document.body.append(toasts);

  function fetchRelative(path, init) {
    return fetch(new URL(path.replace(/^\//, ""), base), init);
  }

  return {
    json(path, options) {
      return callJson(fetchRelative, path, options);
    },

    on(type, listener) {
      listeners.set(type, [...(listeners.get(type) || []), listener]);
    },

    toast(severity, summary, detail) {
      const toast = h(`div.lp-card.lp-toast.lp-toast-${severity}`, h("strong", summary), detail && h("p", detail));
      toasts.append(toast);
      setTimeout(() => toast.remove(), severity === "error" ? TOAST_MS.error : TOAST_MS.other);
    },

    confirm(title, message, action) {
      return new Promise((resolve) => {
        const dialog = h("dialog.lp-card.lp-dialog", { "aria-label": title, oncancel: () => answer(false) },
          h("h2", title),
          h("p", message),
          h("div.lp-actions",
            button("Cancel", () => answer(false)),
            button(action, () => answer(true), { kind: ".lp-primary" })));

        function answer(confirmed) {
          dialog.close();
          dialog.remove();
          resolve(confirmed);
        }

        document.body.append(dialog);
        dialog.showModal(); // the focus lands on Cancel, the safe choice
      });
    },
  };
}
