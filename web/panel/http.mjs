// JSON calls through a host's fetch, and the way to the login page.

export function goToLogin() {
  location.assign(`/launchpad/login?next=${encodeURIComponent(location.pathname)}`);
}

// an API error body is thrown as an Error carrying its code, message and details
export async function callJson(fetcher, path, { method = "GET", body } = {}) {
  const init = { method };
  if (method === "POST") {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetcher(path, init);
  if (response.status === 401) {
    goToLogin(); // the session ended (ENABLE_AUTH)
  }
  // no JSON body (ComfyUI's /interrupt has none) is no answer, not an error
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    // ComfyUI's routes answer {"error": "text"}
    const error = typeof data?.error === "object" && data.error !== null ? data.error : {};
    const message = error.message || `${method} ${path}: HTTP ${response.status}`;
    throw Object.assign(new Error(message), error);
  }
  return data;
}
