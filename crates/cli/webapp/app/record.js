// One record: every field, its custody state, why it was rejected and
// what to do, its photos, and the way to correct it.
import { h, fmtDateTime, fmtDate, fmtBytes } from './dom.js';
import { t, label, labelSpan } from './i18n.js';
import { api, withLang } from './api.js';
import { loadForm, statusBadge, rejectReason } from './shared.js';
import { unitName } from './unit-picker.js';

export async function mount(view, ctx) {
  await loadForm();
  const id = ctx.param;
  const section = h('section', { class: 'screen record', 'aria-labelledby': 'record-title' });
  view.append(section);
  let found;
  try {
    found = await api(`/api/records/${encodeURIComponent(id)}`);
  } catch (err) {
    section.append(h('h1', { id: 'record-title', i18n: 'record.title' }),
      h('p', { class: 'notice error' }, err.status === 404 ? t('enroll.record.notfound', { id }) : err.human),
      h('a', { href: '#/queue', i18n: 'record.back' }));
    return null;
  }
  render(section, found);
  return { onLang: () => { section.replaceChildren(); render(section, found); } };
}

function render(section, { summary: s, record: r }) {
  const rows = [];
  const row = (key, value) => {
    if (value === undefined || value === null || value === '') return;
    rows.push(h('dt', { i18n: key }), h('dd', {}, value));
  };
  row('record.id', h('code', {}, s.record_id));
  row('record.kind', labelSpan('kinds', s.kind, 'cap'));
  row('record.enrolled_at', fmtDateTime(s.enrolled_at));
  row('record.status_at', fmtDateTime(s.status_at));
  row('record.held_by', s.held_by);
  row('record.attempts', s.attempts ? String(s.attempts) : '');
  row('record.last_error', s.last_error);
  if (s.supersedes) row('record.supersedes', h('a', { href: `#/record/${s.supersedes}` }, s.supersedes));
  if (s.superseded_by) row('record.superseded_by', h('a', { href: `#/record/${s.superseded_by}` }, s.superseded_by));

  if (r) {
    const c = r.citizen || {};
    row('record.officer', r.officer_id);
    row('field.personal_id', c.personal_id);
    row('field.full_name', c.full_name);
    row('field.date_of_birth', fmtDate(c.date_of_birth));
    if (c.sex) row('field.sex', labelSpan('sexes', c.sex, 'cap'));
    row('field.phone', c.phone);
    if (c.permanent_address) row('record.permanent_address', address(c.permanent_address));
    if (c.current_address) row('record.current_address', address(c.current_address));
    const v = r.visit || {};
    if (v.place) row('field.visit.place', labelSpan('places', v.place, 'cap'));
    if (v.reason) row('field.visit.reason', labelSpan('reasons', v.reason, 'cap'));
    if (v.unit_code) row('field.visit.unit', unitName(v.unit_code));
    row('field.visit.at', fmtDateTime(v.at));
    if (r.eid_level) row('field.eid_level', label('eid_level', r.eid_level));
    if (r.under_14_request) row('field.under_14', t('yes'));
    if (r.driver_license) row('field.driver_license', r.driver_license.number);
    if (r.correction) {
      row('field.correction.fields', (r.correction.fields || []).map((x) => label('correction_fields', x)).join(', '));
      row('field.correction.note', r.correction.note);
    }
    if (r.outcome) {
      const o = r.outcome;
      row('worklist.outcomes', h('span', {}, labelSpan('outcomes', o.result, 'cap'),
        o.unit_code ? [' → ', unitName(o.unit_code)] : null, o.detail ? `, ${o.detail}` : null,
        o.note ? ` (${o.note})` : null));
    }
  }

  const rejected = s.status === 'rejected';
  const correctable = rejected && !s.superseded_by && s.correctable !== false && r;
  const detail = h('div', { id: 'record-detail', 'data-record-id': s.record_id, 'data-status': s.status },
    h('div', { class: 'record-head' }, statusBadge(s.status)),
    rejected ? h('div', { class: 'notice error rejection' },
      h('p', {}, h('strong', { i18n: 'record.reason' }), ': ', h('span', { id: 'reject-reason' }, rejectReason(s))),
      s.advice ? h('p', {}, h('strong', { i18n: 'record.advice' }), ': ', h('span', { id: 'reject-advice' }, s.advice)) : null,
      correctable ? h('button', {
        type: 'button', id: 'correct-button', class: 'primary',
        i18n: 'record.correct', onclick: () => { location.hash = `#/enroll?correct=${s.record_id}`; },
      }) : null) : null,
    r ? null : h('p', { class: 'notice', i18n: 'record.purged' }),
    h('dl', { class: 'fields' }, rows),
    r && (r.attachments || []).length ? h('div', { class: 'attachments' },
      h('h2', { i18n: 'record.attachments' }),
      h('div', { class: 'attachment-thumbs' }, r.attachments.map(attachment))) : null);

  section.append(
    h('a', { href: '#/queue', class: 'back', i18n: 'record.back' }),
    h('h1', { id: 'record-title' }, (r && r.citizen && r.citizen.full_name) || s.full_name || t('record.title')),
    detail);
}

function address(a) {
  return h('span', {}, a.detail ? `${a.detail}, ` : '', unitName(a.unit_code));
}

function attachment(a) {
  const name = label('attachments', a.kind);
  const body = ['image/jpeg', 'image/png'].includes(a.media_type)
    ? h('img', { class: 'attachment-thumb', 'data-attachment': a.kind, src: withLang(`/api/attachments/${a.sha256}`), alt: name, loading: 'lazy' })
    : h('span', { class: 'attachment-file' }, `${a.media_type.replace(/^.*\//, '').toUpperCase()} · ${fmtBytes(a.size)}`);
  return h('figure', { class: 'attachment-item' }, body, h('figcaption', {}, name));
}
