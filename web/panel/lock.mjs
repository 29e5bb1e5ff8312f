// "Lock file": ask the server for a models lock (docs/lockfile.md) and save it as a file. The server
// builds the lock; this only saves it and says what the server warned about.

export async function saveLock(ctl, path, body) {
  const method = body ? "POST" : "GET";
  const answer = await ctl.run("Could not make the lock file", () => ctl.api(path, method, body));
  if (!answer) {
    return;
  }
  const text = JSON.stringify(answer.lock, null, 2) + "\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  link.download = answer.filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);

  const files = answer.lock.files.length;
  const summary = `Saved ${answer.filename} (${files} ${files === 1 ? "file" : "files"})`;
  if (answer.warnings.length) {
    ctl.toast("warn", summary, answer.warnings.join("\n"));
  } else {
    ctl.toast("success", summary, "launchpad provision makes another workspace match it");
  }
}
