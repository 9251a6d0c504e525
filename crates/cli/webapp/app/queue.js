// The queue: every record on the laptop with its custody state; search by
// name (without accents, done by the server) or ID number; state filter.
import { h, debounce, fmtDateTime } from './dom.js';
import { t, labelSpan } from './i18n.js';
import { api, qs } from './api.js';
import { enumSelect } from './fields.js';
import { loadForm, statusBadge, rejectReason } from './shared.js';

const STATES = ['pending', 'held', 'confirmed', 'rejected'];
// The filter survives going to a record and back.
const filter = { q: '', status: '' };

export async function mount(view, ctx) {
  await loadForm();
  const search = h('input', { type: 'search', id: 'queue-search', value: filter.q, autocomplete: 'off', i18nAttr: { placeholder: 'queue.search' } });
  const status = enumSelect('status', 'statuses', STATES, { empty: true, emptyKey: 'queue.status.all' });
  status.id = 'queue-status';
  status.value = filter.status;
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const list = h('div', { class: 'record-list', role: 'list' });

  view.append(h('section', { class: 'screen queue', 'aria-labelledby': 'queue-title' },
    h('h1', { id: 'queue-title', i18n: 'queue.title' }),
    h('div', { class: 'filters' },
      h('div', { class: 'field grow' }, h('label', { for: 'queue-search', i18n: 'queue.search' }), search),
      h('div', { class: 'field' }, h('label', { for: 'queue-status', i18n: 'queue.status' }), status)),
    count, list));

  let seq = 0;
  async function load() {
    const mine = ++seq;
    filter.q = search.value.normalize('NFC').trim();
    filter.status = status.value;
    let rows;
    try {
      rows = await api(`/api/records${qs({ q: filter.q, status: filter.status, limit: 500 })}`);
    } catch (err) {
      if (mine === seq) list.replaceChildren(h('p', { class: 'notice error' }, err.human));
      return;
    }
    if (mine !== seq || !ctx.alive()) return;
    rows = (rows || []).slice().reverse(); // newest first
    count.textContent = t('queue.count', { n: rows.length });
    list.replaceChildren(...(rows.length ? rows.map(row) : [h('p', { class: 'empty', i18n: 'queue.empty' })]));
  }

  search.addEventListener('input', debounce(load, 250));
  status.addEventListener('change', load);
  await load();
  return { onLang: load, refresh: load };
}

function row(r) {
  const rejected = r.status === 'rejected';
  return h('a', {
    class: `record-row status-${r.status}`, href: `#/record/${r.record_id}`, role: 'listitem',
    'data-record-id': r.record_id, 'data-status': r.status, 'data-kind': r.kind,
  },
  h('div', { class: 'record-main' },
    h('span', { class: 'record-name' }, r.full_name || '—'),
    h('span', { class: 'record-pid' }, r.personal_id || ''),
    labelSpan('kinds', r.kind, 'record-kind'),
    h('span', { class: 'record-time' }, fmtDateTime(r.visit_at || r.enrolled_at))),
  h('div', { class: 'record-side' },
    statusBadge(r.status),
    r.superseded_by ? h('span', { class: 'badge corrected', i18n: 'queue.corrected' }) : null),
  rejected ? h('div', { class: 'record-reason' },
    h('strong', {}, rejectReason(r)),
    r.advice ? [' ', h('span', { class: 'record-advice' }, r.advice)] : null) : null);
}
