// Administrative unit picker: a combobox searching GET /api/units, the
// chosen code in a hidden input (the field's value), the name in the text.
import { api, qs } from './api.js';
import { h, debounce, uid } from './dom.js';
import { t } from './i18n.js';

const cache = new Map(); // code → {code, name, path}

export function rememberUnit(u) {
  if (u && u.code) cache.set(u.code, u);
}

/** The unit of a code (name and path), asked once and cached; null if unknown. */
export async function unitInfo(code) {
  if (!code) return null;
  if (cache.has(code)) return cache.get(code);
  try {
    const list = await api(`/api/units${qs({ q: code, limit: 200 })}`);
    for (const u of list || []) rememberUnit(u);
  } catch { /* shown as the bare code */ }
  if (!cache.has(code)) cache.set(code, null);
  return cache.get(code);
}

/** A span showing a unit's name (the code until the name is known). */
export function unitName(code) {
  const span = h('span', { class: 'unit-name', title: code }, code || '');
  if (code) unitInfo(code).then((u) => { if (u) { span.textContent = u.name; span.title = u.path || code; } });
  return span;
}

/**
 * unitPicker({field: 'visit.unit_code', value: '25747', labelId, describedBy})
 * → {root, hidden, search, get value(), set(code), onChange(fn)}
 */
export function unitPicker({ field, value = '', labelId, describedBy } = {}) {
  const id = uid('unit');
  const listId = `${id}-list`;
  const search = h('input', {
    type: 'text', id, class: 'unit-search', role: 'combobox', autocomplete: 'off',
    spellcheck: 'false', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
    'aria-controls': listId, 'aria-labelledby': labelId, 'aria-describedby': describedBy,
    i18nAttr: { placeholder: 'unit.placeholder' },
  });
  const hidden = h('input', { type: 'hidden', name: field, value: '' });
  const list = h('ul', { class: 'unit-options', id: listId, role: 'listbox', hidden: true, i18nAttr: { 'aria-label': 'unit.options' } });
  const chosenPath = h('div', { class: 'unit-path' });
  const root = h('div', { class: 'unit-picker', 'data-field': field }, search, hidden, list, chosenPath);

  let options = [];
  let active = -1;
  let chosen = null; // {code, name, path}
  let seq = 0;
  let typing = false; // the text is a search, not the chosen unit's name
  let enterPending = false; // Enter pressed before the answer came
  const changeFns = [];

  function setOpen(open) {
    list.hidden = !open;
    search.setAttribute('aria-expanded', String(open));
    if (!open) {
      // No stale options left in the page once the list is closed.
      active = -1;
      options = [];
      list.replaceChildren();
      search.removeAttribute('aria-activedescendant');
    }
  }

  function render() {
    list.replaceChildren();
    if (!options.length) {
      list.append(h('li', { class: 'unit-empty', role: 'presentation', i18n: 'unit.none' }));
    }
    options.forEach((u, i) => {
      list.append(h('li', {
        class: 'unit-option', role: 'option', id: `${id}-opt-${i}`, 'data-code': u.code,
        'aria-selected': String(i === active),
        // Keep the focus in the text box while tapping an option.
        onpointerdown: (e) => e.preventDefault(),
        onclick: () => choose(u),
      }, h('span', { class: 'unit-option-name' }, u.name), h('span', { class: 'unit-option-path' }, u.path)));
    });
    setOpen(true);
    highlight(active);
  }

  function highlight(i) {
    active = i;
    const items = list.querySelectorAll('.unit-option');
    items.forEach((li, j) => li.setAttribute('aria-selected', String(j === i)));
    if (i >= 0 && items[i]) {
      search.setAttribute('aria-activedescendant', items[i].id);
      items[i].scrollIntoView({ block: 'nearest' });
    } else {
      search.removeAttribute('aria-activedescendant');
    }
  }

  async function runLookup() {
    const mine = ++seq;
    let found = [];
    try {
      found = await api(`/api/units${qs({ q: search.value.normalize('NFC').trim(), limit: 20 })}`);
    } catch { return; }
    if (mine !== seq || document.activeElement !== search) return;
    options = Array.isArray(found) ? found : [];
    options.forEach(rememberUnit);
    active = options.length ? 0 : -1;
    if (enterPending && options.length === 1) { enterPending = false; choose(options[0]); return; }
    enterPending = false;
    render();
  }
  const lookup = debounce(runLookup, 150);

  function show(u) {
    typing = false;
    search.value = u ? u.name : (hidden.value || '');
    chosenPath.textContent = u && u.path && u.path !== u.name ? u.path : '';
  }

  function choose(u) {
    const changed = hidden.value !== (u ? u.code : '');
    chosen = u;
    hidden.value = u ? u.code : '';
    show(u);
    setOpen(false);
    if (changed) {
      hidden.dispatchEvent(new Event('change', { bubbles: true }));
      for (const fn of changeFns) fn(hidden.value);
    }
  }

  search.addEventListener('input', () => { typing = true; lookup(); });
  search.addEventListener('keydown', (e) => {
    const open = !list.hidden;
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      if (!open) { lookup(); return; }
      if (options.length) highlight(Math.min(active + 1, options.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      if (open && options.length) highlight(Math.max(active - 1, 0));
    } else if (e.key === 'Enter') {
      // Enter never submits the form while a unit is being looked for.
      if (open && active >= 0) { e.preventDefault(); choose(options[active]); }
      else if (open || typing) {
        e.preventDefault();
        enterPending = true;
        lookup.cancel();
        runLookup();
      }
    } else if (e.key === 'Escape') {
      // Close the list only; a second Escape reaches the dialog around us.
      if (open) { e.preventDefault(); e.stopPropagation(); setOpen(false); show(chosen); }
    }
  });
  search.addEventListener('blur', () => {
    lookup.cancel();
    enterPending = false;
    seq++;
    setOpen(false);
    // Cleared text clears the unit; otherwise the text shows the chosen unit
    // again (typing alone never picks one).
    if (!search.value.trim()) { if (hidden.value) choose(null); else show(null); }
    else show(chosen);
  });

  async function set(code) {
    code = (code || '').trim();
    hidden.value = code;
    chosen = code ? { code, name: code, path: '' } : null;
    show(chosen);
    if (code) {
      const u = await unitInfo(code);
      if (u && hidden.value === code) { chosen = u; if (document.activeElement !== search) show(u); }
    }
  }

  if (value) set(value);

  return {
    root, hidden, search,
    get value() { return hidden.value; },
    set,
    onChange(fn) { changeFns.push(fn); },
  };
}
