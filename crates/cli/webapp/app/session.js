// The session: whether the store is unlocked for this page, the officer,
// activity pings and the client-side inactivity lock.
import { api, onSessionRequired } from './api.js';

const OFFICER_KEY = 'doorstep.officer';
const PING_EVERY_MS = 30_000;

export const session = {
  active: false, // this page holds a session
  passphraseSet: true,
  lockAfter: 600,
  device: null,
  version: '',
  /** Where to go back to after unlocking (the hash when we were locked out). */
  returnTo: '',
  /** Why the unlock screen shows: '' | 'idle' | 'manual'. */
  why: '',
};

let lastInput = Date.now();
let lastPing = 0;
let lockedHandler = () => {};

/** fn(why) runs whenever the page loses its session. */
export function onLocked(fn) { lockedHandler = fn; }

export function officerId() {
  try { return localStorage.getItem(OFFICER_KEY) || ''; } catch { return ''; }
}

export function setOfficerId(id) {
  try { localStorage.setItem(OFFICER_KEY, id); } catch { /* not remembered */ }
}

function apply(s) {
  session.active = Boolean(s.session);
  if (typeof s.passphrase_set === 'boolean') session.passphraseSet = s.passphrase_set;
  if (s.lock_after_seconds) session.lockAfter = s.lock_after_seconds;
  if (s.device) session.device = s.device;
  if (s.version) session.version = s.version;
}

/** GET /api/session: needs no session; with one it counts as activity. */
export async function refresh() {
  const s = await api('/api/session');
  apply(s);
  return s;
}

export async function unlock(passphrase, confirm) {
  const body = { passphrase };
  if (confirm !== undefined) body.confirm = confirm;
  const ans = await api('/api/unlock', { method: 'POST', body });
  session.active = true;
  session.why = '';
  if (ans && ans.lock_after_seconds) session.lockAfter = ans.lock_after_seconds;
  if (ans && ans.unlock && typeof ans.unlock.passphrase_set === 'boolean') session.passphraseSet = true;
  lastInput = Date.now();
  lastPing = Date.now();
  // The device block (name, unit) comes with GET /api/session.
  refresh().catch(() => {});
  return ans;
}

function lostSession(why) {
  if (!session.active && session.why) return;
  session.active = false;
  session.why = why;
  lockedHandler(why);
}

export async function lock(why = 'manual') {
  try { await api('/api/lock', { method: 'POST' }); } catch { /* locked anyway below */ }
  lostSession(why);
}

// Any 401 `session.required`: the server locked by itself (its own
// inactivity timer, another tab locking, a restart).
onSessionRequired(() => lostSession('idle'));

function onInput() {
  lastInput = Date.now();
  if (session.active && Date.now() - lastPing >= PING_EVERY_MS) {
    lastPing = Date.now();
    refresh().catch(() => {});
  }
}

export function startIdleWatch() {
  for (const type of ['keydown', 'pointerdown', 'input']) {
    document.addEventListener(type, onInput, { capture: true, passive: true });
  }
  setInterval(() => {
    if (session.active && Date.now() - lastInput >= session.lockAfter * 1000) lock('idle');
  }, 1000);
}
