// GET /api/status, polled in the background for the header (connectivity,
// clock warning) and the sync screen (progress, last result).
import { api } from './api.js';
import { session } from './session.js';
import { t } from './i18n.js';

let last = null;
let timer = null;
let inFlight = null;
const listeners = new Set();

export const lastStatus = () => last;

export function onStatus(fn) {
  listeners.add(fn);
  if (last) fn(last);
  return () => listeners.delete(fn);
}

function emit() {
  for (const fn of listeners) fn(last);
}

/** Poll now (at most one request at a time); resolves to the status. */
export function pollNow() {
  if (!session.active) return Promise.resolve(last);
  if (inFlight) return inFlight;
  inFlight = api('/api/status', { background: true })
    .then((s) => { last = s; emit(); return s; })
    .catch(() => last)
    .finally(() => { inFlight = null; });
  return inFlight;
}

export function startPolling(everyMs = 5000) {
  clearInterval(timer);
  pollNow();
  timer = setInterval(pollNow, everyMs);
}

export function stopPolling() {
  clearInterval(timer);
  timer = null;
}

/** online | offline | unknown, from central's reachability and the OS. */
export function connectivity(s = last) {
  if (!navigator.onLine) return 'offline';
  const r = s && s.sync ? s.sync.central_reachable : null;
  if (r === true) return 'online';
  if (r === false) return 'offline';
  return 'unknown';
}

/** The clock warning text, or '' when the clock is fine. */
export function clockWarning(s = last) {
  const sync = s && s.sync;
  if (!sync || !sync.clock_warning) return '';
  const skew = Number(sync.clock_skew_seconds) || 0;
  const n = Math.max(1, Math.round(Math.abs(skew) / 60));
  // Positive skew: central is ahead, so the laptop is behind.
  return t(skew > 0 ? 'clock.behind' : 'clock.ahead', { n });
}

for (const ev of ['online', 'offline']) window.addEventListener(ev, emit);
