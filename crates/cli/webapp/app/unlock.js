// The unlock screen: the passphrase (chosen here the first time) and the
// officer ID written into every record.
import { h } from './dom.js';
import { t } from './i18n.js';
import { session, refresh, unlock, officerId, setOfficerId } from './session.js';

const OFFICER = /^[A-Za-z0-9._-]{1,32}$/;

export async function mount(view, ctx) {
  try { await refresh(); } catch { /* the form still works; errors show on unlock */ }
  const isNew = !session.passphraseSet;

  const pass = h('input', { type: 'password', id: 'passphrase', name: 'passphrase', autocomplete: isNew ? 'new-password' : 'current-password', required: true, 'aria-describedby': 'unlock-error' });
  const confirm = h('input', { type: 'password', id: 'passphrase-confirm', name: 'confirm', autocomplete: 'new-password', 'aria-describedby': 'unlock-error', hidden: !isNew });
  const officer = h('input', { type: 'text', id: 'officer-id', name: 'officer_id', autocomplete: 'username', spellcheck: 'false', autocapitalize: 'characters', value: officerId(), 'aria-describedby': 'officer-hint unlock-error', required: true });
  const error = h('div', { id: 'unlock-error', class: 'form-errors', 'aria-live': 'assertive' });
  const button = h('button', { type: 'submit', id: 'unlock-button', class: 'primary big', i18n: 'unlock.button' });

  const why = session.why === 'idle' ? 'lock.idle' : (session.why === 'manual' ? 'lock.done' : '');
  const form = h('form', { class: 'unlock-form', novalidate: true },
    h('h1', { i18n: 'unlock.title' }),
    why ? h('p', { class: 'notice warn', i18n: why }) : null,
    ctx.keptForm ? h('p', { class: 'notice', i18n: 'unlock.kept' }) : null,
    h('p', { i18n: isNew ? 'unlock.intro.new' : 'unlock.intro.set' }),
    h('div', { class: 'field' }, h('label', { for: 'passphrase', i18n: 'unlock.passphrase' }), pass),
    h('div', { class: 'field', hidden: !isNew }, h('label', { for: 'passphrase-confirm', i18n: 'unlock.confirm' }), confirm),
    h('div', { class: 'field' }, h('label', { for: 'officer-id', i18n: 'unlock.officer' }), officer,
      h('p', { id: 'officer-hint', class: 'hint', i18n: 'unlock.officer.hint' })),
    error,
    button);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = officer.value.trim();
    const fail = (msg, focus) => { error.textContent = msg; focus.focus(); };
    if (!pass.value) return fail(t('unlock.err.empty'), pass);
    if (isNew && pass.value.length < 8) return fail(t('unlock.err.short'), pass);
    if (isNew && pass.value !== confirm.value) return fail(t('unlock.err.mismatch'), confirm);
    if (!OFFICER.test(id)) return fail(t('unlock.err.officer'), officer);
    error.textContent = '';
    button.disabled = true;
    try {
      await unlock(pass.value, isNew ? confirm.value : undefined);
      setOfficerId(id);
      pass.value = '';
      confirm.value = '';
      ctx.unlocked();
    } catch (err) {
      pass.value = '';
      confirm.value = '';
      fail(err.human, pass);
    } finally {
      button.disabled = false;
    }
  });

  view.append(h('section', { class: 'screen unlock' }, form));
  // Focus the first empty box: usually the passphrase.
  setTimeout(() => (pass.value ? officer : pass).focus(), 0);
  return null;
}
