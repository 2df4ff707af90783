/*
 * What the candidates' page (app.js) and the staff console (staff/staff.js)
 * share: Beijing-time text, the notices next to an action, the JSON fetch
 * wrapper and its ApiError, the server clock. Loaded as a plain script
 * (`/common.js`, before the page's own script), it defines one global,
 * window.ExamWeb; nothing here touches the page until a page calls it.
 *
 * Plain ES2020, no framework, no build step, no inline script or style (CSP:
 * script-src 'self'; style-src 'self'). Server strings go in with textContent.
 */
'use strict';

window.ExamWeb = (() => {
  const $ = (id) => document.getElementById(id);
  const API = '/api/v1';

  // ---------------------------------------------------------------------------
  // Text
  // ---------------------------------------------------------------------------

  const pad2 = (n) => String(n).padStart(2, '0');

  // Countdown text. Ceil, so a fresh 10-minute countdown shows 10:00 and the
  // display reaches 00:00 exactly at the server's end time.
  function mmss(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    return pad2(Math.floor(s / 60)) + ':' + pad2(s % 60);
  }

  // All times are Beijing time (UTC+8, no DST), whatever the device's own
  // time zone is.
  function bj(ms) { return new Date(Number(ms) + 8 * 3600 * 1000); }
  function beijingHMS(ms) {
    const d = bj(ms);
    return pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' + pad2(d.getUTCSeconds());
  }
  function beijingFull(ms) {
    if (!ms) return '—';
    const d = bj(ms);
    return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${beijingHMS(ms)}`;
  }
  function beijingShort(ms) {
    if (!ms) return '—';
    const d = bj(ms);
    return `${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${beijingHMS(ms)}`;
  }

  function setText(id, text) { $(id).textContent = text == null ? '' : String(text); }
  function show(x, visible) { (typeof x === 'string' ? $(x) : x).hidden = !visible; }
  function isShown(node) { return !!node && !node.closest('[hidden]'); }

  // ---------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, retryAfter, body) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
      this.body = body;
      this.handled = false;
    }
    // What a person reads: the service's message, then the status and code.
    get display() {
      return this.status ? `${this.message}（HTTP ${this.status} ${this.code}）` : this.message;
    }
  }

  function parseRetryAfter(v) {
    if (!v) return 0;
    if (/^\d+$/.test(v.trim())) return parseInt(v, 10);
    const t = Date.parse(v); // HTTP-date form
    return Number.isFinite(t) ? Math.max(1, Math.ceil((t - Date.now()) / 1000)) : 0;
  }

  function defaultFallback(status) {
    return status === 413 ? '内容过大，超过服务器允许的大小。'
      : status >= 500 ? '服务器暂时无法处理请求，请稍后重试。' : '请求失败。';
  }

  /**
   * The ApiError of a failed answer: the service's JSON {code, message}, or
   * `fallback(status)` when it says nothing a person can read.
   */
  function errorFrom(status, text, retryAfterHeader, fallback = defaultFallback) {
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
    const retryAfter = parseRetryAfter(retryAfterHeader);
    let message = data && typeof data.message === 'string' && data.message ? data.message : '';
    if (!message) message = fallback(status);
    const code = (data && data.code) || 'HTTP_' + status;
    return new ApiError(status, code, message, retryAfter, data);
  }

  /**
   * fetch wrapper, JSON in and out. body: a plain object (sent as JSON) or a
   * Blob (sent raw, as opts.contentType or its own type). opts.headers: the
   * page's credentials (a bearer token, a CSRF token); opts.fallback: the
   * message by status when the service gives none; opts.onUnauthorized: called
   * on a 401, and the caller then sees an error with handled = true.
   */
  async function fetchJson(method, url, body, opts = {}) {
    const headers = Object.assign({ Accept: 'application/json' }, opts.headers);
    let payload;
    if (body instanceof Blob) {
      payload = body;
      headers['Content-Type'] = opts.contentType || body.type || 'application/octet-stream';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(url, { method, headers, body: payload, cache: 'no-store', credentials: 'same-origin' });
    } catch (_) {
      throw new ApiError(0, 'NETWORK', '网络连接失败，请检查网络后重试。');
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      const err = errorFrom(res.status, text, res.headers.get('Retry-After'), opts.fallback);
      if (res.status === 401 && opts.onUnauthorized) {
        err.handled = true;
        opts.onUnauthorized(err);
      }
      throw err;
    }
    if (!text) return null;
    try { return JSON.parse(text); } catch (_) { return null; }
  }

  // ---------------------------------------------------------------------------
  // Notices: one error notice and one info notice (#error-notice,
  // #info-notice, made here at the top of .page when the page has none), moved next to the action they are about (each action area
  // has an empty "...-anchor" div), and `act`, which runs a button's action.
  //   fallbacks: selectors tried in order when the anchor is not shown;
  //   scrollMargin, smooth: the notice scrolls into view (never yanking a
  //     modal's page) only when it is within scrollMargin px of the top or
  //     below the bottom;
  //   errorText(err): what `act` shows for a failure.
  // ---------------------------------------------------------------------------

  function notices({
    fallbacks = ['.view:not([hidden])', '.page'],
    scrollMargin = 60,
    smooth = false,
    errorText = (err) => err.message || String(err),
  } = {}) {
    // The two notices, at the top of .page until first used.
    if (!$('error-notice')) {
      const make = (kind, role) => {
        const box = document.createElement('div');
        box.id = kind + '-notice';
        box.className = 'notice notice-' + kind;
        box.setAttribute('role', role);
        box.hidden = true;
        const text = document.createElement('span');
        text.id = kind + '-text';
        text.className = 'notice-text';
        const close = document.createElement('button');
        close.id = kind + '-close';
        close.className = 'notice-close';
        close.type = 'button';
        close.setAttribute('aria-label', '关闭提示');
        close.textContent = '×';
        box.append(text, close);
        return box;
      };
      document.querySelector('.page').prepend(make('error', 'alert'), make('info', 'status'));
    }

    function place(notice, anchor) {
      let target = typeof anchor === 'string' ? $(anchor) : anchor;
      if (!isShown(target)) {
        target = fallbacks.map((sel) => document.querySelector(sel)).find(Boolean);
        target.prepend(notice);
      } else {
        target.appendChild(notice);
      }
      notice.hidden = false;
      const r = notice.getBoundingClientRect();
      if (r.top < scrollMargin || r.bottom > window.innerHeight) {
        notice.scrollIntoView(smooth ? { block: 'center', behavior: 'smooth' } : { block: 'center' });
      }
    }
    function hideError() { $('error-notice').hidden = true; }
    function hideInfo() { $('info-notice').hidden = true; }
    function showError(message, anchor) {
      hideInfo();
      $('error-text').textContent = message;
      place($('error-notice'), anchor);
    }
    function showInfo(message, anchor) {
      hideError();
      $('info-text').textContent = message;
      place($('info-notice'), anchor);
    }

    /** Run an action from a button: busy while it runs, errors shown next to `anchor`. */
    async function act(button, anchor, fn) {
      if (button) { button.disabled = true; button.classList.add('is-busy'); }
      hideError();
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof ApiError)) console.error(err);
        if (!err.handled) showError(errorText(err), anchor);
        return undefined;
      } finally {
        if (button) { button.classList.remove('is-busy'); button.disabled = false; }
      }
    }

    $('error-close').addEventListener('click', hideError);
    $('info-close').addEventListener('click', hideInfo);
    return { showError, hideError, showInfo, hideInfo, act };
  }

  // ---------------------------------------------------------------------------
  // The server's clock: offset = server time - local time. A sample from a
  // request with a known round trip: the one with the smallest round trip of
  // the last 8 wins (its midpoint is the most trustworthy). onSample(best) is
  // told of each new best.
  // ---------------------------------------------------------------------------

  function serverClock(onSample) {
    const clock = {
      offset: 0,
      known: false,
      samples: [],
      now() { return Date.now() + clock.offset; },
      add(sentAt, receivedAt, serverTimeMs) {
        const rtt = receivedAt - sentAt;
        if (!(rtt >= 0) || !Number.isFinite(serverTimeMs)) return;
        clock.samples.push({ rtt, offset: serverTimeMs - (sentAt + receivedAt) / 2, at: receivedAt });
        if (clock.samples.length > 8) clock.samples.shift();
        const best = clock.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
        clock.offset = best.offset;
        clock.known = true;
        if (onSample) onSample(best);
      },
      // A server timestamp without a round trip (a pushed message, a reply's
      // serverTimeMs): used only until a real sample exists.
      coarse(serverTimeMs) {
        if (!Number.isFinite(Number(serverTimeMs)) || !serverTimeMs) return;
        if (!clock.samples.length) {
          clock.offset = Number(serverTimeMs) - Date.now();
          clock.known = true;
        }
      },
      // `times` samples from GET /api/v1/time; stops at the first failure
      // (the page's other sources will do).
      async sync(times = 1) {
        for (let i = 0; i < times; i += 1) {
          try {
            const t0 = Date.now();
            const r = await fetchJson('GET', API + '/time');
            if (!r || r.serverTimeMs == null) return;
            clock.add(t0, Date.now(), Number(r.serverTimeMs));
          } catch (_) { return; }
        }
      },
    };
    return clock;
  }

  return {
    API, $, pad2, mmss, bj, beijingHMS, beijingFull, beijingShort, setText, show, isShown,
    ApiError, parseRetryAfter, errorFrom, fetchJson, notices, serverClock,
  };
})();
