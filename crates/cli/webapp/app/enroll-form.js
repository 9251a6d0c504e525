// The enrollment form's fields: building them, showing those that apply
// to the kind, reading the record out (empty optional fields omitted) and
// filling it in (a correction, a worklist person).
import { h, nfc, nowVnLocal, localToRfc3339, rfc3339ToVnLocal, todayVn } from './dom.js';
import { field, enumSelect } from './fields.js';
import { unitPicker } from './unit-picker.js';
import { attachmentField, forSubmit, forValidate, FINGERS } from './attachments.js';
import { officerId } from './session.js';

export const KINDS = ['id_card_application', 'eid_registration', 'eid_activation', 'driver_license_link', 'info_correction'];

// Fields shown only for some kinds (every other field applies to all).
const ONLY = {
  eid_level: ['id_card_application', 'eid_registration'],
  under_14_request: ['id_card_application'],
  'driver_license.number': ['driver_license_link'],
  'correction.fields': ['info_correction'],
  'correction.note': ['info_correction'],
  'attachments.face': ['id_card_application'],
  fingerprints: ['id_card_application'],
};
// Required only for some kinds (the star beside the label).
const REQUIRED_FOR = {
  'citizen.phone': ['eid_registration'],
  eid_level: ['eid_registration'],
};

const values = (form, key) => (Array.isArray(form[key]) ? form[key] : []);

function textInput(name, attrs = {}) {
  return h('input', { type: 'text', name, autocomplete: 'off', spellcheck: 'false', ...attrs });
}

