/*
 * The candidate's phone live (R64, R65): from the moment this phone has
 * entered its room until its interview ends or it leaves, it sends its camera
 * and microphone to its own Janus room (the main phone: front camera; the
 * secondary: rear camera), with the very stream the page already opened for
 * the preview and the recording. The main phone plays the staff's voice
 * (an <audio> element); the secondary plays nothing (its speaker is muted,
 * R30).
 *
 * app.js says what it knows with ExamLivePhone.sync({...}) after each state
 * and camera change, and ExamLivePhone.stop() when the day view closes. A
 * grant comes from POST /api/v1/media/grant (the phone's bearer token and
 * device id and key); a dropped connection, a reload or a kick re-joins with
 * a fresh grant (backoff with jitter, bounded); a refusal because the
 * interview is over (FAILED_PRECONDITION) stops quietly. Leaving the page ends the grant
 * (DELETE, keepalive).
 *
 * Plain ES2020, no build step, no inline script (CSP).
 */
'use strict';

window.ExamLivePhone = (() => {
  const { $, API, setText } = window.ExamWeb;
  const { join, backoff, notDeployed } = window.ExamLive;
  const MAX_PRECONDITION_RETRIES = 4; // FAILED_PRECONDITION right after entry: media may hear of it a moment after the phone
  // media's refusals that no retry changes (the interview or the sitting is over, disqualified, absent).
  const FINAL_REFUSAL = /已结束|取消资格|缺考|不具备|已关闭/;

  const L = {
    ctx: null, // the last sync(): {wanted, over, role, sitting, stream, headers, onUnauthorized}
    link: null, // ExamLive Link while joined
    grant: null,
    busy: false, // a grant request or a join is under way
    attempt: 0,
    refusals: 0, // FAILED_PRECONDITIONs in a row
    stopped: '', // why it stopped for good until the next entry: 'over', 'refused', 'denied'
    retryTimer: 0,
    retryAt: 0,
    everLive: false,
    state: 'idle', // idle | connecting | live | reconnecting | ended | error
    detail: '',
    audio: null,
  };

  function audioEl() {
    if (!L.audio) {
      L.audio = $('live-voice');
      $('live-audio-unlock').addEventListener('click', () => {
        L.audio.play().then(() => { $('live-audio-unlock').hidden = true; }).catch(() => {});
      });
    }
    return L.audio;
  }

  // ---------------------------------------------------------------------------
  // The indicator: "直播中 ●", "正在重新连接直播…"
  // ---------------------------------------------------------------------------

  function paint() {
    const box = $('live-indicator');
    if (!box) return;
    const c = L.ctx;
    const show = !!c && (L.state !== 'idle');
    box.hidden = !show;
    if (!show) return;
    box.dataset.state = L.state;
    let title = '';
    let detail = L.detail;
    if (L.state === 'live') {
      title = '直播中';
      detail = c.role === 'main' ? '考务人员和考官可看到本机画面、听到声音；考务人员讲话时本机会播放。'
        : '本机画面和声音正在传送给考务人员（本机不播放声音）。';
    } else if (L.state === 'connecting') {
      title = '正在连接直播…';
    } else if (L.state === 'reconnecting') {
      title = '正在重新连接直播…';
      const left = Math.max(0, Math.ceil((L.retryAt - Date.now()) / 1000));
      detail = (L.busy ? '正在连接' : `${left} 秒后第 ${L.attempt} 次重试`) + (L.detail ? `（${L.detail}）` : '');
    } else if (L.state === 'ended') {
      title = '直播已结束';
    } else if (L.state === 'error') {
      title = '直播未连接';
    }
    setText('live-title', title);
    setText('live-detail', detail);
  }

  function setState(state, detail) {
    L.state = state;
    L.detail = detail || '';
    paint();
  }

  // ---------------------------------------------------------------------------
  // Grants
  // ---------------------------------------------------------------------------

  async function askGrant(c) {
    let res;
    try {
      res = await fetch(API + '/media/grant', {
        method: 'POST', cache: 'no-store',
        headers: Object.assign({}, c.headers, { 'Content-Type': 'application/json', Accept: 'application/json' }),
        body: JSON.stringify({ sitting: c.sitting }),
      });
    } catch (_) {
      throw Object.assign(new Error('网络连接失败'), { status: 0 });
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw window.ExamWeb.errorFrom(res.status, text, res.headers.get('Retry-After'), () => `直播授权失败（HTTP ${res.status}）`);
    return JSON.parse(text);
  }

  function endGrant(grant, headers, keepalive) {
    if (!grant || !grant.grantId) return;
    fetch(`${API}/media/grant/${encodeURIComponent(grant.grantId)}`, {
      method: 'DELETE', cache: 'no-store', keepalive: !!keepalive, headers: Object.assign({}, headers),
    }).catch(() => {});
  }

  // ---------------------------------------------------------------------------
  // Joining and leaving
  // ---------------------------------------------------------------------------

  function wanted() {
    const c = L.ctx;
    return !!(c && c.wanted && c.stream && !L.stopped);
  }

  async function connect() {
    clearTimeout(L.retryTimer);
    L.retryTimer = 0;
    if (L.busy || L.link || !wanted()) return;
    const c = L.ctx;
    L.busy = true;
    setState(L.everLive || L.attempt ? 'reconnecting' : 'connecting', L.detail);
    let grant = null;
    try {
      grant = await askGrant(c);
      L.refusals = 0;
      if (!wanted() || L.ctx.stream !== c.stream) { endGrant(grant, c.headers); return; }
      const stream = c.stream;
      const link = await join(grant, {
        stream,
        onRemote: (info) => onRemote(info),
        onRemoteGone: () => {},
        onEnded: (err) => onEnded(link, err),
      });
      if (!wanted() || L.ctx.stream !== stream) { link.close(); endGrant(grant, c.headers); return; }
      L.link = link;
      L.link.stream = stream;
      L.grant = grant;
      L.attempt = 0;
      L.everLive = true;
      setState('live');
    } catch (err) {
      if (grant && !L.link) endGrant(grant, c.headers);
      failed(err);
    } finally {
      L.busy = false;
      // What changed meanwhile (a leave, a new camera) is applied now.
      if (L.link && (!wanted() || L.link.stream !== (L.ctx && L.ctx.stream))) leave();
      else if (!L.link && !L.retryTimer && wanted() && L.state !== 'error') connect();
    }
  }

  function failed(err) {
    const status = err && err.status;
    if (status === 401) {
      L.stopped = 'denied';
      setState('error', '登录已失效');
      if (L.ctx && L.ctx.onUnauthorized) L.ctx.onUnauthorized();
      return;
    }
    if (notDeployed(err)) {
      // No live rooms in this deployment: nothing to show, nothing to retry.
      L.stopped = 'denied';
      setState('idle');
      return;
    }
    if (status === 403) {
      L.stopped = 'denied';
      setState('error', err.message || '直播授权被拒绝');
      return;
    }
    if (status === 400 && err.code === 'FAILED_PRECONDITION') {
      // The interview is over (or the phone is out of its room): stop quietly.
      // "Not entered yet" right after entry is asked again a few times.
      L.refusals += 1;
      const final = FINAL_REFUSAL.test(err.message || '');
      if (final || (L.ctx && L.ctx.over) || L.refusals > MAX_PRECONDITION_RETRIES) {
        if (final && L.ctx) L.ctx.over = true;
        L.stopped = (L.ctx && L.ctx.over) ? 'over' : 'refused';
        setState(L.stopped === 'over' && L.everLive ? 'ended' : 'idle');
        return;
      }
    }
    const delay = status === 429 && err.retryAfter ? err.retryAfter * 1000 : backoff(L.attempt);
    L.attempt += 1;
    L.retryAt = Date.now() + delay;
    setState('reconnecting', (err && err.message) || '');
    L.retryTimer = setTimeout(connect, delay);
  }

  /** The grant's participation ended (kicked, room closed, Janus gone): a fresh grant at once, then backoff. */
  function onEnded(link, err) {
    if (L.link !== link) return;
    L.link = null;
    L.grant = null;
    if (!wanted()) { setState(L.ctx && L.ctx.over ? 'ended' : 'idle'); return; }
    const delay = L.attempt === 0 ? 200 + Math.round(Math.random() * 300) : backoff(L.attempt);
    L.attempt += 1;
    L.retryAt = Date.now() + delay;
    setState('reconnecting', (err && err.message) || '');
    clearTimeout(L.retryTimer);
    L.retryTimer = setTimeout(connect, delay);
  }

  function onRemote(info) {
    // The main phone plays the staff's voice; the secondary never plays anything (R30).
    if (!L.ctx || L.ctx.role !== 'main' || !/^staff:/.test(info.display || '')) return;
    const a = audioEl();
    if (a.srcObject !== info.stream) a.srcObject = info.stream;
    a.muted = false;
    const p = a.play();
    if (p && p.catch) p.catch(() => { $('live-audio-unlock').hidden = false; });
  }

  function leave(keepalive) {
    clearTimeout(L.retryTimer);
    L.retryTimer = 0;
    const link = L.link;
    const grant = L.grant;
    L.link = null;
    L.grant = null;
    if (link) link.close(keepalive);
    if (grant && L.ctx) endGrant(grant, L.ctx.headers, keepalive);
    if (L.audio) L.audio.srcObject = null;
  }

  // ---------------------------------------------------------------------------
  // What app.js calls
  // ---------------------------------------------------------------------------

  /** After every state or camera change: join, stay, or leave. */
  function sync(ctx) {
    L.ctx = ctx;
    // A new entry (out of the room, then in again) clears an earlier refusal.
    if (!ctx.wanted && !ctx.over && L.stopped !== 'denied') { L.stopped = ''; L.refusals = 0; }
    if (ctx.over && !L.link) L.stopped = L.stopped || 'over';
    if (L.link && (!wanted() || L.link.stream !== ctx.stream)) {
      leave();
      setState(ctx.over && L.everLive ? 'ended' : 'idle');
    }
    if (wanted() && !L.link && !L.busy && !L.retryTimer) {
      L.attempt = 0;
      connect();
    } else if (!wanted() && !L.link && !L.busy) {
      clearTimeout(L.retryTimer);
      L.retryTimer = 0;
      setState(ctx.over && L.everLive ? 'ended' : 'idle');
    }
    paint();
  }

  /** The day view closes (back, sign-out, expiry). */
  function stop() {
    leave();
    L.ctx = null;
    L.stopped = '';
    L.refusals = 0;
    L.attempt = 0;
    L.everLive = false;
    setState('idle');
  }

  // Leaving the page ends the grant (a reload asks a fresh one).
  window.addEventListener('pagehide', () => leave(true));
  // Back from the page cache: join again.
  window.addEventListener('pageshow', (ev) => { if (ev.persisted && L.ctx) sync(L.ctx); });
  setInterval(() => { if (L.state === 'reconnecting') paint(); }, 1000);

  return { sync, stop };
})();
