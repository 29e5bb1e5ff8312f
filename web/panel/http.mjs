// JSON calls to the Launchpad API through a host's fetch, and the way back to the login page.

// Where the login page sends a person back to once they have logged in again.
export function goToLogin() {
  location.assign(`/launchpad/login?next=${encodeURIComponent(location.pathname)}`);
}

// An API error body is thrown as an Error carrying its code, message and details.
export async function callJson(fetcher, path, { method = "GET", body } = {}) {
  const init = { method };
  if (method === "POST") {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body ?? {});
  }
  const response = await fetcher(path, init);
  if (response.status === 401) {
    goToLogin(); // the session ended (ENABLE_AUTH): log in again, then come back here
  }
  // a body that is not JSON (ComfyUI's /interrupt answers with none) is no answer, not an error
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    // ComfyUI's own routes answer {"error": "text"}; ours {"error": {code, message, details}}
    const error = typeof data?.error === "object" && data.error !== null ? data.error : {};
    const message = error.message || `${method} ${path}: HTTP ${response.status}`;
    throw Object.assign(new Error(message), error);
  }
  return data;
}
