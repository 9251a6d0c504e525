// Form field wrappers: `.field[data-field=path]` with a label, the control
// and one `.field-error` linked by aria-describedby (the DOM contract).
import { h, uid } from './dom.js';
import { label, cap } from './i18n.js';

export const errId = (path) => `err-${path.replace(/[^a-zA-Z0-9]+/g, '-')}`;

/**
 * field('citizen.full_name', 'field.full_name', input)
 * opts.group: a fieldset with a legend (checkbox groups, attachments).
 * opts.labelFor: the element the label points at (default: the control).
 * opts.describe: elements to link to the error (default: the control).
 */
export function field(path, labelKey, control, opts = {}) {
  const err = h('div', { class: 'field-error', id: errId(path) });
  const controls = opts.describe || [control];
  for (const c of controls) {
    const ids = new Set((c.getAttribute('aria-describedby') || '').split(' ').filter(Boolean));
    ids.add(err.id);
    c.setAttribute('aria-describedby', [...ids].join(' '));
  }
  const required = opts.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null;
  let wrap;
  if (opts.group) {
    wrap = h('fieldset', { class: `field ${opts.class || ''}`.trim(), 'data-field': path },
      h('legend', {}, h('span', { i18n: labelKey }), required), control, opts.extra, err);
  } else {
    const target = opts.labelFor || control;
    if (!target.id) target.id = uid('f');
    const lab = h('label', { for: target.id, id: opts.labelId }, h('span', { i18n: labelKey }), required);
    wrap = h('div', { class: `field ${opts.class || ''}`.trim(), 'data-field': path }, lab, control, opts.extra, err);
  }
  return wrap;
}

export function setFieldError(wrap, message) {
  const err = wrap.querySelector(':scope > .field-error');
  if (err) err.textContent = message || '';
  wrap.classList.toggle('invalid', Boolean(message));
  for (const c of wrap.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (message) c.setAttribute('aria-invalid', 'true');
    else c.removeAttribute('aria-invalid');
  }
}

/** A <select> of an enumeration from /api/form (labels follow the language). */
export function enumSelect(name, list, values, { empty, emptyKey = 'select.choose' } = {}) {
  const sel = h('select', { name });
  if (empty) sel.append(h('option', { value: '', i18n: emptyKey }));
  for (const v of values) {
    const value = typeof v === 'object' ? v.value : v;
    const opt = h('option', { value: String(value) });
    opt.dataset.labelList = list;
    opt.dataset.labelValue = String(value);
    opt.dataset.labelCap = '';
    opt.textContent = cap(label(list, value));
    sel.append(opt);
  }
  return sel;
}
