// The enrollment screen: modes (new, from a worklist person, correcting a
// rejected record), validation on blur, submit, violations beside fields.
import { h, debounce, fmtDate } from './dom.js';
import { t } from './i18n.js';
import { api, qs } from './api.js';
import { setFieldError } from './fields.js';
import { buildEnrollForm, KINDS } from './enroll-form.js';
import { FINGERS } from './attachments.js';
import { officerId } from './session.js';
import { loadForm, toast, rejectReason } from './shared.js';

// A need on the worklist → the record kind that meets it.
const KIND_OF_NEED = { card: 'id_card_application', eid_registration: 'eid_registration', eid_activation: 'eid_activation' };

// The screen of the last enroll route, kept while the officer is locked
// out or looks at another screen, so nothing typed is lost.
let kept = null;

export async function mount(view, ctx) {
  if (kept && kept.key === ctx.hash) {
    view.append(kept.root);
    kept.resume();
    return kept;
  }
  const screen = await build(ctx);
  if (!screen) return null;
  view.append(screen.root);
  kept = screen;
  return screen;
}

async function build(ctx) {
  const form = await loadForm();
  const correct = ctx.query.get('correct');
  const from = ctx.query.get('from');
  const touched = new Set();
  let supersedes = null;
  let submitting = false;
  let validateSeq = 0;

  const result = h('div', { id: 'enroll-result', class: 'result', 'aria-live': 'polite', hidden: true });
  const formErrors = h('div', { id: 'form-errors', class: 'form-errors', tabindex: '-1', 'aria-live': 'polite', hidden: true });
  const banner = h('div', { class: 'banners' });
  const officerLine = h('p', { class: 'officer-line' });

  const f = buildEnrollForm(form, {
    onTouch: (path) => { edited(path); touched.add(path); validateSoon(); },
    onAttachmentChange: (path, info) => {
      touched.add(path);
      if (info && info.error) setFieldError(f.fields.get(path), info.error);
      validateSoon();
    },
  });
  const submit = h('button', { type: 'submit', id: 'enroll-submit', class: 'primary big', i18n: 'enroll.submit' });
  f.formEl.append(h('div', { class: 'submit-row' }, officerLine, submit));
  const root = h('section', { class: 'screen enroll', 'aria-labelledby': 'enroll-title' },
    h('h1', { id: 'enroll-title', i18n: 'enroll.title' }), banner, result, formErrors, f.formEl);

  const initialKind = ctx.query.get('kind');
  if (KINDS.includes(initialKind)) { f.el('kind').value = initialKind; f.applyKind(); }

  // What the banner says, kept so a language switch can say it again.
  let said = null; // {key, vars} or the correction's summary
  let correcting = null;

  if (correct) {
    let found;
    try {
      found = await api(`/api/records/${encodeURIComponent(correct)}`);
    } catch (err) {
      said = err.status === 404 ? { key: 'enroll.record.notfound', vars: { id: correct }, error: true } : { text: err.human, error: true };
      found = null;
    }
    if (found && found.summary && found.summary.superseded_by) {
      said = { key: 'enroll.record.corrected', vars: { id: correct, by: found.summary.superseded_by }, error: true };
    } else if (found && found.record) {
      f.fill(found.record);
      supersedes = correct;
      correcting = found.summary || {};
    } else if (found) {
      said = { key: 'enroll.record.purged', error: true };
    }
  } else if (from) {
    let person = null;
    try {
      const wl = await api(`/api/worklist${qs({ q: from, include_reached: 'true' })}`);
      person = (wl.people || []).find((p) => p.personal_id === from) || null;
    } catch { /* said below */ }
    if (person) {
      const still = (person.needs || []).filter((n) => !(person.covered || []).includes(n));
      const kind = KIND_OF_NEED[still[0] || (person.needs || [])[0]];
      f.fill({
        kind: KINDS.includes(initialKind) ? initialKind : kind,
        citizen: {
          personal_id: person.personal_id, full_name: person.full_name, date_of_birth: person.date_of_birth,
          sex: person.sex, permanent_address: { unit_code: person.unit_code, detail: person.address_detail },
        },
        visit: { place: 'home' },
      });
      said = { key: 'enroll.from', vars: { name: `${person.full_name} (${fmtDate(person.date_of_birth)})` } };
    } else {
      said = { key: 'enroll.person.notfound', vars: { id: from }, error: true };
      f.fill({ citizen: { personal_id: from } });
    }
  }

  function renderBanner() {
    banner.replaceChildren();
    if (correcting && supersedes) {
      const s = correcting;
      banner.append(h('div', { id: 'correcting', class: 'notice warn', 'data-supersedes': supersedes },
        h('p', {}, t('enroll.correcting', { id: supersedes, name: s.full_name || '' })),
        rejectReason(s) ? h('p', {}, t('enroll.correcting.reason', { reason: rejectReason(s) })) : null,
        s.advice ? h('p', {}, s.advice) : null));
    } else if (said) {
      banner.append(h('p', { class: `notice${said.error ? ' error' : ''}` }, said.text || t(said.key, said.vars)));
    }
  }
  renderBanner();

  function showOfficer() {
    const id = officerId();
    officerLine.textContent = id ? t('enroll.officer', { id }) : t('enroll.officer.missing');
    officerLine.classList.toggle('error', !id);
  }
  showOfficer();

  // Touching = leaving a field (or changing a choice); only touched fields
  // show what the server says about them while the officer types.
  f.formEl.addEventListener('focusout', (e) => {
    const wrap = e.target.closest('.field[data-field]');
    if (!wrap || wrap.contains(e.relatedTarget)) return;
    touched.add(wrap.dataset.field);
    validateSoon();
  });
  // A field being changed: what the server said about it no longer holds,
  // and an answer still on its way is about older values.
  function edited(path) {
    validateSeq++;
    const wrap = f.fields.get(path);
    if (wrap) setFieldError(wrap, '');
  }
  f.formEl.addEventListener('input', (e) => {
    const wrap = e.target.closest('.field[data-field]');
    if (wrap && e.target.type !== 'file') edited(wrap.dataset.field);
  });
  f.formEl.addEventListener('change', (e) => {
    const wrap = e.target.closest('.field[data-field]');
    if (wrap && e.target.type !== 'file' && (e.target.tagName === 'SELECT' || e.target.type === 'checkbox')) {
      touched.add(wrap.dataset.field);
      validateSoon();
    }
  });

  /** Which field a violation's path belongs to (null: #form-errors). */
  function fieldFor(v, attIndex, exIndex) {
    let p = String(v.path || '').replace(/^\$\.?/, '');
    let m = /^attachments\[(\d+)\]/.exec(p);
    if (m) return attIndex[Number(m[1])] || null;
    m = /^biometric_exemptions\[(\d+)\]/.exec(p);
    if (m) return exIndex[Number(m[1])] || null;
    if (p === 'attachments') {
      if (v.code === 'attachment.face_required') return 'attachments.face';
      if (v.code === 'attachment.too_many') return 'attachments.document';
      if (v.code === 'attachment.fingerprint_required') {
        const missing = FINGERS.find((fg) => f.fields.get(`attachments.fingerprint_${fg}`).querySelector('legend .req')
          && !f.atts[`fingerprint_${fg}`].items().length && !f.el(`exemption.${fg}`).value);
        return missing ? `attachments.fingerprint_${missing}` : null;
      }
      return null;
    }
    p = p.replace(/\[\d+\]/g, '');
    const visible = (path) => f.fields.has(path) && !f.fields.get(path).hidden;
    if (visible(p)) return p;
    for (const path of f.fields.keys()) if (path.startsWith(`${p}.`) && visible(path)) return path;
    return null;
  }

  /** Shows violations; `only` limits them to those fields (blur checks). */
  function show(violations, read, only) {
    const byField = new Map();
    const others = [];
    for (const v of violations) {
      const path = fieldFor(v, read.attIndex, read.exIndex);
      if (path) byField.set(path, [...(byField.get(path) || []), v.message || v.code]);
      else others.push(v);
    }
    for (const [path, wrap] of f.fields) {
      if (only && !only.has(path)) continue;
      setFieldError(wrap, (byField.get(path) || []).join(' '));
    }
    if (!only) {
      formErrors.replaceChildren(...others.map((v) => h('p', { 'data-path': v.path || '' }, v.message || v.code)));
      formErrors.hidden = !others.length;
    }
    return { byField, others };
  }

  const validateSoon = debounce(validateNow, 300);
  async function validateNow() {
    if (!touched.size || submitting) return;
    const mine = ++validateSeq;
    const read = f.read('validate', supersedes);
    let ans;
    try {
      ans = await api('/api/validate', { method: 'POST', body: read.record });
    } catch { return; }
    if (mine !== validateSeq || submitting) return;
    show((ans && ans.violations) || [], read, touched);
  }

  f.formEl.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submitting) return;
    validateSoon.cancel();
    validateSeq++;
    submitting = true;
    submit.disabled = true;
    submit.textContent = t('enroll.saving');
    result.hidden = true;
    result.removeAttribute('data-record-id');
    const read = f.read('submit', supersedes);
    try {
      const ans = await api('/api/records', { method: 'POST', body: read.record });
      stored((ans.results || [])[0] || {});
    } catch (err) {
      if (err.status === 422 && err.body && Array.isArray(err.body.results)) {
        const res = err.body.results[0] || {};
        for (const path of f.fields.keys()) touched.add(path);
        const { byField, others } = show(res.violations || [], read);
        failed(t(res.status === 'refused' ? 'enroll.refused' : 'enroll.invalid', { n: (res.violations || []).length }), byField, others);
      } else if (err.code !== 'session.required') {
        formErrors.replaceChildren(h('p', {}, err.human));
        formErrors.hidden = false;
        formErrors.focus();
      }
    } finally {
      submitting = false;
      submit.disabled = false;
      submit.textContent = t('enroll.submit');
    }
  });

  function failed(message, byField, others) {
    toast(message, 'error');
    // The first in the page's order (not the order the fields were built in).
    const first = Array.from(f.formEl.querySelectorAll('.field[data-field]')).find((w) => byField.has(w.dataset.field));
    if (first) {
      const control = first.querySelector('input:not([type=hidden]), select, textarea, button');
      first.scrollIntoView({ block: 'center' });
      (control || first).focus({ preventScroll: true });
    } else if (others.length) {
      formErrors.focus();
    }
  }

  function stored(res) {
    const id = res.record_id || '';
    const already = res.status === 'already_stored';
    result.replaceChildren(
      h('p', {}, t(already ? 'enroll.already' : 'enroll.stored', { id })),
      h('a', { href: `#/record/${id}`, i18n: 'enroll.view' }));
    result.dataset.recordId = id;
    result.hidden = false;
    toast(t(already ? 'enroll.already' : 'enroll.stored', { id }));
    for (const wrap of f.fields.values()) setFieldError(wrap, '');
    formErrors.hidden = true;
    touched.clear();
    f.clearCitizen();
    // The correction or the worklist person is done: what follows is an
    // ordinary enrollment, and coming back to this route starts afresh.
    if (correct || from) kept = null;
    supersedes = null;
    // The worklist person is enrolled: the next one is someone else.
    if (said && !said.error) said = null;
    renderBanner();
    window.scrollTo({ top: 0 });
    f.el('citizen.personal_id').focus({ preventScroll: true });
  }

  return {
    key: ctx.hash,
    root,
    resume() { showOfficer(); },
    onLang() {
      showOfficer();
      renderBanner();
      if (touched.size) validateNow();
    },
  };
}
