// Small things several screens share: the form lists, the toast, the
// custody badge, a rejection's reason in the app's language.
import { api } from './api.js';
import { h } from './dom.js';
import { getLang, setForm, getForm, labelSpan } from './i18n.js';

let formPromise = null;

/** GET /api/form once per unlock (the lists do not change while serving). */
export function loadForm() {
  if (getForm()) return Promise.resolve(getForm());
  if (!formPromise) {
    formPromise = api('/api/form')
      .then((f) => { setForm(f); return f; })
      .finally(() => { formPromise = null; });
  }
  return formPromise;
}

let toastTimer = null;

/** A transient message in #toast (role=status: read out, never focused). */
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, kind === 'error' ? 8000 : 5000);
}

export function hideToast() {
  const el = document.getElementById('toast');
  if (el) el.hidden = true;
  clearTimeout(toastTimer);
}

/** The custody state as a badge: pending, held, confirmed, rejected. */
export function statusBadge(status) {
  const b = labelSpan('statuses', status, 'record-status badge');
  b.dataset.status = status;
  return b;
}

export function rejectReason(s) {
  if (!s) return '';
  const mine = getLang() === 'vi' ? s.reject_reason_vi : s.reject_reason;
  return mine || s.reject_reason || s.reject_reason_vi || s.reject_code || '';
}

export function notice(text, kind = '') {
  return h('p', { class: `notice ${kind}`.trim() }, text);
}
