// The worklist: the people this laptop is to reach, by household, with
// one-tap visit outcomes and a way to enroll them.
import { h, debounce, fmtDate, fmtDateTime, nowVnLocal, localToRfc3339 } from './dom.js';
import { t, label, labelSpan } from './i18n.js';
import { api, qs } from './api.js';
import { loadForm, toast, statusBadge } from './shared.js';
import { officerId } from './session.js';
import { unitName, unitInfo } from './unit-picker.js';
import { askOutcome } from './outcome-dialog.js';

const OUTCOMES = ['not_home', 'refused', 'cannot_travel', 'deceased', 'done_elsewhere', 'moved', 'living_elsewhere'];
const WITH_UNIT = ['moved', 'living_elsewhere'];
// Outcomes after which the person still has to be reached.
const NOT_FINAL = ['not_home', 'cannot_travel'];
const filter = { unit: '', need: '', hamlet: '', q: '', include_reached: false };

export async function mount(view, ctx) {
  const form = await loadForm();
  const needsUnit = (o) => {
    const item = (form.outcomes || []).find((x) => x.value === o);
    return item && typeof item.needs_unit === 'boolean' ? item.needs_unit : o === 'living_elsewhere';
  };

  const unit = h('select', { id: 'worklist-unit' }, h('option', { value: '', i18n: 'worklist.unit.all' }));
  const need = h('select', { id: 'worklist-need' }, h('option', { value: '', i18n: 'worklist.need.all' }),
    ['card', 'eid_registration', 'eid_activation'].map((n) => {
      const o = h('option', { value: n, 'data-label-list': 'needs', 'data-label-value': n });
      o.textContent = label('needs', n);
      return o;
    }));
  const hamlet = h('select', { id: 'worklist-hamlet' }, h('option', { value: '', i18n: 'worklist.hamlet.all' }));
  const search = h('input', { type: 'search', id: 'worklist-search', autocomplete: 'off', value: filter.q, i18nAttr: { placeholder: 'worklist.search' } });
  const reached = h('input', { type: 'checkbox', id: 'worklist-include-reached', checked: filter.include_reached });
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const list = h('div', { class: 'households' });
  need.value = filter.need;

  const labelled = (id, key, control, cls = '') => h('div', { class: `field ${cls}`.trim() }, h('label', { for: id, i18n: key }), control);
  view.append(h('section', { class: 'screen worklist', 'aria-labelledby': 'worklist-title' },
    h('h1', { id: 'worklist-title', i18n: 'worklist.title' }),
    h('div', { class: 'filters' },
      labelled('worklist-unit', 'worklist.unit', unit),
      labelled('worklist-need', 'worklist.need', need),
      labelled('worklist-hamlet', 'worklist.hamlet', hamlet),
      labelled('worklist-search', 'worklist.search', search, 'grow'),
      h('label', { class: 'check' }, reached, h('span', { i18n: 'worklist.include_reached' }))),
    count, list));

  function fillSelect(sel, values, current, name) {
    const first = sel.firstElementChild;
    sel.replaceChildren(first, ...values.map((v) => {
      const o = h('option', { value: v }, v);
      if (name) unitInfo(v).then((u) => { if (u) o.textContent = u.name; });
      return o;
    }));
    sel.value = values.includes(current) ? current : '';
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    Object.assign(filter, {
      unit: unit.value || filter.unit, need: need.value, hamlet: hamlet.value || filter.hamlet,
      q: search.value.normalize('NFC').trim(), include_reached: reached.checked,
    });
    let ans;
    try {
      ans = await api(`/api/worklist${qs({ ...filter, include_reached: filter.include_reached ? 'true' : '' })}`);
    } catch (err) {
      if (mine === seq) list.replaceChildren(h('p', { class: 'notice error' }, err.human));
      return;
    }
    if (mine !== seq || !ctx.alive()) return;
    fillSelect(unit, ans.units || [], filter.unit, true);
    fillSelect(hamlet, ans.hamlets || [], filter.hamlet, false);
    filter.unit = unit.value;
    filter.hamlet = hamlet.value;
    const people = ans.people || [];
    count.textContent = t('worklist.count', { n: people.length });
    list.replaceChildren(...(people.length ? groups(people).map(household) : [h('p', { class: 'empty', i18n: 'worklist.empty' })]));
  }

  function household(g) {
    const first = g.people[0];
    return h('section', { class: 'household', 'data-household': g.key },
      h('h2', {}, first.household ? t('worklist.household', { h: first.household }) : (first.address_detail || ''),
        first.household && first.address_detail ? h('span', { class: 'hint' }, ` · ${first.address_detail}`) : null),
      h('div', { class: 'people' }, g.people.map(card)));
  }

  function card(p) {
    const still = (p.needs || []).filter((n) => !(p.covered || []).includes(n));
    const visits = h('ul', { class: 'person-visits', 'aria-label': t('worklist.visits') });
    const el = h('article', { class: 'person', 'data-personal-id': p.personal_id, 'data-reached': p.reached_here ? 'true' : null },
      h('header', { class: 'person-head' },
        h('h3', {}, p.full_name),
        p.reached_here ? h('span', { class: 'badge reached', i18n: 'worklist.reached' }) : null,
        p.status === 'review' ? h('span', { class: 'badge warn', i18n: 'worklist.review' }) : null),
      h('p', { class: 'person-meta' }, t('worklist.born', { d: fmtDate(p.date_of_birth) }), ' · ',
        labelSpan('sexes', p.sex), ' · ', h('span', { class: 'pid' }, p.personal_id)),
      h('p', { class: 'person-address' }, p.address_detail ? `${p.address_detail}, ` : '', unitName(p.unit_code)),
      h('p', {}, h('strong', { i18n: 'worklist.needs' }), ': ',
        still.length ? still.map((n, i) => [i ? ', ' : '', labelSpan('needs', n)]) : h('span', { i18n: 'worklist.needs.none' })),
      p.reason ? h('p', {}, h('strong', { i18n: 'worklist.reason' }), ': ', labelSpan('reasons_worklist', p.reason)) : null,
      p.referred_from ? h('p', { class: 'referred' }, t('worklist.referred_from', { unit: '' }), unitName(p.referred_from)) : null,
      visits,
      h('div', { class: 'person-actions' },
        h('button', {
          type: 'button', class: 'enroll-person primary', i18n: 'worklist.enroll',
          onclick: () => { location.hash = `#/enroll?from=${encodeURIComponent(p.personal_id)}`; },
        }),
        h('div', { class: 'outcomes', role: 'group', 'aria-label': t('worklist.outcomes') },
          OUTCOMES.map((o) => {
            const b = h('button', { type: 'button', class: 'outcome', 'data-outcome': o, 'data-label-list': 'outcomes', 'data-label-value': o });
            b.textContent = label('outcomes', o);
            b.addEventListener('click', () => tap(p, o, el, b));
            return b;
          }))));
    showVisits(visits, p);
    return el;
  }

  async function tap(p, outcome, el, button) {
    if (!officerId()) { toast(t('worklist.officer.missing'), 'error'); return; }
    if (WITH_UNIT.includes(outcome)) {
      const done = await askOutcome({ outcome, person: p, needsUnit: needsUnit(outcome), submit: (extra) => post(p, outcome, extra, el) });
      button.focus();
      return done;
    }
    button.disabled = true;
    const problem = await post(p, outcome, {}, el);
    button.disabled = false;
    if (problem) toast(problem, 'error');
  }

  /** POST /api/visits; '' when stored, else what to tell the officer. */
  async function post(p, outcome, extra, el) {
    const body = {
      personal_id: p.personal_id, outcome, officer_id: officerId(), place: 'home', reason: null,
      unit_code: extra.unit_code || null, note: extra.note || null, detail: extra.detail || null, record_id: null,
    };
    let ans;
    try {
      ans = await api('/api/visits', { method: 'POST', body });
    } catch (err) {
      if (err.status === 422 && err.body && Array.isArray(err.body.results)) {
        return ((err.body.results[0] || {}).violations || []).map((v) => v.message || v.code).join(' ') || err.human;
      }
      return err.code === 'session.required' ? '' : err.human;
    }
    const res = (ans && ans.results && ans.results[0]) || {};
    p.visits = Array.isArray(p.visits) ? p.visits : [];
    p.visits.push({ record_id: res.record_id, kind: 'visit_outcome', outcome, visit_at: localToRfc3339(nowVnLocal()), status: 'pending', unit: extra.unit_code });
    showVisits(el.querySelector('.person-visits'), p);
    if (!NOT_FINAL.includes(outcome)) el.dataset.reached = 'true';
    toast(t('worklist.recorded', { outcome: label('outcomes', outcome), name: p.full_name }));
    return '';
  }

  const reload = debounce(load, 250);
  search.addEventListener('input', reload);
  for (const sel of [unit, need, hamlet]) sel.addEventListener('change', () => { filter[sel.id.replace('worklist-', '')] = sel.value; load(); });
  reached.addEventListener('change', load);
  await load();
  return { onLang: load, refresh: load };
}

function showVisits(ul, p) {
  const visits = Array.isArray(p.visits) ? p.visits : [];
  if (!visits.length) {
    ul.replaceChildren(h('li', { class: 'none', i18n: 'worklist.visits.none' }));
    return;
  }
  ul.replaceChildren(...visits.map((v) => h('li', { 'data-outcome': v.outcome || null, 'data-record-id': v.record_id || null },
    v.outcome ? labelSpan('outcomes', v.outcome) : labelSpan('kinds', v.kind),
    v.unit ? [' → ', unitName(v.unit)] : null,
    ` · ${fmtDateTime(v.visit_at)} · `,
    statusBadge(v.status || 'pending'))));
}

/** People by household (or by address when the roster has no household). */
function groups(people) {
  const map = new Map();
  for (const p of people) {
    const key = p.household ? `h:${p.household}` : `a:${p.unit_code}|${p.address_detail || p.personal_id}`;
    if (!map.has(key)) map.set(key, { key, people: [] });
    map.get(key).people.push(p);
  }
  return Array.from(map.values());
}
