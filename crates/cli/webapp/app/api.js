// The one way the app talks to `doorstep field serve`: same origin,
// relative URLs, the app's language on every call, problems as errors.
import { getLang, t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.title || problem.code || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || '';
    this.title = problem.title || '';
    this.detail = problem.detail || '';
    this.body = problem; // e.g. the 422 answer of POST /api/records
  }

  /** What to show people: title and detail in the request's language. */
  get human() {
    return [this.title, this.detail].filter(Boolean).join(': ') || this.message;
  }
}

let inFlight = 0;
let sessionLost = () => {};

/** Called on every 401 `session.required` (the store is locked). */
export function onSessionRequired(fn) { sessionLost = fn; }

function busy(delta) {
  inFlight += delta;
  if (inFlight > 0) document.body.setAttribute('data-busy', '');
  else document.body.removeAttribute('data-busy');
}

export function withLang(path) {
  return `${path}${path.includes('?') ? '&' : '?'}lang=${getLang()}`;
}

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '' && v !== false) p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * api('/api/records', {method: 'POST', body: {...}})
 * - `background`: status polling; the server does not count it as activity.
 * - `raw`: answer the Response itself when it is OK (downloads).
 * Resolves to the parsed JSON (null for 204); rejects with ApiError.
 */
export async function api(path, { method = 'GET', body, background = false, raw = false } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (background) headers['X-Doorstep-Background'] = '1';
  busy(+1);
  let res;
  try {
    res = await fetch(withLang(path), init);
  } catch {
    throw new ApiError(0, { code: 'network', title: t('error.network') });
  } finally {
    busy(-1);
  }
  if (res.ok && raw) return res;
  if (res.status === 204) return null;
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (res.ok) return data;
  const problem = data && typeof data === 'object' ? data : { title: `HTTP ${res.status}` };
  const err = new ApiError(res.status, problem);
  if (res.status === 401 && err.code === 'session.required') sessionLost(err);
  throw err;
}
