// End of day: the day's records by kind, place, state and outcome, and
// what still stands between them and confirmation.
import { h } from './dom.js';
import { t, labelSpan } from './i18n.js';
import { api, qs } from './api.js';
import { loadForm } from './shared.js';

let chosenDate = '';

const TABLES = [
  ['by_kind', 'summary.by_kind', 'kinds'],
  ['by_place', 'summary.by_place', 'places'],
  ['by_status', 'summary.by_status', 'statuses'],
  ['outcomes', 'summary.outcomes', 'outcomes'],
];

export async function mount(view, ctx) {
  const form = await loadForm();
  const date = h('input', { type: 'date', id: 'summary-date', value: chosenDate || form.today || '' });
  const body = h('div', { class: 'summary-body', 'aria-live': 'polite' });
  view.append(h('section', { class: 'screen summary', 'aria-labelledby': 'summary-title' },
    h('h1', { id: 'summary-title', i18n: 'summary.title' }),
    h('div', { class: 'filters' }, h('div', { class: 'field' }, h('label', { for: 'summary-date', i18n: 'summary.date' }), date)),
    body));

  let seq = 0;
  async function load() {
    const mine = ++seq;
    chosenDate = date.value;
    let s;
    try {
      s = await api(`/api/summary${qs({ date: date.value })}`);
    } catch (err) {
      if (mine === seq) body.replaceChildren(h('p', { class: 'notice error' }, err.human));
      return;
    }
    if (mine !== seq || !ctx.alive()) return;
    if (!date.value && s.date) date.value = s.date;
    body.replaceChildren(
      h('p', { class: 'total' }, t('summary.total', { n: s.total ?? 0 })),
      h('div', { class: 'tables' }, TABLES.map(([key, title, list]) => table(key, title, list, s[key] || {}))),
      h('h2', { i18n: 'summary.blocking' }),
      blocking(s.blocking || []));
  }

  date.addEventListener('change', load);
  await load();
  return { onLang: load };
}

function table(key, title, list, counts) {
  const entries = Object.entries(counts).filter(([, n]) => n);
  return h('table', { 'data-summary': key },
    h('caption', { i18n: title }),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', i18n: 'summary.col.what' }), h('th', { scope: 'col', class: 'count', i18n: 'summary.col.count' }))),
    h('tbody', {}, entries.length
      ? entries.map(([k, n]) => h('tr', { 'data-key': k }, h('th', { scope: 'row' }, labelSpan(list, k)), h('td', { class: 'count' }, String(n))))
      : h('tr', { class: 'empty' }, h('td', { colspan: 2, i18n: 'summary.empty' }))));
}

function blocking(items) {
  return h('ul', { id: 'blocking' }, items.length
    ? items.map((b) => h('li', { 'data-code': b.code, 'data-count': b.count ?? null }, b.message || b.code))
    : h('li', { class: 'none', i18n: 'summary.blocking.none' }));
}
