// Tiny DOM helpers: element builder, queries, debounce, date formatting.
import { t } from './i18n.js';

/**
 * h('button', {class: 'x', i18n: 'nav.queue', onclick: fn}, child, ...)
 * - `i18n`: dictionary key; sets the text and `data-i18n` so a language
 *   switch relabels the element in place.
 * - `i18nAttr`: {placeholder: key, 'aria-label': key, title: key}.
 * - `on*` functions become listeners; booleans set/remove the attribute;
 *   `null`/`undefined` values are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'i18n') {
      el.dataset.i18n = v;
      el.textContent = t(v);
    } else if (k === 'i18nAttr') {
      for (const [attr, key] of Object.entries(v)) {
        el.dataset[`i18n${camel(attr)}`] = key;
        el.setAttribute(attr, t(key));
      }
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'value' || k === 'checked' || k === 'text') {
      if (k === 'text') el.textContent = v;
      else el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// `aria-label` → `AriaLabel`, the suffix of `data-i18n-aria-label`.
function camel(attr) {
  return attr.split('-').map((p) => p[0].toUpperCase() + p.slice(1)).join('');
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function debounce(fn, ms) {
  let timer = null;
  const d = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}

let idSeq = 0;
export const uid = (prefix) => `${prefix}-${++idSeq}`;

// Vietnam has no daylight saving: local time is always UTC+07:00, whatever
// time zone the laptop is set to.
const VN_OFFSET_MS = 7 * 3600 * 1000;

/** Now in Vietnam time as a datetime-local value `YYYY-MM-DDTHH:MM:SS`. */
export function nowVnLocal() {
  return new Date(Date.now() + VN_OFFSET_MS).toISOString().slice(0, 19);
}

/** Today in Vietnam, `YYYY-MM-DD`. */
export const todayVn = () => nowVnLocal().slice(0, 10);

/** datetime-local value → RFC 3339 with the +07:00 offset. */
export function localToRfc3339(value) {
  if (!value) return '';
  const v = value.length === 16 ? `${value}:00` : value.slice(0, 19);
  return `${v}+07:00`;
}

/** Any RFC 3339 time → the datetime-local value of that instant in Vietnam. */
export function rfc3339ToVnLocal(s) {
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return '';
  return new Date(ms + VN_OFFSET_MS).toISOString().slice(0, 19);
}

/** A time for people: `24/11/2026 09:30`, Vietnam time, whatever the laptop's zone. */
export function fmtDateTime(s) {
  if (!s) return '';
  const local = rfc3339ToVnLocal(s);
  if (!local) return s;
  return `${fmtDate(local.slice(0, 10))} ${local.slice(11, 16)}`;
}

/** `YYYY-MM-DD` → `DD/MM/YYYY` (the way dates are written in Vietnam). */
export function fmtDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s || '');
  return m ? `${m[3]}/${m[2]}/${m[1]}` : (s || '');
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Text typed by people goes to the server in NFC (the canonical form). */
export const nfc = (s) => (s || '').normalize('NFC');
