// Sync: connectivity, "sync now" with progress, the last result with a
// hint for people, the clock warning, the worklist download, the bundle.
import { h, fmtDateTime } from './dom.js';
import { t } from './i18n.js';
import { api } from './api.js';
import { toast } from './shared.js';
import { onStatus, pollNow, lastStatus, connectivity, clockWarning } from './status.js';

let lastRun = null; // the answer of this page's last POST /api/sync

export async function mount(view, ctx) {
  const conn = h('p', { class: 'sync-connectivity' });
  const server = h('p', { class: 'hint' });
  const outbox = h('p', { class: 'outbox' });
  const clock = h('p', { class: 'notice warn clock-warning', hidden: true });
  const syncNow = h('button', { type: 'button', id: 'sync-now', class: 'primary big', i18n: 'sync.now' });
  const progress = h('progress', { id: 'sync-progress', max: 1, value: 0, hidden: true, 'aria-labelledby': 'sync-phase' });
  const phase = h('p', { id: 'sync-phase', class: 'hint', 'aria-live': 'polite' });
  const result = h('div', { id: 'sync-result', 'aria-live': 'polite' });
  const lastSync = h('p', { id: 'last-sync' });
  const worklist = h('div', { id: 'worklist-status' });
  const exportButton = h('button', { type: 'button', id: 'export-bundle', i18n: 'sync.export' });

  view.append(h('section', { class: 'screen sync', 'aria-labelledby': 'sync-title' },
    h('h1', { id: 'sync-title', i18n: 'sync.title' }),
    h('div', { class: 'panel' }, h('h2', { i18n: 'sync.connection' }), conn, server, clock),
    h('div', { class: 'panel' }, outbox, h('div', { class: 'actions' }, syncNow), progress, phase,
      h('h2', { i18n: 'sync.result' }), result, lastSync),
    h('div', { class: 'panel' }, h('h2', { i18n: 'sync.worklist' }), worklist),
    h('div', { class: 'panel' }, h('h2', { i18n: 'sync.export' }), h('p', { class: 'hint', i18n: 'sync.export.help' }), exportButton)));

  let running = false;

  function render(s) {
    const sy = (s && s.sync) || {};
    const state = connectivity(s);
    const connKey = !navigator.onLine ? 'sync.conn.nonet'
      : state === 'online' ? 'sync.conn.online' : state === 'offline' ? 'sync.conn.offline' : 'sync.conn.unknown';
    conn.replaceChildren(h('span', { class: 'dot', 'data-state': state }), t(connKey));
    conn.dataset.state = state;
    server.textContent = sy.server ? t('sync.server', { server: sy.server }) : '';
    outbox.textContent = s ? t('sync.outbox', { n: s.outbox ?? 0 }) : '';
    const warn = clockWarning(s);
    clock.textContent = warn;
    clock.hidden = !warn;

    const busy = running || sy.running;
    const p = sy.progress;
    progress.hidden = !busy;
    syncNow.disabled = running;
    if (busy && p && p.phase === 'sending' && p.outbox) {
      progress.max = p.outbox;
      progress.value = Math.min(p.sent || 0, p.outbox);
      phase.textContent = t('sync.phase.sending', { sent: p.sent || 0, outbox: p.outbox });
    } else if (busy && p && p.phase === 'worklist') {
      progress.removeAttribute('value'); // indeterminate
      phase.textContent = t('sync.phase.worklist');
    } else if (busy) {
      progress.removeAttribute('value');
      phase.textContent = t('sync.running');
    } else {
      phase.textContent = '';
    }

    if (!running) showResult(lastRun || sy.last_report || null, s);
    lastSync.textContent = sy.last_success_at
      ? t('sync.last_success', { at: fmtDateTime(sy.last_success_at) }) : t('sync.never');
    showWorklist(s);
  }

  function showResult(rep, s) {
    if (!rep) {
      result.removeAttribute('data-outcome');
      result.replaceChildren(h('p', { i18n: 'sync.result.none' }));
      return;
    }
    const ok = !rep.error;
    result.dataset.outcome = ok ? 'ok' : 'error';
    const parts = [];
    if (ok) {
      parts.push(h('p', {}, t('sync.result.ok', {
        sent: rep.records_sent ?? 0, confirmed: rep.confirmed ?? 0, held: rep.held ?? 0,
        rejected: rep.rejected ?? 0, after: rep.outbox_after ?? 0,
      })));
    } else {
      parts.push(h('p', { class: 'error' }, t('sync.result.error', { error: rep.error })),
        h('p', { class: 'hint' }, hint(rep.error, s)));
    }
    if (rep.rejected) parts.push(h('p', {}, h('a', { href: '#/queue', i18n: 'sync.rejected' })));
    result.replaceChildren(...parts);
  }

  function showWorklist(s) {
    const sy = (s && s.sync) || {};
    const wl = (s && s.worklist) || {};
    const lines = [];
    if (wl.last_download || sy.last_worklist_at) {
      const at = (wl.last_download && wl.last_download.at) || sy.last_worklist_at;
      lines.push(h('p', {}, `${t('sync.worklist.people', { n: wl.people ?? 0 })}; ${t('sync.worklist.last', { at: fmtDateTime(at) })}`));
    } else {
      lines.push(h('p', {}, wl.people ? t('sync.worklist.people', { n: wl.people }) : t('sync.worklist.none')));
    }
    const skipped = sy.last_worklist && sy.last_worklist.skipped;
    if (skipped) lines.push(h('p', { class: 'hint' }, t('sync.worklist.skipped', { why: skipped })));
    if (sy.worklist_error) lines.push(h('p', { class: 'error' }, t('sync.worklist.error', { error: sy.worklist_error })));
    worklist.replaceChildren(...lines);
    worklist.dataset.state = sy.worklist_error ? 'error' : 'ok';
  }

  syncNow.addEventListener('click', async () => {
    if (running) return;
    running = true;
    render(lastStatus());
    // The POST answers only when the run is over: meanwhile the status
    // tells how far it got.
    const fast = setInterval(pollNow, 500);
    try {
      lastRun = await api('/api/sync', { method: 'POST' });
    } catch (err) {
      if (err.code !== 'session.required') lastRun = { error: err.human };
    } finally {
      clearInterval(fast);
      running = false;
    }
    const s = await pollNow();
    render(s);
    showResult(lastRun, s);
    const first = result.querySelector('p');
    if (lastRun && !lastRun.error && first) toast(first.textContent);
  });

  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    try {
      const res = await api('/api/bundle', { method: 'POST', raw: true });
      if (!res || res.status === 204) { toast(t('sync.export.empty')); return; }
      const blob = await res.blob();
      const name = filename(res.headers.get('Content-Disposition')) || 'doorstep.dsb';
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      toast(t('sync.export.done', { name }));
    } catch (err) {
      if (err.code !== 'session.required') toast(err.human, 'error');
    } finally {
      exportButton.disabled = false;
    }
  });

  const off = onStatus(render);
  render(await pollNow());
  return { unmount: off, onLang: () => render(lastStatus()) };
}

/** A hint people can act on, from what we know of the failure. */
function hint(error, s) {
  const e = String(error || '').toLowerCase();
  if (!navigator.onLine) return t('sync.hint.nonet');
  if (/revok|thu hồi/.test(e)) return t('sync.hint.revoked');
  if (/clock|đồng hồ|skew|time/.test(e) || (s && s.sync && s.sync.clock_warning)) return t('sync.hint.clock');
  if (s && s.sync && s.sync.central_reachable === false) return t('sync.hint.unreachable');
  if (/connect|timed out|timeout|unreachable|dns|refused|kết nối/.test(e)) return t('sync.hint.unreachable');
  return t('sync.hint.generic');
}

function filename(cd) {
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd || '');
  return m ? decodeURIComponent(m[1]) : '';
}
