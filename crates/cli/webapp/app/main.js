// Start-up and the hash router: which screen shows, the session (unlock,
// lock, idle lock) and the keyboard shortcuts Alt+1..5.
import { h, $ } from './dom.js';
import { t, applyI18n, onLangChange } from './i18n.js';
import { session, refresh, onLocked, startIdleWatch } from './session.js';
import { startPolling, stopPolling, pollNow } from './status.js';
import { initHeader, setHeaderMode, setActiveNav, showDevice } from './header.js';
import { loadForm, notice, hideToast } from './shared.js';
import * as unlock from './unlock.js';
import * as enroll from './enroll.js';
import * as queue from './queue.js';
import * as record from './record.js';
import * as sync from './sync.js';
import * as worklist from './worklist.js';
import * as summary from './summary.js';

const screens = { unlock, enroll, queue, record, sync, worklist, summary };
// Alt+1..5, in the order of the nav.
const NAV = ['enroll', 'queue', 'sync', 'worklist', 'summary'];

let current = null; // {name, handle}
let token = 0;

function parse() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const [name, ...rest] = path.split('/');
  return { name, param: decodeURIComponent(rest.join('/')), query: new URLSearchParams(query), hash: `#/${raw}` };
}

async function defaultRoute() {
  const s = await pollNow();
  return s && s.worklist && s.worklist.people > 0 ? '#/worklist' : '#/enroll';
}

async function route() {
  const r = parse();
  if (!session.active && r.name !== 'unlock') {
    if (screens[r.name]) session.returnTo = r.hash;
    location.replace('#/unlock');
    return;
  }
  if (session.active && (r.name === 'unlock' || !screens[r.name])) {
    location.replace(await defaultRoute());
    return;
  }
  const my = ++token;
  if (current && current.handle && current.handle.unmount) current.handle.unmount();
  current = null;
  document.body.removeAttribute('data-screen');
  const view = h('div', { class: 'view' });
  $('#main').replaceChildren(view);
  setHeaderMode(r.name === 'unlock' ? 'reduced' : 'full');
  setActiveNav(r.name);
  const ctx = {
    ...r,
    alive: () => my === token,
    unlocked: afterUnlock,
    keptForm: session.returnTo.startsWith('#/enroll'),
  };
  let handle = null;
  try {
    handle = await screens[r.name].mount(view, ctx);
  } catch (err) {
    if (err && err.code === 'session.required') return;
    view.append(notice(t('error.generic', { msg: err && err.human ? err.human : String(err) }), 'error'));
  }
  if (my !== token) { if (handle && handle.unmount) handle.unmount(); return; }
  current = { name: r.name, handle };
  document.body.dataset.screen = r.name;
  // Keyboard and screen reader users land on the new screen's heading,
  // unless the screen put the focus in a field itself.
  const active = document.activeElement;
  if (!active || active === document.body || active.closest('#app-header')) {
    const h1 = view.querySelector('h1');
    if (h1 && r.name !== 'unlock' && r.name !== 'enroll') { h1.setAttribute('tabindex', '-1'); h1.focus({ preventScroll: true }); }
  }
}

async function afterUnlock() {
  startPolling();
  showDevice();
  try { await loadForm(); } catch { /* each screen asks again */ }
  const back = session.returnTo;
  session.returnTo = '';
  location.replace(back && !back.startsWith('#/unlock') ? back : await defaultRoute());
  refresh().then(showDevice, () => {});
}

onLocked(() => {
  stopPolling();
  hideToast(); // nothing of the last citizen stays on a locked screen
  const r = parse();
  if (r.name !== 'unlock' && screens[r.name]) session.returnTo = r.hash;
  if (r.name === 'unlock') route();
  else location.hash = '#/unlock';
});

onLangChange(() => {
  hideToast();
  if (current && current.handle && current.handle.onLang) current.handle.onLang();
});

document.addEventListener('keydown', (e) => {
  if (!e.altKey || e.ctrlKey || e.metaKey || !session.active) return;
  const m = /^(?:Digit|Numpad)([1-5])$/.exec(e.code);
  if (!m) return;
  e.preventDefault();
  location.hash = `#/${NAV[Number(m[1]) - 1]}`;
});

async function boot() {
  applyI18n(document);
  initHeader();
  startIdleWatch();
  try {
    await refresh();
  } catch (err) {
    $('#main').replaceChildren(notice(err.human || String(err), 'error'));
  }
  if (session.active) startPolling();
  window.addEventListener('hashchange', route);
  await route();
}

boot();
