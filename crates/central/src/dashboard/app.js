// Doorstep dashboard: reads central's /v1/reports/* API (proto/reports-v1.md)
// and draws it. No framework and no build step, so central can embed the
// file as is; no request leaves central (stations run on an offline LAN).
'use strict';

(function () {
  const T = {
    vi: {
      doc_title: 'Doorstep – Bảng theo dõi tiến độ',
      title: 'Bảng theo dõi tiến độ',
      campaign: 'Chiến dịch',
      metric: 'Nội dung',
      as_of: 'Tính đến ngày',
      refresh: 'Làm mới',
      updated: 'Cập nhật lúc',
      progress: 'Tiến độ chiến dịch',
      ranking: 'Xếp hạng',
      rank: 'Hạng',
      unit: 'Đơn vị',
      achieved: 'Đã đạt',
      target: 'Chỉ tiêu',
      percent: 'Tỷ lệ',
      days: 'Thời hạn',
      audit: 'Nhật ký kiểm toán',
      breakdown: 'Theo nơi tiếp xúc và lý do',
      review: 'Cần xem xét',
      activity: 'Hoạt động đồng bộ (48 giờ qua)',
      lang_button: 'English',
      all_units: 'Tất cả đơn vị',
      no_target: 'Chưa có chỉ tiêu',
      rollup: 'Chỉ tiêu cộng từ các đơn vị cấp dưới',
      done_mark: '✓ Hoàn thành',
      reached: 'đạt ngày {d}',
      ahead: 'sớm {n} ngày',
      on_time: 'đúng hạn',
      late: 'trễ {n} ngày',
      left: 'còn {n} ngày',
      due_today: 'hết hạn hôm nay',
      overdue: 'quá hạn {n} ngày',
      units_done: 'Hoàn thành',
      period: 'Bắt đầu {start} · hạn chót {deadline} · tính đến {as_of}',
      drill: 'Xem các đơn vị trực thuộc',
      place: 'Nơi tiếp xúc',
      reason: 'Lý do',
      no_records: 'Chưa có hồ sơ nào được tính.',
      gaps: 'Khoảng trống số thứ tự',
      conflicts: 'Xung đột chờ xử lý',
      no_gaps: 'Không có khoảng trống.',
      no_conflicts: 'Không có xung đột.',
      gap_range: 'số {from}–{to}',
      last_sync: 'đồng bộ lần cuối {t}',
      never: 'chưa đồng bộ',
      more: '… và {n} mục khác',
      audit_verified: 'Đã xác minh: nhật ký toàn vẹn',
      audit_problems: 'Phát hiện sai lệch',
      audit_failed: 'Không kiểm tra được',
      audit_pending: 'Chưa kiểm tra',
      audit_sizes: 'Lần kiểm tra gần nhất: {entries} mục nhật ký, {records} hồ sơ (cây Merkle {tree} lá)',
      audit_checked: 'Kiểm tra lúc {t} ({ms} ms)',
      laptop: 'Máy tính',
      station: 'Trạm',
      sessions: 'phiên',
      records: 'hồ sơ',
      bar_title: '{t}: {s} phiên, {a} hồ sơ mới, {c} xung đột',
      no_activity: 'Chưa có phiên đồng bộ nào trong 48 giờ qua.',
      now: 'bây giờ',
      no_campaign: 'Chưa có chiến dịch nào. Nhập chỉ tiêu bằng lệnh:',
      load_error: 'Không tải được dữ liệu',
      network: 'không kết nối được với máy chủ',
      not_json: 'câu trả lời không phải JSON',
      coverage: 'Ai còn lại (danh sách cư dân)',
      cov_eligible: 'Cần làm',
      cov_reached: 'Đã tiếp xúc',
      cov_enrolled: 'Đã thu nhận',
      cov_closed: 'Khép lại',
      cov_referred: 'Chuyển đi / đến',
      cov_review: 'Cần xem lại',
      cov_remaining: 'Còn lại',
      no_roster: 'Chưa có danh sách cư dân. Nhập bằng lệnh:',
      loading: 'Đang tải…',
    },
    en: {
      doc_title: 'Doorstep – Progress dashboard',
      title: 'Progress dashboard',
      campaign: 'Campaign',
      metric: 'Metric',
      as_of: 'As of',
      refresh: 'Refresh',
      updated: 'Last updated',
      progress: 'Campaign progress',
      ranking: 'Ranking',
      rank: 'Rank',
      unit: 'Unit',
      achieved: 'Achieved',
      target: 'Target',
      percent: 'Percent',
      days: 'Schedule',
      audit: 'Audit log',
      breakdown: 'By visit place and reason',
      review: 'Needs review',
      activity: 'Sync activity (last 48 hours)',
      lang_button: 'Tiếng Việt',
      all_units: 'All units',
      no_target: 'No target',
      rollup: 'Target summed from the units below',
      done_mark: '✓ Done',
      reached: 'reached {d}',
      ahead: '{n} days ahead',
      ahead1: '1 day ahead',
      on_time: 'on the deadline',
      late: '{n} days late',
      late1: '1 day late',
      left: '{n} days left',
      left1: '1 day left',
      due_today: 'due today',
      overdue: '{n} days overdue',
      overdue1: '1 day overdue',
      units_done: 'Done',
      period: 'Start {start} · deadline {deadline} · as of {as_of}',
      drill: 'Show the units below',
      place: 'Visit place',
      reason: 'Reason',
      no_records: 'No record counted yet.',
      gaps: 'Sequence gaps',
      conflicts: 'Conflicts awaiting review',
      no_gaps: 'No gaps.',
      no_conflicts: 'No conflicts.',
      gap_range: 'numbers {from}–{to}',
      last_sync: 'last sync {t}',
      never: 'never synced',
      more: '… and {n} more',
      audit_verified: 'Verified: the log is intact',
      audit_problems: 'Problems found',
      audit_failed: 'The check could not run',
      audit_pending: 'Not verified yet',
      audit_sizes: 'Last check: {entries} log entries, {records} records (Merkle tree of {tree} leaves)',
      audit_checked: 'Checked {t} ({ms} ms)',
      laptop: 'Laptop',
      station: 'Station',
      sessions: 'sessions',
      sessions1: 'session',
      records: 'records',
      records1: 'record',
      bar_title: '{t}: {s} sessions, {a} new records, {c} conflicts',
      no_activity: 'No sync session in the last 48 hours.',
      now: 'now',
      no_campaign: 'No campaign yet. Import targets with:',
      load_error: 'Could not load data',
      network: 'cannot reach the server',
      not_json: 'the answer is not JSON',
      loading: 'Loading…',
      coverage: 'Who is left (resident roster)',
      cov_eligible: 'Eligible',
      cov_reached: 'Reached',
      cov_enrolled: 'Enrolled',
      cov_closed: 'Closed',
      cov_referred: 'Referred out / in',
      cov_review: 'Review',
      cov_remaining: 'Remaining',
      no_roster: 'No resident roster yet. Import one with:',
    },
  };
  const METRICS = {
    vi: {
      id_card_intake: 'Thu nhận hồ sơ CCCD',
      eid_registration: 'Đăng ký định danh điện tử',
      eid_activation: 'Kích hoạt định danh điện tử',
      driver_license_link: 'Tích hợp giấy phép lái xe',
    },
    en: {
      id_card_intake: 'ID card intake',
      eid_registration: 'e-ID registration',
      eid_activation: 'e-ID activation',
      driver_license_link: 'Driver licence link',
    },
  };
  const PLACES = {
    vi: {
      home: 'Tại nhà', hospital: 'Bệnh viện', workplace: 'Nơi làm việc',
      boarding_house: 'Nhà trọ', mobile_point: 'Điểm lưu động',
      station: 'Trụ sở công an', other: 'Khác',
    },
    en: {
      home: 'Home', hospital: 'Hospital', workplace: 'Workplace',
      boarding_house: 'Boarding house', mobile_point: 'Mobile point',
      station: 'Police station', other: 'Other',
    },
  };
  const REASONS = {
    vi: {
      bedridden: 'Nằm liệt giường', elderly: 'Người cao tuổi', disabled: 'Khuyết tật',
      worker: 'Công nhân', temporary_resident: 'Tạm trú', other: 'Khác',
    },
    en: {
      bedridden: 'Bedridden', elderly: 'Elderly', disabled: 'Disabled',
      worker: 'Worker', temporary_resident: 'Temporary resident', other: 'Other',
    },
  };
  const LEVELS = {
    vi: { province: 'tỉnh', district: 'huyện', commune: 'xã' },
    en: { province: 'provinces', district: 'districts', commune: 'communes' },
  };
  const ACTIVITY_HOURS = 48;
  const REFRESH_MS = 60000;
  const LANG_KEY = 'doorstep.dashboard.lang';

  // The page may sit behind a reverse proxy under a prefix: the API is
  // next to it.
  const BASE = location.pathname.replace(/\/dashboard\/?$/, '');

  const params = new URLSearchParams(location.search);
  const state = {
    lang: pickLang(),
    campaign: params.get('campaign'),
    metric: params.get('metric'),
    asOf: params.get('as_of'),
    unit: params.get('unit'),
    // code -> {name, parent}: for the breadcrumb.
    names: new Map(),
    data: {},
    errors: [],
    loads: 0,
  };

  function pickLang() {
    const fromUrl = new URLSearchParams(location.search).get('lang');
    if (fromUrl === 'en' || fromUrl === 'vi') return fromUrl;
    try {
      const saved = localStorage.getItem(LANG_KEY);
      if (saved === 'en' || saved === 'vi') return saved;
    } catch (_) {
      // Storage may be disabled: Vietnamese, the default, then.
    }
    return 'vi';
  }

  // --- formatting ---------------------------------------------------------

  function t(key, vars) {
    let s = T[state.lang][key];
    if (s === undefined) s = T.vi[key] || key;
    if (vars) {
      for (const [k, v] of Object.entries(vars)) s = s.split('{' + k + '}').join(String(v));
    }
    return s;
  }

  // Plural-aware English text ("1 day left"); Vietnamese has no plural.
  function tn(key, n) {
    if (n === 1 && T[state.lang][key + '1']) return T[state.lang][key + '1'];
    return t(key, { n: fmtInt(n) });
  }

  // Grouping by hand, not Intl: the same digits in every browser
  // (1.455.967 in Vietnamese, 1,455,967 in English).
  function fmtInt(n) {
    if (n === null || n === undefined) return '–';
    const sep = state.lang === 'vi' ? '.' : ',';
    const neg = n < 0;
    const digits = String(Math.trunc(Math.abs(n)));
    let out = '';
    for (let i = 0; i < digits.length; i++) {
      if (i > 0 && (digits.length - i) % 3 === 0) out += sep;
      out += digits[i];
    }
    return (neg ? '-' : '') + out;
  }

  // From percent_x100 (exact integer): "118,82 %" / "118.82%".
  function fmtPct(x100) {
    if (x100 === null || x100 === undefined) return '–';
    const whole = fmtInt(Math.floor(x100 / 100));
    const frac = String(x100 % 100).padStart(2, '0');
    return state.lang === 'vi' ? whole + ',' + frac + ' %' : whole + '.' + frac + '%';
  }

  function fmtDate(ymd) {
    if (!ymd) return '–';
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd);
    if (!m) return ymd;
    return state.lang === 'vi' ? m[3] + '/' + m[2] + '/' + m[1] : ymd;
  }

  function pad2(n) { return String(n).padStart(2, '0'); }

  // A UTC timestamp shown in the browser's local time.
  function fmtTime(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    const hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    const ymd = d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate());
    return state.lang === 'vi' ? hm + ' ' + fmtDate(ymd) : ymd + ' ' + hm;
  }

  // "1 session" / "2 sessions": the word after the number, singular in English.
  function counted(n, key) {
    const one = n === 1 && T[state.lang][key + '1'];
    return fmtInt(n) + ' ' + (one || t(key));
  }

  function daysText(u) {
    if (u.target === null || u.target === undefined) return '–';
    if (u.done) {
      const a = u.days_ahead;
      if (a === null || a === undefined) return '';
      if (a === 0) return t('on_time');
      return a > 0 ? tn('ahead', a) : tn('late', -a);
    }
    const l = u.days_left;
    if (l === null || l === undefined) return '';
    if (l === 0) return t('due_today');
    return l > 0 ? tn('left', l) : tn('overdue', -l);
  }

  function unitsDoneText(list) {
    return (list || [])
      .map((x) => x.done + '/' + x.total + ' ' + (LEVELS[state.lang][x.level] || x.level))
      .join(' · ');
  }

  function metricName(m) { return METRICS[state.lang][m] || m; }

  // --- DOM helpers (text only: never HTML from the API) --------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) el.append(c);
    return el;
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.append(c);
    return el;
  }

  function $(id) { return document.getElementById(id); }

  function attr(v) { return v === null || v === undefined ? '' : String(v); }

  // --- API ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(path, status, message) {
      super(message);
      this.path = path;
      this.status = status;
    }
  }

  function problemText(body) {
    if (!body || typeof body !== 'object') return null;
    const e = body.error;
    if (e && typeof e === 'object') {
      const msg = state.lang === 'vi' ? e.message_vi || e.message : e.message || e.message_vi;
      return [e.code, msg].filter(Boolean).join(': ');
    }
    if (body.title || body.detail) {
      return [body.code, body.title, body.detail].filter(Boolean).join(': ');
    }
    return null;
  }

  async function api(path, query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== null && v !== undefined && v !== '') q.set(k, v);
    }
    const qs = q.toString();
    const url = BASE + path + (qs ? '?' + qs : '');
    let resp;
    try {
      resp = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
    } catch (_) {
      throw new ApiError(path, 0, t('network'));
    }
    const text = await resp.text();
    let body = null;
    try { body = JSON.parse(text); } catch (_) { body = null; }
    if (!resp.ok) {
      throw new ApiError(path, resp.status, problemText(body) || text.slice(0, 200) || resp.statusText);
    }
    if (body === null) throw new ApiError(path, resp.status, t('not_json'));
    return body;
  }

  // --- loading --------------------------------------------------------------

  function progressQuery(unit) {
    return { campaign: state.campaign, unit: unit, metric: state.metric, as_of: state.asOf };
  }

  function remember(report) {
    for (const u of report.units || []) {
      state.names.set(u.code, { name: u.name, parent: u.parent_code });
    }
  }

  // Names of the units above the drilled-into one: asked for when the page
  // was opened on a deep link (bounded: three levels at most).
  async function learnAncestors() {
    let code = state.unit;
    for (let depth = 0; code && depth < 4; depth++) {
      const known = state.names.get(code);
      if (!known) {
        remember(await api('/v1/reports/progress', progressQuery(code)));
        if (!state.names.get(code)) return;
      }
      code = state.names.get(code).parent;
    }
  }

  async function guarded(name, promise) {
    try {
      state.data[name] = await promise;
    } catch (e) {
      state.data[name] = null;
      state.errors.push(e);
    }
  }

  async function loadAll() {
    const seq = ++state.loads;
    document.body.dataset.ready = '0';
    document.body.classList.add('loading');
    const errors = [];
    state.errors = errors;
    const data = {};
    state.data = data;
    await guarded('campaigns', api('/v1/reports/campaigns'));
    const list = (data.campaigns && data.campaigns.campaigns) || [];
    if (list.length && !list.some((c) => c.campaign === state.campaign)) {
      state.campaign = list[0].campaign;
      state.unit = null;
    }
    if (!list.length) state.campaign = null;
    // Without a metric the API answers one row per unit and metric: the
    // page always shows one metric, the campaign's first by default.
    const metrics = (list.find((c) => c.campaign === state.campaign) || {}).metrics || [];
    if (metrics.length && !metrics.includes(state.metric)) state.metric = metrics[0];
    const jobs = [
      guarded('activity', api('/v1/reports/activity', { hours: ACTIVITY_HOURS })),
      guarded('review', api('/v1/reports/review', { limit: 50 })),
      guarded('audit', api('/v1/reports/audit')),
      // A central without worklists (PostgreSQL for now) answers 501: no card.
      (async () => {
        try {
          data.coverage = await api('/v1/reports/coverage', { unit: state.unit });
        } catch (e) {
          data.coverage = null;
          if (e.status !== 501) errors.push(e);
        }
      })(),
    ];
    if (state.campaign) {
      jobs.push(guarded('progress', (async () => {
        const report = await api('/v1/reports/progress', progressQuery(state.unit));
        remember(report);
        await learnAncestors();
        return report;
      })()));
    }
    await Promise.all(jobs);
    // A newer load (a click while this one ran) owns the page.
    if (seq !== state.loads) return;
    state.updatedAt = new Date();
    syncUrl(false);
    render();
    document.body.classList.remove('loading');
    document.body.dataset.scope = state.unit || '';
    document.body.dataset.campaign = state.campaign || '';
    document.body.dataset.metric = state.metric || '';
    document.body.dataset.ready = '1';
  }

  function syncUrl(push) {
    const q = new URLSearchParams();
    if (state.campaign) q.set('campaign', state.campaign);
    if (state.metric) q.set('metric', state.metric);
    if (state.asOf) q.set('as_of', state.asOf);
    if (state.unit) q.set('unit', state.unit);
    if (new URLSearchParams(location.search).get('lang')) q.set('lang', state.lang);
    const url = location.pathname + (q.toString() ? '?' + q : '');
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
  }

  function drill(code) {
    state.unit = code || null;
    syncUrl(true);
    loadAll();
  }

  // --- rendering ------------------------------------------------------------

  function render() {
    const lang = state.lang;
    document.documentElement.lang = lang;
    document.title = t('doc_title');
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    const btn = $('lang');
    btn.textContent = t('lang_button');
    btn.lang = lang === 'vi' ? 'en' : 'vi';
    $('updated').textContent = state.updatedAt ? fmtTime(state.updatedAt.toISOString()) : '–';
    $('updated').dateTime = state.updatedAt ? state.updatedAt.toISOString() : '';
    renderBanner();
    renderPickers();
    renderProgress();
    renderAudit();
    renderReview();
    renderActivity();
    renderCoverage();
  }

  function renderBanner() {
    const banner = $('banner');
    banner.replaceChildren();
    if (!state.errors.length) {
      banner.hidden = true;
      return;
    }
    banner.hidden = false;
    banner.append(h('strong', { text: t('load_error') }));
    const ul = h('ul');
    for (const e of state.errors) {
      const status = e.status ? ' (HTTP ' + e.status + ')' : '';
      ul.append(h('li', { text: (e.path || '') + status + ': ' + e.message }));
    }
    banner.append(ul);
  }

  function renderPickers() {
    const list = (state.data.campaigns && state.data.campaigns.campaigns) || [];
    const sel = $('campaign');
    sel.replaceChildren(...list.map((c) => h('option', { value: c.campaign, text: c.campaign })));
    sel.value = state.campaign || '';
    sel.disabled = !list.length;
    const current = list.find((c) => c.campaign === state.campaign);
    const report = state.data.progress;
    const metrics = (current && current.metrics) || (report && report.metrics) || [];
    const shown = state.metric || metrics[0] || '';
    const msel = $('metric');
    msel.replaceChildren(...metrics.map((m) => h('option', { value: m, text: metricName(m) })));
    msel.value = shown;
    $('metric-wrap').hidden = metrics.length < 2;
    $('as-of').value = state.asOf || (report && report.as_of) || '';
  }

  function renderProgress() {
    const info = $('campaign-info');
    const scope = $('scope');
    const units = $('units');
    const ranking = $('ranking');
    const crumbs = $('crumbs');
    for (const el of [info, scope, units, ranking, crumbs]) el.replaceChildren();
    const list = (state.data.campaigns && state.data.campaigns.campaigns) || [];
    if (state.data.campaigns && !list.length) {
      units.append(h('p', { class: 'empty', text: t('no_campaign') }),
        h('pre', { class: 'cmd', text: 'doorstep central campaign import --data-dir DIR FILE.csv' }));
      return;
    }
    const report = state.data.progress;
    if (!report) return;
    const current = list.find((c) => c.campaign === report.campaign);
    info.textContent = t('period', {
      start: fmtDate(report.start),
      deadline: fmtDate(current ? current.deadline : null),
      as_of: fmtDate(report.as_of),
    });
    info.dataset.asOf = report.as_of;
    renderCrumbs(crumbs);
    const all = report.units || [];
    const head = state.unit && all.length && all[0].code === state.unit ? all[0] : null;
    const rows = head ? all.slice(1) : all;
    if (head) scope.append(unitRow(head, 'scope'));
    for (const u of rows) units.append(unitRow(u, 'child'));
    if (!all.length) units.append(h('p', { class: 'empty', text: t('no_records') }));
    for (const u of rows) ranking.append(rankRow(u));
    renderBreakdown(head ? [head] : rows);
  }

  function renderCrumbs(nav) {
    const path = [];
    for (let code = state.unit, i = 0; code && i < 5; i++) {
      const known = state.names.get(code);
      path.unshift({ code: code, name: known ? known.name : code });
      code = known ? known.parent : null;
    }
    const items = [{ code: '', name: t('all_units') }].concat(path);
    items.forEach((item, i) => {
      if (i > 0) nav.append(h('span', { class: 'sep', 'aria-hidden': 'true', text: '›' }));
      const last = i === items.length - 1;
      if (last) {
        nav.append(h('span', { class: 'crumb current', 'aria-current': 'page', 'data-testid': 'crumb', 'data-unit': item.code, text: item.name }));
      } else {
        nav.append(h('button', {
          type: 'button', class: 'crumb link', 'data-testid': 'crumb', 'data-unit': item.code,
          text: item.name, onclick: () => drill(item.code),
        }));
      }
    });
  }

  function unitRow(u, role) {
    const hasTarget = u.target !== null && u.target !== undefined;
    const pct = hasTarget ? u.percent_x100 : null;
    const row = h('div', {
      class: 'unit ' + role + (u.done ? ' done' : '') + (hasTarget ? '' : ' untargeted'),
      'data-testid': 'unit-row',
      'data-role': role,
      'data-unit': u.code,
      'data-achieved': u.achieved,
      'data-target': attr(u.target),
      'data-percent-x100': attr(pct),
      'data-done': String(!!u.done),
      'data-reached-on': attr(u.reached_on),
      'data-days-ahead': attr(u.days_ahead),
      'data-days-left': attr(u.days_left),
      'data-rank': attr(u.rank),
      'data-rank-of': attr(u.rank_of),
      'data-units-done': (u.units_done || []).map((x) => x.level + ':' + x.done + '/' + x.total).join(','),
    });
    const name = u.has_children && role !== 'scope'
      ? h('button', { type: 'button', class: 'drill', 'data-testid': 'drill', 'data-unit': u.code, title: t('drill'), text: u.name + ' ›', onclick: () => drill(u.code) })
      : h('span', { class: 'name', text: u.name });
    const title = h('div', { class: 'unit-name' }, name);
    if (u.target_source === 'rollup') title.append(h('span', { class: 'rollup', title: t('rollup'), text: 'Σ' }));
    const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct === null ? 0 : Math.min(100, pct / 100) });
    const fill = h('div', { class: 'fill' });
    // CSSOM, not a style attribute: allowed by the page's CSP.
    fill.style.width = (pct === null ? 0 : Math.min(100, pct / 100)) + '%';
    bar.append(fill);
    const figures = h('div', { class: 'figures' },
      h('span', { class: 'achieved', 'data-testid': 'achieved', text: fmtInt(u.achieved) }),
      h('span', { class: 'of', text: ' / ' }),
      h('span', { class: 'target', 'data-testid': 'target', text: hasTarget ? fmtInt(u.target) : t('no_target') }));
    const percent = h('div', { class: 'percent', 'data-testid': 'percent', text: fmtPct(pct) });
    const status = h('div', { class: 'status' });
    if (u.done) {
      status.append(h('span', { class: 'chip ok', 'data-testid': 'done-mark', text: t('done_mark') }),
        h('span', { class: 'reached', 'data-testid': 'reached', text: ' ' + t('reached', { d: fmtDate(u.reached_on) }) }));
    }
    status.append(h('span', { class: 'days' + (u.days_left < 0 || u.days_ahead < 0 ? ' late' : ''), 'data-testid': 'days', text: (u.done ? ' · ' : '') + daysText(u) }));
    const done = unitsDoneText(u.units_done);
    const sub = h('div', { class: 'sub' }, status);
    if (done) sub.append(h('span', { class: 'units-done', 'data-testid': 'units-done', text: t('units_done') + ': ' + done }));
    row.append(title, figures, percent, bar, sub);
    return row;
  }

  function rankRow(u) {
    const hasTarget = u.rank !== null && u.rank !== undefined;
    return h('tr', { 'data-testid': 'rank-row', 'data-unit': u.code, 'data-rank': attr(u.rank), 'data-rank-of': attr(u.rank_of) },
      h('td', { 'data-testid': 'rank', text: hasTarget ? u.rank + '/' + u.rank_of : '–' }),
      h('td', { text: u.name }),
      h('td', { class: 'num', 'data-testid': 'achieved', text: fmtInt(u.achieved) }),
      h('td', { class: 'num', 'data-testid': 'target', text: u.target == null ? '–' : fmtInt(u.target) }),
      h('td', { class: 'num', 'data-testid': 'percent', text: fmtPct(u.percent_x100) }),
      h('td', { class: 'num', 'data-testid': 'days', text: daysText(u) }));
  }

  function renderBreakdown(units) {
    const box = $('breakdown');
    box.replaceChildren();
    if (!state.data.progress) return;
    const sum = (field) => {
      const out = {};
      for (const u of units) {
        for (const [k, v] of Object.entries(u[field] || {})) out[k] = (out[k] || 0) + v;
      }
      return out;
    };
    box.append(breakdownTable(t('place'), 'place', sum('by_place'), PLACES),
      breakdownTable(t('reason'), 'reason', sum('by_reason'), REASONS));
  }

  function breakdownTable(title, kind, counts, labels) {
    const names = labels[state.lang];
    const keys = Object.keys(names).filter((k) => counts[k]);
    for (const k of Object.keys(counts)) if (!names[k] && counts[k]) keys.push(k);
    keys.sort((a, b) => counts[b] - counts[a]);
    const total = keys.reduce((n, k) => n + counts[k], 0);
    const wrap = h('div', { class: 'breakdown', 'data-testid': 'breakdown-' + kind }, h('h3', { text: title }));
    if (!keys.length) {
      wrap.append(h('p', { class: 'muted', text: '–' }));
      return wrap;
    }
    for (const k of keys) {
      const fill = h('div', { class: 'fill' });
      fill.style.width = (total ? (100 * counts[k]) / total : 0) + '%';
      wrap.append(h('div', { class: 'brow', 'data-testid': kind + '-row', 'data-key': k, 'data-count': counts[k] },
        h('span', { class: 'blabel', text: names[k] || k }),
        h('span', { class: 'bar small' }, fill),
        h('span', { class: 'num', text: fmtInt(counts[k]) })));
    }
    return wrap;
  }

  function renderAudit() {
    const box = $('audit');
    box.replaceChildren();
    const a = state.data.audit;
    if (!a) return;
    const cls = { verified: 'ok', problems: 'bad', failed: 'bad', pending: 'wait' }[a.state] || 'bad';
    const label = {
      verified: t('audit_verified'), problems: t('audit_problems'),
      failed: t('audit_failed'), pending: t('audit_pending'),
    }[a.state] || a.state;
    const mark = cls === 'ok' ? '✓ ' : cls === 'bad' ? '✗ ' : '… ';
    box.append(h('div', { class: 'audit ' + cls, 'data-testid': 'audit-state', 'data-state': a.state }, mark + label));
    if (a.tree_size !== undefined && a.tree_size !== null) {
      box.append(h('p', { class: 'muted', text: t('audit_sizes', { tree: fmtInt(a.tree_size), entries: fmtInt(a.entries), records: fmtInt(a.records) }) }));
    }
    if (a.checked_at) box.append(h('p', { class: 'muted', text: t('audit_checked', { t: fmtTime(a.checked_at), ms: fmtInt(a.took_ms) }) }));
    if (a.error) box.append(h('p', { class: 'problem', text: a.error }));
    const problems = a.problems || [];
    if (problems.length) {
      const ul = h('ul', { class: 'problems' });
      for (const p of problems.slice(0, 10)) ul.append(h('li', { text: typeof p === 'string' ? p : JSON.stringify(p) }));
      if (problems.length > 10) ul.append(h('li', { text: t('more', { n: problems.length - 10 }) }));
      box.append(ul);
    }
  }

  function shortId(id) { return id ? String(id).slice(0, 8) + '…' : '–'; }

  function renderReview() {
    const box = $('review');
    box.replaceChildren();
    const r = state.data.review;
    if (!r) return;
    const gaps = r.gaps || [];
    // Conflicts name only the device: its name comes from the activity report.
    const nodeNames = new Map(((state.data.activity && state.data.activity.nodes) || [])
      .filter((n) => n.name).map((n) => [n.node_id, n.name]));
    const conflicts = r.conflicts || [];
    box.append(h('h3', { 'data-testid': 'gaps-total', 'data-count': r.gaps_total, text: t('gaps') + ': ' + fmtInt(r.gaps_total) }));
    if (!gaps.length) box.append(h('p', { class: 'good', text: t('no_gaps') }));
    const gl = h('ul', { class: 'list' });
    for (const g of gaps.slice(0, 20)) {
      gl.append(h('li', { 'data-testid': 'gap', 'data-device': g.device_id, 'data-from': g.from, 'data-to': g.to },
        h('strong', { text: g.name || shortId(g.device_id) }), ' ',
        t('gap_range', { from: fmtInt(g.from), to: fmtInt(g.to) }), ' · ',
        g.last_sync_at ? t('last_sync', { t: fmtTime(g.last_sync_at) }) : t('never')));
    }
    if (gaps.length > 20) gl.append(h('li', { text: t('more', { n: gaps.length - 20 }) }));
    if (gaps.length) box.append(gl);
    box.append(h('h3', { 'data-testid': 'conflicts-total', 'data-count': r.conflicts_total, text: t('conflicts') + ': ' + fmtInt(r.conflicts_total) }));
    if (!conflicts.length) box.append(h('p', { class: 'good', text: t('no_conflicts') }));
    const cl = h('ul', { class: 'list' });
    for (const c of conflicts.slice(0, 20)) {
      const who = c.device_id || c.sender_id;
      const seq = c.device_seq === null || c.device_seq === undefined ? '' : ' #' + c.device_seq;
      cl.append(h('li', { 'data-testid': 'conflict', 'data-record': attr(c.record_id), 'data-code': c.code, title: c.reason || '' },
        h('span', { class: 'muted', text: fmtTime(c.at) + ' ' }),
        h('strong', { title: who, text: (nodeNames.get(who) || shortId(who)) + seq }), ' ',
        h('code', { text: c.code || '' }), ' ', c.reason || ''));
    }
    if (conflicts.length > 20) cl.append(h('li', { text: t('more', { n: conflicts.length - 20 }) }));
    if (conflicts.length) box.append(cl);
  }

  function renderCoverage() {
    const box = $('coverage');
    box.replaceChildren();
    const c = state.data.coverage;
    $('coverage-card').hidden = !c;
    if (!c) return;
    const rows = c.rows || [];
    if (!rows.length) {
      box.append(h('p', { class: 'empty', text: t('no_roster') }),
        h('pre', { class: 'cmd', text: 'doorstep central roster import --data-dir DIR FILE.csv' }));
      return;
    }
    const table = h('table', { class: 'units' });
    const head = h('tr', {}, h('th', { text: t('unit') }));
    for (const k of ['cov_eligible', 'cov_reached', 'cov_enrolled', 'cov_closed', 'cov_referred', 'cov_review', 'cov_remaining']) {
      head.append(h('th', { class: 'num', text: t(k) }));
    }
    table.append(h('thead', {}, head));
    const body = h('tbody', {});
    for (const r of rows) {
      const total = r.unit_code === 'total';
      const reasons = Object.entries(r.remaining_by_reason || {})
        .filter(([, n]) => n > 0).map(([k, n]) => k + ' ' + fmtInt(n)).join(', ');
      body.append(h('tr', { 'data-testid': 'coverage-row', 'data-unit': r.unit_code, 'data-remaining': r.remaining, class: total ? 'total' : '' },
        h('td', { text: total ? r.unit_name : r.unit_name + ' (' + r.unit_code + ')' }),
        h('td', { class: 'num', text: fmtInt(r.eligible) }),
        h('td', { class: 'num', text: fmtInt(r.reached) }),
        h('td', { class: 'num', text: fmtInt(r.enrolled) }),
        h('td', { class: 'num', text: fmtInt(r.closed) }),
        h('td', { class: 'num', text: fmtInt(r.referred_out) + ' / ' + fmtInt(r.referred_in) }),
        h('td', { class: 'num', text: fmtInt(r.review) }),
        h('td', { class: 'num', title: reasons, text: fmtInt(r.remaining) })));
    }
    table.append(body);
    box.append(table);
  }

  function renderActivity() {
    const box = $('activity');
    box.replaceChildren();
    const a = state.data.activity;
    if (!a) return;
    const nodes = a.nodes || [];
    if (!nodes.length) {
      box.append(h('p', { class: 'muted', text: t('no_activity') }));
      return;
    }
    const since = Date.parse(a.since);
    const step = (a.bucket_seconds || 3600) * 1000;
    const slots = Math.max(1, Math.min(720, Math.ceil((Date.now() - since) / step) || ACTIVITY_HOURS));
    const records = (b) => (b.accepted || 0) + (b.duplicate || 0) + (b.conflict || 0) + (b.invalid || 0);
    let max = 1;
    for (const n of nodes) for (const b of n.buckets || []) max = Math.max(max, records(b));
    const W = 4;
    const H = 36;
    for (const n of nodes) {
      let sessions = 0;
      let accepted = 0;
      const svg = s('svg', { class: 'spark', viewBox: '0 0 ' + slots * W + ' ' + H, preserveAspectRatio: 'none', role: 'img' });
      svg.append(s('line', { x1: 0, y1: H - 0.5, x2: slots * W, y2: H - 0.5, class: 'axis' }));
      for (const b of n.buckets || []) {
        sessions += b.sessions || 0;
        accepted += b.accepted || 0;
        const slot = Math.floor((Date.parse(b.at) - since) / step);
        if (!(slot >= 0) || slot >= slots) continue;
        const all = records(b);
        const height = Math.max(2, Math.round((H - 2) * all / max));
        const bad = all ? Math.round(height * ((b.conflict || 0) + (b.invalid || 0)) / all) : 0;
        const tip = s('title');
        tip.textContent = t('bar_title', { t: fmtTime(b.at), s: fmtInt(b.sessions || 0), a: fmtInt(b.accepted || 0), c: fmtInt(b.conflict || 0) });
        svg.append(s('rect', { x: slot * W + 0.5, y: H - height, width: W - 1, height: height - bad, class: 'b-ok' }, tip));
        if (bad) svg.append(s('rect', { x: slot * W + 0.5, y: H - bad, width: W - 1, height: bad, class: 'b-bad' }));
      }
      const role = n.role === 'station' ? t('station') : t('laptop');
      const axis = h('div', { class: 'axis-labels muted' },
        h('span', { text: fmtTime(a.since) }), h('span', { text: t('now') }));
      box.append(h('div', { class: 'node', 'data-testid': 'node', 'data-node': n.node_id, 'data-sessions': sessions, 'data-accepted': accepted },
        h('div', { class: 'node-head' },
          h('span', { class: 'chip role-' + (n.role || 'laptop'), text: role }),
          h('strong', { class: 'node-name', title: n.node_id, text: n.name || shortId(n.node_id) }),
          h('span', { class: 'muted', text: counted(sessions, 'sessions') + ' · ' + counted(accepted, 'records') })),
        svg, axis));
    }
  }

  // --- wiring ---------------------------------------------------------------

  function start() {
    $('campaign').addEventListener('change', (e) => {
      state.campaign = e.target.value;
      state.unit = null;
      state.metric = null;
      syncUrl(true);
      loadAll();
    });
    $('metric').addEventListener('change', (e) => {
      state.metric = e.target.value || null;
      syncUrl(true);
      loadAll();
    });
    $('as-of').addEventListener('change', (e) => {
      state.asOf = e.target.value || null;
      syncUrl(true);
      loadAll();
    });
    $('refresh').addEventListener('click', () => loadAll());
    $('lang').addEventListener('click', () => {
      state.lang = state.lang === 'vi' ? 'en' : 'vi';
      try { localStorage.setItem(LANG_KEY, state.lang); } catch (_) { /* not remembered */ }
      syncUrl(false);
      render();
    });
    $('controls').addEventListener('submit', (e) => e.preventDefault());
    window.addEventListener('popstate', () => {
      const p = new URLSearchParams(location.search);
      state.campaign = p.get('campaign');
      state.metric = p.get('metric');
      state.asOf = p.get('as_of');
      state.unit = p.get('unit');
      loadAll();
    });
    setInterval(() => { if (!document.hidden) loadAll(); }, REFRESH_MS);
    render();
    loadAll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
