// What the panel reads of jobs and of a preset's progress.
import { bar, muted } from "./dom.mjs";
import { capitalize, percent, progressText, size } from "./format.mjs";

// not finished, as the server says (`active`)
export function isActive(item) {
  return item?.active === true;
}

const BAR_TONES = { failed: ".lp-bad", done: ".lp-ok" };

export function jobBar(job) {
  const pct = job.state === "done" ? 100 : percent(job.bytes_done || 0, job.bytes_total);
  return bar(pct, `${job.name} progress`, BAR_TONES[job.state] || "");
}

// a job's state in words under its bar: speed and ETA while it downloads
export function jobStatus(job) {
  if (job.state === "downloading") {
    return muted(progressText(job, { sizes: true }));
  }
  if (job.state === "done") {
    return muted(`Done · ${size(job.bytes_total ?? job.bytes_done)}`);
  }
  const note = job.message && job.message !== job.state && job.state !== "failed" ? `: ${job.message}` : "";
  return muted(capitalize(job.state) + note);
}

// the newest job of each file of a preset (or a workflow's group)
export function latestJobs(jobs, groupId) {
  const byFile = new Map();
  for (const job of jobs) {
    if (!job.preset_ids?.includes(groupId)) {
      continue;
    }
    const seen = byFile.get(job.key);
    if (!seen || (job.created_at || 0) >= (seen.created_at || 0)) {
      byFile.set(job.key, job);
    }
  }
  return [...byFile.values()];
}
