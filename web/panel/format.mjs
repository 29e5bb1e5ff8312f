// Numbers and words for people, as launchpad/humanize.py writes them.

const UNITS = ["B", "KB", "MB", "GB", "TB"];

// 1536000000 -> "1.5 GB" (decimal, as disks and hubs count)
export function size(bytes) {
  if (!Number.isFinite(bytes)) {
    return "unknown";
  }
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) {
    return `${Math.round(value)} B`;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

// "size unknown", never a made-up number; "~" marks an estimate
export function sizeOrUnknown(bytes, estimated = false) {
  if (!Number.isFinite(bytes)) {
    return "size unknown";
  }
  return `${estimated ? "~" : ""}${size(bytes)}`;
}

// 150 -> "2m 30s"
export function duration(seconds) {
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  if (hours) {
    return `${hours}h ${minutes}m`;
  }
  if (minutes) {
    return `${minutes}m ${total % 60}s`;
  }
  return `${total}s`;
}

// null when the total is unknown: no bar pretends to know
export function percent(done, total) {
  if (!(total > 0)) {
    return null;
  }
  return Math.min(100, (100 * done) / total);
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

export function capitalize(text) {
  return text[0].toUpperCase() + text.slice(1);
}

// "45% · 12.3 MB/s · 2m 30s left"; "1.2 GB so far · 12.3 MB/s" while the size is unknown
export function progressText(progress, { sizes = false } = {}) {
  const done = progress.bytes_done || 0;
  const total = progress.bytes_total;
  const pct = percent(done, total);
  const parts = [];
  if (pct === null) {
    parts.push(`${size(done)} so far`);
  } else {
    parts.push(`${Math.floor(pct)}%`);
  }
  if (progress.speed != null) {
    parts.push(`${size(progress.speed)}/s`);
  }
  if (progress.eta >= 1) {
    parts.push(`${duration(progress.eta)} left`);
  }
  if (sizes && pct !== null) {
    parts.push(`${size(done)} of ${size(total)}`);
  }
  return parts.join(" · ");
}
