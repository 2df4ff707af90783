/*
 * The live rooms (R64, R65) in the browser: a small client of Janus's plain
 * HTTP API (VideoRoom plugin), shared by the candidates' page (live-phone.js)
 * and the staff console (staff/live-staff.js). No janus.js: a session, its
 * long poll, handles, and what one media grant asks for in each of its rooms
 * (publish the camera or the voice, subscribe to the phone or the staff's
 * voice). Loaded as a plain script before the page's own; it defines one
 * global, window.ExamLive, and window.__live for the browser tests:
 *   __live.pcs: {pc, kind: 'publish'|'subscribe', examNumber, phone, room, display}
 *     for every RTCPeerConnection the page holds (removed when closed);
 *   __live.grants: the last grant of each holder/candidate.
 *
 * Signalling is non-trickle: an offer or answer goes once ICE gathering is
 * complete (at most 3 s), with its candidates in the SDP.
 *
 * Plain ES2020, no framework, no build step, no inline script (CSP).
 */
'use strict';

window.__live = window.__live || { pcs: [], grants: [] };

window.ExamLive = (() => {
  const LIVE = window.__live;
  const GATHER_CAP_MS = 3000;
  const REPLY_TIMEOUT_MS = 15000;
  let seq = 0;
  const tx = () => 't' + Date.now().toString(36) + (seq++).toString(36) + Math.random().toString(36).slice(2, 6);

  /** A failure of Janus itself (gone, no such session) or of the plugin (code, reason). */
  class JanusError extends Error {
    constructor(message, code, gone) {
      super(message);
      this.code = code || 0;
      this.gone = !!gone; // the server or the session is gone: a fresh grant and a re-join
    }
  }

  // Janus's codes that mean the session (or the whole server) is gone.
  const GONE_CODES = new Set([458, 459, 460]);

  // ---------------------------------------------------------------------------
  // Session, long poll, handles
  // ---------------------------------------------------------------------------

  class Session {
    /** base: the grant's janusUrl (absolute, or a path like "/janus" behind the edge). */
    constructor(base, onGone) {
      this.base = String(base || '').replace(/\/+$/, '');
      this.id = 0;
      this.onGone = onGone || (() => {});
      this.handles = new Map(); // id -> Handle
      this.waiting = new Map(); // transaction -> {resolve, reject, timer}
      this.closed = false;
      this.failures = 0;
    }

    async post(path, body, keepalive) {
      let res;
      try {
        res = await fetch(this.base + path, {
          method: 'POST', cache: 'no-store', keepalive: !!keepalive, credentials: 'omit',
          headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
        });
      } catch (e) {
        throw new JanusError('媒体服务器无法连接：' + ((e && e.message) || e), 0, true);
      }
      if (!res.ok) throw new JanusError(`媒体服务器返回 HTTP ${res.status}`, res.status, res.status >= 500 || res.status === 404);
      const m = await res.json();
      if (m.janus === 'error') {
        const code = (m.error && m.error.code) || 0;
        throw new JanusError('媒体服务器：' + ((m.error && m.error.reason) || '未知错误'), code, GONE_CODES.has(code));
      }
      return m;
    }

    async create() {
      const m = await this.post('', { janus: 'create', transaction: tx() });
      this.id = m.data && m.data.id;
      if (!this.id) throw new JanusError('媒体服务器未返回会话', 0, true);
      this.poll();
      return this;
    }

    /** The long poll: events to their handles or their waiting transactions; it also keeps the session alive. */
    async poll() {
      while (!this.closed) {
        let list;
        try {
          const res = await fetch(`${this.base}/${this.id}?maxev=10&rid=${Date.now()}`, { cache: 'no-store', credentials: 'omit' });
          if (!res.ok) throw new JanusError(`HTTP ${res.status}`, res.status, true);
          const body = await res.json();
          list = Array.isArray(body) ? body : [body];
          this.failures = 0;
        } catch (e) {
          if (this.closed) return;
          this.failures += 1;
          // A blip is retried at once; three in a row (or a 4xx) is a server gone.
          if (this.failures >= 3 || (e instanceof JanusError && e.code >= 400 && e.code < 500)) {
            this.gone(new JanusError('媒体服务器连接中断', 0, true));
            return;
          }
          await new Promise((r) => setTimeout(r, 300 * this.failures));
          continue;
        }
        for (const m of list) this.dispatch(m);
      }
    }

    dispatch(m) {
      if (!m || this.closed) return;
      if (m.janus === 'keepalive') return;
      if (m.janus === 'error' && GONE_CODES.has(m.error && m.error.code)) {
        this.gone(new JanusError('媒体服务器会话已失效', m.error.code, true));
        return;
      }
      const w = m.transaction && this.waiting.get(m.transaction);
      if (w && (m.janus === 'event' || m.janus === 'success' || m.janus === 'error')) {
        this.waiting.delete(m.transaction);
        clearTimeout(w.timer);
        w.resolve(m);
        return;
      }
      const h = this.handles.get(m.sender);
      if (h) h.onMessage(m);
    }

    gone(err) {
      if (this.closed) return;
      this.closed = true;
      for (const w of this.waiting.values()) { clearTimeout(w.timer); w.reject(err); }
      this.waiting.clear();
      this.onGone(err);
    }

    expect(transaction) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting.delete(transaction);
          reject(new JanusError('媒体服务器响应超时', 0, true));
        }, REPLY_TIMEOUT_MS);
        this.waiting.set(transaction, { resolve, reject, timer });
      });
    }

    async attach(onEvent) {
      const m = await this.post('/' + this.id, { janus: 'attach', plugin: 'janus.plugin.videoroom', transaction: tx() });
      const h = new Handle(this, m.data.id, onEvent);
      this.handles.set(h.id, h);
      return h;
    }

    /** Ends the session on Janus (every handle with it). keepalive: from pagehide. */
    destroy(keepalive) {
      if (this.closed && !this.id) return;
      this.closed = true;
      for (const w of this.waiting.values()) clearTimeout(w.timer);
      this.waiting.clear();
      if (this.id) this.post('/' + this.id, { janus: 'destroy', transaction: tx() }, keepalive).catch(() => {});
    }
  }

  class Handle {
    constructor(session, id, onEvent) {
      this.session = session;
      this.id = id;
      this.onEvent = onEvent || (() => {});
    }

    /**
     * A VideoRoom request; resolves to {data, jsep} of the plugin's answer
     * (synchronous, or the event carrying the same transaction), and rejects
     * with the plugin's error_code/error.
     */
    async send(body, jsep) {
      const transaction = tx();
      const msg = { janus: 'message', transaction, body };
      if (jsep) msg.jsep = jsep;
      const waiting = this.session.expect(transaction);
      let m;
      try {
        m = await this.session.post(`/${this.session.id}/${this.id}`, msg);
      } catch (e) {
        this.session.waiting.delete(transaction);
        waiting.catch(() => {});
        throw e;
      }
      if (m.janus === 'ack') m = await waiting;
      else { this.session.waiting.delete(transaction); waiting.catch(() => {}); }
      if (m.janus === 'error') {
        throw new JanusError('媒体服务器：' + ((m.error && m.error.reason) || '未知错误'), m.error && m.error.code);
      }
      const data = (m.plugindata && m.plugindata.data) || {};
      if (data.error_code) throw new JanusError('媒体服务器：' + (data.error || '请求被拒绝'), data.error_code);
      return { data, jsep: m.jsep };
    }

    onMessage(m) {
      const data = (m.plugindata && m.plugindata.data) || null;
      this.onEvent(m.janus, data, m.jsep, m);
    }

    detach() {
      this.session.handles.delete(this.id);
      if (!this.session.closed) {
        this.session.post(`/${this.session.id}/${this.id}`, { janus: 'detach', transaction: tx() }).catch(() => {});
      }
    }
  }

  // ---------------------------------------------------------------------------
  // Peer connections
  // ---------------------------------------------------------------------------

  function rtcConfig(grant) {
    const servers = [];
    for (const s of (grant && grant.iceServers) || []) {
      const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter(Boolean);
      if (!urls.length) continue;
      const o = { urls };
      // Chrome refuses an empty username/credential on a TURN server; STUN needs none.
      if (s.username) o.username = s.username;
      if (s.credential) o.credential = s.credential;
      servers.push(o);
    }
    return { iceServers: servers, bundlePolicy: 'max-bundle' };
  }

  /**
   * Non-trickle: the description once gathering is complete, or once it holds
   * what the configured servers add (a relay candidate with TURN, a
   * server-reflexive one with STUN alone: an unreachable STUN server would
   * otherwise hold every join for its whole timeout), at most GATHER_CAP_MS.
   */
  function gathered(pc, grant) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    const urls = [];
    for (const s of (grant && grant.iceServers) || []) urls.push(...(Array.isArray(s.urls) ? s.urls : [s.urls]));
    const want = urls.some((u) => /^turns?:/.test(u || '')) ? 'relay' : urls.some((u) => /^stun:/.test(u || '')) ? 'srflx' : '';
    return new Promise((resolve) => {
      let hostAt = 0;
      const done = () => {
        pc.removeEventListener('icegatheringstatechange', check);
        pc.removeEventListener('icecandidate', onCandidate);
        clearTimeout(timer);
        clearTimeout(grace);
        resolve();
      };
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      const onCandidate = (ev) => {
        const c = ev.candidate;
        if (!c) { done(); return; }
        if (want && c.type === want) { done(); return; }
        // Host candidates first: the servers' kind follows within a second on a working network.
        if (!hostAt && c.type === 'host') { hostAt = Date.now(); grace = setTimeout(done, want ? 1500 : 300); }
      };
      let grace = 0;
      const timer = setTimeout(done, GATHER_CAP_MS);
      pc.addEventListener('icegatheringstatechange', check);
      pc.addEventListener('icecandidate', onCandidate);
    });
  }

  function track(pc, meta) {
    const entry = Object.assign({ pc }, meta);
    LIVE.pcs.push(entry);
    return entry;
  }
  function untrack(pc) {
    const i = LIVE.pcs.findIndex((e) => e.pc === pc);
    if (i >= 0) LIVE.pcs.splice(i, 1);
    try { pc.close(); } catch (_) { /* closed */ }
  }

  function remember(grant) {
    const i = LIVE.grants.findIndex((g) => g.holder === grant.holder && g.examNumber === grant.examNumber);
    if (i >= 0) LIVE.grants.splice(i, 1);
    LIVE.grants.push(grant);
    if (LIVE.grants.length > 64) LIVE.grants.shift();
  }
  function forget(grant) {
    const i = LIVE.grants.indexOf(grant);
    if (i >= 0) LIVE.grants.splice(i, 1);
  }

  // ---------------------------------------------------------------------------
  // One grant: every room it admits to, on one Janus session
  // ---------------------------------------------------------------------------

  /**
   * Joins every room of `grant`. opts:
   *   stream: MediaStream to publish where send = "camera" (the phone's camera and microphone);
   *   voice(): the MediaStreamTrack of the staff's microphone, asked only when talking starts;
   *   onRemote(info): a feed arrived: {room, phone, feed, display, stream, pc, audioOnly};
   *   onRemoteGone(info): that feed left;
   *   onEnded(err): the grant's participation ended (kicked, room destroyed, Janus gone): ask a fresh grant.
   * Returns a Link: {grant, close(keepalive), setVoice(on)}.
   */
  async function join(grant, opts) {
    const link = new Link(grant, opts);
    try {
      await link.start();
    } catch (e) {
      link.close();
      throw e;
    }
    return link;
  }

  class Link {
    constructor(grant, opts) {
      this.grant = grant;
      this.opts = opts || {};
      this.session = null;
      this.rooms = [];
      this.closed = false;
      this.endedOnce = false;
    }

    async start() {
      remember(this.grant);
      this.session = new Session(this.grant.janusUrl, (err) => this.ended(err));
      await this.session.create();
      for (const r of this.grant.rooms || []) {
        const room = new RoomLink(this, r);
        this.rooms.push(room);
        await room.join();
      }
    }

    ended(err) {
      if (this.closed || this.endedOnce) return;
      this.endedOnce = true;
      this.close();
      if (this.opts.onEnded) this.opts.onEnded(err);
    }

    /** Talking on (every room that sends voice) or off; resolves when set. */
    async setVoice(on) {
      await Promise.all(this.rooms.filter((r) => r.access.send === 'voice').map((r) => r.setVoice(on)));
    }

    close(keepalive) {
      if (this.closed) return;
      this.closed = true;
      for (const r of this.rooms) r.close();
      if (this.session) this.session.destroy(keepalive);
      forget(this.grant);
    }
  }

  const WANTS = {
    phone: (display) => /^phone:/.test(display || ''),
    staff_voice: (display) => /^staff:/.test(display || ''),
  };

  class RoomLink {
    constructor(link, access) {
      this.link = link;
      this.access = access; // {room, token, feedId, display, phone, send, receive}
      this.handle = null;
      this.privateId = 0;
      this.pub = null; // {pc, sender}
      this.voiceOn = false;
      this.subs = new Map(); // feed id -> {handle, pc, display, stream}
      this.closed = false;
    }

    meta(kind, display) {
      return { kind, examNumber: this.link.grant.examNumber, phone: this.access.phone, room: this.access.room, display };
    }

    async join() {
      const a = this.access;
      this.handle = await this.link.session.attach((type, data, jsep) => this.onEvent(type, data, jsep));
      const { data } = await this.handle.send({
        request: 'join', ptype: 'publisher', room: a.room, id: a.feedId, display: a.display, token: a.token,
      });
      if (data.videoroom !== 'joined') throw new JanusError('加入直播房间失败', 0);
      this.privateId = data.private_id;
      if (a.send === 'camera') await this.publish(this.link.opts.stream, true);
      this.offered(data.publishers);
    }

    /** Publishes tracks (sendonly): the camera and microphone, or the voice alone. */
    async publish(stream, video) {
      if (!stream) throw new JanusError('没有可发送的摄像头或麦克风', 0);
      const pc = new RTCPeerConnection(rtcConfig(this.link.grant));
      track(pc, this.meta('publish', this.access.display));
      const senders = [];
      for (const t of stream.getTracks()) {
        if (t.kind === 'video' && !video) continue;
        senders.push(pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] }).sender);
      }
      this.pub = { pc, senders };
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'failed' && this.pub && this.pub.pc === pc) this.link.ended(new JanusError('直播连接失败', 0, true));
      });
      const offer = await pc.createOffer();
      const ready = gathered(pc, this.link.grant);
      await pc.setLocalDescription(offer);
      await ready;
      const { jsep } = await this.handle.send({ request: 'publish', audio: true, video: !!video },
        { type: 'offer', sdp: pc.localDescription.sdp, trickle: false });
      if (!jsep) throw new JanusError('媒体服务器未返回应答', 0);
      await pc.setRemoteDescription(jsep);
    }

    /** The staff's voice in this room (send = "voice"): published on the first use, then the track is swapped in and out. */
    async setVoice(on) {
      this.voiceOn = !!on;
      if (this.closed) return;
      if (!this.pub) {
        if (!on) return;
        const t = await this.link.opts.voice();
        if (this.closed || !this.voiceOn || this.pub) return;
        this.pubBusy = this.publish(new MediaStream([t]), false);
        try {
          await this.pubBusy;
        } catch (e) {
          // Not published: the next talk tries afresh.
          if (this.pub) untrack(this.pub.pc);
          this.pub = null;
          throw e;
        } finally {
          this.pubBusy = null;
        }
        return;
      }
      if (this.pubBusy) await this.pubBusy.catch(() => {});
      const t = this.voiceOn ? await this.link.opts.voice() : null;
      if (!this.pub || this.closed) return;
      for (const s of this.pub.senders) await s.replaceTrack(this.voiceOn ? t : null).catch(() => {});
    }

    /** Publishers in the room (from "joined" or a later event): subscribe to those this grant wants. */
    offered(list) {
      const want = WANTS[this.access.receive];
      if (!want) return;
      for (const p of list || []) {
        if (p.id === this.access.feedId || this.subs.has(p.id) || !want(p.display)) continue;
        this.subscribe(p).catch((e) => {
          this.dropFeed(p.id);
          if (e && e.gone) this.link.ended(e);
        });
      }
    }

    async subscribe(p) {
      const sub = { handle: null, pc: null, display: p.display, stream: null };
      this.subs.set(p.id, sub);
      sub.handle = await this.link.session.attach((type, data) => {
        if (type === 'hangup' || (data && data.videoroom === 'event' && data.error_code)) this.dropFeed(p.id);
      });
      if (this.closed || this.subs.get(p.id) !== sub) { sub.handle.detach(); return; }
      const { data, jsep } = await sub.handle.send({
        request: 'join', ptype: 'subscriber', room: this.access.room, private_id: this.privateId,
        streams: [{ feed: p.id }], autoupdate: false,
      });
      if (data.videoroom !== 'attached' || !jsep) throw new JanusError('订阅直播画面失败', 0);
      if (this.closed || this.subs.get(p.id) !== sub) { sub.handle.detach(); return; }
      const pc = new RTCPeerConnection(rtcConfig(this.link.grant));
      sub.pc = pc;
      track(pc, this.meta('subscribe', p.display));
      const stream = new MediaStream();
      sub.stream = stream;
      pc.addEventListener('track', (ev) => {
        if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
        if (this.link.opts.onRemote) {
          this.link.opts.onRemote({ room: this.access.room, phone: this.access.phone, feed: p.id, display: p.display,
            stream, pc, audioOnly: !stream.getVideoTracks().length, kind: ev.track.kind });
        }
      });
      await pc.setRemoteDescription(jsep);
      const answer = await pc.createAnswer();
      const ready = gathered(pc, this.link.grant);
      await pc.setLocalDescription(answer);
      await ready;
      await sub.handle.send({ request: 'start' }, { type: 'answer', sdp: pc.localDescription.sdp, trickle: false });
    }

    dropFeed(id) {
      const sub = this.subs.get(id);
      if (!sub) return;
      this.subs.delete(id);
      if (sub.pc) untrack(sub.pc);
      if (sub.handle) sub.handle.detach();
      if (this.link.opts.onRemoteGone) {
        this.link.opts.onRemoteGone({ room: this.access.room, phone: this.access.phone, feed: id, display: sub.display });
      }
    }

    onEvent(type, data) {
      if (this.closed) return;
      if (type === 'detached') { this.link.ended(new JanusError('直播已结束', 0)); return; }
      if (type === 'hangup' && this.pub) { this.link.ended(new JanusError('直播连接已断开', 0, true)); return; }
      if (type !== 'event' || !data) return;
      if (data.videoroom === 'destroyed') { this.link.ended(new JanusError('直播房间已关闭', 426)); return; }
      if (data.leaving === 'ok' || data.reason === 'kicked') { this.link.ended(new JanusError('已离开直播房间', 0)); return; }
      if (Array.isArray(data.publishers)) this.offered(data.publishers);
      for (const k of ['unpublished', 'leaving', 'kicked']) {
        if (typeof data[k] === 'number' || (typeof data[k] === 'string' && data[k] !== 'ok')) this.dropFeed(data[k]);
      }
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      for (const id of Array.from(this.subs.keys())) this.dropFeed(id);
      if (this.pub) untrack(this.pub.pc);
      this.pub = null;
    }
  }

  // ---------------------------------------------------------------------------
  // Small things both pages need
  // ---------------------------------------------------------------------------

  /** A grant refused because this deployment has no live rooms (no media service): nothing to retry. */
  function notDeployed(err) {
    const status = err && err.status;
    return status === 404 || status === 501 || (status === 503 && /未在本网格中部署|未部署|not deployed/i.test((err && err.message) || ''));
  }

  /** Backoff with jitter: 1 s, 2 s, 4 s, 8 s, then 15 s at most, each ±25 %. */
  function backoff(attempt) {
    const base = Math.min(15000, 1000 * 2 ** Math.min(attempt, 4));
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }

  /** A video element for a remote stream; `muted` as asked, playing once it can. */
  function attachVideo(video, stream, muted) {
    video.autoplay = true;
    video.playsInline = true;
    video.muted = !!muted;
    if (video.srcObject !== stream) video.srcObject = stream;
    const p = video.play();
    if (p && p.catch) p.catch(() => { /* autoplay refused: a click starts it */ });
  }

  return { Session, Handle, JanusError, join, backoff, attachVideo, rtcConfig, notDeployed };
})();
