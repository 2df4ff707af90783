/*
 * Candidate web client (R61): login, password, my registration, ID photo,
 * confirm / decline (R1-R6); on the exam day: role of this phone (R30),
 * status + heartbeats (R31-R35), entry (R11), the server-kept countdown
 * (R14-R16), reveal, end early (R17), re-entry after a drop (R18).
 *
 * Plain ES2020, no framework, no build step. The page is served with a strict
 * CSP, so there is no inline script or style anywhere: every handler is bound
 * here with addEventListener and every visual state is a class or `hidden`.
 *
 * Server strings are always written with textContent, never innerHTML.
 */
'use strict';

(() => {
  // ---------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------

  const {
    $, API, mmss, beijingHMS, setText, show, ApiError, fetchJson,
  } = window.ExamWeb;

  const SITTING_TEXT = { mock: '模拟测试', formal: '正式面试' };
  const ROLE_TEXT = { main: '主机位', secondary: '副机位' };
  const PHASE_TEXT = { reading: '阅题', answering: '作答', ended: '已结束' };
  const WINDOW_STATE_TEXT = { before: '未开始', open: '进行中', closed: '已结束' };
  const END_REASON_TEXT = {
    time_up: '面试倒计时结束，面试已自动结束。',
    ended_early: '您已点击“面试结束”，面试已提前结束。',
    room_ended: '考场已结束本场面试。',
  };
  // Statuses after which this phone has nothing more to do in the sitting.
  const TERMINAL = new Set(['interviewed', 'not_interviewed', 'absent', 'not_eligible']);

  // Storage keys. localStorage survives a reload and a closed tab (token,
  // this phone's identity, the day setup); sessionStorage holds what only
  // this tab's event stream needs (`since`, the recent events).
  const K = {
    token: 'iv.token',
    expires: 'iv.expiresAtMs',
    examNumber: 'iv.examNumber',
    deviceId: 'iv.deviceId',
    account: 'iv.account',
    deviceKey: 'iv.deviceKey',
    day: 'iv.day',
    lastRole: 'iv.lastRole',
    since: (sitting) => 'iv.since.' + sitting,
    events: (sitting) => 'iv.events.' + sitting,
  };

  const store = {
    get(k, area = localStorage) { try { return area.getItem(k); } catch (_) { return null; } },
    set(k, v, area = localStorage) { try { area.setItem(k, v); } catch (_) { /* private mode: keep going */ } },
    del(k, area = localStorage) { try { area.removeItem(k); } catch (_) { /* ignore */ } },
    json(k, area = localStorage) {
      const raw = store.get(k, area);
      if (!raw) return null;
      try { return JSON.parse(raw); } catch (_) { return null; }
    },
  };

  function randomHex(bytes) {
    const a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // One deviceId and one "account" per browser, generated once. The account
  // stands for the WeChat account of the notice: the two phones must use two
  // different ones (R30), which two browsers naturally do.
  function persistentId(key) {
    let v = store.get(key);
    if (!v || !/^web-[0-9a-f]{16}$/.test(v)) {
      v = 'web-' + randomHex(8);
      store.set(key, v);
    }
    return v;
  }

  // A duration as the plan sets it: "5 分钟", "1 分 30 秒", "8 秒". Short
  // test plans use seconds, so rounding to minutes would say "0 分钟".
  function durationText(seconds) {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    const m = Math.floor(s / 60);
    const r = s % 60;
    if (m === 0) return `${r} 秒`;
    return r === 0 ? `${m} 分钟` : `${m} 分 ${r} 秒`;
  }

  function setTone(el, tone) {
    el.classList.remove('tone-ok', 'tone-warn', 'tone-bad', 'tone-info');
    if (tone) el.classList.add('tone-' + tone);
  }

  // ---------------------------------------------------------------------------
  // Page state
  // ---------------------------------------------------------------------------

  const S = {
    token: store.get(K.token),
    expiresAtMs: Number(store.get(K.expires)) || 0,
    reg: null,
    pickedRole: store.get(K.lastRole) || null,
    pickedSitting: false, // true once the candidate chose a sitting by hand
    photoFile: null,
    photoUrl: null,
    // Clock: offset = server time - local time, from the sample with the
    // smallest round trip (the most trustworthy midpoint).
    clock: window.ExamWeb.serverClock(showClockOffset),
    // Exam day
    day: store.json(K.day), // {role, sitting, examNumber, ticks, checklistDone, entered}
    dayActive: false,
    sit: null, // last SittingState
    stream: null,
    battery: null,
    wakeLock: null,
    registered: false,
    needRegister: true,
    fitAtMs: 0, // server time of what #device-fit shows (reply or devices.fitness.changed)
    ws: null,
    wsWelcomed: false,
    wsAttempt: 0,
    wsRetryTimer: 0,
    wsRetryAt: 0,
    wsEverConnected: false,
    disconnectedAt: 0,
    lastWsError: null,
    catchingUp: false,
    helloSince: 0,
    wsRetryReason: '',
    catchup: [],
    autoEnterTried: false,
    leaving: false, // a deliberate leave is on its way (never undone by R18 re-entry)
    leftAtMs: 0, // server time of the last leave reply: older "in the room" states are stale
    statusTimer: 0,
    pingTimer: 0,
    tickTimer: 0,
  };

  // ---------------------------------------------------------------------------
  // Notices: one error notice and one info notice, moved next to the action
  // they are about (each action area has an empty "...-anchor" div).
  // ---------------------------------------------------------------------------

  // Scroll only when the notice is off screen; never yank a modal's page.
  const { showError, hideError, showInfo, hideInfo, act } = window.ExamWeb.notices({
    fallbacks: ['.view:not([hidden])', '.page'],
    scrollMargin: 60,
    smooth: true,
  });

  // ---------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------

  /**
   * fetch wrapper (ExamWeb.fetchJson) with the bearer token. body: a plain
   * object (sent as JSON) or a Blob (sent raw). Any 401 on an authenticated
   * call ends the session (R63) and shows the login screen; the caller sees
   * an error with handled = true.
   */
  async function api(method, path, body, opts = {}) {
    const auth = !opts.noAuth;
    try {
      return await fetchJson(method, API + path, body, {
        headers: auth && S.token ? { Authorization: 'Bearer ' + S.token } : {},
        contentType: opts.contentType,
        fallback: (status) => (status === 413 ? '文件过大，请上传不超过 5 MB 的照片。'
          : status >= 500 ? `服务器暂时无法处理请求（HTTP ${status}），请稍后重试。`
            : `请求失败（HTTP ${status}）。`),
        onUnauthorized: auth ? () => sessionExpired() : null,
      });
    } catch (err) {
      if (err instanceof ApiError && err.status === 429 && err.retryAfter) {
        err.message = `尝试过于频繁，请${err.retryAfter}秒后再试`;
      }
      throw err;
    }
  }

  // ---------------------------------------------------------------------------
  // Server clock (R14-R15: the countdown follows the server's time, never the
  // phone's clock alone).
  // ---------------------------------------------------------------------------

  function serverNow() { return S.clock.now(); }
  function addClockSample(sentAt, receivedAt, serverTimeMs) { S.clock.add(sentAt, receivedAt, serverTimeMs); }
  // A coarse offset from a server timestamp, only until a real sample exists.
  function coarseClock(serverTimeMs) { S.clock.coarse(serverTimeMs); }
  function syncClockHttp() { return S.clock.sync(); } // on failure the socket's pings will do it

  function showClockOffset(best) {
    const off = Math.round(best.offset);
    setText('clock-offset', `与服务器时间相差 ${off >= 0 ? '+' : '−'}${Math.abs(off)} ms（往返 ${Math.round(best.rtt)} ms）`);
  }

  // Window state from its bounds and the server clock (the server's own
  // `state` is used when the bounds are missing).
  function windowState(w) {
    if (!w) return null;
    if (S.clock.known && Number.isFinite(w.opensMs) && Number.isFinite(w.closesMs)) {
      const now = serverNow();
      return now < w.opensMs ? 'before' : now < w.closesMs ? 'open' : 'closed';
    }
    return w.state || null;
  }

  // ---------------------------------------------------------------------------
  // Views
  // ---------------------------------------------------------------------------

  function showView(name) {
    // A notice belongs to the action it is next to: drop it with its view.
    hideError();
    hideInfo();
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + name;
    show('logout-button', !!S.token && name !== 'login');
    if (name !== 'day') show('conn-banner', false);
    window.scrollTo(0, 0);
  }

  // ---------------------------------------------------------------------------
  // 1. Login (R2) and password change
  // ---------------------------------------------------------------------------

  let loginLockTimer = 0;

  function lockLogin(seconds) {
    const btn = $('login-submit');
    clearInterval(loginLockTimer);
    let left = seconds;
    const paint = () => {
      btn.disabled = left > 0;
      btn.textContent = left > 0 ? `请稍候（${left}秒）` : '登 录';
    };
    paint();
    loginLockTimer = setInterval(() => {
      left -= 1;
      paint();
      if (left <= 0) clearInterval(loginLockTimer);
    }, 1000);
  }

  // Issue 22: on a formal morning thousands of phones log in within the
  // entry window; roster hashes a few passwords at a time and tells the rest
  // to come back (429, Retry-After). That is a queue, not an error: the page
  // waits and tries again by itself, saying 排队登录中 with the seconds left.
  const LOGIN_QUEUE_LIMIT_MS = 10 * 60 * 1000;
  let loginQueueTimer = 0;

  async function loginQueued(phone, password) {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await api('POST', '/session', { phone, password }, { noAuth: true });
        endLoginQueue();
        return r;
      } catch (err) {
        if (err.status !== 429 || Date.now() - started > LOGIN_QUEUE_LIMIT_MS) { endLoginQueue(); throw err; }
        // Retry-After, plus up to half as much again at random: the phones
        // told to come back together must not all come back at once.
        const base = err.retryAfter || Math.min(30, 2 ** attempt);
        await queueWait(Math.round(base * (1 + Math.random() * 0.5) * 1000));
      }
    }
  }

  function queueWait(ms) {
    const btn = $('login-submit');
    const until = Date.now() + ms;
    const paint = () => {
      const left = Math.max(1, Math.ceil((until - Date.now()) / 1000));
      btn.disabled = true;
      btn.textContent = `排队登录中（${left}秒）`;
      showInfo(`当前登录人数较多，正在排队登录中，约${left}秒后自动重试，请勿关闭或刷新页面。`, 'login-anchor');
    };
    paint();
    clearInterval(loginQueueTimer);
    loginQueueTimer = setInterval(paint, 1000);
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function endLoginQueue() {
    if (!loginQueueTimer) return;
    clearInterval(loginQueueTimer);
    loginQueueTimer = 0;
    $('login-submit').textContent = '登 录';
    hideInfo();
  }

  async function onLogin(ev) {
    ev.preventDefault();
    const phone = $('login-phone').value.replace(/\s+/g, '');
    const password = $('login-password').value;
    if (!/^1\d{10}$/.test(phone)) { showError('请输入报名时使用的11位手机号。', 'login-anchor'); return; }
    if (!password) { showError('请输入密码（初始密码为身份证号后六位）。', 'login-anchor'); return; }
    const btn = $('login-submit');
    btn.disabled = true;
    hideError();
    try {
      const r = await loginQueued(phone, password);
      S.token = r.token;
      S.expiresAtMs = Number(r.expiresAtMs) || 0;
      store.set(K.token, S.token);
      store.set(K.expires, String(S.expiresAtMs));
      // A different candidate on this phone: forget the previous one's day.
      if (r.examNumber && store.get(K.examNumber) !== r.examNumber) {
        forgetDay();
        store.set(K.examNumber, r.examNumber);
      }
      $('login-password').value = '';
      btn.disabled = false;
      const reg = await loadReg();
      if (r.defaultPassword) {
        showPasswordView(true);
      } else if (S.day && reg && S.day.examNumber === reg.examNumber) {
        // Logged in again after an expiry mid-exam: straight back to the day.
        enterDayView();
      } else {
        showView('reg');
      }
    } catch (err) {
      btn.disabled = false;
      if (err.status === 429) {
        // Still queued after LOGIN_QUEUE_LIMIT_MS: say so, let them try later.
        const n = err.retryAfter;
        showError(n ? `当前登录人数较多，请${n}秒后再试` : err.message, 'login-anchor');
        if (n) lockLogin(n);
      } else if (!err.handled) {
        showError(err.message, 'login-anchor');
      }
    }
  }

  function showPasswordView(suggest) {
    show('password-suggest', !!suggest);
    $('password-skip').textContent = suggest ? '暂不修改，进入我的报名' : '返回';
    for (const id of ['password-old', 'password-new', 'password-repeat']) $(id).value = '';
    $('password-username').value = $('login-phone').value || '';
    showView('password');
  }

  async function onPassword(ev) {
    ev.preventDefault();
    const oldPassword = $('password-old').value;
    const newPassword = $('password-new').value;
    const repeat = $('password-repeat').value;
    // The server checks again; these only save a round trip.
    if (!oldPassword) return showError('请输入原密码。', 'password-anchor');
    if (newPassword.length < 8) return showError('新密码至少8位。', 'password-anchor');
    if (newPassword !== repeat) return showError('两次输入的新密码不一致。', 'password-anchor');
    if (newPassword === oldPassword) return showError('新密码不能与原密码相同。', 'password-anchor');
    await act($('password-submit'), 'password-anchor', async () => {
      const reg = await api('POST', '/password', { oldPassword, newPassword });
      for (const id of ['password-old', 'password-new', 'password-repeat']) $(id).value = '';
      if (reg && reg.examNumber) renderReg(reg);
      showView('reg');
      showInfo('密码已修改，下次登录请使用新密码。', 'view-reg');
    });
  }

  function sessionExpired() {
    teardownDay(false); // keep the day setup: logging in again resumes it
    S.token = null;
    store.del(K.token);
    store.del(K.expires);
    closeDialogs();
    showView('login');
    showError('登录已过期，请重新登录', 'login-anchor');
  }

  function logout() {
    // The session lasts the exam day: end it on the server too (best effort:
    // offline, the page still forgets it).
    if (S.token) fetchJson('DELETE', API + '/session', undefined, { headers: { Authorization: 'Bearer ' + S.token } }).catch(() => {});
    teardownDay(true);
    S.token = null;
    S.reg = null;
    store.del(K.token);
    store.del(K.expires);
    clearPhoto();
    closeDialogs();
    hideError();
    showView('login');
    showInfo('已退出登录。', 'login-anchor');
  }

  // ---------------------------------------------------------------------------
  // 2. My registration
  // ---------------------------------------------------------------------------

  async function loadReg() {
    const reg = await api('GET', '/me');
    renderReg(reg);
    return reg;
  }

  const REG_TONE = { imported: 'warn', confirmed: 'ok', declined: 'bad', forfeited: 'bad' };
  const ID_TONE = { none: 'warn', pending_review: 'info', approved: 'ok', rejected: 'bad' };

  function renderReg(reg) {
    S.reg = reg;
    coarseClock(reg.serverTimeMs);
    if (reg.examNumber) store.set(K.examNumber, reg.examNumber);

    setText('reg-name', reg.name);
    setText('reg-exam-number', reg.examNumber);
    setText('reg-id', reg.idNumberMasked);
    setText('reg-phone', reg.phoneMasked);
    setText('reg-post', reg.post ? `${reg.post.name}（${reg.post.code}）` : '—');
    setText('reg-score', reg.writtenScore || '—');
    setText('reg-room', reg.room ? reg.room.name : '待分配');
    const st = $('reg-status');
    st.textContent = reg.statusText || reg.status || '';
    setTone(st, REG_TONE[reg.status]);
    setText('reg-status-reason', reg.statusReason || '');
    show('reg-status-reason', !!reg.statusReason);

    renderWindows(reg);
    // The lengths come from the sitting plan, never a fixed "10 分钟".
    const iv = reg.interview;
    const hasLen = !!iv && Number.isFinite(iv.readingSeconds) && Number.isFinite(iv.answeringSeconds);
    setText('reg-interview-len', hasLen
      ? `每位考生面试 ${durationText(iv.readingSeconds + iv.answeringSeconds)}：阅题 ${durationText(iv.readingSeconds)} + 作答 ${durationText(iv.answeringSeconds)}。`
      : '');

    // Identity photo (R4)
    const id = reg.identity || { status: 'none', statusText: '未上传', checks: [] };
    const idEl = $('identity-status');
    idEl.textContent = id.statusText || id.status;
    setTone(idEl, ID_TONE[id.status]);
    setText('identity-reason', id.reason || '');
    show('identity-reason', !!id.reason);
    renderChecks(id.checks || []);

    // Confirmation (R3): upload first, then confirm again.
    show('confirm-card', !!reg.canConfirm);
    const uploaded = id.status && id.status !== 'none';
    $('confirm-button').disabled = !uploaded;
    setText('confirm-hint', uploaded
      ? '照片已上传。请再次点击下方按钮，确认参加本次面试。'
      : '请先完成第一步，上传身份证人像面照片。');
    show('decline-card', !!reg.canDecline);

    // Exam day entry: only confirmed candidates enter rooms (R6, R11).
    const confirmed = reg.status === 'confirmed';
    show('day-card', confirmed);
    let why = '';
    if (reg.status === 'imported') why = '确认参加面试后，可在模拟测试和正式面试当天从这里进入考场。';
    else if (reg.status === 'declined' || reg.status === 'forfeited') why = '您已放弃面试资格，不能进入模拟测试和正式面试考场。';
    setText('day-unavailable', why);
    show('day-unavailable', !confirmed && !!why);
    renderDayPicker();
  }

  function renderWindows(reg) {
    const w = reg.windows || {};
    for (const k of ['confirmation', 'mock', 'formal']) {
      setText('win-' + k, w[k] ? w[k].text : '—');
      const b = $('win-' + k + '-state');
      const state = windowState(w[k]);
      b.textContent = state ? WINDOW_STATE_TEXT[state] || state : '';
      setTone(b, state === 'open' ? 'ok' : state === 'closed' ? null : 'info');
      b.hidden = !state;
    }
    for (const opt of $('sitting-select').options) {
      const win = w[opt.value];
      opt.textContent = SITTING_TEXT[opt.value] + (win && win.text ? `（入场 ${win.text}）` : '');
    }
  }

  // A check's outcome. `state` tells a check left to the reviewer (R4:
  // pending, e.g. the face comparison) from one that failed; `passed` alone
  // cannot, so it is only the fallback for a reply without `state`.
  function checkState(c) {
    if (c.state === 'passed' || c.state === 'pending' || c.state === 'failed') return c.state;
    return c.passed ? 'passed' : 'failed';
  }

  const CHECK_MARK = { passed: '✓', pending: '…', failed: '✗' };
  const CHECK_CLASS = { passed: 'pass', pending: 'pending', failed: 'fail' };

  function renderChecks(checks) {
    const ul = $('photo-checks');
    ul.replaceChildren();
    for (const c of checks) {
      const state = checkState(c);
      const li = document.createElement('li');
      li.className = CHECK_CLASS[state];
      const mark = document.createElement('span');
      mark.className = 'mark';
      mark.textContent = CHECK_MARK[state];
      mark.setAttribute('aria-label', state === 'passed' ? '通过' : state === 'pending' ? '待审核' : '未通过');
      // The Chinese label when the server gives one; the raw name otherwise.
      const body = document.createElement('span');
      body.textContent = c.label || c.name || '';
      if (c.label && c.name) body.title = c.name;
      const detailText = c.detail || (state === 'pending' ? '待人工审核' : '');
      if (detailText) {
        const detail = document.createElement('span');
        detail.className = 'detail';
        detail.textContent = '：' + detailText;
        body.append(detail);
      }
      li.append(mark, body);
      ul.appendChild(li);
    }
    ul.hidden = checks.length === 0;
  }

  // ---------------------------------------------------------------------------
  // 3. Confirmation: ID photo, confirm, decline (R3-R5)
  // ---------------------------------------------------------------------------

  const MAX_PHOTO = 5 * 1024 * 1024;

  function clearPhoto() {
    if (S.photoUrl) URL.revokeObjectURL(S.photoUrl);
    S.photoUrl = null;
    S.photoFile = null;
    $('photo-preview').removeAttribute('src');
    show('photo-figure', false);
    $('photo-upload').disabled = true;
    $('photo-input').value = '';
    $('photo-camera').value = '';
  }

  function onPhotoChosen(ev) {
    const input = ev.target;
    const file = input.files && input.files[0];
    if (!file) return;
    // Keep only one chosen file across the two inputs.
    const other = input.id === 'photo-input' ? $('photo-camera') : $('photo-input');
    other.value = '';
    if (file.type && !file.type.startsWith('image/')) {
      showError('请选择图片文件（JPG 或 PNG）。', 'photo-anchor');
      return;
    }
    hideError();
    if (S.photoUrl) URL.revokeObjectURL(S.photoUrl);
    S.photoFile = file;
    S.photoUrl = URL.createObjectURL(file); // img-src allows blob:
    $('photo-preview').src = S.photoUrl;
    const kb = file.size / 1024;
    const size = kb >= 1024 ? (kb / 1024).toFixed(1) + ' MB' : kb >= 1 ? Math.round(kb) + ' KB' : file.size + ' 字节';
    setText('photo-caption', `${file.name || '照片'}，${size}`);
    show('photo-figure', true);
    $('photo-upload').disabled = false;
  }

  // Phones may produce HEIC/WebP or photos over 5 MiB. Those are re-encoded
  // as JPEG in the browser; a JPEG/PNG within the limit is sent byte for byte
  // (the server compares bytes across candidates, R4).
  async function photoBody(file) {
    const ok = (file.type === 'image/jpeg' || file.type === 'image/png') && file.size <= MAX_PHOTO;
    if (ok) return file;
    let img;
    try {
      img = await loadImage(S.photoUrl);
    } catch (_) {
      throw new Error('无法读取该照片的格式，请上传 JPG 或 PNG 格式的照片。');
    }
    for (const [maxSide, quality] of [[2400, 0.9], [2000, 0.8], [1600, 0.75]]) {
      const scale = Math.min(1, maxSide / Math.max(img.naturalWidth, img.naturalHeight));
      const canvas = document.createElement('canvas');
      canvas.width = Math.round(img.naturalWidth * scale);
      canvas.height = Math.round(img.naturalHeight * scale);
      canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));
      if (blob && blob.size <= MAX_PHOTO) return blob;
    }
    throw new Error('照片过大，请上传不超过 5 MB 的照片。');
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = reject;
      img.src = url;
    });
  }

  async function onPhotoUpload() {
    if (!S.photoFile) { showError('请先拍照或选择照片。', 'photo-anchor'); return; }
    await act($('photo-upload'), 'photo-anchor', async () => {
      const body = await photoBody(S.photoFile);
      const reg = await api('PUT', '/me/photo', body, { contentType: body.type || 'image/jpeg' });
      renderReg(reg);
      const id = reg.identity || {};
      // A photo waiting for the reviewer (R4) is not a failure: pending
      // checks are shown neutral and no error is raised while under review.
      const failed = (id.checks || []).filter((c) => checkState(c) === 'failed').length;
      if (id.status === 'rejected' || (failed && id.status !== 'pending_review')) {
        showError(id.reason || '照片未通过检查，请查看“身份证照片”中的检查结果后重新上传。', 'photo-anchor');
      } else {
        showInfo(`照片已上传（${id.statusText || '已提交'}）。请继续第二步：确认参加面试。`, 'photo-anchor');
      }
    });
  }

  async function onConfirm() {
    await act($('confirm-button'), 'confirm-anchor', async () => {
      const reg = await api('POST', '/me/confirm', {});
      clearPhoto();
      renderReg(reg);
      showInfo('您已确认参加面试。请按时参加模拟测试和正式面试。', reg.canConfirm ? 'confirm-anchor' : 'view-reg');
    });
    if (S.reg) $('confirm-button').disabled = !(S.reg.identity && S.reg.identity.status !== 'none');
  }

  // ----- dialogs (HTML, not window.confirm) -----

  let dialogReturnFocus = null;

  function openDialog(id, focusId) {
    dialogReturnFocus = document.activeElement;
    hideError();
    $(id).hidden = false;
    document.body.classList.add('modal-open');
    $(focusId).focus();
  }
  function closeDialog(id) {
    $(id).hidden = true;
    if (!document.querySelector('.modal:not([hidden])')) document.body.classList.remove('modal-open');
    if (dialogReturnFocus && document.contains(dialogReturnFocus)) dialogReturnFocus.focus();
    dialogReturnFocus = null;
    hideError();
  }
  function closeDialogs() {
    for (const m of document.querySelectorAll('.modal')) m.hidden = true;
    document.body.classList.remove('modal-open');
  }

  function openDecline() {
    $('decline-ack').checked = false;
    $('decline-confirm').disabled = true;
    openDialog('decline-dialog', 'decline-cancel');
  }

  async function onDeclineConfirm() {
    if (!$('decline-ack').checked) return;
    const reg = await act($('decline-confirm'), 'decline-dialog-anchor', async () => {
      // The server refuses anything but giveUpPost: true (declining = 放弃面试资格).
      const r = await api('POST', '/me/decline', { giveUpPost: true });
      closeDialog('decline-dialog');
      clearPhoto();
      renderReg(r);
      showInfo('您已放弃参加本次面试。', 'view-reg');
      return r;
    });
    if (!reg) $('decline-confirm').disabled = !$('decline-ack').checked;
  }

  // ---------------------------------------------------------------------------
  // 4. Exam day: pick the role and the sitting
  // ---------------------------------------------------------------------------

  function defaultSitting(reg) {
    const w = (reg && reg.windows) || {};
    const list = ['mock', 'formal'].filter((k) => w[k]).map((k) => ({ k, w: w[k], s: windowState(w[k]) }));
    const open = list.find((x) => x.s === 'open');
    if (open) return open.k;
    const next = list.filter((x) => x.s === 'before').sort((a, b) => a.w.opensMs - b.w.opensMs)[0];
    return next ? next.k : 'formal';
  }

  function renderDayPicker() {
    for (const role of ['main', 'secondary']) {
      $('role-' + role).setAttribute('aria-pressed', String(S.pickedRole === role));
    }
    if (!S.pickedSitting && S.reg) $('sitting-select').value = defaultSitting(S.reg);
    $('start-day').disabled = !S.pickedRole;
  }

  function onStartDay() {
    if (!S.pickedRole) { showError('请先选择本手机的机位。', 'day-anchor'); return; }
    const sitting = $('sitting-select').value === 'mock' ? 'mock' : 'formal';
    store.set(K.lastRole, S.pickedRole);
    S.day = {
      role: S.pickedRole,
      sitting,
      examNumber: S.reg ? S.reg.examNumber : store.get(K.examNumber),
      ticks: {},
      checklistDone: false,
      entered: false,
    };
    saveDay();
    enterDayView();
  }

  function saveDay() { if (S.day) store.set(K.day, JSON.stringify(S.day)); }

  function forgetDay() {
    if (S.day) {
      store.del(K.since(S.day.sitting), sessionStorage);
      store.del(K.events(S.day.sitting), sessionStorage);
    }
    S.day = null;
    store.del(K.day);
  }

  // ---------------------------------------------------------------------------
  // 4. Exam day view
  // ---------------------------------------------------------------------------

  function enterDayView() {
    const d = S.day;
    S.dayActive = true;
    S.sit = null;
    S.registered = false;
    S.needRegister = true;
    S.autoEnterTried = false;
    S.leaving = false;
    S.leftAtMs = 0;
    S.wsEverConnected = false;
    S.wsAttempt = 0;
    showView('day');
    setText('day-title', `${SITTING_TEXT[d.sitting]} · ${ROLE_TEXT[d.role]}`);
    setText('day-room', '准考证号 ' + (d.examNumber || ''));
    setText('state-status', '正在获取考场状态…');
    setTone($('state-status'), null);
    show('state-blockers', false);
    show('device-fit', false);
    S.fitAtMs = 0;
    show('beat-warning', false);
    show('missed-panel', false);
    for (const id of ['interview-card', 'ended-panel', 'waiting-card', 'entry-card']) show(id, false);
    setText('camera-hint', d.role === 'main'
      ? '主机位使用前置摄像头：请将手机固定在桌面正前方，画面清晰露出您的上半身、双手、桌面、草稿纸和考试用笔。'
      : '副机位使用后置摄像头：请将手机固定在您侧后方约1.5米、高于坐姿头部的位置，斜向下拍摄，清晰露出主手机画面、桌面和您的全身。麦克风开启，扬声器静音。');
    $('camera-preview').classList.toggle('mirrored', d.role === 'main');

    // Checklist: only the items for this phone's role, restored ticks.
    for (const row of document.querySelectorAll('#checklist .check-row')) {
      const only = row.dataset.only;
      row.hidden = !!only && only !== d.role;
    }
    for (const box of checklistBoxes(false)) box.checked = !!(d.ticks && d.ticks[box.dataset.key]);
    renderChecklist(false);
    renderEventLog();

    // Registration reports the camera and microphone as they are (R31):
    // after a reload it waits for them, or devices would hear "microphone
    // off" and refuse the phone (R32).
    S.cameraReady = startCamera();
    startBattery();
    requestWakeLock();
    syncClockHttp();
    clearInterval(S.tickTimer);
    S.tickTimer = setInterval(tick, 250);
    tick();

    // The sitting's state can be read before this phone registers.
    fetchSittingState();
    if (d.checklistDone) connectPipeline();
  }

  function teardownDay(forget) {
    S.dayActive = false;
    closeSocket();
    clearTimeout(S.wsRetryTimer);
    clearInterval(S.tickTimer);
    if (S.rec) stopRecording(S.rec);
    if (window.ExamLivePhone) window.ExamLivePhone.stop();
    stopCamera();
    releaseWakeLock();
    show('conn-banner', false);
    if (forget) forgetDay();
  }

  function onDayBack() {
    if (S.day && S.day.entered && S.sit && !TERMINAL.has(S.sit.status)) {
      showError('您已进入考场，请先点击“退出考场”再返回。', 'leave-anchor');
      return;
    }
    teardownDay(true);
    showView('reg');
    if (S.token) loadReg().catch((err) => { if (!err.handled) showError(err.message, 'view-reg'); });
  }

  async function fetchSittingState() {
    try {
      const st = await api('GET', '/sittings/' + S.day.sitting);
      if (S.dayActive) renderState(st);
    } catch (err) {
      if (!err.handled && S.dayActive) showError(err.message, 'day-title');
    }
  }

  // ----- camera (R30: main = front camera, secondary = rear camera + mic) -----

  function cameraErrorText(err) {
    const name = err && err.name;
    if (name === 'NotAllowedError' || name === 'SecurityError') {
      return '无法打开摄像头：摄像头或麦克风权限被拒绝。请在浏览器设置中允许本网站使用摄像头和麦克风，然后点击“重新打开摄像头”。';
    }
    if (name === 'NotFoundError' || name === 'OverconstrainedError') return '无法打开摄像头：未找到可用的摄像头。';
    if (name === 'NotReadableError' || name === 'AbortError') return '无法打开摄像头：摄像头可能被其他应用占用，请关闭其他应用后重试。';
    return '无法打开摄像头：' + ((err && err.message) || '未知错误') + '。';
  }

  async function startCamera() {
    stopCamera();
    show('camera-error', false);
    show('camera-retry', false);
    const video = $('camera-preview');
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setText('camera-error', '当前浏览器无法使用摄像头（需通过 HTTPS 访问，并使用系统浏览器打开）。');
      show('camera-error', true);
      sendStatusNow();
      return;
    }
    const role = S.day.role;
    const videoC = role === 'main' ? { facingMode: 'user' } : { facingMode: { ideal: 'environment' } };
    let stream = null;
    try {
      // Both phones carry sound: the candidate answers aloud to the main
      // phone, the secondary records the room (notice §4(二), §5(一)).
      stream = await navigator.mediaDevices.getUserMedia({ video: videoC, audio: true });
    } catch (err) {
      // A refused permission is final; a missing microphone is not, for main.
      if (role === 'main' && err && err.name !== 'NotAllowedError' && err.name !== 'SecurityError') {
        try { stream = await navigator.mediaDevices.getUserMedia({ video: videoC }); } catch (err2) { err = err2; }
      }
      if (!stream) {
        setText('camera-error', cameraErrorText(err));
        show('camera-error', true);
        show('camera-retry', true);
        sendStatusNow();
        return;
      }
    }
    if (!S.dayActive) { stream.getTracks().forEach((t) => t.stop()); return; }
    S.stream = stream;
    video.srcObject = stream;
    video.muted = true; // never play our own sound (secondary speaker muted, R30)
    video.play().catch(() => { /* autoplay of a muted stream is allowed; ignore */ });
    for (const t of stream.getTracks()) {
      t.addEventListener('ended', () => {
        if (!S.dayActive) return;
        setText('camera-error', '摄像头或麦克风已断开（可能被来电或其他应用占用）。请点击“重新打开摄像头”。');
        show('camera-error', true);
        show('camera-retry', true);
        sendStatusNow();
      });
    }
    sendStatusNow();
    syncRecording(S.sit);
    syncLive();
  }

  function stopCamera() {
    if (S.stream) S.stream.getTracks().forEach((t) => t.stop());
    S.stream = null;
    const v = $('camera-preview');
    if (v) v.srcObject = null;
  }

  function trackLive(kind) {
    if (!S.stream) return false;
    return S.stream.getTracks().some((t) => t.kind === kind && t.readyState === 'live' && t.enabled);
  }

  // ----- device status (R31) -----

  function startBattery() {
    if (S.battery || !navigator.getBattery) return;
    navigator.getBattery().then((b) => {
      S.battery = b;
      b.addEventListener('levelchange', sendStatusNow);
    }).catch(() => { /* not available: report 100 */ });
  }

  function networkType() {
    if (navigator.onLine === false) return 'none';
    const c = navigator.connection;
    if (!c) return 'wifi';
    if (c.type === 'wifi' || c.type === 'ethernet') return 'wifi';
    if (c.type === 'none') return 'none';
    const e = c.effectiveType;
    if (e === '4g') return '4g';
    if (e === '5g') return '5g';
    if (e === '3g' || e === '2g' || e === 'slow-2g') return 'other';
    return 'wifi';
  }

  function osInfo() {
    const ua = navigator.userAgent || '';
    let m = ua.match(/(?:iPhone|iPad|iPod).*? OS (\d+(?:[_.]\d+)*)/);
    if (m) return { os: 'ios', osVersion: m[1].replace(/_/g, '.') };
    m = ua.match(/Android[ /]?(\d+(?:\.\d+)*)?/);
    if (m) return { os: 'android', osVersion: m[1] || '1' };
    return { os: 'other', osVersion: '1' };
  }

  function collectStatus() {
    const d = S.day;
    const ticks = d.ticks || {};
    const { os, osVersion } = osInfo();
    return {
      cameraOn: trackLive('video'),
      camera: d.role === 'main' ? 'front' : 'rear',
      microphoneOn: trackLive('audio'),
      // R30/R32: the secondary's speaker must be muted; the tick says it is.
      speakerVolume: d.role === 'secondary' && ticks['speaker-muted'] ? 0 : 50,
      batteryPercent: S.battery ? Math.max(0, Math.min(100, Math.round(S.battery.level * 100))) : 100,
      network: networkType(),
      inForeground: document.visibilityState === 'visible',
      autoLockOff: !!ticks.autolock,
      clientVersion: 'web-1',
      os,
      osVersion: String(osVersion).replace(/[^A-Za-z0-9._-]/g, '').slice(0, 32) || '1',
    };
  }

  function sendStatusNow() {
    if (S.ws && S.wsWelcomed && S.ws.readyState === WebSocket.OPEN && S.day) {
      S.ws.send(JSON.stringify({ type: 'status', status: collectStatus() }));
    }
  }

  async function requestWakeLock() {
    // Helps keep the screen on (notice §5(二)3); the candidate still turns
    // auto-lock off in the phone's settings (the checklist item).
    try {
      if (navigator.wakeLock && document.visibilityState === 'visible' && !S.wakeLock) {
        S.wakeLock = await navigator.wakeLock.request('screen');
        S.wakeLock.addEventListener('release', () => { S.wakeLock = null; });
      }
    } catch (_) { /* not allowed here: fine */ }
  }
  function releaseWakeLock() {
    if (S.wakeLock) S.wakeLock.release().catch(() => {});
    S.wakeLock = null;
  }

  // ----- checklist (notice §5, §6) -----

  function checklistBoxes(visibleOnly = true) {
    return Array.from(document.querySelectorAll('#checklist .checklist-item'))
      .filter((b) => !visibleOnly || !b.closest('.check-row').hidden);
  }

  function renderChecklist(expanded) {
    const done = !!(S.day && S.day.checklistDone);
    const allTicked = checklistBoxes().every((b) => b.checked);
    show('checklist', !done || expanded);
    show('checklist-done', !done);
    $('checklist-done').disabled = !allTicked;
    show('checklist-summary', done);
    const missing = checklistBoxes().filter((b) => !b.checked).length;
    const sum = $('checklist-summary');
    sum.textContent = missing ? `有 ${missing} 项检查未勾选，请及时处理。` : '设备与环境检查已完成。';
    sum.classList.toggle('callout-ok', !missing);
    sum.classList.toggle('callout-warn', !!missing);
    show('checklist-edit', done);
    $('checklist-edit').textContent = expanded ? '收起' : '查看';
  }

  function onChecklistChange(ev) {
    const box = ev.target;
    if (!box.classList.contains('checklist-item') || !S.day) return;
    S.day.ticks = S.day.ticks || {};
    S.day.ticks[box.dataset.key] = box.checked;
    saveDay();
    renderChecklist(!$('checklist').hidden && S.day.checklistDone);
    sendStatusNow(); // e.g. auto-lock or speaker changed (R32)
  }

  async function onChecklistDone() {
    if (!checklistBoxes().every((b) => b.checked)) {
      showError('请逐项确认并勾选全部检查项。', 'checklist-anchor');
      return;
    }
    await act($('checklist-done'), 'checklist-anchor', async () => {
      await registerDevice();
      S.day.checklistDone = true;
      saveDay();
      renderChecklist(false);
      connectPipeline();
    });
    if (S.day && !S.day.checklistDone) $('checklist-done').disabled = !checklistBoxes().every((b) => b.checked);
  }

  // ----- device registration (R30) -----

  async function registerDevice() {
    const d = S.day;
    const deviceId = persistentId(K.deviceId);
    const account = persistentId(K.account);
    const r = await api('POST', '/devices', { role: d.role, deviceId, account, status: collectStatus() });
    if (r.deviceKey) store.set(K.deviceKey, r.deviceKey);
    S.registered = true;
    S.needRegister = false;
    renderFit(r.fit, r.reasons);
    return r;
  }

  // From a (re-)registration reply: this phone's own fitness right now.
  function renderFit(fit, reasons) {
    if (fit === true || fit === false) S.fitAtMs = serverNow();
    const el = $('device-fit');
    const list = (reasons || []).filter(Boolean);
    if (fit === false) {
      el.textContent = '本机设备不符合要求：' + (list.length ? list.join('；') : '请检查设备设置') + '。';
      el.className = 'callout callout-bad';
      el.hidden = false;
    } else if (fit === true) {
      el.textContent = '本机设备检查通过' + (list.length ? '（提示：' + list.join('；') + '）' : '') + '。';
      el.className = 'callout callout-ok';
      el.hidden = false;
    }
  }

  // ---------------------------------------------------------------------------
  // WebSocket: hello, heartbeats (R31), clock pings, pushed events and state,
  // automatic reconnection with backoff (R33, R35).
  // ---------------------------------------------------------------------------

  function getSince() { return Number(store.get(K.since(S.day.sitting), sessionStorage)) || 0; }
  function setSince(n) { store.set(K.since(S.day.sitting), String(n), sessionStorage); }

  /** Register if needed, then open the socket; on failure retry with backoff. */
  async function connectPipeline() {
    clearTimeout(S.wsRetryTimer);
    if (!S.dayActive || !S.token || S.ws) return;
    if (S.needRegister) {
      try {
        if (S.cameraReady) await S.cameraReady;
        if (!S.dayActive || S.ws) return;
        await registerDevice();
      } catch (err) {
        if (err.handled || !S.dayActive) return;
        // 4xx from the server is a real refusal (e.g. role taken, 409):
        // say it. Network failures just retry.
        if (err.status && err.status < 500 && err.status !== 429) showError(err.message, 'day-title');
        scheduleReconnect(err.message);
        return;
      }
    }
    openSocket();
  }

  function openSocket() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + API + '/ws';
    let ws;
    try { ws = new WebSocket(url); } catch (_) { scheduleReconnect(); return; }
    S.ws = ws;
    S.wsWelcomed = false;
    S.lastWsError = null;
    ws.addEventListener('open', () => {
      const d = S.day;
      ws.send(JSON.stringify({
        type: 'hello',
        token: S.token,
        sitting: d.sitting,
        deviceId: persistentId(K.deviceId),
        deviceKey: store.get(K.deviceKey) || '',
        role: d.role,
        since: (S.helloSince = getSince()),
      }));
    });
    ws.addEventListener('message', (ev) => {
      if (S.ws !== ws) return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      onSocketMessage(msg);
    });
    ws.addEventListener('close', () => {
      if (S.ws !== ws) return; // closed on purpose and already replaced
      S.ws = null;
      S.wsWelcomed = false;
      stopSocketTimers();
      if (!S.dayActive) return;
      if (!S.disconnectedAt) S.disconnectedAt = Date.now();
      const e = S.lastWsError;
      if (e) {
        // The server refused the hello (bad or stale device key, expired
        // token...). Re-registering is idempotent and also surfaces a 401.
        S.needRegister = true;
        if (e.code === 'UNAUTHENTICATED') {
          api('GET', '/me').then(() => scheduleReconnect(e.message)).catch((err) => {
            if (!err.handled) scheduleReconnect(e.message);
          });
          return;
        }
      }
      scheduleReconnect(e && e.message);
    });
  }

  function closeSocket() {
    stopSocketTimers();
    const ws = S.ws;
    S.ws = null;
    S.wsWelcomed = false;
    if (ws) { try { ws.close(1000, 'bye'); } catch (_) { /* ignore */ } }
  }

  function stopSocketTimers() {
    clearInterval(S.statusTimer);
    clearInterval(S.pingTimer);
    S.statusTimer = 0;
    S.pingTimer = 0;
  }

  function scheduleReconnect(reason) {
    if (!S.dayActive || !S.token) return;
    clearTimeout(S.wsRetryTimer);
    // Backoff 1 s, 2 s, 4 s, 8 s, then every 10 s.
    const delay = Math.min(1000 * 2 ** S.wsAttempt, 10000);
    S.wsAttempt += 1;
    S.wsRetryAt = Date.now() + delay;
    S.wsRetryReason = reason || '';
    show('conn-banner', true);
    paintBanner();
    S.wsRetryTimer = setTimeout(connectPipeline, delay);
  }

  function paintBanner() {
    if ($('conn-banner').hidden) return;
    const left = Math.max(0, Math.ceil((S.wsRetryAt - Date.now()) / 1000));
    const down = S.disconnectedAt ? Math.round((Date.now() - S.disconnectedAt) / 1000) : 0;
    let t = S.ws ? '正在连接…' : `${left} 秒后第 ${S.wsAttempt} 次重试`;
    if (down) t += `，已中断 ${down} 秒`;
    if (S.wsRetryReason) t += `（${S.wsRetryReason}）`;
    setText('conn-banner-detail', t + '。倒计时不会因断线暂停。');
  }

  function onSocketMessage(msg) {
    switch (msg.type) {
      case 'welcome': {
        S.wsWelcomed = true;
        S.wsAttempt = 0;
        S.lastWsError = null;
        coarseClock(msg.serverTimeMs);
        S.catchingUp = true;
        S.catchup = [];
        S.autoEnterTried = false;
        show('conn-banner', false);
        sendStatusNow();
        sendPing();
        clearInterval(S.statusTimer);
        clearInterval(S.pingTimer);
        S.statusTimer = setInterval(sendStatusNow, 1000); // heartbeat, R31/R33
        S.pingTimer = setInterval(sendPing, 5000);
        break;
      }
      case 'event':
        onEvent(msg);
        break;
      case 'state':
        if (msg.state) renderState(msg.state);
        if (S.catchingUp) finishCatchup();
        break;
      case 'beat':
        if (msg.ok === false) {
          setText('beat-warning', msg.message || '设备状态未通过检查。');
          show('beat-warning', true);
        } else {
          show('beat-warning', false);
        }
        if (!S.clock.samples.length) coarseClock(msg.serverTimeMs);
        break;
      case 'pong':
        if (Number.isFinite(msg.t)) addClockSample(msg.t, Date.now(), msg.serverTimeMs);
        break;
      case 'time':
        coarseClock(msg.serverTimeMs);
        break;
      case 'error':
        if (!S.wsWelcomed) {
          // A refused hello: the server closes right after and the close
          // handler re-registers and reconnects.
          S.lastWsError = { code: msg.code || '', message: msg.message || '连接被服务器拒绝' };
          showError(S.lastWsError.message, 'day-title');
        } else {
          // A refused message on a live link (e.g. a status the server finds
          // malformed): the link stays open; show it without piling up notices.
          setText('beat-warning', msg.message || '服务器拒绝了本机发送的消息。');
          show('beat-warning', true);
        }
        break;
      default:
        break;
    }
  }

  function sendPing() {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify({ type: 'ping', t: Date.now() }));
  }

  // After a reconnect (or a reload), tell the candidate what happened while
  // the phone was away: the events replayed with seq > since.
  function finishCatchup() {
    S.catchingUp = false;
    // A first connection with since = 0 replays the whole sitting: that is
    // history, not something missed.
    const wasAway = S.wsEverConnected || S.disconnectedAt || (S.helloSince > 0 && S.catchup.length);
    S.wsEverConnected = true;
    if (wasAway) {
      const secs = S.disconnectedAt ? Math.round((Date.now() - S.disconnectedAt) / 1000) : 0;
      const list = $('missed-events');
      list.replaceChildren(...S.catchup.map(eventItem));
      setText('missed-summary', (secs ? `连接中断约 ${secs} 秒。` : '') +
        (S.catchup.length ? `期间收到 ${S.catchup.length} 条考场通知：` : '期间没有新的考场通知。'));
      show('missed-panel', true);
    }
    S.disconnectedAt = 0;
    S.catchup = [];
  }

  // ----- events (R21) -----

  function loadEvents() { return store.json(K.events(S.day.sitting), sessionStorage) || []; }

  // Each publisher numbers its events on its own: timing's seq and devices'
  // seq are unrelated counters. Only timing's is the `since` of the hello
  // (what the server replays from); an event is identified by both.
  // Events stored before `publisher` was kept (no such property) were all timing's.
  const eventKey = (e) => (e.publisher === undefined ? 'timing' : e.publisher) + ':' + e.seq;

  function onEvent(ev) {
    const seq = Number(ev.seq) || 0;
    const publisher = typeof ev.publisher === 'string' ? ev.publisher : '';
    const stored = loadEvents();
    if (seq) {
      // Already seen: replays overlap after a reconnect.
      if (publisher === 'timing' && seq <= getSince()) return;
      const key = eventKey({ publisher, seq });
      if (stored.some((e) => eventKey(e) === key)) return;
      if (publisher === 'timing') setSince(seq);
    }
    const entry = { publisher, seq, topic: ev.topic || '', atMs: ev.atMs || serverNow(), text: ev.text || ev.topic || '' };
    stored.unshift(entry);
    store.set(K.events(S.day.sitting), JSON.stringify(stored.slice(0, 40)), sessionStorage);
    if (S.catchingUp) S.catchup.push(entry);
    renderEventLog();

    if (ev.topic === 'devices.fitness.changed') onFitnessEvent(entry);
    if (ev.topic === 'timing.interview.answering') onAnsweringAnnounced();
  }

  // devices.fitness.changed covers both phones of the candidate (R30): it is
  // what turns "the secondary is missing" into "设备检查通过" on a phone
  // that registered first. A live event is the newest word; a replayed one
  // must not overwrite a registration reply given after it.
  function onFitnessEvent(entry) {
    if (S.catchingUp && entry.atMs < S.fitAtMs) return;
    S.fitAtMs = entry.atMs;
    const el = $('device-fit');
    const bad = /不符合/.test(entry.text);
    el.textContent = entry.text;
    el.className = 'callout ' + (bad ? 'callout-bad' : 'callout-ok');
    el.hidden = !entry.text;
  }

  // The proctor announced answering (staff turn, R14). The state pushed
  // right after carries phase "answering"; taking the event's word at once
  // keeps the phone from lagging if that push is a moment late.
  function onAnsweringAnnounced() {
    const iv = S.sit && S.sit.interview;
    if (!iv || iv.phase !== 'reading') return;
    iv.phase = 'answering';
    iv.phaseText = PHASE_TEXT.answering;
    tick();
  }

  function eventItem(ev) {
    const li = document.createElement('li');
    if (/lost|broken|failed|absent|eligibility/.test(ev.topic || '') || /不符合/.test(ev.text || '')) li.className = 'event-warn';
    const t = document.createElement('span');
    t.className = 'event-time';
    t.textContent = beijingHMS(ev.atMs || serverNow());
    const x = document.createElement('span');
    x.className = 'event-text';
    x.textContent = ev.text || ev.topic;
    li.append(t, x);
    return li;
  }

  function renderEventLog() {
    const ul = $('event-log');
    const list = S.day ? loadEvents() : [];
    if (!list.length) {
      const li = document.createElement('li');
      li.className = 'muted small';
      li.textContent = '暂无通知';
      ul.replaceChildren(li);
    } else {
      ul.replaceChildren(...list.slice(0, 20).map(eventItem));
    }
  }

  // ---------------------------------------------------------------------------
  // Sitting state: waiting, countdown, question, end (R11-R18)
  // ---------------------------------------------------------------------------

  const STATE_TONE = {
    not_eligible: 'bad', awaiting_entry: 'warn', absent: 'bad', waiting: 'info',
    interviewing: 'info', interviewed: 'ok', not_interviewed: 'bad',
  };

  function inMyRoom(st) {
    return S.day.role === 'main' ? !!st.inMainRoom : !!st.inSecondaryRoom;
  }

  function interviewOver(st) {
    return TERMINAL.has(st.status) || !!(st.interview && st.interview.phase === 'ended');
  }

  function renderState(st) {
    if (!S.dayActive || !st) return;
    S.sit = st;
    coarseClock(st.serverTimeMs);
    const d = S.day;

    const stEl = $('state-status');
    stEl.textContent = st.statusText || st.status;
    setTone(stEl, STATE_TONE[st.status]);
    setText('day-room', [st.room && st.room.name, '准考证号 ' + (st.examNumber || d.examNumber || '')].filter(Boolean).join(' · '));

    const bl = $('state-blockers');
    bl.replaceChildren(...(st.blockers || []).map((b) => {
      const li = document.createElement('li');
      li.textContent = b;
      return li;
    }));
    bl.hidden = !(st.blockers && st.blockers.length);

    // Remember whether this phone is in its room: it drives re-entry (R18).
    // While a leave is in flight, or after it for a state from before it, a
    // push may still say "in the room"; that must not re-arm `entered`.
    const inRoom = inMyRoom(st);
    const over = interviewOver(st);
    const staleAfterLeave = Number.isFinite(st.serverTimeMs) && st.serverTimeMs < S.leftAtMs;
    if (inRoom && !d.entered && !S.leaving && !staleAfterLeave) { d.entered = true; saveDay(); }
    if (over && d.entered && !inRoom) { d.entered = false; saveDay(); }

    // Entry / leave
    show('entry-card', (S.registered || !!d.checklistDone) && !(over && !inRoom));
    setText('entry-window', st.entry ? st.entry.text : '—');
    $('enter-button').textContent = d.role === 'main' ? '进入考场（主房间）' : '进入考场（副房间）';
    show('enter-button', S.registered && !inRoom && !over);
    show('leave-button', inRoom && !over);
    show('leave-hint', inRoom && !over);

    // 候考: the queue (R11, R20)
    const waiting = st.status === 'waiting' || (st.status === 'awaiting_entry' && inRoom);
    show('waiting-card', waiting && !st.interview);
    setText('queue-position', st.position > 0 ? `第 ${st.position} 位` : '待抽签');
    setText('queue-ahead', st.ahead > 0 ? `您前面还有 ${st.ahead} 位考生，请在考场内安静等候，保持设备连接。`
      : st.ahead === 0 ? '您前面已没有考生。' : '请在考场内安静等候，保持设备连接。');
    show('turn-next', !!st.yourTurnNext);

    renderInterview(st);
    syncRecording(st);
    syncLive();

    // R18: a phone that had entered and came back (drop, reload) re-enters
    // by itself once per connection while the countdown still runs; the
    // server refuses once it has ended, and its message is shown. Never
    // after a deliberate leave: onLeave clears `entered` before its request,
    // because the state pushed for timing.candidate.left usually arrives
    // before the HTTP reply.
    if (S.registered && d.entered && !S.leaving && !inRoom && !over && !S.autoEnterTried && S.wsWelcomed) {
      S.autoEnterTried = true;
      doEnter(true);
    }
    tick();
  }

  function renderInterview(st) {
    const iv = st.interview;
    const role = S.day.role;
    const ended = interviewOver(st);
    show('interview-card', !!iv && !ended);
    show('ended-panel', ended && (!!iv || st.status === 'interviewed'));
    if (ended) {
      setText('ended-reason', (iv && END_REASON_TEXT[iv.endReason]) || st.statusText || '面试已结束。');
      const saved = iv ? iv.recordingSaved : undefined;
      setText('ended-recording', saved === true ? '答题视频已保存并上传。' : saved === false ? '答题视频正在保存上传，请保持网络连接，稍候…' : '');
      if (!$('end-dialog').hidden) closeDialog('end-dialog');
    }
    if (!iv) { show('reveal-button', false); show('question-panel', false); show('end-button', false); return; }

    // Question: main phone only (R14). The secondary never shows it.
    show('secondary-note', role === 'secondary');
    show('reveal-button', role === 'main' && !ended && !iv.questionRevealed);
    show('question-panel', role === 'main' && !ended && !!iv.questionRevealed);
    setText('question-text', iv.question ? iv.question : '题目已显示，请听考官宣读');
  }

  // Who turns reading into answering (R14). "staff": the proctor announces
  // it and only the server's phase says so. "automatic" (or an older server
  // without the field): it happens at readingEndsAtMs.
  function staffTurn(iv) { return iv.answeringTurn === 'staff'; }

  // Phase from the server's bounds and the server clock. With the automatic
  // turn, the switch to answering happens at readingEndsAtMs even if the push
  // is a moment late; with the staff turn the page waits for the server.
  function livePhase(iv, now) {
    if (iv.phase === 'ended') return 'ended';
    if (Number.isFinite(iv.endsAtMs) && now >= iv.endsAtMs) return 'ended';
    if (iv.phase === 'reading' && !staffTurn(iv) && Number.isFinite(iv.readingEndsAtMs) && now >= iv.readingEndsAtMs) return 'answering';
    return iv.phase;
  }

  /** Every 250 ms: clock, countdown, entry button. */
  function tick() {
    if (!S.dayActive) return;
    const now = serverNow();
    setText('server-clock', '北京时间 ' + (S.clock.known ? beijingHMS(now) : '--:--:--'));
    paintBanner();
    const st = S.sit;
    if (!st) return;
    const d = S.day;

    // Entry window (computed with the server clock, so the button opens on time).
    const es = windowState(st.entry);
    const eb = $('entry-state');
    eb.textContent = es ? WINDOW_STATE_TEXT[es] : '';
    eb.hidden = !es;
    setTone(eb, es === 'open' ? 'ok' : es === 'before' ? 'info' : null);
    const inRoom = inMyRoom(st);
    const over = interviewOver(st);
    const running = !!(st.interview && livePhase(st.interview, now) !== 'ended');
    // Re-entry (R18) stays possible after the window for a phone that had
    // entered; the server has the last word either way.
    const canEnter = S.registered && !inRoom && !over && (es === 'open' || d.entered || running);
    const enterBtn = $('enter-button');
    if (!enterBtn.classList.contains('is-busy')) enterBtn.disabled = !canEnter;
    let hint = '';
    if (inRoom) hint = over ? '' : '您已在考场内，请保持本页面在前台运行，不要退出或切换到其他应用。';
    else if (!S.registered) hint = '请先完成设备与环境检查。';
    else if (over) hint = '';
    else if (es === 'before' && st.entry) hint = `入场时间未到，将于北京时间 ${beijingHMS(st.entry.opensMs)} 开放入场（还有 ${mmss(st.entry.opensMs - now)}）。`;
    else if (es === 'open' && st.entry) hint = `请在 ${beijingHMS(st.entry.closesMs)} 前进入考场（还剩 ${mmss(st.entry.closesMs - now)}）。`;
    else if (es === 'closed' && !canEnter) hint = '入场时间已结束。';
    setText('enter-hint', hint);
    show('enter-hint', !!hint);

    // Countdown (R14-R16): always from the server's end time and the measured
    // offset; it is never paused locally.
    const iv = st.interview;
    if (iv && !over) {
      const phase = livePhase(iv, now);
      const endsAt = Number.isFinite(iv.endsAtMs) ? iv.endsAtMs
        : (Number.isFinite(iv.remainingMs) && Number.isFinite(st.serverTimeMs) ? st.serverTimeMs + iv.remainingMs : now);
      const total = Math.max(0, endsAt - now);
      const cd = $('countdown');
      cd.textContent = mmss(total);
      cd.classList.toggle('countdown-low', total <= 60000);
      const reading = (S.reg && S.reg.interview && S.reg.interview.readingSeconds) || 300;
      const answering = (S.reg && S.reg.interview && S.reg.interview.answeringSeconds) || 300;
      const full = Number.isFinite(iv.startedAtMs) && Number.isFinite(iv.endsAtMs)
        ? Math.max(1, Math.round((iv.endsAtMs - iv.startedAtMs) / 1000)) : reading + answering;
      const prog = $('countdown-progress');
      prog.max = full;
      prog.value = Math.ceil(total / 1000);

      const ph = $('phase');
      ph.textContent = phase === iv.phase && iv.phaseText ? iv.phaseText : (PHASE_TEXT[phase] || phase);
      ph.classList.toggle('phase-answering', phase === 'answering');
      ph.classList.toggle('phase-ended', phase === 'ended');
      let pr = '';
      if (phase === 'reading' && Number.isFinite(iv.readingEndsAtMs)) {
        if (now < iv.readingEndsAtMs) {
          pr = staffTurn(iv)
            ? `阅题剩余 ${mmss(iv.readingEndsAtMs - now)}，随后由考官宣布开始作答`
            : `阅题剩余 ${mmss(iv.readingEndsAtMs - now)}，随后作答 ${durationText(answering)}`;
        } else {
          // Staff turn only (automatic would already be answering): still
          // reading until the proctor's announcement reaches the server.
          pr = '阅题时间到，等待考官宣布开始作答';
        }
      } else if (phase === 'answering') pr = `作答剩余 ${mmss(total)}`;
      else if (phase === 'ended') pr = '时间到，面试即将自动结束';
      setText('phase-remaining', pr);

      // R17: ending early only with time left, while answering (confirmed by
      // the server, or derived from readingEndsAtMs with the automatic
      // turn), main phone.
      const canEnd = d.role === 'main' && phase === 'answering' && total > 0 && inRoom;
      show('end-button', canEnd);
      if (!canEnd && !$('end-dialog').hidden) closeDialog('end-dialog');
    } else {
      show('end-button', false);
    }
  }

  // ---------------------------------------------------------------------------
  // 5. Recording (R36, R37; issue 14): this phone's camera and microphone,
  // recorded with MediaRecorder (WebM) from the interview's start to its end
  // in slices of a few seconds. Each slice is a chunk of the phone's
  // recording, uploaded in order with its SHA-256 and its media times on
  // the server's clock (tus-like: PATCH at the index and offset where the
  // server's copy ends). Unsent slices wait in an outbox (memory) through a
  // dropped connection; after one, the page asks where the server's copy
  // ends and sends from there: nothing twice, nothing lost.
  // ---------------------------------------------------------------------------

  const REC_SLICE_MS = 2000;
  const REC_MAX_CHUNK = 1048576;
  const REC_TYPES = ['video/webm;codecs=vp8,opus', 'video/webm;codecs=vp8', 'video/webm'];

  function recWanted(st) {
    return !!(st && st.interview && st.interview.startedAtMs > 0 && !interviewOver(st));
  }

  /** Starts or stops the recorder as the interview's state says. */
  function syncRecording(st) {
    if (!S.dayActive || !st || !S.day) return;
    const r = S.rec;
    if (recWanted(st)) {
      if (r && r.sitting === S.day.sitting && r.startedAtMs === st.interview.startedAtMs) return;
      if (r) stopRecording(r);
      if (S.stream) startRecording(st);
    } else if (r && r.recorder && r.recorder.state !== 'inactive' && st.interview && interviewOver(st)) {
      stopRecording(r);
    }
  }

  // ---------------------------------------------------------------------------
  // 6. Live (R64, R65; live-phone.js): from entry until the interview ends or
  // the phone leaves, this phone's camera and microphone go live, with the
  // stream opened above (never a second camera).
  // ---------------------------------------------------------------------------

  function syncLive() {
    if (!window.ExamLivePhone || !S.day || !S.dayActive) return;
    const st = S.sit;
    const over = !!(st && interviewOver(st));
    window.ExamLivePhone.sync({
      wanted: !!(st && inMyRoom(st) && !over && S.stream && S.token),
      over,
      role: S.day.role,
      sitting: S.day.sitting,
      stream: S.stream,
      headers: S.token ? recHeaders() : {},
      onUnauthorized: () => sessionExpired(),
    });
  }

  function startRecording(st) {
    const type = window.MediaRecorder && REC_TYPES.find((t) => MediaRecorder.isTypeSupported(t));
    const rec = {
      sitting: S.day.sitting, startedAtMs: st.interview.startedAtMs, type: type || '', id: null, base: null,
      seq: 0, outbox: [], sentIndex: 0, sentOffset: 0, uploaded: 0, lastEnd: 0, recorder: null,
      sending: false, resync: true, finished: false, error: '', retryTimer: 0, failures: 0,
    };
    S.rec = rec;
    if (!type || !(window.crypto && crypto.subtle)) {
      rec.error = '本机浏览器无法录像（不支持 MediaRecorder 或需通过 HTTPS 访问），请更换系统浏览器。';
      renderRecording();
      return;
    }
    let recorder;
    try {
      recorder = new MediaRecorder(S.stream, { mimeType: type, videoBitsPerSecond: 800000, audioBitsPerSecond: 48000 });
    } catch (err) {
      rec.error = '无法开始录像：' + ((err && err.message) || '未知错误');
      renderRecording();
      return;
    }
    rec.recorder = recorder;
    rec.lastEnd = Math.round(serverNow());
    recorder.addEventListener('dataavailable', (ev) => onSlice(rec, ev.data, recorder.state === 'inactive'));
    recorder.addEventListener('error', (ev) => {
      rec.error = '录像出错：' + ((ev.error && ev.error.message) || '未知错误');
      renderRecording();
    });
    recorder.start(REC_SLICE_MS);
    renderRecording();
    pumpRecording(rec);
  }

  function stopRecording(rec) {
    if (rec.recorder && rec.recorder.state !== 'inactive') {
      try { rec.recorder.stop(); } catch (_) { /* already stopped */ }
    }
    renderRecording();
  }

  /** One slice from MediaRecorder: into the outbox (split at 1 MiB). */
  function onSlice(rec, blob, last) {
    const end = Math.max(rec.lastEnd, Math.round(serverNow()));
    const size = blob ? blob.size : 0;
    if (size === 0) {
      // An empty last slice: the last one not yet sent ends the recording.
      const tail = rec.outbox[rec.outbox.length - 1];
      if (last && tail) tail.final = true;
    } else {
      const parts = Math.ceil(size / REC_MAX_CHUNK);
      for (let i = 0; i < parts; i += 1) {
        const start = rec.lastEnd + Math.round(((end - rec.lastEnd) * i) / parts);
        const stop = rec.lastEnd + Math.round(((end - rec.lastEnd) * (i + 1)) / parts);
        rec.outbox.push({ seq: rec.seq++, blob: blob.slice(i * REC_MAX_CHUNK, Math.min(size, (i + 1) * REC_MAX_CHUNK)),
          start, end: stop, final: last && i === parts - 1, sha: '' });
      }
    }
    rec.lastEnd = end;
    renderRecording();
    pumpRecording(rec);
  }

  function recHeaders() {
    return {
      Authorization: 'Bearer ' + S.token,
      'X-Device-Id': persistentId(K.deviceId),
      'X-Device-Key': store.get(K.deviceKey) || '',
    };
  }

  async function recFail(res) {
    const text = await res.text().catch(() => '');
    const err = window.ExamWeb.errorFrom(res.status, text, res.headers.get('Retry-After'), () => `录像上传失败（HTTP ${res.status}）`);
    if (res.status === 401) { err.handled = true; sessionExpired(); }
    return err;
  }

  /** Create or resume (tus POST): where the server's copy ends. */
  async function openRecording(rec) {
    const res = await fetch(`${API}/sittings/${rec.sitting}/recording`, {
      method: 'POST', cache: 'no-store',
      headers: Object.assign(recHeaders(), { 'Content-Type': 'application/json', Accept: 'application/json' }),
      body: JSON.stringify({ role: S.day.role, mimeType: rec.type }),
    });
    if (!res.ok) throw await recFail(res);
    const v = await res.json();
    rec.id = v.recordingId;
    if (rec.base === null) rec.base = v.nextIndex; // a reloaded page carries on after what was stored
    rec.sentIndex = v.nextIndex;
    rec.sentOffset = v.nextOffset;
    // Slices the server already has (their answer was lost in a drop) are not sent again.
    while (rec.outbox.length && rec.base + rec.outbox[0].seq < rec.sentIndex) {
      rec.outbox.shift();
      rec.uploaded += 1;
    }
    if (v.finished || v.closed) {
      rec.finished = !!v.finished;
      if (!v.finished) rec.error = '录像已截止上传，未上传的片段无法再提交。';
      rec.outbox = [];
    }
    rec.resync = false;
  }

  function hex(buf) {
    return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  /** tus PATCH: the outbox's first slice at the index and offset the server expects. */
  async function sendSlice(rec, item) {
    const body = await item.blob.arrayBuffer();
    if (!item.sha) item.sha = hex(await crypto.subtle.digest('SHA-256', body));
    const res = await fetch(`${API}/recordings/${encodeURIComponent(rec.id)}`, {
      method: 'PATCH', cache: 'no-store', body,
      headers: Object.assign(recHeaders(), {
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Index': String(rec.base + item.seq),
        'Upload-Offset': String(rec.sentOffset),
        'Upload-Checksum': 'sha256 ' + item.sha,
        'Media-Start': String(item.start),
        'Media-End': String(item.end),
        'Upload-Final': item.final ? 'true' : 'false',
      }),
    });
    if (!res.ok) throw await recFail(res);
    rec.sentIndex = Number(res.headers.get('Upload-Index'));
    rec.sentOffset = Number(res.headers.get('Upload-Offset'));
    rec.outbox.shift();
    rec.uploaded += 1;
    if (item.final) rec.finished = true;
  }

  /** Sends the outbox in order, one request at a time; after a failure,
   * asks where the server's copy ends before sending again. */
  async function pumpRecording(rec) {
    if (rec.sending || rec.finished || !rec.type) return;
    rec.sending = true;
    clearTimeout(rec.retryTimer);
    try {
      while (S.rec === rec && !rec.finished && (rec.resync || rec.outbox.length)) {
        if (rec.resync || !rec.id) { await openRecording(rec); continue; }
        await sendSlice(rec, rec.outbox[0]);
        rec.failures = 0;
        if (rec.error && !rec.finished) rec.error = '';
        renderRecording();
      }
    } catch (err) {
      rec.resync = true;
      rec.failures += 1;
      // Refusals that another try cannot change (no interview, the other
      // phone, closed) are shown; network trouble and the rest are retried.
      const status = err && err.status;
      if (status === 401) rec.error = '登录已失效，录像无法上传。';
      else if (status === 403 || (status === 400 && err.code === 'FAILED_PRECONDITION')) rec.error = '录像上传被拒绝：' + (err.message || '');
      if (S.rec === rec && status !== 401 && status !== 403) {
        const delay = Math.min(5000, 500 * 2 ** Math.min(rec.failures, 4));
        rec.retryTimer = setTimeout(() => pumpRecording(rec), delay);
      }
    } finally {
      rec.sending = false;
      renderRecording();
    }
  }

  /** "录像中 ●", with what waits to be uploaded. */
  function renderRecording() {
    const rec = S.rec;
    const box = $('rec-indicator');
    if (!box) return;
    if (!rec || !S.dayActive) { box.hidden = true; return; }
    const pending = rec.outbox.length;
    const recording = !!(rec.recorder && rec.recorder.state !== 'inactive');
    let state;
    let title;
    let detail;
    if (rec.error && !rec.finished) {
      state = 'error';
      title = recording ? '录像中（上传异常）' : '录像上传异常';
      detail = rec.error + (pending ? ` 待上传 ${pending} 段。` : '');
    } else if (rec.finished && !pending) {
      state = 'done';
      title = '录像已全部上传';
      detail = `共 ${rec.uploaded} 段`;
    } else if (recording) {
      state = pending > 1 ? 'uploading' : 'recording';
      title = '录像中';
      detail = pending > 1 ? `网络较慢或中断，待上传 ${pending} 段，恢复后将自动续传` : `已上传 ${rec.uploaded} 段`;
    } else {
      state = 'uploading';
      title = '录像已结束，正在上传';
      detail = `待上传 ${pending} 段，请保持网络连接，不要关闭本页面`;
    }
    box.hidden = false;
    box.dataset.state = state;
    box.dataset.pending = String(pending);
    box.dataset.uploaded = String(rec.uploaded);
    setText('rec-title', title);
    setText('rec-detail', detail);
  }

  async function doEnter(auto) {
    const d = S.day;
    const btn = $('enter-button');
    return act(auto ? null : btn, 'enter-anchor', async () => {
      try {
        const st = await api('POST', `/sittings/${d.sitting}/enter`, { role: d.role, deviceId: persistentId(K.deviceId) });
        d.entered = true;
        saveDay();
        renderState(st);
        // A note from an earlier leave ("您已退出考场…") no longer holds.
        if (auto) showInfo('已自动重新进入考场。', 'enter-anchor'); else hideInfo();
      } catch (err) {
        // Refused re-entry (e.g. the countdown has ended, R18): stop trying.
        if (auto && err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 429) {
          d.entered = false;
          saveDay();
          err.message = '无法重新进入考场：' + err.message;
        }
        throw err;
      }
    });
  }

  async function onLeave() {
    const d = S.day;
    // Leaving is the candidate's choice: forget `entered` (and hold off the
    // R18 auto re-entry) BEFORE the request, since the push for
    // timing.candidate.left races the reply and usually wins.
    S.leaving = true;
    d.entered = false;
    saveDay();
    let left = false;
    try {
      await act($('leave-button'), 'leave-anchor', async () => {
        const st = await api('POST', `/sittings/${d.sitting}/leave`, { role: d.role, deviceId: persistentId(K.deviceId) });
        left = true;
        S.leaving = false;
        S.leftAtMs = (st && Number.isFinite(st.serverTimeMs)) ? st.serverTimeMs : 0;
        renderState(st);
        showInfo('您已退出考场。倒计时未结束时可重新进入（倒计时不会停止）。', 'enter-anchor');
      });
    } finally {
      S.leaving = false;
      // Refused or lost: if the last known state still has this phone in
      // its room, it is still entered (a later drop must re-enter, R18).
      if (!left && S.day === d && S.sit && inMyRoom(S.sit)) {
        d.entered = true;
        saveDay();
      }
    }
  }

  async function onReveal() {
    const d = S.day;
    await act($('reveal-button'), 'reveal-anchor', async () => {
      const st = await api('POST', `/sittings/${d.sitting}/reveal`, { deviceId: persistentId(K.deviceId) });
      renderState(st);
    });
  }

  async function onEndConfirm() {
    const d = S.day;
    await act($('end-confirm'), 'end-dialog-anchor', async () => {
      const st = await api('POST', `/sittings/${d.sitting}/end`, { deviceId: persistentId(K.deviceId), confirm: true });
      closeDialog('end-dialog');
      renderState(st);
    });
  }

  // ---------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------

  function bind() {
    $('logout-button').addEventListener('click', logout);

    $('login-form').addEventListener('submit', onLogin);
    $('login-phone').addEventListener('input', (e) => { e.target.value = e.target.value.replace(/[^\d]/g, '').slice(0, 11); });
    $('password-form').addEventListener('submit', onPassword);
    $('password-skip').addEventListener('click', () => { showView('reg'); });
    $('open-password').addEventListener('click', () => showPasswordView(false));

    $('reg-refresh').addEventListener('click', () => act($('reg-refresh'), 'view-reg', async () => {
      await loadReg();
      showInfo('已刷新。', 'view-reg');
    }));
    $('photo-input').addEventListener('change', onPhotoChosen);
    $('photo-camera').addEventListener('change', onPhotoChosen);
    $('photo-upload').addEventListener('click', onPhotoUpload);
    $('confirm-button').addEventListener('click', onConfirm);

    $('decline-button').addEventListener('click', openDecline);
    $('decline-ack').addEventListener('change', () => { $('decline-confirm').disabled = !$('decline-ack').checked; });
    $('decline-cancel').addEventListener('click', () => closeDialog('decline-dialog'));
    $('decline-confirm').addEventListener('click', onDeclineConfirm);

    for (const role of ['main', 'secondary']) {
      $('role-' + role).addEventListener('click', () => { S.pickedRole = role; renderDayPicker(); hideError(); });
    }
    $('sitting-select').addEventListener('change', () => { S.pickedSitting = true; });
    $('start-day').addEventListener('click', onStartDay);

    $('day-back').addEventListener('click', onDayBack);
    $('camera-retry').addEventListener('click', startCamera);
    $('checklist').addEventListener('change', onChecklistChange);
    $('checklist-done').addEventListener('click', onChecklistDone);
    $('checklist-edit').addEventListener('click', () => renderChecklist($('checklist').hidden));
    $('enter-button').addEventListener('click', () => doEnter(false));
    $('leave-button').addEventListener('click', onLeave);
    $('reveal-button').addEventListener('click', onReveal);
    $('end-button').addEventListener('click', () => openDialog('end-dialog', 'end-cancel'));
    $('end-cancel').addEventListener('click', () => closeDialog('end-dialog'));
    $('end-confirm').addEventListener('click', onEndConfirm);
    $('missed-close').addEventListener('click', () => show('missed-panel', false));

    // Esc closes a dialog; a tap on the backdrop does not (too easy by mistake).
    document.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      for (const id of ['decline-dialog', 'end-dialog']) if (!$(id).hidden) closeDialog(id);
    });

    // R31/R35: report going to the background at once, and reconnect at once
    // when coming back or when the network returns.
    document.addEventListener('visibilitychange', () => {
      sendStatusNow();
      if (document.visibilityState === 'visible' && S.dayActive) {
        requestWakeLock();
        if (!S.ws) { S.wsAttempt = 0; connectPipeline(); }
      }
    });
    window.addEventListener('online', () => {
      if (S.dayActive && !S.ws) { S.wsAttempt = 0; connectPipeline(); }
    });
    window.addEventListener('offline', () => { if (S.ws) S.ws.close(); });
    window.addEventListener('online', () => { if (S.rec) pumpRecording(S.rec); });
  }

  async function boot() {
    bind();
    syncClockHttp();
    if (S.token && S.expiresAtMs && Date.now() > S.expiresAtMs + 60000) {
      // Expired by the phone's clock (give a minute of slack for skew).
      sessionExpired();
      return;
    }
    if (!S.token) { showView('login'); return; }

    // A reload in the middle of the exam day goes straight back to it: the
    // re-registration is idempotent, the socket resumes from `since`, and the
    // state snapshot restores the countdown.
    if (S.day && S.day.role && S.day.sitting) {
      enterDayView();
      loadReg().catch(() => { /* 401 handled inside; the day view does not need it */ });
      return;
    }
    try {
      await loadReg();
      showView('reg');
    } catch (err) {
      if (err.handled) return;
      showView('reg');
      showError(err.message + ' 请点击“刷新”重试。', 'view-reg');
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
