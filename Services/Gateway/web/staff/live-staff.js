/*
 * The live rooms in the staff console (R64, R65; live-janus.js does the
 * Janus side):
 *  - the proctor's room view (考场画面): every entered candidate's two live
 *    pictures in a grid, muted until clicked (a click toggles that picture's
 *    sound), "对该考生讲话" per candidate and "对全考场讲话" (the proctor's
 *    microphone into every candidate's main room); the screening dialog shows
 *    the candidate's two pictures too (R13 is done looking at them);
 *  - the panel (examiners and the chief, 评分 tab): the candidate being
 *    interviewed, both pictures, from the interview's start to its end, and
 *    nothing of anyone waiting (the server refuses grants otherwise).
 *
 * Each candidate watched is one staff grant (POST /api/v1/staff/media/grant:
 * that candidate's main and secondary rooms) and one Janus session; a kick or
 * a lost Janus asks a fresh grant (backoff with jitter), a FAILED_PRECONDITION (the interview
 * is over, the candidate left) drops the view. staff.js tells this file what
 * the board says (board(), stopBoard(), reset()) and hands it its api().
 *
 * Plain ES2020, no build step, no inline script or style (CSP).
 */
'use strict';

window.ExamLiveStaff = (() => {
  const { $ } = window.ExamWeb;
  const { join, backoff, attachVideo, notDeployed } = window.ExamLive;
  const GRANT = '/api/v1/staff/media/grant';
  const PHONE_TEXT = { main: '主机位', secondary: '副机位' };
  const MAX_REFUSALS = 4; // FAILED_PRECONDITION right after an entry or a start: media may hear of it a moment later
  const PANEL_POLL_MS = 2000;
  // media's refusals that no retry changes (the interview or the sitting is over, disqualified, absent).
  const FINAL_REFUSAL = /已结束|取消资格|缺考|不具备|已关闭/;

  let api = null; // staff.js's api(method, path, body): cookie + CSRF
  let role = '';
  let disabled = false; // this deployment has no live rooms (no media service)

  function hideAll() {
    for (const id of ['live-grid', 'panel-live']) if ($(id)) $(id).hidden = true;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  // ---------------------------------------------------------------------------
  // The staff member's microphone (proctors only): opened on the first talk,
  // closed when nobody is being spoken to.
  // ---------------------------------------------------------------------------

  const mic = { track: null, opening: null };
  async function voiceTrack() {
    if (mic.track && mic.track.readyState === 'live') return mic.track;
    if (!mic.opening) {
      mic.opening = navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } })
        .then((s) => { mic.track = s.getAudioTracks()[0]; return mic.track; })
        .finally(() => { mic.opening = null; });
    }
    return mic.opening;
  }
  function closeMic() {
    if (mic.track) mic.track.stop();
    mic.track = null;
  }

  // ---------------------------------------------------------------------------
  // One candidate watched: a grant, its two rooms, two pictures
  // ---------------------------------------------------------------------------

  class Watch {
    /** opts: {sitting, onGone(watch, err), onChange(watch), grant (one already issued)} */
    constructor(examNumber, opts) {
      this.examNumber = examNumber;
      this.opts = opts;
      this.sitting = opts.sitting || '';
      this.link = null;
      this.grant = opts.grant || null;
      this.streams = { main: null, secondary: null };
      this.state = 'connecting'; // connecting | live | reconnecting | refused | error
      this.message = '';
      this.attempt = 0;
      this.refusals = 0;
      this.timer = 0;
      this.busy = false;
      this.closed = false;
      this.talk = false;
      this.videos = new Set(); // video elements showing this candidate ({video, phone})
    }

    setState(state, message) {
      this.state = state;
      this.message = message || '';
      if (this.opts.onChange) this.opts.onChange(this);
    }

    async start() {
      clearTimeout(this.timer);
      this.timer = 0;
      if (this.closed || this.busy || this.link) return;
      this.busy = true;
      let grant = this.grant;
      this.grant = null;
      try {
        if (!grant) {
          const body = { examNumber: this.examNumber };
          if (this.sitting) body.sitting = this.sitting;
          grant = await api('POST', GRANT, body);
        }
        if (this.closed) { endGrant(grant); return; }
        this.refusals = 0;
        const link = await join(grant, {
          voice: voiceTrack,
          onRemote: (info) => this.remote(info),
          onRemoteGone: (info) => this.remoteGone(info),
          onEnded: (err) => this.ended(link, err),
        });
        if (this.closed) { link.close(); endGrant(grant); return; }
        this.link = link;
        this.grant = grant;
        this.attempt = 0;
        this.setState('live');
        if (this.wantVoice()) link.setVoice(true).catch((e) => this.voiceFailed(e));
      } catch (err) {
        if (grant && !this.link) endGrant(grant);
        this.failed(err);
      } finally {
        this.busy = false;
      }
    }

    failed(err) {
      if (this.closed) return;
      const status = err && err.status;
      if (err && err.handled) { this.close(); return; } // 401: the session ended (staff.js shows the sign-in)
      if (notDeployed(err)) {
        // No live rooms in this deployment: the pictures' sections go away.
        disabled = true;
        this.setState('error', err.message);
        if (this.opts.onGone) this.opts.onGone(this, err);
        hideAll();
        return;
      }
      const precondition = status === 400 && err.code === 'FAILED_PRECONDITION';
      if (!precondition && (status === 403 || status === 400 || status === 404)) {
        this.setState('error', err.message);
        if (this.opts.onGone) this.opts.onGone(this, err);
        return;
      }
      if (precondition) {
        this.refusals += 1;
        if (this.refusals > MAX_REFUSALS || this.opts.finalRefusal || FINAL_REFUSAL.test(err.message || '')) {
          this.setState('refused', err.message);
          if (this.opts.onGone) this.opts.onGone(this, err);
          return;
        }
      }
      const delay = status === 429 && err.retryAfter ? err.retryAfter * 1000 : backoff(this.attempt);
      this.attempt += 1;
      this.setState('reconnecting', (err && err.message) || '');
      this.timer = setTimeout(() => this.start(), delay);
    }

    ended(link, err) {
      if (this.link !== link || this.closed) return;
      this.link = null;
      this.grant = null;
      this.streams = { main: null, secondary: null };
      this.paintVideos();
      // A kick (the interview ended, a newer grant) or Janus lost: ask again at once, then back off.
      const delay = this.attempt === 0 ? 150 + Math.round(Math.random() * 250) : backoff(this.attempt);
      this.attempt += 1;
      this.setState('reconnecting', (err && err.message) || '');
      this.timer = setTimeout(() => this.start(), delay);
    }

    remote(info) {
      this.streams[info.phone] = info.stream;
      this.paintVideos();
    }

    remoteGone(info) {
      this.streams[info.phone] = null;
      this.paintVideos();
    }

    /** A picture of this candidate: a video element kept in step with the stream. */
    show(video, phone, muted) {
      const v = { video, phone, muted: muted !== false };
      this.videos.add(v);
      this.paintVideos();
      return v;
    }
    hide(v) { this.videos.delete(v); }

    paintVideos() {
      for (const v of this.videos) {
        const s = this.streams[v.phone];
        const fig = v.video.closest('.lv-cam');
        if (fig) fig.dataset.live = String(!!s);
        if (!s) { v.video.srcObject = null; continue; }
        if (v.video.srcObject !== s) attachVideo(v.video, s, v.video.dataset.sound !== 'on');
      }
    }

    wantVoice() { return this.talk || talkAll.on; }

    async applyVoice() {
      if (!this.link) return;
      try { await this.link.setVoice(this.wantVoice()); } catch (e) { this.voiceFailed(e); }
    }

    voiceFailed(e) {
      this.talk = false;
      this.setState(this.state, '无法打开麦克风：' + ((e && e.message) || e));
    }

    close(keepalive) {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this.timer);
      if (this.link) this.link.close(keepalive);
      this.link = null;
      if (this.grant) endGrant(this.grant, keepalive);
      this.grant = null;
      this.streams = { main: null, secondary: null };
      this.paintVideos();
      this.videos.clear();
    }
  }

  function endGrant(grant, keepalive) {
    if (!grant || !grant.grantId) return;
    if (keepalive) {
      // From pagehide: staff.js's api() cannot outlive the page; keepalive can.
      fetch(`${GRANT}/${encodeURIComponent(grant.grantId)}`, {
        method: 'DELETE', keepalive: true, credentials: 'same-origin', headers: { 'X-CSRF-Token': csrf() },
      }).catch(() => {});
      return;
    }
    api('DELETE', `${GRANT}/${encodeURIComponent(grant.grantId)}`).catch(() => {});
  }
  let csrf = () => '';

  /** A picture (figure with a video, its label and its sound state); a click toggles its sound. */
  function camera(phone, big) {
    const fig = el('figure', 'lv-cam' + (big ? ' lv-cam-big' : ''));
    fig.dataset.phone = phone;
    fig.dataset.live = 'false';
    const video = el('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.dataset.sound = 'off';
    const cap = el('figcaption', 'lv-cap');
    const label = el('span', 'lv-label', PHONE_TEXT[phone]);
    const sound = el('span', 'lv-sound', '静音');
    cap.append(label, sound);
    const wait = el('span', 'lv-wait', '等待画面…');
    fig.append(video, wait, cap);
    const paintSound = () => {
      const on = video.dataset.sound === 'on';
      sound.textContent = on ? '声音开' : '静音';
      fig.dataset.sound = on ? 'on' : 'off';
      fig.title = on ? '点击画面静音' : '点击画面收听声音';
    };
    fig.addEventListener('click', () => {
      const on = video.dataset.sound !== 'on';
      video.dataset.sound = on ? 'on' : 'off';
      video.muted = !on;
      if (on) video.play().catch(() => {});
      paintSound();
    });
    fig.setSound = (on) => {
      video.dataset.sound = on ? 'on' : 'off';
      video.muted = !on;
      paintSound();
    };
    paintSound();
    return { fig, video };
  }

  // ---------------------------------------------------------------------------
  // The proctor's room view
  // ---------------------------------------------------------------------------

  const G = {
    key: '', // room|sitting the grid shows
    watches: new Map(), // examNumber -> {watch, tile, parts, c, refusedKey}
    given: new Map(), // examNumber -> board key of a final refusal (not asked again until it changes)
  };
  const talkAll = { on: false };

  function entered(c) {
    return (c.mainIn || c.secondaryIn) && c.phase !== 'ended' && !c.absent
      && (!c.standing || c.standing === 'qualified' || c.standing === 'waiting');
  }
  function candidateKey(c) { return [c.mainIn, c.secondaryIn, c.phase, c.standing].join('|'); }

  /** What the board says (staff.js calls it with every board it renders). */
  function board(b, ctx) {
    role = ctx.role;
    const grid = $('live-grid');
    if (!grid) return;
    if (role !== 'proctor' || disabled) { grid.hidden = true; return; }
    grid.hidden = false;
    const key = `${ctx.room}|${ctx.sitting}`;
    if (G.key !== key) { stopBoard(); G.key = key; }
    G.ctx = ctx;
    const list = (b.candidates || []).filter(entered);
    const seen = new Set();
    for (const c of list) {
      seen.add(c.examNumber);
      let w = G.watches.get(c.examNumber);
      if (!w) {
        if (G.given.get(c.examNumber) === candidateKey(c)) continue;
        w = newTile(c, ctx.sitting);
        G.watches.set(c.examNumber, w);
        w.watch.start();
      }
      w.c = c;
      paintTile(w);
    }
    for (const [k, w] of G.watches) {
      if (!seen.has(k)) { w.watch.close(); w.tile.remove(); G.watches.delete(k); }
    }
    for (const k of Array.from(G.given.keys())) {
      const c = (b.candidates || []).find((x) => x.examNumber === k);
      if (!c || candidateKey(c) !== G.given.get(k)) G.given.delete(k);
    }
    // Board order.
    const tiles = $('live-tiles');
    list.forEach((c, i) => {
      const w = G.watches.get(c.examNumber);
      if (w && tiles.children[i] !== w.tile) tiles.insertBefore(w.tile, tiles.children[i] || null);
    });
    paintGrid();
  }

  function newTile(c, sitting) {
    const tile = el('article', 'lv-tile');
    tile.dataset.exam = c.examNumber;
    const head = el('header', 'lv-head');
    const order = el('span', 'lv-order mono');
    const exam = el('span', 'lv-exam mono', c.examNumber);
    const name = el('span', 'lv-name');
    const state = el('span', 'badge badge-small lv-state');
    head.append(order, exam, name, state);
    const pair = el('div', 'lv-pair');
    const main = camera('main');
    const sec = camera('secondary');
    pair.append(main.fig, sec.fig);
    const foot = el('div', 'lv-foot');
    const talk = el('button', 'btn btn-small btn-secondary lv-talk', '对该考生讲话');
    talk.type = 'button';
    // The board row's own screening (R13), next to the pictures it is done by.
    const screen = el('button', 'btn btn-small btn-secondary lv-screen', '核验');
    screen.type = 'button';
    const note = el('span', 'lv-note muted small');
    foot.append(talk, screen, note);
    tile.append(head, pair, foot);
    $('live-tiles').append(tile);
    const w = { tile, parts: { order, name, state, talk, screen, note }, c, watch: null };
    screen.addEventListener('click', () => { if (G.ctx && G.ctx.screen) G.ctx.screen(w.c); });
    w.watch = new Watch(c.examNumber, {
      sitting,
      onChange: () => paintTile(w),
      onGone: (watch, err) => {
        // Refused for good (the interview is over, the candidate out): not asked again until the board changes.
        if (G.watches.get(c.examNumber) !== w) return;
        G.given.set(c.examNumber, candidateKey(w.c));
        watch.close();
        tile.remove();
        G.watches.delete(c.examNumber);
        paintGrid();
        if (err && err.code !== 'FAILED_PRECONDITION') console.warn('live view refused', c.examNumber, err.message);
      },
    });
    w.watch.show(main.video, 'main');
    w.watch.show(sec.video, 'secondary');
    talk.addEventListener('click', () => {
      w.watch.talk = !w.watch.talk;
      w.watch.applyVoice();
      paintTile(w);
      paintGrid();
    });
    return w;
  }

  const WATCH_TEXT = { connecting: '连接中', live: '直播中', reconnecting: '重新连接中', refused: '无直播', error: '无直播' };

  function paintTile(w) {
    const { c, watch, parts, tile } = w;
    parts.order.textContent = c.order ? `第${c.order}位` : '';
    parts.name.textContent = c.name || '';
    parts.state.textContent = (c.phase === 'reading' || c.phase === 'answering') ? `面试中 · ${WATCH_TEXT[watch.state]}` : WATCH_TEXT[watch.state];
    parts.state.className = 'badge badge-small lv-state ' + (watch.state === 'live' ? 'badge-ok' : watch.state === 'reconnecting' ? 'badge-warn' : 'badge-muted');
    tile.dataset.state = watch.state;
    tile.dataset.phase = c.phase || '';
    const talking = watch.wantVoice();
    tile.dataset.talk = String(talking);
    parts.talk.textContent = watch.talk ? '停止讲话' : '对该考生讲话';
    parts.talk.classList.toggle('btn-danger', watch.talk);
    parts.talk.classList.toggle('btn-secondary', !watch.talk);
    parts.talk.disabled = talkAll.on || watch.state !== 'live';
    parts.screen.disabled = !(G.ctx && G.ctx.canScreen && G.ctx.canScreen(c));
    parts.screen.textContent = c.screening === 'passed' ? '已核验' : c.screening === 'failed' ? '核验未通过' : '核验';
    parts.note.textContent = talking ? '正在对该考生讲话（主机位播放）' : (watch.message && watch.state !== 'live' ? watch.message : '');
  }

  function paintGrid() {
    const n = G.watches.size;
    $('live-empty').hidden = n > 0;
    $('live-talk-all').textContent = talkAll.on ? '停止对全考场讲话' : '对全考场讲话';
    $('live-talk-all').classList.toggle('btn-danger', talkAll.on);
    $('live-talk-all').classList.toggle('btn-primary', !talkAll.on);
    $('live-talk-all').disabled = n === 0 && !talkAll.on;
    const talking = Array.from(G.watches.values()).filter((w) => w.watch.wantVoice()).length;
    const t = $('live-talking');
    t.hidden = !talking;
    t.textContent = talkAll.on ? `正在对全考场讲话（${talking} 位考生的主机位）` : `正在讲话：${talking} 位考生`;
    $('live-count').textContent = String(n);
    if (!talking && !talkAll.on && mic.track) closeMic();
  }

  function onTalkAll() {
    talkAll.on = !talkAll.on;
    for (const w of G.watches.values()) {
      if (!talkAll.on) w.watch.talk = false;
      w.watch.applyVoice();
      paintTile(w);
    }
    paintGrid();
  }

  function stopBoard() {
    for (const w of G.watches.values()) { w.watch.close(); w.tile.remove(); }
    G.watches.clear();
    G.given.clear();
    G.key = '';
    talkAll.on = false;
    if ($('live-grid')) paintGrid();
    closeMic();
  }

  // -- the screening dialog: the same two pictures, larger ------------------

  let mirrored = [];
  function mirror(examNumber, box) {
    unmirror(box);
    const w = G.watches.get(examNumber);
    box.hidden = false;
    const pair = el('div', 'lv-pair lv-pair-big');
    box.append(pair);
    for (const phone of ['main', 'secondary']) {
      const cam = camera(phone, true);
      pair.append(cam.fig);
      if (w) mirrored.push({ watch: w.watch, v: w.watch.show(cam.video, phone) });
    }
    if (!w) box.append(el('p', 'muted small', '该考生暂无直播画面（未入场或正在连接），请稍后重新打开核验。'));
  }
  function unmirror(box) {
    for (const m of mirrored) m.watch.hide(m.v);
    mirrored = [];
    if (box) {
      for (const v of box.querySelectorAll('video')) v.srcObject = null;
      box.replaceChildren();
    }
  }

  // ---------------------------------------------------------------------------
  // The panel: the candidate being interviewed (examiners and the chief)
  // ---------------------------------------------------------------------------

  const P = {
    on: false, room: '', timer: 0, boardOk: true, watch: null, exam: '', sitting: '', parts: null, unsupported: false,
  };

  function startPanel(ctx) {
    role = ctx.role;
    if (disabled || (P.on && P.room === ctx.room)) return;
    stopPanel();
    P.on = true;
    P.room = ctx.room;
    P.boardOk = true;
    P.unsupported = false;
    $('panel-live').hidden = false;
    paintPanel();
    pollPanel();
  }

  function stopPanel() {
    P.on = false;
    clearTimeout(P.timer);
    dropPanelView();
    if ($('panel-live')) $('panel-live').hidden = true;
  }

  /** Who is being interviewed: the board (the chief may read it), else a grant asked without a name. */
  async function pollPanel() {
    clearTimeout(P.timer);
    if (!P.on) return;
    try {
      if (P.boardOk) {
        let b = null;
        try {
          b = await api('GET', `/api/v1/staff/rooms/${encodeURIComponent(P.room)}/board`);
        } catch (err) {
          if (err.status !== 403) throw err;
          P.boardOk = false;
        }
        if (b && P.on) {
          const c = (b.candidates || []).find((x) => x.phase === 'reading' || x.phase === 'answering');
          if (!c) dropPanelView();
          else if (P.exam !== c.examNumber || P.sitting !== b.sitting) openPanelView(c.examNumber, b.sitting, null, c);
          else if (P.watch) P.c = c;
        }
      }
      if (!P.boardOk && !P.watch && P.on && !P.unsupported) {
        // Without the board: the grant itself says whom (FAILED_PRECONDITION while nobody is interviewed).
        try {
          const g = await api('POST', GRANT, {});
          if (P.on) openPanelView(g.examNumber, g.sitting, g, null);
          else endGrant(g);
        } catch (err) {
          const precondition = err.code === 'FAILED_PRECONDITION';
          if (notDeployed(err)) { disabled = true; stopPanel(); return; }
          if (!precondition && (err.status === 400 || err.status === 404)) {
            P.unsupported = true;
            console.warn('live: this console cannot learn who is being interviewed:', err.status, err.code, err.message);
          }
          else if (!precondition && err.status !== 503 && err.status !== 429 && err.status !== 0) throw err;
        }
      }
    } catch (err) {
      if (err && err.handled) { stopPanel(); return; }
      P.error = err && err.message;
    }
    paintPanel();
    if (P.on) P.timer = setTimeout(pollPanel, PANEL_POLL_MS);
  }

  function openPanelView(examNumber, sitting, grant, c) {
    dropPanelView();
    P.exam = examNumber;
    P.sitting = sitting || '';
    P.c = c;
    const box = $('panel-live-pair');
    box.replaceChildren();
    const main = camera('main', true);
    const sec = camera('secondary', true);
    box.append(main.fig, sec.fig);
    const watch = new Watch(examNumber, {
      sitting: P.sitting,
      grant,
      finalRefusal: true, // the panel's grant is refused once the interview is over: that ends the view
      onChange: () => paintPanel(),
      onGone: (w) => { if (P.watch === w) { dropPanelView(); paintPanel(); } },
    });
    P.watch = watch;
    watch.show(main.video, 'main');
    watch.show(sec.video, 'secondary');
    // The panel listens to the candidate: the main phone's sound on (the page was clicked to sign in).
    main.fig.setSound(true);
    watch.start();
    paintPanel();
  }

  function dropPanelView() {
    if (P.watch) P.watch.close();
    P.watch = null;
    P.exam = '';
    P.sitting = '';
    P.c = null;
    const box = $('panel-live-pair');
    if (box) {
      for (const v of box.querySelectorAll('video')) v.srcObject = null;
      box.replaceChildren();
    }
  }

  function paintPanel() {
    const box = $('panel-live');
    if (!box) return;
    const w = P.watch;
    // Without a way to learn who is interviewed (no board for this role, no grant without a name) the section hides.
    box.hidden = !P.on || (P.unsupported && !w);
    box.dataset.unsupported = String(!!P.unsupported);
    box.dataset.exam = P.exam;
    box.dataset.state = w ? w.state : 'none';
    $('panel-live-none').hidden = !!w;
    $('panel-live-none').textContent = '当前没有正在面试的考生。面试开始后，这里显示该考生主机位和副机位的实时画面和声音。';
    $('panel-live-pair').hidden = !w;
    const c = P.c;
    const who = w ? `${c && c.order ? `第${c.order}位 · ` : ''}${P.exam}${c && c.name ? ' ' + c.name : ''}` : '';
    $('panel-live-who').textContent = who;
    const st = $('panel-live-state');
    st.hidden = !w;
    if (w) {
      st.textContent = WATCH_TEXT[w.state] + (w.state !== 'live' && w.message ? `：${w.message}` : '');
      st.className = 'badge badge-small ' + (w.state === 'live' ? 'badge-ok' : w.state === 'reconnecting' ? 'badge-warn' : 'badge-muted');
    }
  }

  // ---------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------

  function init(opts) {
    api = opts.api;
    csrf = opts.csrf || csrf;
    const all = $('live-talk-all');
    if (all) all.addEventListener('click', onTalkAll);
    window.addEventListener('pagehide', () => {
      for (const w of G.watches.values()) w.watch.close(true);
      if (P.watch) P.watch.close(true);
    });
  }

  function reset() {
    stopBoard();
    stopPanel();
    const grid = $('live-grid');
    if (grid) grid.hidden = true;
  }

  return { init, board, stopBoard, mirror, unmirror, startPanel, stopPanel, reset };
})();
