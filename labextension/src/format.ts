/**
 * Numbers and times as the panels show them.
 */

/** Seconds since the epoch as a local date and time. */
export function formatTime(seconds: number | null | undefined): string {
  if (!seconds) {
    return '-';
  }
  return new Date(seconds * 1000).toLocaleString();
}

/** "just now", "5 min ago", "3 h ago", or the date for older times. */
export function formatAgo(seconds: number | null | undefined, now = Date.now()): string {
  if (!seconds) {
    return '-';
  }
  const elapsed = Math.max(0, now / 1000 - seconds);
  if (elapsed < 45) {
    return 'just now';
  }
  if (elapsed < 3600) {
    return `${Math.round(elapsed / 60)} min ago`;
  }
  if (elapsed < 86400) {
    return `${Math.round(elapsed / 3600)} h ago`;
  }
  return new Date(seconds * 1000).toLocaleDateString();
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) {
    return '-';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(1)} s`;
  }
  if (seconds < 60) {
    return `${Math.round(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${Math.round(seconds % 60)} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function formatTokens(total: number | null | undefined): string {
  if (!total) {
    return '0';
  }
  if (total < 10_000) {
    return total.toLocaleString();
  }
  return `${(total / 1000).toFixed(total < 100_000 ? 1 : 0)}k`;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** "in 5 min", "in 3 h", "in 2 days", or "now" for a time due already. */
export function formatUntil(seconds: number | null | undefined, now = Date.now()): string {
  if (!seconds) {
    return '-';
  }
  const left = seconds - now / 1000;
  if (left < 30) {
    return 'now';
  }
  if (left < 3600) {
    return `in ${Math.max(1, Math.round(left / 60))} min`;
  }
  if (left < 86400) {
    return `in ${Math.round(left / 3600)} h`;
  }
  return `in ${Math.round(left / 86400)} days`;
}

/** Dollars as the server writes them ("$0.0123", "$0"), "-" when nothing was priced. */
export function formatUsd(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) {
    return '-';
  }
  if (!usd) {
    return '$0';
  }
  return usd >= 0.0001 ? `$${usd.toFixed(4)}` : `$${usd.toPrecision(2)}`;
}
