"""The login page: one self-contained HTML document in ComfyUI's colours, dark or light.

No framework and no other request: styles and the small script are inline (allowed by a
per-response CSP nonce), so the page works while everything else is locked. The script posts
the password as JSON (mutating routes take JSON only) and then goes where the user was headed.
"""

from __future__ import annotations

import html
import secrets

from aiohttp import web

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Sign in · ComfyUI</title>
<style nonce="{nonce}">
  :root {{ --bg: #202020; --panel: #353535; --fg: #ffffff; --muted: #999999; --input: #222222;
          --border: #4e4e4e; --accent: #4a90e2; --error: #ff6b6b; color-scheme: dark light; }}
  @media (prefers-color-scheme: light) {{
    :root {{ --bg: #ffffff; --panel: #f0f0f0; --fg: #000000; --muted: #555555; --input: #ffffff;
            --border: #888888; --accent: #2563eb; --error: #c62828; }}
  }}
  * {{ box-sizing: border-box; }}
  body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg);
         color: var(--fg); font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
  main {{ width: min(360px, calc(100vw - 32px)); background: var(--panel); border: 1px solid var(--border);
         border-radius: 10px; padding: 28px 24px; }}
  h1 {{ font-size: 20px; margin: 0 0 4px; }}
  p {{ margin: 0 0 18px; color: var(--muted); }}
  label {{ display: block; margin-bottom: 6px; }}
  input {{ width: 100%; padding: 10px 12px; font: inherit; color: var(--fg); background: var(--input);
          border: 1px solid var(--border); border-radius: 6px; }}
  input:focus, button:focus-visible {{ outline: 2px solid var(--accent); outline-offset: 1px; }}
  button {{ width: 100%; margin-top: 16px; padding: 10px; font: inherit; font-weight: 600; color: #fff;
           background: var(--accent); border: 0; border-radius: 6px; cursor: pointer; }}
  button:disabled {{ opacity: .6; cursor: wait; }}
  .error {{ color: var(--error); min-height: 1.4em; margin: 12px 0 0; }}
  .problem {{ color: var(--error); margin: 0; }}
  code {{ font-size: 13px; }}
</style>
</head>
<body>
<main>
  <h1>ComfyUI</h1>
  {body}
</main>
{script}
</body>
</html>
"""

_FORM = """<p>This server asks for a password.</p>
  <form id="login" data-next="{next}">
    <label for="password">Password or API token</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
    <button type="submit">Sign in</button>
    <p class="error" id="error" role="alert"></p>
  </form>"""

_PROBLEM = """<p class="problem" role="alert">{message}</p>"""

_SCRIPT = """<script nonce="{nonce}">
const form = document.getElementById("login");
const error = document.getElementById("error");
form.addEventListener("submit", async (event) => {{
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  error.textContent = "";
  try {{
    const response = await fetch(location.pathname, {{
      method: "POST",
      headers: {{ "Content-Type": "application/json" }},
      credentials: "same-origin",
      body: JSON.stringify({{ password: form.password.value }}),
    }});
    if (response.ok) {{
      location.replace(form.dataset.next || "/");
      return;
    }}
    const data = await response.json().catch(() => ({{}}));
    error.textContent = (data.error && data.error.message) || `Sign-in failed (${{response.status}})`;
  }} catch (err) {{
    error.textContent = "The server did not answer; try again.";
  }}
  button.disabled = false;
  form.password.select();
}});
</script>"""


def render(next_path: str, problem: str | None = None, status: int = 200) -> web.Response:
    """The page; ``problem`` replaces the form (auth switched on but nothing to log in with)."""
    nonce = secrets.token_urlsafe(16)
    if problem:
        body, script = _PROBLEM.format(message=html.escape(problem)), ""
    else:
        body = _FORM.format(next=html.escape(next_path, quote=True))
        script = _SCRIPT.format(nonce=nonce)
    response = web.Response(
        text=_PAGE.format(nonce=nonce, body=body, script=script), content_type="text/html", status=status
    )
    response.headers.update(
        {
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }
    )
    return response

