/*
 * The staff console (R62, R63): sign-in (password, or the first time a
 * one-time code and a new password), then the views the role allows:
 *  - 考场监控 (proctor; read-only for the chief and ops): the room's live
 *    board over a WebSocket, screening (R13), start, "start answering"
 *    (R14), incident reports (R41);
 *  - 评分 (examiner, chief): my scores for my room's interviewed candidates (R50);
 *  - 违纪处理与成绩汇总 (chief; read-only for ops): open incidents with their
 *    evidence, decisions (R42), the score sheet and the seal;
 *  - 运维 (ops): the candidate list import, counts, health, publication,
 *    the lists, backups (R1, R55).
 *
 * Plain ES2020, no framework, no build step. The page is served with a strict
 * CSP (script-src 'self'; style-src 'self'), so there is no inline script or
 * style: handlers are bound here, visual states are classes or `hidden`, and
 * the only computed styles (the outage bars) go through the CSSOM.
 * Server strings are written with textContent, never innerHTML.
 *
 * The contract is docs/staff-api.md. The session cookie is HttpOnly; the
 * CSRF token of the session lives only in this script's memory and goes with
 * every POST, PUT and DELETE as X-CSRF-Token.
 */
'use strict';

(() => {
  // ---------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------

  const {
    $, API, mmss, beijingHMS, beijingFull, beijingShort, setText, show, isShown, ApiError, errorFrom, fetchJson,
  } = window.ExamWeb;
  const STAFF = API + '/staff';

  const ROLE_TEXT = { proctor: '考务人员', examiner: '考官', chief: '主考官', ops: '运维' };
  const SITTING_TEXT = { mock: '模拟测试', formal: '正式面试' };
  const ROSTER_TEXT = { confirmed: '已确认', declined: '已放弃', forfeited: '视为放弃', 'not confirmed': '未确认', pending: '未确认' };
  const SCREENING_TEXT = { '': '待核验', passed: '核验通过', failed: '核验未通过' };
  const PHASE_TEXT = { '': '候考', reading: '阅题', answering: '作答', ended: '已结束' };
  const END_REASON_TEXT = { time_up: '时间到', ended_early: '提前结束', room_ended: '考场结束' };
  const STANDING_TEXT = {
    '': '', qualified: '', interviewed: '已面试', qualification_cancelled: '取消面试资格', score_voided: '面试成绩无效',
    absent: '缺考', declined: '已放弃', forfeited: '视为放弃', not_interviewed: '未面试', ranked: '已计分',
    waiting: '待面试', disqualified: '取消资格',
  };
  const SOURCE_TEXT = {
    staff: '考务人员报告', 'devices.signal': '设备信号监测（自动）', 'timing.screening': '入场核验未通过（自动）',
    'devices.rule': '设备规则（自动）',
  };
  const INCIDENT_STATUS_TEXT = { open: '待处理', decided: '已处理', disqualified: '已取消资格', dismissed: '已驳回', reversed: '已撤销' };
  const DEVICE_ROLE_TEXT = { main: '主机位', secondary: '副机位' };
  const RULE_TEXT = {
    'ios-wechat-8.0.20': '苹果手机微信 8.0.20 版本', 'secondary-speaker-muted': '副机位扬声器未静音',
    speaker_on: '副机位扬声器未静音', 'main-front-camera': '主机位须用前置摄像头',
    'secondary-rear-camera': '副机位须用后置摄像头', 'microphone-on': '麦克风未开启', 'camera-on': '摄像头未开启',
    'screen-auto-lock-off': '未关闭自动锁屏', 'client-foreground': '客户端不在前台', 'battery-low': '电量低于 20%',
  };
  // Group-specific labels first ('roster.imported': still only imported, i.e. not yet confirmed).
  const COUNT_TEXT = {
    'roster.imported': '待确认', 'roster.total': '总人数', 'devices.candidates': '已登记考生', 'devices.devices': '已登记手机',
    imported: '已导入', total: '总人数', pending: '待确认', confirmed: '已确认', declined: '已放弃', forfeited: '视为放弃',
    photoPending: '照片待审核', photoApproved: '照片已通过', photoRejected: '照片未通过', disqualified: '取消资格',
    registered: '已登记手机', devices: '手机总数', candidates: '考生数', main: '主机位', secondary: '副机位',
    connected: '在线', lost: '信号中断', fit: '设备合规', unfit: '设备不合规', blocked: '设备不合规', fitCandidates: '设备合规考生',
    pendingReview: '照片待审核', not_confirmed: '未确认', qualified: '合格',
  };
  const COUNT_ORDER = {
    roster: ['total', 'imported', 'pending', 'confirmed', 'declined', 'forfeited', 'pendingReview'],
    devices: ['candidates', 'devices', 'connected', 'lost', 'blocked', 'fitCandidates'],
  };
  // R50: 0-100, at most two decimals.
  const SCORE_RX = /^(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)$/;

  function bytesText(n) {
    n = Number(n);
    if (!Number.isFinite(n) || n < 0) return '—';
    if (n < 1024) return n + ' B';
    const units = ['KB', 'MB', 'GB', 'TB'];
    let v = n / 1024;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
  }
  function uptimeText(sec) {
    sec = Math.max(0, Math.floor(Number(sec) || 0));
    const d = Math.floor(sec / 86400);
    const h = Math.floor((sec % 86400) / 3600);
    const m = Math.floor((sec % 3600) / 60);
    const s = sec % 60;
    if (d) return `${d} 天 ${h} 小时`;
    if (h) return `${h} 小时 ${m} 分`;
    if (m) return `${m} 分 ${s} 秒`;
    return `${s} 秒`;
  }

  function el(tag, opts = {}, ...children) {
    const e = document.createElement(tag);
    if (opts.cls) e.className = opts.cls;
    if (opts.text != null) e.textContent = String(opts.text);
    if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) if (v != null) e.setAttribute(k, String(v));
    if (opts.data) for (const [k, v] of Object.entries(opts.data)) e.dataset[k] = v == null ? '' : String(v);
    for (const c of children) if (c != null) e.append(c);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // ---------------------------------------------------------------------------
  // State
  // ---------------------------------------------------------------------------

  const S = {
    session: null, // StaffSession, without the csrf
    csrf: '', // only here, in memory (R63)
    tab: '',
    clock: window.ExamWeb.serverClock(),
    grounds: null,
    checklist: null,
    board: {
      room: '', sitting: '', data: null, ws: null, attempt: 0, retryTimer: 0, watchdog: 0, pingTimer: 0,
      down: false, fetchedThisOutage: false, lastMessageAt: 0, wanted: false, rows: new Map(),
    },
    scores: { timer: 0, data: null },
    chief: { room: '' },
    healthTimer: 0,
    clockTimer: 0,
    syncTimer: 0,
    tickTimer: 0,
    signinMode: 'password',
    lockTimer: 0,
  };

  // For the browser test: every board message as received, with the moment.
  window.__boardUpdates = [];
  window.__phaseChanges = [];

  // ---------------------------------------------------------------------------
  // Notices: one error, one info, moved next to the action they are about
  // ---------------------------------------------------------------------------

  const { showError, hideError, showInfo, hideInfo, act } = window.ExamWeb.notices({
    fallbacks: ['.modal:not([hidden]) .modal-box', '.panel:not([hidden])', '.view:not([hidden])', '.page'],
    scrollMargin: 50,
    smooth: false,
    errorText: (err) => (err instanceof ApiError ? err.display : String(err)),
  });

  // ---------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------

  /**
   * fetch wrapper (ExamWeb.fetchJson): JSON in and out, the session cookie
   * travels by itself (same origin), the CSRF header on every change. A 401
   * on anything but the sign-in ends the session here (the sign-in form
   * shows); the caller gets an error with handled = true.
   */
  function api(method, path, body, opts = {}) {
    const headers = {};
    if (method !== 'GET' && method !== 'HEAD' && S.csrf) headers['X-CSRF-Token'] = S.csrf;
    return fetchJson(method, path, body, {
      headers,
      onUnauthorized: opts.signin ? null : () => sessionEnded('登录已失效，请重新登录。'),
    });
  }

  // ---------------------------------------------------------------------------
  // The server's clock (ExamWeb.serverClock): offset = server time - local time
  // ---------------------------------------------------------------------------

  function serverNow() { return S.clock.now(); }
  function coarseClock(serverTimeMs) { S.clock.coarse(serverTimeMs); }
  function syncClock() { return S.clock.sync(3); }
  window.__serverNow = serverNow;
  window.__clockOffset = () => S.clock.offset;

  function tickClock() {
    setText('server-clock', S.clock.known ? beijingHMS(serverNow()) : '--:--:--');
  }

  // ---------------------------------------------------------------------------
  // Views
  // ---------------------------------------------------------------------------

  function showView(name) {
    hideError();
    hideInfo();
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + name;
    const signedIn = name === 'app';
    show('signout-button', signedIn);
    show('who', signedIn);
    if (!signedIn) show('conn-banner', false);
  }

  // ---------------------------------------------------------------------------
  // Sign-in, session, sign-out (R62, R63)
  // ---------------------------------------------------------------------------

  function setSigninMode(mode) {
    S.signinMode = mode;
    const code = mode === 'code';
    $('mode-password').setAttribute('aria-selected', String(!code));
    $('mode-code').setAttribute('aria-selected', String(code));
    show('field-password', !code);
    show('field-code', code);
    show('field-new', code);
    show('field-repeat', code);
    $('signin-submit').textContent = code ? '设置密码并登录' : '登 录';
  }

  // "14 分 50 秒" rather than "890 秒": a lock lasts minutes (R63).
  function waitText(seconds) {
    return seconds >= 90 ? `${Math.floor(seconds / 60)} 分 ${seconds % 60} 秒` : `${seconds} 秒`;
  }

  function lockSignin(seconds) {
    const btn = $('signin-submit');
    clearInterval(S.lockTimer);
    let left = seconds;
    const paint = () => {
      btn.disabled = left > 0;
      btn.textContent = left > 0 ? `已锁定，请 ${waitText(left)}后再试` : (S.signinMode === 'code' ? '设置密码并登录' : '登 录');
    };
    paint();
    S.lockTimer = setInterval(() => {
      left -= 1;
      paint();
      if (left <= 0) clearInterval(S.lockTimer);
    }, 1000);
  }

  async function onSignin(ev) {
    ev.preventDefault();
    const id = $('signin-id').value.trim();
    const anchor = 'signin-anchor';
    if (!id) { showError('请输入账号。', anchor); return; }
    let body;
    if (S.signinMode === 'code') {
      const code = $('signin-code').value.trim();
      const pw = $('signin-new').value;
      const again = $('signin-repeat').value;
      if (!code) { showError('请输入一次性验证码。', anchor); return; }
      if (pw.length < 10) { showError('新密码至少 10 个字符。', anchor); return; }
      if (pw !== again) { showError('两次输入的新密码不一致。', anchor); return; }
      body = { id, code, newPassword: pw };
    } else {
      const pw = $('signin-password').value;
      if (!pw) { showError('请输入密码。', anchor); return; }
      body = { id, password: pw };
    }
    const btn = $('signin-submit');
    btn.disabled = true;
    hideError();
    try {
      const s = await api('POST', STAFF + '/session', body, { signin: true });
      for (const f of ['signin-password', 'signin-code', 'signin-new', 'signin-repeat']) $(f).value = '';
      btn.disabled = false;
      startSession(s);
    } catch (err) {
      btn.disabled = false;
      if (err.status === 429) {
        const n = err.retryAfter;
        showError((n ? `尝试次数过多，账号已被暂时锁定，请 ${waitText(n)}后再试。` : '尝试次数过多，账号已被暂时锁定，请稍后再试。')
          + `（${err.message}）`, anchor);
        if (n) lockSignin(n);
      } else if (err.status === 401) {
        // One answer for an unknown id, an account without a password yet and
        // a wrong password (issue 22): the page cannot tell a first sign-in,
        // so it says where the code form is.
        showError((S.signinMode === 'code'
          ? '账号或一次性验证码错误，或验证码已过期、已使用。'
          : '账号或密码错误。首次登录请选择上方“首次登录（一次性验证码）”，用运维发放的验证码设置密码。') + `（${err.message}）`, anchor);
      } else {
        showError(err.display || String(err), anchor);
      }
    }
  }

  function startSession(s) {
    S.csrf = s.csrf || '';
    const copy = Object.assign({}, s);
    delete copy.csrf;
    S.session = copy;
    coarseClock(s.serverTimeMs);
    document.body.dataset.role = s.role;
    setText('who-id', s.name && s.name !== s.id ? `${s.name}（${s.id}）` : s.id);
    setText('who-role', ROLE_TEXT[s.role] || s.role);
    $('who').dataset.id = s.id;
    $('who').dataset.role = s.role;
    showView('app');
    setupTabs();
  }

  function resetAll() {
    stopBoard();
    if (window.ExamLiveStaff) window.ExamLiveStaff.reset();
    // Nothing of the previous account stays on the page.
    S.board.room = '';
    S.board.sitting = '';
    S.board.data = null;
    S.board.attempt = 0;
    S.board.rows.forEach((r) => r.tr.remove());
    S.board.rows.clear();
    scoreRows.forEach((r) => r.tr.remove());
    scoreRows.clear();
    for (const id of ['incidents', 'sheet-head', 'sheet-body', 'health-body', 'counts', 'import-rows']) clear($(id));
    for (const id of ['import-result', 'import-errors', 'publish-result', 'backup-result']) show(id, false);
    stopScores();
    stopHealth();
    S.session = null;
    S.csrf = '';
    S.tab = '';
    S.grounds = null;
    S.checklist = null;
    delete document.body.dataset.role;
    for (const m of document.querySelectorAll('.modal')) m.hidden = true;
    setSigninMode('password');
  }

  function sessionEnded(message) {
    resetAll();
    showView('signin');
    if (message) showError(message, 'signin-anchor');
  }

  async function onSignout() {
    const btn = $('signout-button');
    await act(btn, null, async () => {
      try {
        await api('DELETE', STAFF + '/session');
      } catch (err) {
        if (err.status !== 401) throw err;
      }
      resetAll();
      showView('signin');
      showInfo('已退出登录。', 'signin-anchor');
    });
  }

  async function restoreSession() {
    try {
      const s = await api('GET', STAFF + '/session', undefined, { signin: true });
      startSession(s);
    } catch (err) {
      showView('signin');
      if (err.status && err.status !== 401) showError(err.display, 'signin-anchor');
      else if (!err.status) showError(err.message, 'signin-anchor');
    }
  }

  // ---------------------------------------------------------------------------
  // Tabs: what each role may see (R62)
  // ---------------------------------------------------------------------------

  const TABS_BY_ROLE = {
    proctor: ['proctor'],
    examiner: ['examiner'],
    chief: ['examiner', 'chief', 'proctor'],
    ops: ['ops', 'proctor', 'chief'],
  };

  function setupTabs() {
    const allowed = TABS_BY_ROLE[S.session.role] || [];
    for (const t of document.querySelectorAll('.tab')) t.hidden = !allowed.includes(t.dataset.tab);
    // Chief and ops watch the board without acting on it; ops read the chief's view.
    const boardReadOnly = S.session.role !== 'proctor';
    $('board').classList.toggle('read-only', boardReadOnly);
    show('board-readonly', boardReadOnly);
    show('board-next', !boardReadOnly);
    const chiefReadOnly = S.session.role !== 'chief';
    show('chief-readonly', chiefReadOnly);
    show('seal-button', !chiefReadOnly);
    fillRoomSelect($('board-room'));
    fillRoomSelect($('chief-room'));
    if (allowed.length) selectTab(allowed[0]);
  }

  function fillRoomSelect(sel) {
    clear(sel);
    for (const r of S.session.rooms || []) sel.append(el('option', { text: `${r.name || r.id}（${r.id}）`, attrs: { value: r.id } }));
    sel.disabled = (S.session.rooms || []).length <= 1;
  }

  function selectTab(name) {
    if (S.tab === name) return;
    S.tab = name;
    hideError();
    hideInfo();
    for (const t of document.querySelectorAll('.tab')) t.setAttribute('aria-selected', String(t.dataset.tab === name));
    for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== 'panel-' + name;
    // Only the visible view talks to the server.
    if (name === 'proctor') startBoard(); else stopBoard();
    if (name === 'examiner') startScores(); else stopScores();
    // The panel watches the candidate being interviewed (R65).
    if (window.ExamLiveStaff) {
      if (name === 'examiner' && firstRoom()) window.ExamLiveStaff.startPanel({ room: firstRoom().id, role: S.session.role });
      else window.ExamLiveStaff.stopPanel();
    }
    if (name === 'chief') loadChief();
    if (name === 'ops') startOps(); else stopHealth();
  }

  function firstRoom() { return ((S.session && S.session.rooms) || [])[0]; }

  // ---------------------------------------------------------------------------
  // Reference data: grounds (R40) and the checklist (R13)
  // ---------------------------------------------------------------------------

  async function grounds() {
    if (!S.grounds) S.grounds = (await api('GET', STAFF + '/grounds')).grounds || [];
    return S.grounds;
  }
  async function checklist() {
    if (!S.checklist) S.checklist = (await api('GET', STAFF + '/checklist')).items || [];
    return S.checklist;
  }
  function groundText(g) {
    if (!g) return '—';
    const n = typeof g === 'object' ? g.number : g;
    const zh = typeof g === 'object' && g.zh ? g.zh : ((S.grounds || []).find((x) => x.number === n) || {}).zh;
    return `第 ${n} 项${zh ? '：' + zh : ''}`;
  }
  function itemText(item) {
    const found = (S.checklist || []).find((x) => x.item === item);
    return found && found.zh ? found.zh : item;
  }

  // ---------------------------------------------------------------------------
  // Proctor: the live board
  // ---------------------------------------------------------------------------

  function boardPath(room, sitting) {
    return `${STAFF}/rooms/${encodeURIComponent(room)}/board` + (sitting ? `?sitting=${encodeURIComponent(sitting)}` : '');
  }

  async function startBoard() {
    const B = S.board;
    B.wanted = true;
    if (!B.room) B.room = (firstRoom() || {}).id || '';
    $('board-room').value = B.room;
    if (!B.room) return;
    if (!S.grounds) grounds().catch(() => {});
    if (!S.checklist) checklist().catch(() => {});
    if (!B.sitting) {
      // The sitting of the moment: what the server says without one.
      try {
        const b = await api('GET', boardPath(B.room, ''));
        if (!B.wanted) return;
        B.sitting = b.sitting || 'mock';
        renderBoard(b);
      } catch (err) {
        if (!err.handled) showError(err.display, 'board-anchor');
        B.sitting = 'mock';
      }
    }
    $('board-sitting').value = B.sitting;
    connectBoard();
  }

  function stopBoard() {
    const B = S.board;
    B.wanted = false;
    clearTimeout(B.retryTimer);
    clearInterval(B.pingTimer);
    clearInterval(B.watchdog);
    if (B.ws) {
      const ws = B.ws;
      B.ws = null;
      ws.onclose = null;
      try { ws.close(1000, 'view closed'); } catch (_) { /* already closed */ }
    }
    B.down = false;
    show('conn-banner', false);
    setLive('down', '未连接');
    if (window.ExamLiveStaff) window.ExamLiveStaff.stopBoard();
  }

  function setLive(state, text) {
    const e = $('board-live');
    e.dataset.state = state;
    e.textContent = text;
  }

  function connectBoard() {
    const B = S.board;
    clearTimeout(B.retryTimer);
    clearInterval(B.pingTimer);
    clearInterval(B.watchdog);
    if (B.ws) { B.ws.onclose = null; try { B.ws.close(); } catch (_) { /* ignore */ } B.ws = null; }
    if (!B.wanted || !B.room) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}${STAFF}/live?room=${encodeURIComponent(B.room)}&sitting=${encodeURIComponent(B.sitting)}`;
    let ws;
    try { ws = new WebSocket(url); } catch (_) { scheduleReconnect(); return; }
    B.ws = ws;
    setLive(B.down ? 'retry' : 'connecting', B.down ? '重连中…' : '连接中…');
    ws.onopen = () => {
      B.lastMessageAt = Date.now();
      B.pingTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ping' }));
      }, 15000);
      // The server sends its time every 5 s: 20 s of silence is a dead line.
      B.watchdog = setInterval(() => {
        if (Date.now() - B.lastMessageAt > 20000) { try { ws.close(); } catch (_) { /* ignore */ } }
      }, 2000);
    };
    ws.onmessage = (ev) => {
      if (B.ws !== ws) return;
      B.lastMessageAt = Date.now();
      let m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      onLiveMessage(m);
    };
    ws.onclose = () => {
      if (B.ws !== ws) return;
      B.ws = null;
      clearInterval(B.pingTimer);
      clearInterval(B.watchdog);
      if (!B.wanted) return;
      scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  function scheduleReconnect() {
    const B = S.board;
    if (!B.down) { B.down = true; B.fetchedThisOutage = false; }
    show('conn-banner', true);
    B.attempt += 1;
    const delay = Math.min(15000, 1000 * 2 ** Math.min(B.attempt - 1, 4)) * (0.8 + Math.random() * 0.4);
    setText('conn-banner-detail', `（${Math.round(delay / 1000)} 秒后第 ${B.attempt} 次重连）`);
    setLive('down', '连接中断');
    // Once per outage, the board over HTTP: the table is fresh even if the
    // socket takes long to come back (and a 401 ends the session here).
    if (!B.fetchedThisOutage) {
      B.fetchedThisOutage = true;
      api('GET', boardPath(B.room, B.sitting)).then((b) => { if (B.wanted && b) renderBoard(b); }).catch(() => {});
    }
    B.retryTimer = setTimeout(connectBoard, delay);
  }

  function onLiveMessage(m) {
    const B = S.board;
    if (m.type === 'board' && m.board) {
      window.__boardUpdates.push({ t: performance.now(), wall: Date.now(), msg: m });
      if (window.__boardUpdates.length > 500) window.__boardUpdates.shift();
      if (B.down) {
        B.down = false;
        show('conn-banner', false);
      }
      B.attempt = 0;
      setLive('up', '实时');
      renderBoard(m.board);
    } else if (m.type === 'time') {
      coarseClock(m.serverTimeMs);
      if (B.down) { B.down = false; show('conn-banner', false); B.attempt = 0; }
      setLive('up', '实时');
    } else if (m.type === 'error') {
      showError(`实时连接被拒绝：${m.message || ''}（${m.code || ''}）`, 'board-anchor');
    }
  }

  function rowFor(c) {
    const B = S.board;
    let r = B.rows.get(c.examNumber);
    if (r) return r;
    const tr = el('tr', { data: { exam: c.examNumber } });
    const cells = {};
    for (const k of ['order', 'exam', 'name', 'roster', 'rooms', 'phones', 'screening', 'phase', 'incidents', 'standing', 'actions']) {
      cells[k] = el('td', { cls: 'c-' + k });
      tr.append(cells[k]);
    }
    cells.order.classList.add('num');
    cells.exam.classList.add('mono');
    const countdown = el('span', { cls: 'countdown mono' });
    const phaseBadge = el('span', { cls: 'badge badge-small' });
    const phaseSub = el('span', { cls: 'sub muted' });
    cells.phase.append(phaseBadge, countdown, phaseSub);
    const buttons = {
      screen: el('button', { cls: 'btn btn-small btn-secondary act-screen', text: '核验', attrs: { type: 'button' } }),
      start: el('button', { cls: 'btn btn-small btn-primary act-start', text: '开始面试', attrs: { type: 'button' } }),
      answer: el('button', { cls: 'btn btn-small btn-primary act-answer', text: '宣布答题', attrs: { type: 'button' } }),
      report: el('button', { cls: 'btn btn-small btn-danger-outline act-report', text: '报告违纪', attrs: { type: 'button' } }),
    };
    const wrap = el('div', { cls: 'row-actions' }, buttons.screen, buttons.start, buttons.answer, buttons.report);
    cells.actions.append(wrap);
    buttons.screen.addEventListener('click', () => openScreening(r.c));
    // After an action, the buttons say again what the row allows (act() re-enables its button).
    buttons.start.addEventListener('click', () => startInterview(r.c.examNumber, buttons.start).then(() => updateRow(r, r.c)));
    buttons.answer.addEventListener('click', () => announceAnswering(r.c.examNumber, buttons.answer).then(() => updateRow(r, r.c)));
    buttons.report.addEventListener('click', () => openIncident(r.c));
    r = { tr, cells, buttons, countdown, phaseBadge, phaseSub, c, phase: null };
    B.rows.set(c.examNumber, r);
    return r;
  }

  function deviceText(d, role) {
    const name = DEVICE_ROLE_TEXT[role];
    const span = el('span', { cls: 'dev' });
    if (!d) { span.append(el('span', { cls: 'sig sig-none', text: `${name} 未登记` })); return span; }
    const state = d.lost ? ['sig-lost', '信号中断'] : d.connected ? ['sig-ok', '在线'] : ['sig-off', '离线'];
    span.append(el('span', { cls: 'sig ' + state[0], text: `${name} ${state[1]}` }));
    for (const b of d.broken || []) span.append(el('span', { cls: 'rule', text: RULE_TEXT[b] || b, attrs: { title: b } }));
    return span;
  }

  function renderBoard(b) {
    const B = S.board;
    if (!b || !b.room) return;
    // A board of another room or sitting (a late message after a switch) is dropped.
    if (B.room && b.room.id && b.room.id !== B.room) return;
    if (B.sitting && b.sitting && b.sitting !== B.sitting) return;
    B.data = b;
    coarseClock(b.serverTimeMs);
    const table = $('board');
    table.dataset.room = b.room.id || '';
    table.dataset.sitting = b.sitting || '';
    table.dataset.events = String(b.events || 0);
    table.dataset.drawn = String(!!b.drawn);
    const entry = b.entry || {};
    setText('board-entry', entry.opensAtMs ? `${beijingShort(entry.opensAtMs)} – ${beijingHMS(entry.closesAtMs)}` : '—');
    const now = serverNow();
    const entryState = entry.closed || (entry.closesAtMs && now >= entry.closesAtMs) ? ['已截止', 'badge-muted']
      : entry.opensAtMs && now >= entry.opensAtMs ? ['入场中', 'badge-ok'] : ['未开始', 'badge-info'];
    const es = $('board-entry-state');
    es.textContent = entryState[0];
    es.className = 'badge badge-small ' + entryState[1];
    setText('board-drawn', b.drawn ? '已抽签' : '未抽签（入场截止时抽签）');
    setText('board-count', (b.candidates || []).length);
    setText('board-events', b.events || 0);
    setText('board-updated', beijingHMS(b.serverTimeMs || now));

    const body = $('board-body');
    const seen = new Set();
    const list = b.candidates || [];
    list.forEach((c, i) => {
      seen.add(c.examNumber);
      const r = rowFor(c);
      r.c = c;
      updateRow(r, c);
      if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
    });
    for (const [k, r] of B.rows) {
      if (!seen.has(k)) { r.tr.remove(); B.rows.delete(k); }
    }
    show('board-empty', list.length === 0);
    tickBoard();
    // The live pictures of the entered candidates (live-staff.js, R64, R65).
    if (window.ExamLiveStaff && S.session) {
      window.ExamLiveStaff.board(b, {
        room: B.room, sitting: b.sitting || B.sitting, role: S.session.role,
        canScreen: (c) => { const r = B.rows.get(c.examNumber); return !!r && !r.buttons.screen.disabled; },
        screen: (c) => { const r = B.rows.get(c.examNumber); if (r && !r.buttons.screen.disabled) openScreening(r.c); },
      });
    }
  }

  function updateRow(r, c) {
    const { tr, cells } = r;
    const phase = c.phase || '';
    tr.dataset.phase = phase;
    tr.dataset.screening = c.screening || '';
    tr.dataset.standing = c.standing || '';
    tr.dataset.order = String(c.order || 0);
    tr.dataset.mainIn = String(!!c.mainIn);
    tr.dataset.incidents = String((c.openIncidents || []).length);
    if (r.phase !== phase) {
      // When the row changed phase, by the server's clock (the board-latency measure).
      const at = serverNow();
      tr.dataset.phaseAt = String(Math.round(at));
      if (r.phase !== null) window.__phaseChanges.push({ exam: c.examNumber, from: r.phase, phase, serverMs: at, t: performance.now() });
      r.phase = phase;
    }
    tr.classList.toggle('is-current', phase === 'reading' || phase === 'answering');
    tr.classList.toggle('is-out', !!c.standing && c.standing !== 'qualified');
    cells.order.textContent = c.order ? String(c.order) : '—';
    cells.exam.textContent = c.examNumber;
    cells.name.textContent = c.name || '';
    cells.roster.textContent = ROSTER_TEXT[c.roster] || c.roster || '';
    clear(cells.rooms);
    cells.rooms.append(
      el('span', { cls: 'in ' + (c.mainIn ? 'in-yes' : 'in-no'), text: '主' + (c.mainIn ? '✓' : '✗'), attrs: { title: c.mainIn ? '已进入主房间' : '未在主房间' } }),
      el('span', { cls: 'in ' + (c.secondaryIn ? 'in-yes' : 'in-no'), text: '副' + (c.secondaryIn ? '✓' : '✗'), attrs: { title: c.secondaryIn ? '已进入副房间' : '未在副房间' } }));
    if (c.absent) cells.rooms.append(el('span', { cls: 'badge badge-small badge-bad', text: '缺考' }));
    clear(cells.phones);
    cells.phones.append(deviceText(c.main, 'main'), deviceText(c.secondary, 'secondary'));
    clear(cells.screening);
    const sc = c.screening || '';
    if (!sc && !c.mainIn && !phase) cells.screening.append(el('span', { cls: 'muted', text: '—' }));
    else {
      cells.screening.append(el('span', { cls: 'badge badge-small ' + (sc === 'passed' ? 'badge-ok' : sc === 'failed' ? 'badge-bad' : 'badge-muted'),
        text: SCREENING_TEXT[sc] || sc }));
    }
    r.phaseBadge.textContent = PHASE_TEXT[phase] != null ? PHASE_TEXT[phase] : phase;
    r.phaseBadge.className = 'badge badge-small phase-' + (phase || 'waiting');
    clear(cells.incidents);
    for (const i of c.openIncidents || []) {
      cells.incidents.append(el('span', { cls: 'badge badge-small badge-bad', text: `第${i.ground}项`, attrs: { title: `${i.id}：${groundText(i.ground)}` } }));
    }
    clear(cells.standing);
    const st = STANDING_TEXT[c.standing] != null ? STANDING_TEXT[c.standing] : c.standing;
    if (st) cells.standing.append(el('span', { cls: 'badge badge-small badge-bad', text: st }));
    cells.standing.append(el('span', { cls: 'state-text', text: c.stateText || c.state || '' }));
    // What a proctor may do now (the services check again).
    const inRoom = !!c.mainIn;
    const out = !!c.standing && c.standing !== 'qualified';
    r.buttons.screen.disabled = phase !== '' || !inRoom || out;
    r.buttons.start.disabled = phase !== '' || c.screening !== 'passed' || !inRoom || out;
    r.buttons.answer.disabled = phase !== 'reading';
    r.buttons.report.disabled = false;
  }

  // Every 250 ms: the countdowns from the server's clock (R14, R15).
  function tickBoard() {
    const now = serverNow();
    for (const r of S.board.rows.values()) {
      const c = r.c;
      const phase = c.phase || '';
      let main = '';
      let sub = '';
      if (phase === 'reading') {
        const readLeft = (c.readingEndsAtMs || 0) - now;
        main = readLeft > 0 ? mmss(readLeft) : mmss((c.endsAtMs || 0) - now);
        sub = readLeft > 0 ? `共 ${mmss((c.endsAtMs || 0) - now)}` : '阅题时间到，待宣布作答';
      } else if (phase === 'answering') {
        main = mmss((c.endsAtMs || 0) - now);
        sub = '剩余';
      } else if (phase === 'ended') {
        sub = END_REASON_TEXT[c.endReason] || c.endReason || '';
      }
      if (r.countdown.textContent !== main) r.countdown.textContent = main;
      if (r.phaseSub.textContent !== sub) r.phaseSub.textContent = sub;
    }
  }

  async function startInterview(examNumber, button) {
    const B = S.board;
    await act(button, 'board-anchor', async () => {
      const iv = await api('POST', `${STAFF}/rooms/${encodeURIComponent(B.room)}/interviews`, { sitting: B.sitting, examNumber: examNumber || '' });
      window.__lastInterview = iv;
      showInfo(`已开始面试：${iv.examNumber}，阅题至 ${beijingHMS(iv.readingEndsAtMs)}，面试至 ${beijingHMS(iv.endsAtMs)}（北京时间）。`, 'board-anchor');
    });
  }

  async function announceAnswering(examNumber, button) {
    const B = S.board;
    await act(button, 'board-anchor', async () => {
      const iv = await api('POST', `${STAFF}/rooms/${encodeURIComponent(B.room)}/answering`, { sitting: B.sitting, examNumber });
      showInfo(`已宣布“停止阅题，开始作答”：${iv.examNumber}，面试至 ${beijingHMS(iv.endsAtMs)}。`, 'board-anchor');
    });
  }

  // -- dialogs ------------------------------------------------------------------

  let lastFocus = null;
  function openModal(id, focus) {
    lastFocus = document.activeElement;
    hideError();
    show(id, true);
    const f = focus ? $(focus) : $(id).querySelector('input, select, textarea, button');
    if (f) f.focus();
  }
  function closeModal(id) {
    show(id, false);
    if (id === 'screen-dialog' && window.ExamLiveStaff) window.ExamLiveStaff.unmirror($('screen-videos'));
    hideError();
    if (lastFocus && lastFocus.focus && isShown(lastFocus)) lastFocus.focus();
  }

  let screening = null;
  async function openScreening(c) {
    let items;
    try { items = await checklist(); } catch (err) { if (!err.handled) showError(err.display, 'board-anchor'); return; }
    screening = { examNumber: c.examNumber, sitting: S.board.sitting };
    setText('screen-who', `${c.order ? '第 ' + c.order + ' 位 · ' : ''}${c.examNumber} ${c.name || ''} · ${SITTING_TEXT[S.board.sitting] || ''}`);
    $('screen-identity').checked = false;
    const body = $('screen-items');
    clear(body);
    items.forEach((it, i) => {
      const name = 'screen-item-' + i;
      const pass = el('input', { attrs: { type: 'radio', name, value: 'pass', 'aria-label': `${it.zh}：通过` } });
      const fail = el('input', { attrs: { type: 'radio', name, value: 'fail', 'aria-label': `${it.zh}：不通过` } });
      pass.checked = true;
      const note = el('input', { cls: 'note', attrs: { type: 'text', maxlength: '200', placeholder: '不通过时说明情况', 'aria-label': `${it.zh}：备注` } });
      const tr = el('tr', { data: { item: it.item } },
        el('td', { text: it.zh }),
        el('td', { cls: 'pf' }, el('label', { cls: 'radio' }, pass, el('span', { text: '通过' })),
          el('label', { cls: 'radio radio-bad' }, fail, el('span', { text: '不通过' }))),
        el('td', {}, note));
      body.append(tr);
    });
    if (window.ExamLiveStaff) window.ExamLiveStaff.mirror(c.examNumber, $('screen-videos'));
    openModal('screen-dialog', 'screen-identity');
  }

  async function submitScreening(ev) {
    ev.preventDefault();
    if (!screening) return;
    const rows = Array.from($('screen-items').querySelectorAll('tr'));
    const list = rows.map((tr) => {
      const failed = tr.querySelector('input[value="fail"]').checked;
      const note = tr.querySelector('input.note').value.trim();
      const o = { item: tr.dataset.item, passed: !failed };
      if (note) o.note = note;
      return o;
    });
    const failed = list.filter((x) => !x.passed);
    const missingNote = failed.find((x) => !x.note);
    if (missingNote) { showError(`“${itemText(missingNote.item)}”不通过：请在备注中说明情况（作为违纪证据）。`, 'screen-anchor'); return; }
    const identity = $('screen-identity').checked;
    const B = S.board;
    const r = await act($('screen-submit'), 'screen-anchor', () => api('POST', `${STAFF}/rooms/${encodeURIComponent(B.room)}/screenings`, {
      examNumber: screening.examNumber, sitting: screening.sitting, identityConfirmed: identity, checklist: list,
    }));
    if (!r) return;
    closeModal('screen-dialog');
    const row = S.board.rows.get(r.examNumber);
    if (row) updateRow(row, row.c);
    if (r.screening === 'passed') {
      showInfo(`${r.examNumber} 核验通过。`, 'board-anchor');
    } else {
      const items = (r.failedItems || []).map(itemText).join('；');
      showError(`${r.examNumber} 核验未通过${items ? '：' + items : ''}${identity ? '' : '（身份未确认）'}。已转违纪处理（R13）。`, 'board-anchor');
    }
    screening = null;
  }

  let reporting = null;
  async function openIncident(c) {
    let gs;
    try { gs = await grounds(); } catch (err) { if (!err.handled) showError(err.display, 'board-anchor'); return; }
    reporting = { examNumber: c.examNumber, sitting: S.board.sitting };
    setText('incident-who', `${c.examNumber} ${c.name || ''} · ${SITTING_TEXT[S.board.sitting] || ''}`);
    const sel = $('incident-ground');
    clear(sel);
    sel.append(el('option', { text: '请选择', attrs: { value: '' } }));
    for (const g of gs) sel.append(el('option', { text: `${g.number}. ${g.zh}`, attrs: { value: g.number } }));
    $('incident-note').value = '';
    openModal('incident-dialog', 'incident-ground');
  }

  async function submitIncident(ev) {
    ev.preventDefault();
    if (!reporting) return;
    const ground = parseInt($('incident-ground').value, 10);
    const note = $('incident-note').value.trim();
    if (!ground) { showError('请选择违纪情形。', 'incident-anchor'); return; }
    if (!note) { showError('请填写情况说明。', 'incident-anchor'); return; }
    const r = await act($('incident-submit'), 'incident-anchor', () => api('POST', STAFF + '/incidents', {
      examNumber: reporting.examNumber, ground, note, sitting: reporting.sitting,
    }));
    if (!r) return;
    closeModal('incident-dialog');
    showInfo(`已报告违纪：${reporting.examNumber}，${groundText(r.ground || ground)}（编号 ${r.id}），待主考官处理。`, 'board-anchor');
    reporting = null;
  }

  let confirmResolve = null;
  function confirmBox(title, text, okText) {
    setText('confirm-title', title);
    setText('confirm-text', text);
    $('confirm-ok').textContent = okText || '确定';
    openModal('confirm-dialog', 'confirm-cancel');
    return new Promise((resolve) => { confirmResolve = resolve; });
  }
  function answerConfirm(ok) {
    closeModal('confirm-dialog');
    const r = confirmResolve;
    confirmResolve = null;
    if (r) r(ok);
  }

  // ---------------------------------------------------------------------------
  // Examiner: my scores (R50)
  // ---------------------------------------------------------------------------

  function scoreProblem(v) {
    if (v === '') return '请输入分数';
    if (SCORE_RX.test(v)) return '';
    if (!/^\d+(\.\d*)?$/.test(v)) return '只能输入数字和小数点，如 85 或 85.50';
    if (/\.$/.test(v)) return '小数点后缺少数字';
    const [int, frac = ''] = v.split('.');
    if (frac.length > 2) return '最多两位小数';
    if (Number(int) > 100 || (Number(int) === 100 && /[1-9]/.test(frac))) return '分数不能超过 100';
    if (int.length > 1 && int.startsWith('0')) return '整数部分不能以 0 开头';
    return '分数须在 0–100 之间';
  }

  function startScores() {
    stopScores();
    loadScores();
    S.scores.timer = setInterval(loadScores, 10000);
  }
  function stopScores() { clearInterval(S.scores.timer); S.scores.timer = 0; }

  async function loadScores(button) {
    const room = firstRoom();
    if (!room) return;
    setText('scores-room', `${room.name || room.id}（${room.id}）`);
    const run = async () => {
      const d = await api('GET', `${STAFF}/rooms/${encodeURIComponent(room.id)}/scores`);
      renderScores(d);
    };
    if (button) await act(button, 'scores-anchor', run);
    else {
      try { await run(); } catch (err) { if (!err.handled) showError(err.display, 'scores-anchor'); }
    }
  }

  const scoreRows = new Map();
  function renderScores(d) {
    S.scores.data = d;
    const sealedRoom = !!d.sealed;
    show('scores-sealed', sealedRoom);
    $('scores').dataset.sealed = String(sealedRoom);
    setText('scores-updated', beijingHMS(serverNow()));
    const body = $('scores-body');
    const seen = new Set();
    (d.candidates || []).forEach((c, i) => {
      seen.add(c.examNumber);
      let r = scoreRows.get(c.examNumber);
      if (!r) { r = makeScoreRow(c); scoreRows.set(c.examNumber, r); }
      r.c = c;
      const sealed = sealedRoom || !!c.sealed;
      const out = c.standing && !['interviewed', ''].includes(c.standing);
      r.tr.dataset.sealed = String(sealed);
      r.tr.dataset.myScore = c.myScore || '';
      r.tr.dataset.standing = c.standing || '';
      r.cells.order.textContent = c.order ? String(c.order) : '—';
      r.cells.exam.textContent = c.examNumber;
      r.cells.name.textContent = c.name || '';
      r.cells.standing.textContent = STANDING_TEXT[c.standing] != null ? (STANDING_TEXT[c.standing] || '—') : c.standing;
      r.cells.standing.classList.toggle('bad', !!out);
      r.cells.scored.textContent = `${c.scored || 0} / ${c.panelSize || 0}`;
      r.mine.textContent = c.myScore ? c.myScore : '未评';
      r.mine.classList.toggle('muted', !c.myScore);
      const editing = document.activeElement === r.input || r.input.dataset.dirty === 'true';
      if (!editing) r.input.value = c.myScore || '';
      r.input.disabled = sealed || !!out;
      r.input.readOnly = sealed;
      show(r.formWrap, !sealed && !out);
      show(r.lockNote, sealed || !!out);
      r.lockNote.textContent = sealed ? '已封存，不可修改' : '不予评分';
      r.submit.textContent = c.myScore ? '修改' : '提交';
      validateScore(r);
      if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
    });
    for (const [k, r] of scoreRows) if (!seen.has(k)) { r.tr.remove(); scoreRows.delete(k); }
    show('scores-empty', (d.candidates || []).length === 0);
  }

  function makeScoreRow(c) {
    const tr = el('tr', { data: { exam: c.examNumber } });
    const cells = {};
    for (const k of ['order', 'exam', 'name', 'standing', 'scored', 'mine', 'form']) { cells[k] = el('td', { cls: 'c-' + k }); tr.append(cells[k]); }
    cells.order.classList.add('num');
    cells.exam.classList.add('mono');
    const mine = el('span', { cls: 'my-score mono' });
    cells.mine.append(mine);
    const inputId = 'score-' + c.examNumber;
    const msgId = 'score-msg-' + c.examNumber;
    const input = el('input', { cls: 'score-input mono', attrs: {
      id: inputId, type: 'text', inputmode: 'decimal', autocomplete: 'off', maxlength: '6', placeholder: '0–100',
      'aria-label': `${c.examNumber} ${c.name || ''} 的评分`, 'aria-describedby': msgId } });
    const submit = el('button', { cls: 'btn btn-small btn-primary score-submit', text: '提交', attrs: { type: 'button' } });
    const msg = el('span', { cls: 'score-msg', attrs: { id: msgId, 'aria-live': 'polite' } });
    const formWrap = el('div', { cls: 'score-form' }, input, submit, msg);
    const lockNote = el('span', { cls: 'muted small', text: '已封存，不可修改' });
    lockNote.hidden = true;
    cells.form.append(formWrap, lockNote);
    const r = { tr, cells, mine, input, submit, msg, formWrap, lockNote, c };
    input.addEventListener('input', () => { input.dataset.dirty = 'true'; validateScore(r); });
    input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && !submit.disabled) submitScore(r); });
    submit.addEventListener('click', () => submitScore(r));
    return r;
  }

  function validateScore(r) {
    const v = r.input.value.trim();
    const problem = r.input.disabled ? '' : scoreProblem(v);
    const same = !problem && r.c.myScore && Number(v) === Number(r.c.myScore);
    r.msg.textContent = problem && v !== '' ? problem : same ? '与已提交的分数相同' : '';
    r.msg.classList.toggle('bad', !!problem && v !== '');
    r.input.setAttribute('aria-invalid', String(!!problem && v !== ''));
    r.tr.dataset.valid = String(!problem);
    r.submit.disabled = !!problem || !!same;
  }

  async function submitScore(r) {
    const v = r.input.value.trim();
    if (scoreProblem(v)) { validateScore(r); return; }
    const res = await act(r.submit, r.formWrap, () => api('PUT', `${STAFF}/scores/${encodeURIComponent(r.c.examNumber)}`, { score: v }));
    if (!res) { validateScore(r); return; }
    r.input.dataset.dirty = 'false';
    r.c = Object.assign({}, r.c, { myScore: res.myScore, scored: res.scored, panelSize: res.panelSize, sealed: res.sealed });
    r.mine.textContent = res.myScore;
    r.mine.classList.remove('muted');
    r.input.value = res.myScore;
    r.tr.dataset.myScore = res.myScore;
    r.cells.scored.textContent = `${res.scored} / ${res.panelSize}`;
    r.submit.textContent = '修改';
    validateScore(r);
    showInfo(`已提交 ${r.c.examNumber} 的评分：${res.myScore}（已评 ${res.scored} / ${res.panelSize}）。`, 'scores-anchor');
  }

  // ---------------------------------------------------------------------------
  // Chief examiner: incidents (R41, R42), the score sheet and the seal (R50)
  // ---------------------------------------------------------------------------

  function chiefRoom() {
    const sel = $('chief-room');
    return sel.value || (firstRoom() || {}).id || '';
  }

  async function loadChief(button) {
    const run = async () => {
      await Promise.all([grounds().catch(() => []), checklist().catch(() => [])]);
      await Promise.all([loadIncidents(), loadSheet()]);
    };
    if (button) await act(button, 'incidents-anchor', run);
    else {
      try { await run(); } catch (err) { if (!err.handled) showError(err.display, 'incidents-anchor'); }
    }
  }

  async function loadIncidents() {
    const room = chiefRoom();
    const status = $('incident-status').value;
    const d = await api('GET', `${STAFF}/incidents?room=${encodeURIComponent(room)}&status=${encodeURIComponent(status)}`);
    renderIncidents(d.incidents || []);
  }

  function kv(list, label, value) {
    if (value == null || value === '') return;
    list.append(el('div', { cls: 'kv-row' }, el('dt', { text: label }), el('dd', {}, value)));
  }

  function outageTimeline(outages, inc) {
    const box = el('div', { cls: 'outages' });
    const starts = outages.map((o) => Number(o.lostAtMs)).filter(Boolean);
    const ends = outages.map((o) => Number(o.restoredAtMs) || Number(inc.reportedAtMs) || serverNow());
    const t0 = Math.min(...starts, Number(inc.occurredAtMs) || Infinity);
    const t1 = Math.max(...ends, t0 + 1000);
    const span = t1 - t0;
    for (const role of ['main', 'secondary']) {
      const mine = outages.filter((o) => (o.role || 'main') === role);
      if (!mine.length) continue;
      const track = el('div', { cls: 'track', attrs: { 'aria-hidden': 'true' } });
      for (const o of mine) {
        const a = Number(o.lostAtMs);
        const b = Number(o.restoredAtMs) || t1;
        const bar = el('span', { cls: 'bar' + (o.restoredAtMs ? '' : ' bar-open') });
        bar.style.left = `${((a - t0) / span) * 100}%`;
        bar.style.width = `${Math.max(1.5, ((b - a) / span) * 100)}%`;
        track.append(bar);
      }
      box.append(el('div', { cls: 'track-row' }, el('span', { cls: 'track-label', text: DEVICE_ROLE_TEXT[role] }), track));
    }
    const ol = el('ul', { cls: 'outage-list' });
    for (const o of outages) {
      const end = o.restoredAtMs ? beijingHMS(o.restoredAtMs) : '未恢复';
      ol.append(el('li', { text: `${DEVICE_ROLE_TEXT[o.role] || o.role}${o.deviceId ? '（' + o.deviceId + '）' : ''}：${beijingHMS(o.lostAtMs)} 中断 → ${end}，共 ${Math.round(Number(o.seconds) || 0)} 秒` }));
    }
    box.append(ol);
    return box;
  }

  function renderIncidents(list) {
    const ul = $('incidents');
    clear(ul);
    const open = list.filter((i) => i.status === 'open').length;
    setText('incidents-count', $('incident-status').value === 'open' ? `${list.length} 件待处理` : `${list.length} 件（待处理 ${open}）`);
    show('incidents-empty', list.length === 0);
    const canDecide = S.session && S.session.role === 'chief';
    for (const inc of list) {
      const g = inc.ground || {};
      const li = el('li', { cls: 'incident', data: { incident: inc.id, status: inc.status, exam: inc.examNumber, ground: g.number } });
      const head = el('div', { cls: 'incident-head' },
        el('span', { cls: 'ground-no', text: `第 ${g.number} 项` }),
        el('span', { cls: 'ground-zh', text: g.zh || '' }),
        el('span', { cls: 'badge badge-small ' + (inc.status === 'open' ? 'badge-warn' : inc.status === 'disqualified' ? 'badge-bad' : 'badge-muted'),
          text: INCIDENT_STATUS_TEXT[inc.status] || inc.status }));
      li.append(head);
      const dl = el('dl', { cls: 'kv' });
      kv(dl, '考生', `${inc.examNumber} ${inc.name || ''}`);
      kv(dl, '场次', `${SITTING_TEXT[inc.sitting] || inc.sitting || ''}${inc.room ? ' · ' + inc.room : ''}`);
      kv(dl, '来源', SOURCE_TEXT[inc.source] || inc.source);
      kv(dl, '报告人', inc.reporter);
      kv(dl, '发生时间', beijingFull(inc.occurredAtMs));
      kv(dl, '报告时间', beijingFull(inc.reportedAtMs));
      kv(dl, '证据', inc.evidence ? el('span', { cls: 'evidence', text: inc.evidence }) : null);
      if ((inc.failedItems || []).length) {
        const ul2 = el('ul', { cls: 'failed-items' });
        for (const it of inc.failedItems) ul2.append(el('li', { text: itemText(it) }));
        kv(dl, '未通过项', ul2);
      }
      if ((inc.outages || []).length) kv(dl, '信号中断', outageTimeline(inc.outages, inc));
      if ((inc.references || []).length) kv(dl, '关联', inc.references.join('、'));
      li.append(dl);
      if (inc.status === 'open' && canDecide) li.append(decideForm(inc));
      ul.append(li);
    }
  }

  function decideForm(inc) {
    const name = 'decide-' + inc.id;
    const dq = el('input', { attrs: { type: 'radio', name, value: 'disqualify' } });
    const dismiss = el('input', { attrs: { type: 'radio', name, value: 'dismiss' } });
    const reasonId = 'reason-' + inc.id;
    const reason = el('textarea', { cls: 'reason', attrs: { id: reasonId, rows: '2', maxlength: '500', placeholder: '处理理由（必填）' } });
    const submit = el('button', { cls: 'btn btn-primary btn-small decide-submit', text: '提交处理决定', attrs: { type: 'submit' } });
    const anchor = el('div', { cls: 'decide-anchor' });
    const form = el('form', { cls: 'decide', attrs: { novalidate: '', 'aria-label': `处理违纪事件 ${inc.id}` } },
      el('div', { cls: 'decide-choices', attrs: { role: 'radiogroup', 'aria-label': '处理决定' } },
        el('label', { cls: 'radio radio-bad' }, dq, el('span', { text: '取消资格' })),
        el('label', { cls: 'radio' }, dismiss, el('span', { text: '驳回' }))),
      el('label', { cls: 'field', attrs: { for: reasonId } }, el('span', { cls: 'field-label', text: '理由' })),
      reason, anchor, submit);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const choice = dq.checked ? true : dismiss.checked ? false : null;
      const why = reason.value.trim();
      if (choice === null) { showError('请选择“取消资格”或“驳回”。', anchor); return; }
      if (!why) { showError('请填写处理理由。', anchor); reason.focus(); return; }
      if (choice) {
        const ok = await confirmBox('确认取消资格？', `将对 ${inc.examNumber} ${inc.name || ''} 作出取消资格决定（${groundText(inc.ground)}）。面试前取消面试资格，面试后面试成绩无效（R42）。`, '确认取消资格');
        if (!ok) return;
      }
      const r = await act(submit, anchor, () => api('POST', `${STAFF}/incidents/${encodeURIComponent(inc.id)}/decision`, { disqualify: choice, reason: why }));
      if (!r) return;
      showInfo(`已处理 ${r.incidentId || inc.id}：${r.outcome === 'disqualified' ? '取消资格' : '驳回'}（${r.decidedBy}，${beijingHMS(r.decidedAtMs)}）。`, 'incidents-anchor');
      await loadChief();
    });
    return form;
  }

  async function loadSheet() {
    const room = chiefRoom();
    const d = await api('GET', `${STAFF}/rooms/${encodeURIComponent(room)}/sheet`);
    renderSheet(d);
  }

  function renderSheet(d) {
    const sealed = !!d.sealed;
    show('sheet-sealed', sealed);
    $('sheet').dataset.sealed = String(sealed);
    $('seal-button').disabled = sealed;
    $('seal-button').textContent = sealed ? '本考场成绩已封存' : '封存本考场成绩';
    const head = $('sheet-head');
    clear(head);
    head.append(el('th', { cls: 'num', text: '顺序', attrs: { scope: 'col' } }), el('th', { text: '准考证号', attrs: { scope: 'col' } }),
      el('th', { text: '姓名', attrs: { scope: 'col' } }), el('th', { text: '状态', attrs: { scope: 'col' } }));
    const panel = d.panel || [];
    for (const p of panel) {
      head.append(el('th', { cls: 'num', attrs: { scope: 'col', title: p.name || p.id } },
        el('span', { text: p.id }), p.chief ? el('span', { cls: 'chief-mark', text: '主考' }) : null));
    }
    head.append(el('th', { cls: 'num', text: '面试成绩', attrs: { scope: 'col' } }));
    head.append(el('th', { text: '录像', attrs: { scope: 'col' } }));
    const body = $('sheet-body');
    clear(body);
    for (const c of d.candidates || []) {
      const missing = new Set(c.missing || []);
      const tr = el('tr', { data: { exam: c.examNumber, missing: (c.missing || []).join(','), interviewScore: c.interviewScore || '' } },
        el('td', { cls: 'num', text: c.order ? String(c.order) : '—' }), el('td', { cls: 'mono', text: c.examNumber }),
        el('td', { text: c.name || '' }),
        el('td', { text: STANDING_TEXT[c.standing] != null ? (STANDING_TEXT[c.standing] || '—') : c.standing }));
      for (const p of panel) {
        const v = (c.scores || {})[p.id];
        // An examiner listed with an empty score has not scored either.
        const listed = c.scores && Object.prototype.hasOwnProperty.call(c.scores, p.id);
        if (v) tr.append(el('td', { cls: 'num mono', text: v, data: { examiner: p.id } }));
        else if (missing.has(p.id) || (listed && !c.sealed)) tr.append(el('td', { cls: 'num missing', text: '未评', data: { examiner: p.id } }));
        else tr.append(el('td', { cls: 'num muted', text: '—', data: { examiner: p.id } }));
      }
      tr.append(el('td', { cls: 'num mono strong', text: c.interviewScore || '—' }));
      const watch = el('button', { cls: 'btn btn-small', text: '录像', attrs: { type: 'button' }, data: { recordings: c.examNumber } });
      watch.addEventListener('click', () => openRecordings(c.examNumber, c.name, watch));
      tr.append(el('td', {}, watch));
      body.append(tr);
    }
    show('sheet-empty', (d.candidates || []).length === 0);
  }

  // The interview's two recordings (R38, R39): completeness and playback
  // (the <video> asks the gateway with Range requests; each read is logged).
  const REC_ROLE_TEXT = { main: '主机位 · 面试录像', secondary: '副机位 · 环境录像' };
  const COMPLETENESS_TEXT = { pending: '待检查（面试进行中或刚结束）', complete: '完整', incomplete: '不完整' };

  async function openRecordings(examNumber, name, button) {
    const d = await act(button, 'sheet-anchor', () => api('GET', `${STAFF}/candidates/${encodeURIComponent(examNumber)}/recordings?sitting=formal`));
    if (!d) return;
    const card = $('recordings-card');
    card.hidden = false;
    card.dataset.exam = examNumber;
    $('recordings-title').textContent = `面试录像：${examNumber} ${name || ''}`;
    const problems = (d.problems || []).map((p) => p.text).join('；');
    $('recordings-status').textContent = `完整性：${COMPLETENESS_TEXT[d.completeness] || d.completeness}${problems ? '。' + problems : ''}`;
    const box = $('recordings-videos');
    clear(box);
    for (const r of d.recordings || []) {
      const v = el('video', { attrs: { controls: '', preload: 'metadata', src: r.url }, data: { recording: r.recordingId } });
      const mb = (Number(r.bytes) / 1048576).toFixed(1);
      const secs = r.mediaEndMs > r.mediaStartMs ? Math.round((r.mediaEndMs - r.mediaStartMs) / 1000) : 0;
      box.append(el('figure', {}, v, el('figcaption', {
        text: `${REC_ROLE_TEXT[r.role] || r.role}：${r.chunks} 段，${mb} MB，约 ${secs} 秒${r.finished ? '' : '（未完成）'}`,
      })));
    }
    if (!(d.recordings || []).length) box.append(el('p', { cls: 'empty', text: '没有录像。' }));
    card.scrollIntoView({ block: 'nearest' });
  }

  async function onSeal() {
    const room = chiefRoom();
    const ok = await confirmBox('确认封存本考场成绩？', `封存后考官不能再修改 ${room} 考场的评分，面试成绩随即按评分规则生成。之后的更正须说明理由并留痕。`, '确认封存');
    if (!ok) return;
    const r = await act($('seal-button'), 'sheet-anchor', () => api('POST', `${STAFF}/rooms/${encodeURIComponent(room)}/seal`, {}));
    if (!r) { return; }
    const n = (r.sealed || []).length;
    showInfo(n ? `已封存 ${n} 名考生的面试成绩：${r.sealed.map((s) => `${s.examNumber} ${s.interviewScore}`).join('；')}。` : '没有需要封存的成绩。', 'sheet-anchor');
    try { await loadSheet(); } catch (err) { if (!err.handled) showError(err.display, 'sheet-anchor'); }
  }

  // ---------------------------------------------------------------------------
  // Ops (R1, R55)
  // ---------------------------------------------------------------------------

  function startOps() {
    loadCounts();
    loadHealth();
    stopHealth();
    S.healthTimer = setInterval(loadHealth, 5000);
  }
  function stopHealth() { clearInterval(S.healthTimer); S.healthTimer = 0; }

  async function loadCounts(button) {
    const run = async () => renderCounts(await api('GET', STAFF + '/counts'));
    if (button) await act(button, 'counts-anchor', run);
    else {
      try { await run(); } catch (err) { if (!err.handled) showError(err.display, 'counts-anchor'); }
    }
  }

  function renderCounts(d) {
    const dl = $('counts');
    clear(dl);
    const groups = [['roster', '考生'], ['devices', '手机']];
    for (const [key, title] of groups) {
      let g = d && d[key];
      // The gateway puts the roster's total and photo queue beside the roster's counts.
      if (key === 'roster' && g && typeof g === 'object') {
        g = Object.assign({}, d.total != null ? { total: d.total } : {}, g, d.pendingReview != null ? { pendingReview: d.pendingReview } : {});
      }
      if (!g || typeof g !== 'object') continue;
      dl.append(el('div', { cls: 'counts-group', text: title }));
      const order = COUNT_ORDER[key] || [];
      const rank = (k) => (order.indexOf(k) < 0 ? order.length : order.indexOf(k));
      const entries = Object.entries(g).sort((a, b) => rank(a[0]) - rank(b[0]));
      for (const [k, v] of entries) {
        if (v !== null && typeof v === 'object') continue;
        dl.append(el('div', { cls: 'count', data: { key: `${key}.${k}` } }, el('dt', { text: COUNT_TEXT[`${key}.${k}`] || COUNT_TEXT[k] || k }), el('dd', { cls: 'mono', text: String(v) })));
      }
    }
  }

  async function loadHealth() {
    try {
      const d = await api('GET', STAFF + '/health');
      coarseClock(d.serverTimeMs);
      renderHealth(d);
    } catch (err) {
      if (!err.handled) showError(err.display, 'health-anchor');
    }
  }

  function renderHealth(d) {
    const body = $('health-body');
    clear(body);
    for (const m of d.members || []) {
      body.append(el('tr', { data: { member: m.name, ok: String(!!m.ok) } },
        el('td', { cls: 'mono', text: m.name }),
        el('td', {}, el('span', { cls: 'badge badge-small ' + (m.ok ? 'badge-ok' : 'badge-bad'), text: m.ok ? '正常' : '异常' })),
        el('td', { cls: 'num mono', text: Number.isFinite(Number(m.ms)) && m.ok ? `${Number(m.ms).toFixed(1)} ms` : '—' }),
        el('td', { cls: 'num mono', text: m.headSeq != null ? String(m.headSeq) : '—' }),
        el('td', { cls: 'num', text: m.uptimeSeconds != null ? uptimeText(m.uptimeSeconds) : '—' }),
        el('td', { cls: 'num mono', text: m.storeBytes != null ? bytesText(m.storeBytes) : '—' }),
        el('td', { cls: 'mono', text: m.version || '' }),
        el('td', { cls: 'err', text: m.error || '' })));
    }
    setText('health-updated', beijingHMS(d.serverTimeMs || serverNow()));
  }

  function onImportFile() {
    const f = $('import-file').files[0];
    $('import-button').disabled = !f;
    show('import-result', false);
    show('import-errors', false);
    show('import-progress', false);
    show('import-progress-text', false);
    if (f && f.size > 8 * 1024 * 1024) showError(`文件 ${f.name} 有 ${bytesText(f.size)}，超过 8 MB。`, 'import-anchor');
    else hideError();
  }

  // XMLHttpRequest, not fetch: it reports the upload's progress.
  function onImport() {
    const f = $('import-file').files[0];
    if (!f) return;
    const btn = $('import-button');
    btn.disabled = true;
    hideError();
    show('import-result', false);
    show('import-errors', false);
    const bar = $('import-progress');
    bar.value = 0;
    show(bar, true);
    show('import-progress-text', true);
    setText('import-progress-text', `正在上传 ${f.name}（${bytesText(f.size)}）…`);
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', STAFF + '/roster?fileName=' + encodeURIComponent(f.name));
    xhr.setRequestHeader('Content-Type', 'text/csv');
    xhr.setRequestHeader('Accept', 'application/json');
    if (S.csrf) xhr.setRequestHeader('X-CSRF-Token', S.csrf);
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      bar.value = Math.round((ev.loaded / ev.total) * 100);
      setText('import-progress-text', `已上传 ${bytesText(ev.loaded)} / ${bytesText(ev.total)}（${bar.value}%）`);
    };
    xhr.upload.onload = () => { bar.value = 100; setText('import-progress-text', '上传完成，正在导入…'); };
    xhr.onerror = () => { btn.disabled = false; showError('网络连接失败，名单未导入。', 'import-anchor'); };
    xhr.onload = () => {
      btn.disabled = false;
      if (xhr.status >= 200 && xhr.status < 300) {
        let r = {};
        try { r = JSON.parse(xhr.responseText || '{}'); } catch (_) { r = {}; }
        setText('import-progress-text', '导入完成。');
        const parts = [`新增 ${r.imported ?? 0} 人`];
        if (r.updated != null) parts.push(`更新 ${r.updated} 人`);
        parts.push(`未变化 ${r.unchanged ?? 0} 人`);
        $('import-result').textContent = `导入成功${r.rows != null ? '（共 ' + r.rows + ' 行）' : ''}：${parts.join('，')}${r.fileName ? '。文件：' + r.fileName : ''}。`;
        show('import-result', true);
        loadCounts();
        return;
      }
      const err = errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader('Retry-After'));
      if (xhr.status === 401) { sessionEnded('登录已失效，请重新登录。'); return; }
      setText('import-progress-text', '名单未导入。');
      const rows = err.body && Array.isArray(err.body.rows) ? err.body.rows : [];
      if (rows.length) {
        setText('import-errors-title', `名单有 ${rows.length} 处错误，未导入任何考生（请修改后重新上传）：`);
        const ol = $('import-rows');
        clear(ol);
        for (const r of rows) {
          ol.append(el('li', { data: { line: r.line, column: r.column } },
            el('span', { cls: 'where', text: `第 ${r.line} 行${r.column ? '，' + r.column + ' 列' : ''}` }), el('span', { text: '：' + (r.message || '') })));
        }
        show('import-errors', true);
      } else {
        showError(xhr.status === 413 ? `文件过大（超过 8 MB），未导入。（HTTP 413 ${err.code}）` : err.display, 'import-anchor');
      }
    };
    xhr.send(f);
  }

  async function onPublish() {
    const ok = await confirmBox('确认发布成绩？', '发布后成绩冻结，公示名单（身份证号脱敏）随即生成；之后的更正须由主考官或运维说明理由，并生成新版本（R55）。', '确认发布');
    if (!ok) return;
    const r = await act($('publish-button'), 'publish-anchor', () => api('POST', STAFF + '/publication', {}));
    if (!r) return;
    const n = (x) => (Array.isArray(x) ? x.length : x);
    $('publish-result').textContent = `已发布第 ${r.version} 版（${beijingFull(r.publishedAtMs)}）：排名 ${n(r.candidates) ?? '—'} 人，进入体检 ${n(r.physicalExam) ?? '—'} 人。`;
    show('publish-result', true);
    $('publish-result').dataset.version = String(r.version);
  }

  async function onBackup() {
    const service = $('backup-service').value;
    const r = await act($('backup-button'), 'backup-anchor', () => api('POST', STAFF + '/backups', { service }));
    if (!r) return;
    $('backup-result').textContent = `${r.service} 已备份：${r.path}（${bytesText(r.bytes)}）`;
    show('backup-result', true);
  }

  // ---------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------

  function bind() {
    $('mode-password').addEventListener('click', () => { hideError(); setSigninMode('password'); });
    $('mode-code').addEventListener('click', () => { hideError(); setSigninMode('code'); });
    $('signin-form').addEventListener('submit', onSignin);
    $('signout-button').addEventListener('click', onSignout);
    for (const t of document.querySelectorAll('.tab')) t.addEventListener('click', () => selectTab(t.dataset.tab));
    // Another room or sitting: a fresh board.
    for (const key of ['room', 'sitting']) {
      $('board-' + key).addEventListener('change', () => {
        S.board[key] = $('board-' + key).value;
        S.board.rows.forEach((r) => r.tr.remove());
        S.board.rows.clear();
        S.board.attempt = 0;
        connectBoard();
      });
    }
    $('board-next').addEventListener('click', () => startInterview('', $('board-next')));
    $('screen-form').addEventListener('submit', submitScreening);
    $('screen-cancel').addEventListener('click', () => { screening = null; closeModal('screen-dialog'); });
    $('incident-form').addEventListener('submit', submitIncident);
    $('incident-cancel').addEventListener('click', () => { reporting = null; closeModal('incident-dialog'); });
    $('confirm-ok').addEventListener('click', () => answerConfirm(true));
    $('confirm-cancel').addEventListener('click', () => answerConfirm(false));
    document.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      if (!$('confirm-dialog').hidden) answerConfirm(false);
      else if (!$('screen-dialog').hidden) closeModal('screen-dialog');
      else if (!$('incident-dialog').hidden) closeModal('incident-dialog');
    });
    $('scores-refresh').addEventListener('click', () => loadScores($('scores-refresh')));
    $('chief-refresh').addEventListener('click', () => loadChief($('chief-refresh')));
    $('chief-room').addEventListener('change', () => loadChief());
    $('incident-status').addEventListener('change', () => loadChief());
    $('seal-button').addEventListener('click', onSeal);
    $('recordings-close').addEventListener('click', () => { clear($('recordings-videos')); $('recordings-card').hidden = true; });
    $('import-file').addEventListener('change', onImportFile);
    $('import-button').addEventListener('click', onImport);
    $('counts-refresh').addEventListener('click', () => loadCounts($('counts-refresh')));
    $('publish-button').addEventListener('click', onPublish);
    $('backup-button').addEventListener('click', onBackup);
  }

  function init() {
    bind();
    if (window.ExamLiveStaff) window.ExamLiveStaff.init({ api, csrf: () => S.csrf });
    setSigninMode('password');
    S.clockTimer = setInterval(tickClock, 250);
    S.tickTimer = setInterval(tickBoard, 250);
    syncClock().then(tickClock);
    S.syncTimer = setInterval(syncClock, 60000);
    restoreSession();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
