// "Lock file": the server builds a models lock (docs/lockfile.md); this saves it as a file.
import { button } from "./dom.mjs";
import { plural } from "./format.mjs";

// `what` the lock is of, for its tooltip; `body()` gives what a POST sends (none: a GET)
export function lockButton(ctl, what, path, body) {
  return button("Lock file", () => saveLock(ctl, path, body?.()), {
    icon: "lock",
    title: `Save the models lock of ${what} (docs/lockfile.md)`,
  });
}

async function saveLock(ctl, path, body) {
  const answer = await ctl.run("Could not make the lock file", () => ctl.api(path, body ? "POST" : "GET", body));
  if (!answer) {
    return;
  }
  const text = JSON.stringify(answer.lock, null, 2) + "\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  link.download = answer.filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  const summary = `Saved ${answer.filename} (${plural(answer.lock.files.length, "file")})`;
  if (answer.warnings.length) {
    ctl.toast("warn", summary, answer.warnings.join("\n"));
  } else {
    ctl.toast("success", summary, "launchpad provision makes another workspace match it");
  }
}