/** Builds the form; `form` is GET /api/form. */
export function buildEnrollForm(form, { onTouch, onAttachmentChange }) {
  const fields = new Map(); // path → .field wrapper
  const add = (wrap) => { fields.set(wrap.dataset.field, wrap); return wrap; };
  const pickers = {};
  const picker = (path, labelKey, opts = {}) => {
    const labelId = `lbl-${path.replace(/\W+/g, '-')}`;
    const p = unitPicker({ field: path, labelId });
    p.onChange(() => onTouch(path));
    pickers[path] = p;
    return add(field(path, labelKey, p.root, { labelFor: p.search, labelId, describe: [p.search], ...opts }));
  };
  const kinds = values(form, 'kinds').filter((k) => KINDS.includes(k.value ?? k));
  const kindSelect = enumSelect('kind', 'kinds', kinds.length ? kinds : KINDS);
  kindSelect.id = 'kind';

  const bio = form.biometrics || {};
  const requiredFingers = new Set(Array.isArray(bio.fingers) ? bio.fingers : []);
  const atts = {};
  const attField = (kind, opts) => {
    const a = attachmentField(kind, { ...opts, onChange: (info) => onAttachmentChange(`attachments.${kind}`, info) });
    atts[kind] = a;
    return add(a.root);
  };
  const exemptions = {};
  const fingerFields = FINGERS.map((f) => {
    const sel = enumSelect(`exemption.${f}`, 'exemption_reasons', values(form, 'exemption_reasons'),
      { empty: true, emptyKey: 'att.exemption.none' });
    sel.classList.add('exemption');
    exemptions[f] = sel;
    const ex = h('label', { class: 'exemption-label' }, h('span', { i18n: 'att.exemption' }), sel);
    return attField(`fingerprint_${f}`, { required: requiredFingers.has(f), extra: ex });
  });

  const correctionBoxes = h('div', { class: 'checks' }, values(form, 'correction_fields').map((c) => {
    const v = c.value ?? c;
    return h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'correction.fields', value: v }),
      h('span', { 'data-label-list': 'correction_fields', 'data-label-value': v }, c[document.documentElement.lang] || c.vi || v));
  }));

  const sections = {
    kind: h('div', { class: 'kind-row' }, add(field('kind', 'field.kind', kindSelect, { required: true }))),
    citizen: h('fieldset', { class: 'section' }, h('legend', { i18n: 'section.citizen' }),
      h('div', { class: 'grid' },
        add(field('citizen.personal_id', 'field.personal_id',
          textInput('citizen.personal_id', { inputmode: 'numeric', maxlength: 20, pattern: '[0-9 ]*' }), { required: true })),
        add(field('citizen.full_name', 'field.full_name', textInput('citizen.full_name', { autocapitalize: 'words' }), { required: true })),
        add(field('citizen.date_of_birth', 'field.date_of_birth',
          h('input', { type: 'date', name: 'citizen.date_of_birth', min: '1900-01-01', max: todayVn() }), { required: true })),
        add(field('citizen.sex', 'field.sex', enumSelect('citizen.sex', 'sexes', values(form, 'sexes'), { empty: true }), { required: true })),
        add(field('citizen.phone', 'field.phone', h('input', { type: 'tel', name: 'citizen.phone', autocomplete: 'off', inputmode: 'tel' }), { required: true })))),
    permanent: h('fieldset', { class: 'section' }, h('legend', { i18n: 'section.permanent' }),
      h('div', { class: 'grid' },
        picker('citizen.permanent_address.unit_code', 'field.unit', { required: true }),
        add(field('citizen.permanent_address.detail', 'field.detail', textInput('citizen.permanent_address.detail'), { required: true })))),
    current: h('fieldset', { class: 'section' }, h('legend', { i18n: 'section.current' }),
      h('div', { class: 'grid' },
        picker('citizen.current_address.unit_code', 'field.unit'),
        add(field('citizen.current_address.detail', 'field.detail', textInput('citizen.current_address.detail'))))),
    visit: h('fieldset', { class: 'section' }, h('legend', { i18n: 'section.visit' }),
      h('div', { class: 'grid' },
        add(field('visit.place', 'field.visit.place', enumSelect('visit.place', 'places', values(form, 'places'), { empty: true }), { required: true })),
        add(field('visit.reason', 'field.visit.reason', enumSelect('visit.reason', 'reasons', values(form, 'reasons'), { empty: true, emptyKey: 'select.none' }))),
        picker('visit.unit_code', 'field.visit.unit', { required: true }),
        add(field('visit.at', 'field.visit.at', h('input', { type: 'datetime-local', name: 'visit.at', step: 1 }), { required: true })))),
    specific: h('fieldset', { class: 'section', 'data-section': 'specific' }, h('legend', { i18n: 'section.kind' }),
      h('div', { class: 'grid' },
        add(field('eid_level', 'field.eid_level', enumSelect('eid_level', 'eid_level', values(form, 'eid_levels').length ? values(form, 'eid_levels') : [1, 2], { empty: true }), { required: true })),
        add(field('driver_license.number', 'field.driver_license', textInput('driver_license.number', { inputmode: 'numeric' }), { required: true })),
        add(h('div', { class: 'field check-field', 'data-field': 'under_14_request' },
          h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'under_14_request', value: 'true', 'aria-describedby': 'err-under_14_request' }),
            h('span', { i18n: 'field.under_14' })),
          h('div', { class: 'field-error', id: 'err-under_14_request' }))),
        add(field('correction.fields', 'field.correction.fields', correctionBoxes,
          { group: true, describe: Array.from(correctionBoxes.querySelectorAll('input')), required: true })),
        add(field('correction.note', 'field.correction.note', h('textarea', { name: 'correction.note', rows: 3 }), { required: true, class: 'wide' })))),
    attachments: h('fieldset', { class: 'section' }, h('legend', { i18n: 'section.attachments' }),
      h('div', { class: 'grid' },
        attField('face', { labelKey: 'att.face', required: Boolean(bio.face) }),
        attField('document', { labelKey: 'att.document', max: 5 })),
      h('fieldset', { class: 'fingerprints', 'data-group': 'fingerprints' },
        h('legend', { i18n: 'att.fingerprints' }),
        h('div', { class: 'finger-grid' }, fingerFields))),
  };

  const formEl = h('form', { id: 'enroll-form', novalidate: true, autocomplete: 'off' },
    sections.kind, sections.citizen, sections.permanent, sections.current, sections.visit,
    sections.specific, sections.attachments);
  const el = (name) => formEl.elements.namedItem(name);
  let atTouched = false;
  el('visit.at').addEventListener('input', () => { atTouched = true; });

  function kind() { return el('kind').value; }

  function applies(path, k = kind()) {
    const only = ONLY[path] || (path.startsWith('attachments.fingerprint_') ? ONLY.fingerprints : null);
    return !only || only.includes(k);
  }

  /** Show only the fields of the kind; stars for kind-dependent requirements. */
  function applyKind() {
    const k = kind();
    for (const [path, wrap] of fields) wrap.hidden = !applies(path, k);
    sections.attachments.querySelector('.fingerprints').hidden = !applies('fingerprints', k);
    const specificShown = ['eid_level', 'under_14_request', 'driver_license.number', 'correction.fields'].some((p) => applies(p, k));
    sections.specific.hidden = !specificShown;
    for (const [path, kinds] of Object.entries(REQUIRED_FOR)) {
      const star = fields.get(path)?.querySelector('.req');
      if (star) star.hidden = !kinds.includes(k);
    }
  }

  const text = (name) => {
    const v = nfc(el(name).value);
    return v.trim() ? v : undefined;
  };

  /**
   * The record as the API takes it. `mode` 'validate' sends attachments
   * as references where it can. Also answers which field each attachment
   * and exemption index stands for (to place violations).
   */
  function read(mode = 'submit', supersedes) {
    const k = kind();
    if (!atTouched) el('visit.at').value = nowVnLocal();
    const rec = { kind: k, officer_id: officerId() || undefined };
    const citizen = {
      personal_id: text('citizen.personal_id'),
      full_name: text('citizen.full_name'),
      date_of_birth: text('citizen.date_of_birth'),
      sex: text('citizen.sex'),
      phone: text('citizen.phone'),
      permanent_address: prune({ unit_code: text('citizen.permanent_address.unit_code'), detail: text('citizen.permanent_address.detail') }),
      current_address: prune({ unit_code: text('citizen.current_address.unit_code'), detail: text('citizen.current_address.detail') }),
    };
    rec.citizen = prune(citizen) || {};
    rec.visit = prune({
      place: text('visit.place'), reason: text('visit.reason'), unit_code: text('visit.unit_code'),
      at: el('visit.at').value ? localToRfc3339(el('visit.at').value) : undefined,
    }) || {};
    if (applies('eid_level', k) && el('eid_level').value) rec.eid_level = Number(el('eid_level').value);
    if (applies('under_14_request', k) && el('under_14_request').checked) rec.under_14_request = true;
    if (applies('driver_license.number', k)) {
      const number = text('driver_license.number');
      if (number) rec.driver_license = { number };
    }
    if (applies('correction.fields', k)) {
      const chosen = Array.from(formEl.querySelectorAll('input[name="correction.fields"]:checked'), (c) => c.value);
      const corr = prune({ fields: chosen.length ? chosen : undefined, note: text('correction.note') });
      if (corr) rec.correction = corr;
    }
    const attIndex = [];
    const list = [];
    for (const [kindName, a] of Object.entries(atts)) {
      if (!applies(`attachments.${kindName}`, k)) continue;
      for (const it of a.items()) {
        list.push(mode === 'validate' ? forValidate(it) : forSubmit(it));
        attIndex.push(`attachments.${kindName}`);
      }
    }
    if (list.length) rec.attachments = list;
    const exIndex = [];
    if (applies('fingerprints', k)) {
      const ex = [];
      for (const f of FINGERS) {
        if (exemptions[f].value) { ex.push({ finger: f, reason: exemptions[f].value }); exIndex.push(`attachments.fingerprint_${f}`); }
      }
      if (ex.length) rec.biometric_exemptions = ex;
    }
    if (supersedes) rec.supersedes = supersedes;
    return { record: rec, attIndex, exIndex };
  }

  function setValue(name, v) {
    if (v === undefined || v === null) return;
    if (pickers[name]) { pickers[name].set(String(v)); return; }
    const c = el(name);
    if (c) c.value = String(v);
  }

  /** Fills the form from a record body (input shape) or part of one. */
  function fill(r) {
    if (r.kind && KINDS.includes(r.kind)) el('kind').value = r.kind;
    const c = r.citizen || {};
    for (const k of ['personal_id', 'full_name', 'date_of_birth', 'sex', 'phone']) setValue(`citizen.${k}`, c[k]);
    for (const a of ['permanent_address', 'current_address']) {
      if (c[a]) { setValue(`citizen.${a}.unit_code`, c[a].unit_code); setValue(`citizen.${a}.detail`, c[a].detail); }
    }
    const v = r.visit || {};
    setValue('visit.place', v.place);
    setValue('visit.reason', v.reason);
    setValue('visit.unit_code', v.unit_code);
    if (v.at) { el('visit.at').value = rfc3339ToVnLocal(v.at); atTouched = true; }
    if (r.eid_level) setValue('eid_level', r.eid_level);
    el('under_14_request').checked = r.under_14_request === true;
    if (r.driver_license) setValue('driver_license.number', r.driver_license.number);
    if (r.correction) {
      const chosen = new Set((r.correction.fields || []).map((f) => String(f).trim()));
      for (const box of formEl.querySelectorAll('input[name="correction.fields"]')) box.checked = chosen.has(box.value);
      setValue('correction.note', r.correction.note);
    }
    const byKind = {};
    for (const a of r.attachments || []) (byKind[a.kind] ||= []).push(a);
    for (const [kindName, refs] of Object.entries(byKind)) atts[kindName]?.setRefs(refs);
    for (const e of r.biometric_exemptions || []) if (exemptions[e.finger]) exemptions[e.finger].value = e.reason;
    applyKind();
  }

  /** After a store: a fresh citizen, same kind, visit place and unit. */
  function clearCitizen() {
    for (const name of ['citizen.personal_id', 'citizen.full_name', 'citizen.date_of_birth', 'citizen.sex', 'citizen.phone',
      'citizen.permanent_address.detail', 'citizen.current_address.detail', 'driver_license.number', 'correction.note']) {
      el(name).value = '';
    }
    pickers['citizen.permanent_address.unit_code'].set('');
    pickers['citizen.current_address.unit_code'].set('');
    el('under_14_request').checked = false;
    for (const box of formEl.querySelectorAll('input[name="correction.fields"]')) box.checked = false;
    for (const a of Object.values(atts)) a.clear();
    for (const s of Object.values(exemptions)) s.value = '';
    atTouched = false;
    el('visit.at').value = nowVnLocal();
  }

  el('visit.place').value = 'home';
  el('visit.at').value = nowVnLocal();
  if (form.device_unit) pickers['visit.unit_code'].set(form.device_unit);
  applyKind();
  el('kind').addEventListener('change', applyKind);

  return { formEl, fields, pickers, atts, el, kind, applies, applyKind, read, fill, clearCitizen };
}

/** The object without undefined members; undefined when nothing is left. */
function prune(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
