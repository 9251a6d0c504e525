// The dialog for outcomes that name a unit: `living_elsewhere` (the unit
// is required) and `moved` (optional), with a detail and a note.
import { h } from './dom.js';
import { t, label, cap } from './i18n.js';
import { unitPicker } from './unit-picker.js';

let dlg = null;
let parts = null;

function build() {
  const picker = unitPicker({ field: 'outcome.unit_code', labelId: 'outcome-unit-label' });
  const note = h('textarea', { id: 'outcome-note', rows: 2 });
  const detail = h('input', { type: 'text', id: 'outcome-detail', autocomplete: 'off' });
  const error = h('div', { id: 'outcome-error', class: 'form-errors', 'aria-live': 'assertive' });
  const confirm = h('button', { type: 'submit', id: 'outcome-confirm', class: 'primary', i18n: 'outcome.confirm' });
  const cancel = h('button', { type: 'button', id: 'outcome-cancel', i18n: 'outcome.cancel' });
  const title = h('h2', { id: 'outcome-title' });
  const unitLabel = h('label', { id: 'outcome-unit-label', for: picker.search.id });
  const form = h('form', { novalidate: true },
    title,
    h('div', { class: 'field', 'data-field': 'outcome.unit_code' }, unitLabel, picker.root),
    h('div', { class: 'field' }, h('label', { for: 'outcome-detail', i18n: 'outcome.detail' }), detail),
    h('div', { class: 'field' }, h('label', { for: 'outcome-note', i18n: 'outcome.note' }), note),
    error,
    h('div', { class: 'actions' }, confirm, cancel));
  dlg = h('dialog', { id: 'outcome-dialog', 'aria-labelledby': 'outcome-title' }, form);
  document.body.append(dlg);
  parts = { picker, note, detail, error, confirm, cancel, title, unitLabel, form };
}

/**
 * askOutcome({outcome: 'moved', person, needsUnit, submit})
 * `submit(extra)` posts the visit and resolves to violations/message to show
 * ('' when done). Resolves when the dialog closes.
 */
export function askOutcome({ outcome, person, needsUnit, submit }) {
  if (!dlg) build();
  const p = parts;
  p.title.textContent = `${cap(label('outcomes', outcome))}: ${person.full_name}`;
  p.unitLabel.textContent = t(needsUnit ? 'outcome.unit.required' : 'outcome.unit');
  p.picker.set('');
  p.note.value = '';
  p.detail.value = '';
  p.error.textContent = '';
  return new Promise((resolve) => {
    const close = (v) => {
      p.form.onsubmit = null;
      p.cancel.onclick = null;
      dlg.onclose = null;
      if (dlg.open) dlg.close();
      resolve(v);
    };
    p.cancel.onclick = () => close(false);
    dlg.onclose = () => close(false); // Escape
    p.form.onsubmit = async (e) => {
      e.preventDefault();
      const unit = p.picker.value;
      if (needsUnit && !unit) {
        p.error.textContent = t('outcome.unit.required');
        p.picker.search.focus();
        return;
      }
      p.confirm.disabled = true;
      const problem = await submit({
        unit_code: unit || null,
        detail: unit && p.detail.value.trim() ? p.detail.value.normalize('NFC') : null,
        note: p.note.value.trim() ? p.note.value.normalize('NFC') : null,
      });
      p.confirm.disabled = false;
      if (problem) p.error.textContent = problem;
      else close(true);
    };
    dlg.showModal();
    p.picker.search.focus();
  });
}
