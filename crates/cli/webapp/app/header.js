// The header on every screen: device, connectivity, clock warning, nav,
// language switch, lock. The unlock screen shows a reduced one.
import { $, $$ } from './dom.js';
import { t, getLang, setLang, onLangChange } from './i18n.js';
import { session, lock } from './session.js';
import { onStatus, connectivity, clockWarning, lastStatus } from './status.js';

export function initHeader() {
  $('#lang-switch').addEventListener('click', () => setLang(getLang() === 'vi' ? 'en' : 'vi'));
  $('#lock-button').addEventListener('click', () => lock('manual'));
  $('#skip-link').addEventListener('click', () => {
    const target = $('#main h1') || $('#main');
    if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
    target.focus();
  });
  onStatus(showStatus);
  onLangChange(() => { showLangButton(); showStatus(lastStatus()); showDevice(); });
  showLangButton();
  showStatus(null);
}

function showLangButton() {
  // The button speaks the other language: mark it so screen readers say it right.
  $('#lang-switch').setAttribute('lang', getLang() === 'vi' ? 'en' : 'vi');
}

function showStatus(s) {
  const conn = $('#connectivity');
  const state = session.active ? connectivity(s) : 'unknown';
  conn.dataset.state = state;
  const text = conn.querySelector('.conn-text');
  text.dataset.i18n = `conn.${state}`;
  text.textContent = t(`conn.${state}`);
  const warn = session.active ? clockWarning(s) : '';
  const clock = $('#clock-warning');
  clock.textContent = warn;
  clock.hidden = !warn;
}

export function showDevice() {
  const d = session.device;
  $('#device-info').textContent = d ? [d.device_name, d.unit_name || d.unit_code].filter(Boolean).join(' · ') : '';
}

/** 'full' on every screen but unlock, which gets 'reduced'. */
export function setHeaderMode(mode) {
  const reduced = mode === 'reduced';
  $('#main-nav').hidden = reduced;
  $('#lock-button').hidden = reduced;
  $('#connectivity').hidden = reduced;
  if (reduced) $('#clock-warning').hidden = true;
  else showStatus(lastStatus());
  showDevice();
}

export function setActiveNav(name) {
  for (const a of $$('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}
