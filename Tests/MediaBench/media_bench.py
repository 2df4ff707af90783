#!/usr/bin/env python3
"""How many phones one Janus instance carries (R64-R67, issue 21): a benchmark.

Run it through scripts/media-bench, which installs aiortc (pinned) into
.build/media-venv and Debian's janus and ffmpeg if missing:

    scripts/media-bench                      # steps up to 64 candidates, stops at the first limit, at most ~6 minutes
    scripts/media-bench --quick              # 2 and 4 candidates, 8 s each, under 90 s
    scripts/media-bench --max-candidates 24 --seconds-per-step 20

What it does, on this machine, nothing leaving it (signalling on 127.0.0.1;
media on this host's own IPv4 address, which the kernel delivers through the
loopback device: Janus 1.1.2 gathers no ICE candidate on a loopback interface
whatever ice_enforce_list says, see MEDIA_IP below):

- Starts one Janus (Debian's janus, VideoRoom plugin) with the project's own
  launcher, compose/janus/janus-run, on a throw-away mesh file.
- Encodes once with ffmpeg a 10 s phone clip: VP8 480x640 (portrait), 15 fps,
  600 kbit/s CBR, a keyframe every 2 s, and Opus mono in 20 ms packets
  (32 kbit/s asked; the "clip:" line prints the rates that came out). Every synthetic phone REPLAYS these encoded packets in real time;
  nothing is encoded while the benchmark runs, so the senders' CPU is packet
  work, not a VP8 encoder hiding Janus's cost.
- How the passthrough works: aiortc's RTCRtpSender packs an av.Packet handed
  to it by a track with the negotiated codec's pack() (Vp8Encoder.pack,
  OpusEncoder.pack) instead of encoding it; aiortc's MediaPlayer(decode=False)
  does this for h264, vp8, opus, pcm_alaw and pcm_mulaw. MediaPlayer needs a
  demuxing thread per player, so the bench uses its own ReplayTrack (a
  MediaStreamTrack) that serves the clip's packets from memory, paced by the
  clock, looping: the same aiortc path (pack(), no encoder), one demux in all.
  Consequence: a Janus PLI (keyframe request) is not honoured; keyframes come
  every 2 s as encoded. Each publisher starts at its own moment (no phase lock).
- Per candidate two publishers (main and secondary phone), each in its own
  private VideoRoom (require_pvtid, a token list, the admin key), as the
  product does (one room per phone). Per exam room (default 30 candidates)
  a proctor subscribes to every phone (one subscriber PeerConnection per phone
  room, as VideoRoom subscriptions are per room), and a panel of examiners
  (default 3) subscribes to the first candidate's two feeds.
- Steps the number of candidates up (2, 3, 4, 6, 8, 10, 12, 16, 20, 24 ...,
  bounded by --max-candidates and a time budget), adding the new candidates to
  the running ones, and measures each step over --seconds-per-step after a
  warm-up. It stops at the first step where video frames drop (< 98 % of the
  frames sent reach the subscribers), frames queue (the delay's median above
  --max-delay-ms, 100 ms), Janus uses 90 % of a core, or the
  generator is saturated (its event loop thread at 90 % of a core, or the
  senders below 95 % of the frame rate).
- At the end, a publisher-only phase (every subscription closed and its
  handles detached) gives, indicatively, a phone's cost with nobody watching.

What is measured, and how:

- Janus's CPU: utime+stime of the Janus process (/proc/PID/stat) over the
  window, in CPU-ms per wall-second; its idle cost (measured before any
  media) is subtracted for the per-stream figures. A "stream" (leg) is one
  phone's audio+video into Janus, or one subscription's audio+video out of it.
- The generator's CPU (this process: every sender and subscriber), and its
  event loop thread alone, separately; the machine's busy CPU from /proc/stat,
  so the other work on the machine (parallel builds) shows.
- Frames: each subscriber's aiortc RTP receiver is tapped where its jitter
  buffer hands a complete video frame on (packets all there): frames received
  vs frames the publisher sent in the same window. Each received frame's bytes
  are hashed and looked up in the clip, which proves the VP8 payload arrived
  unchanged (passthrough) and says which frame it is. One examiner's two
  feeds are also decoded by aiortc's VP8 decoder (frames decoded are
  counted); the other subscriptions are only reassembled and identified
  (decoding every feed in Python would measure the generator, not Janus;
  --decode examiners or --decode all to decode more).
- Delay: one-way, from the moment the sender's ReplayTrack hands frame i to
  aiortc's RTP sender (which packetises, encrypts and sends it at once) to the
  arrival at the subscriber of that frame's last (marker) packet, before the
  subscriber's jitter buffer; both ends are in this process, on one monotonic
  clock, so no RTCP/NTP estimate is involved. It is the path through Janus
  (and the two aiortc stacks and the kernel's loopback), not glass-to-glass:
  capture, encoding, the receiver's jitter buffer (aiortc holds a frame until
  the next one starts, +67 ms at 15 fps), decoding and display are not in it.
- Simulcast: aiortc cannot send simulcast. The proctor grid's cost on a small
  layer is computed: a second clip (240x320, 150 kbit/s) is encoded and
  packetised the same way; Janus's measured cost per packet is applied to its
  packet rate; its byte rate gives the bandwidth. Stated as computed.
- The 10,000-candidate day: all 20,000 phones publish at once; each exam room
  (--room-size candidates) has --proctors proctors subscribed to all its
  phones and one panel (--panel examiners) on the candidate being
  interviewed; rooms are placed whole on an instance, filled to --util of
  --instance-cores cores (and of 16 cores), at the blended per-leg cost of
  the largest clean step (its mix of phones and subscriptions is close to
  the day's). Janus's CPU per packet is not a constant: under load its
  threads wake once for several packets, so it falls as load rises (the fit
  over the steps shows the marginal cost); and on loopback a sender's
  system time includes the kernel's delivery to the receiving socket.

Output: a table per step, the derivation, and a final block of key=value lines
(janus.publishers_max=.., janus.cpu_ms_per_stream_s=.., delay_p50_ms=..,
instances_for_10000=..). Exit status 0 when the bench ran (whatever it found),
1 when it could not run (Janus did not start, no media flowed), 2 on bad usage.
"""

import argparse
import asyncio
import concurrent.futures
import fractions
import hashlib
import itertools
import json
import logging
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

try:
    import av
    import aioice.ice
    from aiortc import (
        MediaStreamTrack,
        RTCConfiguration,
        RTCPeerConnection,
        RTCRtpSender,
        RTCSessionDescription,
    )
    from aiortc.codecs.vpx import Vp8Encoder
    from aiortc.mediastreams import MediaStreamError
    from aiortc.rtcconfiguration import RTCBundlePolicy
except ImportError as exc:  # pragma: no cover
    sys.exit(f"media-bench: {exc}; run it through scripts/media-bench (it installs aiortc)")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JANUS_RUN = os.path.join(ROOT, "compose", "janus", "janus-run")
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
AUDIO_PTIME = 0.020
# Bytes a packet costs on the wire beyond its payload: IPv4 20 + UDP 8 +
# RTP 12 + SRTP tag 10 + header extensions (abs-send-time, mid) 12.
WIRE_OVERHEAD = 62

log = logging.getLogger("media-bench")

# Where the media flows. Janus 1.1.2 never gathers ICE candidates on a
# loopback interface (src/ice.c skips IFF_LOOPBACK before it looks at
# ice_enforce_list), so with ice_enforce "lo" it has no address of its own
# and libnice falls back to every other one (IPv6 link-local included). The
# bench therefore enforces this host's own IPv4 address (the first
# non-loopback one, or --ice-ip) on both sides: Janus via the mesh file's
# "ice_enforce", aiortc by gathering on that address only (no STUN server).
# Packets to a local address never leave the host: the kernel delivers them
# through the loopback device ("ip route get" says "local ... dev lo"), which
# the bench checks before it starts. Signalling (HTTP) is on 127.0.0.1.
MEDIA_IP = None


def _host_addresses(use_ipv4, use_ipv6):
    return [MEDIA_IP]


aioice.ice.get_host_addresses = _host_addresses


def pick_media_ip(wanted):
    import ifaddr

    local = [ip.ip for a in ifaddr.get_adapters() for ip in a.ips if isinstance(ip.ip, str)]
    candidates = [wanted] if wanted else [ip for ip in local if not ip.startswith("127.")]
    for ip in candidates:
        if ip not in local:
            raise RuntimeError(f"--ice-ip {ip} is not an address of this host")
        if shutil.which("ip"):
            route = subprocess.run(["ip", "route", "get", ip], capture_output=True, text=True, timeout=10).stdout
            if not route.startswith("local ") or " dev lo " not in route:
                continue
        return ip
    raise RuntimeError(
        "no local IPv4 address that the kernel delivers through lo (Janus 1.1.2 gathers no loopback candidate)"
    )


def rtc_config():
    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


# ---------------------------------------------------------------- the clip


class Clip:
    """A pre-encoded clip held in memory: VP8 frames and Opus packets."""

    def __init__(self, path, fps):
        self.fps = fps
        self.video = []  # bytes per frame, in order
        self.audio = []  # bytes per packet, in order
        keyframes = 0
        with av.open(path) as container:
            for packet in container.demux():
                if not packet.size:
                    continue
                if packet.stream.type == "video":
                    self.video.append(bytes(packet))
                    keyframes += bool(packet.is_keyframe)
                elif packet.stream.type == "audio":
                    self.audio.append(bytes(packet))
        if not self.video or not self.audio:
            raise RuntimeError(f"{path}: no video or no audio packets")
        self.keyframes = keyframes
        self.video_len = len(self.video) / fps
        self.audio_len = len(self.audio) * AUDIO_PTIME
        self.index = {}
        self.duplicates = 0
        for i, data in enumerate(self.video):
            h = frame_hash(data)
            if h in self.index:
                self.duplicates += 1
            self.index[h] = i
        pkts = sum(len(Vp8Encoder._packetize(d, 1000)) for d in self.video)
        self.video_pps = pkts / self.video_len
        self.video_kbps = sum(len(d) for d in self.video) * 8 / self.video_len / 1000
        self.audio_pps = len(self.audio) / self.audio_len
        self.audio_kbps = sum(len(d) for d in self.audio) * 8 / self.audio_len / 1000
        vbytes = sum(len(d) for d in self.video) + pkts * (WIRE_OVERHEAD + 4)
        abytes = sum(len(d) for d in self.audio) + len(self.audio) * WIRE_OVERHEAD
        self.leg_wire_kbps = (vbytes / self.video_len + abytes / self.audio_len) * 8 / 1000
        self.leg_pps = self.video_pps + self.audio_pps


def frame_hash(data):
    return hashlib.blake2b(data, digest_size=8).digest()


def encode_clip(path, size, fps, kbps, seconds, gop_s):
    w, h = size.split("x")
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={fps}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libvpx", "-b:v", f"{kbps}k", "-minrate", f"{kbps}k", "-maxrate", f"{kbps}k",
        "-bufsize", f"{kbps}k", "-g", str(int(fps * gop_s)), "-keyint_min", str(int(fps * gop_s)),
        "-deadline", "realtime", "-cpu-used", "8", "-lag-in-frames", "0", "-auto-alt-ref", "0",
        "-c:a", "libopus", "-b:a", "32k", "-ac", "1", "-frame_duration", "20", "-application", "voip",
        path,
    ]
    subprocess.run(cmd, check=True, timeout=120)


# ---------------------------------------------------------------- counters


class Stats:
    """Everything counted, cumulative; windows are differences of snapshots."""

    def __init__(self, clip):
        self.clip = clip
        self.sent_video = {}  # feed -> frames handed to aiortc
        self.sent_audio = {}
        self.sent_at = {}  # feed -> [monotonic time frame i was last sent]
        self.skipped = 0  # frames a late sender skipped
        self.lags = []  # (t, seconds late) of video frames
        self.recv_video = {}  # sub key -> frames reassembled
        self.recv_audio = {}
        self.decoded = {}  # sub key -> frames decoded (decoded subscriptions only)
        self.unmatched = 0  # frames whose bytes are not in the clip
        self.delays = []  # (t, role, seconds)
        self.slowlink = 0
        self.hangups = 0

    def snapshot(self):
        return {
            "sent_video": dict(self.sent_video),
            "recv_video": dict(self.recv_video),
            "recv_audio": dict(self.recv_audio),
            "sent_audio": dict(self.sent_audio),
            "decoded": dict(self.decoded),
            "unmatched": self.unmatched,
            "skipped": self.skipped,
            "slowlink": self.slowlink,
            "hangups": self.hangups,
        }


class ReplayTrack(MediaStreamTrack):
    """Serves the clip's encoded packets (av.Packet) in real time, looping.

    aiortc's sender packs them (no encoder). A sender more than 0.5 s late
    skips ahead, as a phone's camera drops frames, rather than bursting."""

    def __init__(self, kind, clip, stats, feed):
        super().__init__()
        self.kind = kind
        self.clip = clip
        self.stats = stats
        self.feed = feed
        self.k = 0
        self.t0 = None
        if kind == "video":
            self.items, self.step, self.rate = clip.video, 1 / clip.fps, VIDEO_CLOCK
            stats.sent_video[feed] = 0
            stats.sent_at[feed] = [None] * len(clip.video)
        else:
            self.items, self.step, self.rate = clip.audio, AUDIO_PTIME, AUDIO_CLOCK
            stats.sent_audio[feed] = 0
        self.time_base = fractions.Fraction(1, self.rate)

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        due = self.t0 + self.k * self.step
        if due > now:
            await asyncio.sleep(due - now)
            now = time.monotonic()
        elif now - due > 0.5:
            skip = int((now - due) / self.step)
            self.k += skip
            if self.kind == "video":
                self.stats.skipped += skip
            due = self.t0 + self.k * self.step
        n = len(self.items)
        i = self.k % n
        packet = av.Packet(self.items[i])
        packet.pts = round(self.k * self.step * self.rate)
        packet.time_base = self.time_base
        self.k += 1
        if self.kind == "video":
            self.stats.sent_video[self.feed] += 1
            self.stats.sent_at[self.feed][i] = now
            self.stats.lags.append((now, now - due))
        else:
            self.stats.sent_audio[self.feed] += 1
        return packet


class ReceiverTap:
    """Replaces an aiortc RTCRtpReceiver's decoder queue (and wraps its RTP
    handler) to count, identify and time every reassembled frame; forwards
    frames to the real decoder only when this subscription decodes."""

    def __init__(self, receiver, kind, feed, key, role, stats, decode):
        self.receiver = receiver
        self.kind = kind
        self.feed = feed
        self.key = key
        self.role = role
        self.stats = stats
        self.decode = decode
        self.marker_at = {}  # raw RTP timestamp -> arrival of its marker packet
        self.real_queue = receiver._RTCRtpReceiver__decoder_queue
        receiver._RTCRtpReceiver__decoder_queue = self
        if kind == "video":
            stats.recv_video[key] = 0
            original = receiver._handle_rtp_packet

            async def handle(packet, arrival_time_ms):
                if packet.marker:
                    self.marker_at[packet.timestamp] = time.monotonic()
                    if len(self.marker_at) > 256:
                        for old in list(self.marker_at)[:128]:
                            del self.marker_at[old]
                await original(packet, arrival_time_ms)

            receiver._handle_rtp_packet = handle
        else:
            stats.recv_audio[key] = 0

    def get(self, *args, **kwargs):  # the decoder thread reads the real queue
        return self.real_queue.get(*args, **kwargs)

    def put(self, item):
        if item is None:
            self.real_queue.put(None)
            return
        codec, frame = item
        if self.kind == "audio":
            self.stats.recv_audio[self.key] = self.stats.recv_audio.get(self.key, 0) + 1
            return
        now = time.monotonic()
        self.stats.recv_video[self.key] = self.stats.recv_video.get(self.key, 0) + 1
        mapper = self.receiver._RTCRtpReceiver__timestamp_mapper
        raw = (frame.timestamp + (mapper._origin or 0)) & 0xFFFFFFFF
        arrived = self.marker_at.pop(raw, now)
        i = self.stats.clip.index.get(frame_hash(frame.data))
        if i is None:
            self.stats.unmatched += 1
        else:
            sent = self.stats.sent_at[self.feed][i]
            if sent is not None:
                d = arrived - sent
                if 0 <= d < self.stats.clip.video_len / 2:
                    self.stats.delays.append((now, self.role, d))
        if self.decode:
            self.real_queue.put(item)


# ---------------------------------------------------------------- Janus over HTTP


class JanusError(RuntimeError):
    pass


class Janus:
    """Janus's plain HTTP API: one session, a long-poll loop dispatching
    events to the requests (by transaction) that caused them."""

    def __init__(self, api, stats):
        self.api = api.rstrip("/")
        self.stats = stats
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=12, thread_name_prefix="janus-http")
        self.session = None
        self.waiting = {}
        self.up = {}  # handle -> asyncio.Event set by Janus's "webrtcup"
        self.poller = None
        self.closed = False

    def _http(self, url, body, timeout):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    async def _call(self, url, body=None, timeout=20):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._http, url, body, timeout)

    async def post(self, path, body, wait_event=False, timeout=20):
        tx = secrets.token_hex(8)
        body = dict(body, transaction=tx)
        fut = None
        if wait_event:
            fut = asyncio.get_running_loop().create_future()
            self.waiting[tx] = fut
        try:
            reply = await self._call(self.api + path, body, timeout)
            if reply.get("janus") == "error":
                raise JanusError(f"{body.get('janus')}: {reply['error']}")
            if reply.get("janus") == "success" or not wait_event:
                return reply, None
            event = await asyncio.wait_for(fut, timeout)
            return event, event.get("jsep")
        finally:
            self.waiting.pop(tx, None)

    async def start(self):
        reply, _ = await self.post("", {"janus": "create"})
        self.session = reply["data"]["id"]
        self.poller = asyncio.ensure_future(self._poll())

    async def _poll(self):
        url = f"{self.api}/{self.session}?maxev=20"
        failures = 0
        while not self.closed and failures < 5:
            try:
                events = await self._call(url, None, 45)
                failures = 0
            except Exception as exc:  # the session went away, or Janus did
                if self.closed:
                    return
                failures += 1
                log.warning("janus long-poll: %s", exc)
                await asyncio.sleep(0.2)
                continue
            if isinstance(events, dict):
                events = [events]
            for ev in events:
                kind = ev.get("janus")
                if kind == "slowlink":
                    self.stats.slowlink += 1
                elif kind == "hangup":
                    self.stats.hangups += 1
                elif kind == "webrtcup":
                    self.up_event(ev.get("sender")).set()
                fut = self.waiting.get(ev.get("transaction"))
                if fut is not None and not fut.done() and kind in ("event", "success", "error"):
                    fut.set_result(ev)

    def up_event(self, handle):
        if handle not in self.up:
            self.up[handle] = asyncio.Event()
        return self.up[handle]

    async def attach(self):
        reply, _ = await self.post(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        return reply["data"]["id"]

    async def message(self, handle, body, jsep=None, timeout=20):
        msg = {"janus": "message", "body": body}
        if jsep is not None:
            msg["jsep"] = jsep
        reply, rjsep = await self.post(f"/{self.session}/{handle}", msg, wait_event=True, timeout=timeout)
        data = (reply.get("plugindata") or {}).get("data") or {}
        if "error_code" in data or data.get("videoroom") == "event" and "error" in data:
            raise JanusError(f"{body.get('request')}: {data.get('error')} ({data.get('error_code')})")
        if reply.get("janus") == "error":
            raise JanusError(f"{body.get('request')}: {reply.get('error')}")
        return data, rjsep

    async def close(self):
        self.closed = True
        if self.session is not None:
            try:
                await asyncio.wait_for(self.post(f"/{self.session}", {"janus": "destroy"}), 5)
            except Exception:
                pass
        if self.poller is not None:
            self.poller.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- participants


class Bench:
    def __init__(self, args, janus, clip, stats, secret):
        self.args = args
        self.janus = janus
        self.clip = clip
        self.stats = stats
        self.secret = secret
        self.control = None
        self.pcs = []  # (role, pc)
        self.sub_pcs = []
        self.sub_handles = []  # Janus handles of the subscriptions (listener and subscriber)
        self.candidates = 0
        self.publishers = 0
        self.sub_legs = {"proctor": 0, "examiner": 0}
        self.decoders = []
        self.sem = asyncio.Semaphore(args.setup_concurrency)
        self.ids = itertools.count(1)

    async def open(self):
        self.control = await self.janus.attach()

    def room_of(self, cand, phone):
        return 1000 + cand * 2 + (0 if phone == "main" else 1)

    def feed_of(self, cand, phone):
        return 5000 + cand * 2 + (0 if phone == "main" else 1)

    async def create_room(self, room, tokens):
        body = {
            "request": "create", "room": room, "admin_key": self.secret,
            "secret": secrets.token_hex(8), "is_private": True, "allowed": tokens,
            "require_pvtid": True, "publishers": 6, "videocodec": "vp8", "audiocodec": "opus",
            "bitrate": 1000000, "description": f"bench {room}",
        }
        reply, _ = await self.janus.post(
            f"/{self.janus.session}/{self.control}", {"janus": "message", "body": body}
        )
        data = (reply.get("plugindata") or {}).get("data") or {}
        if data.get("videoroom") != "created":
            raise JanusError(f"create room {room}: {data}")

    async def publish(self, cand, phone):
        room, feed = self.room_of(cand, phone), self.feed_of(cand, phone)
        await self.create_room(room, [f"phone-{room}", f"staff-{room}"])
        async with self.sem:
            handle = await self.janus.attach()
            await self.janus.message(handle, {
                "request": "join", "ptype": "publisher", "room": room, "id": feed,
                "display": f"phone:{phone}", "token": f"phone-{room}",
            })
            pc = RTCPeerConnection(rtc_config())
            self.pcs.append(("publisher", pc))
            pc.addTrack(ReplayTrack("audio", self.clip, self.stats, feed))
            pc.addTrack(ReplayTrack("video", self.clip, self.stats, feed))
            for t in pc.getTransceivers():
                if t.kind == "video":
                    caps = RTCRtpSender.getCapabilities("video").codecs
                    t.setCodecPreferences([c for c in caps if c.mimeType == "video/VP8"])
            await pc.setLocalDescription(await pc.createOffer())
            _, jsep = await self.janus.message(
                handle, {"request": "publish", "audio": True, "video": True},
                jsep={"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False},
            )
            if not jsep:
                raise JanusError(f"publish {feed}: no answer")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
            # Janus lists a feed for subscribers once its PeerConnection is up.
            await asyncio.wait_for(self.janus.up_event(handle).wait(), 20)
        self.publishers += 1

    async def subscribe(self, cand, phone, role, who):
        room, feed = self.room_of(cand, phone), self.feed_of(cand, phone)
        key = (role, who, room)
        decode = (self.args.decode == "all"
                  or (self.args.decode == "examiners" and role == "examiner")
                  or (self.args.decode == "one-examiner" and role == "examiner" and who.endswith(".0")))
        async with self.sem:
            listener = await self.janus.attach()
            joined, _ = await self.janus.message(listener, {
                "request": "join", "ptype": "publisher", "room": room, "id": next(self.ids) + 900000,
                "display": f"{role}:{who}", "token": f"staff-{room}",
            })
            handle = await self.janus.attach()
            attached, jsep = await self.janus.message(handle, {
                "request": "join", "ptype": "subscriber", "room": room,
                "private_id": joined["private_id"], "streams": [{"feed": feed}],
            })
            if not jsep:
                raise JanusError(f"subscribe {feed}: no offer")
            self.sub_handles += [listener, handle]
            pc = RTCPeerConnection(rtc_config())
            self.pcs.append((role, pc))
            self.sub_pcs.append(pc)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
            mids = {str(s.get("mid")): s for s in attached.get("streams", [])}
            for t in pc.getTransceivers():
                s = mids.get(str(t.mid))
                if s is None or s.get("feed_id") != feed:
                    continue
                ReceiverTap(t.receiver, t.kind, feed, key, role, self.stats, decode and t.kind == "video")
                if decode and t.kind == "video":
                    self.stats.decoded[key] = 0
                    self.decoders.append(asyncio.ensure_future(self._consume(t.receiver.track, key)))
            await pc.setLocalDescription(await pc.createAnswer())
            await self.janus.message(
                handle, {"request": "start"},
                jsep={"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False},
            )
        self.sub_legs[role] += 1

    async def _consume(self, track, key):
        try:
            while True:
                await track.recv()
                self.stats.decoded[key] = self.stats.decoded.get(key, 0) + 1
        except Exception:
            return

    async def grow(self, target):
        """Adds candidates up to target: their phones publish, their exam
        room's proctors subscribe, and a new exam room gets its panel."""
        new = list(range(self.candidates, target))
        await asyncio.gather(*(self.publish(c, p) for c in new for p in ("main", "secondary")))
        jobs = []
        for c in new:
            exam_room = c // self.args.room_size
            for p in ("main", "secondary"):
                for k in range(self.args.proctors):
                    jobs.append(self.subscribe(c, p, "proctor", f"{exam_room}.{k}"))
            if c % self.args.room_size == 0:
                for e in range(self.args.examiners):
                    for p in ("main", "secondary"):
                        jobs.append(self.subscribe(c, p, "examiner", f"{exam_room}.{e}"))
        await asyncio.gather(*jobs)
        self.candidates = target

    async def drop_subscribers(self):
        for d in self.decoders:
            d.cancel()
        await asyncio.gather(*(asyncio.wait_for(pc.close(), 10) for pc in self.sub_pcs), return_exceptions=True)
        # Leave as a client does: detach the handles (Janus frees them at once).
        session = self.janus.session

        async def detach(h):
            async with self.sem:
                await self.janus.post(f"/{session}/{h}", {"janus": "detach"})

        await asyncio.gather(*(asyncio.wait_for(detach(h), 10) for h in self.sub_handles), return_exceptions=True)
        self.sub_handles = []
        self.pcs = [(r, pc) for r, pc in self.pcs if pc not in self.sub_pcs]
        self.sub_pcs = []
        self.sub_legs = {"proctor": 0, "examiner": 0}
        for d in (self.stats.recv_video, self.stats.recv_audio, self.stats.decoded):
            d.clear()

    async def close(self):
        for d in self.decoders:
            d.cancel()
        await asyncio.gather(*(asyncio.wait_for(pc.close(), 10) for _, pc in self.pcs), return_exceptions=True)


# ---------------------------------------------------------------- CPU


def proc_cpu_ms(pid, tid=None, split=False):
    """utime+stime in ms (or (utime, stime) with split)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    user, system = int(fields[11]) * 1000 / CLK_TCK, int(fields[12]) * 1000 / CLK_TCK
    return (user, system) if split else user + system


def machine_cpu():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]), idle


class Window:
    def __init__(self, janus_pid, stats):
        self.janus_pid = janus_pid
        self.stats = stats

    def __enter__(self):
        self.t = time.monotonic()
        self.j = proc_cpu_ms(self.janus_pid)
        self.j_sys = proc_cpu_ms(self.janus_pid, split=True)[1]
        self.g = proc_cpu_ms(os.getpid())
        self.gm = proc_cpu_ms(os.getpid(), threading.get_native_id())
        self.m = machine_cpu()
        self.snap = self.stats.snapshot()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t
        self.janus = (proc_cpu_ms(self.janus_pid) - self.j) / self.wall
        self.janus_sys = (proc_cpu_ms(self.janus_pid, split=True)[1] - self.j_sys) / self.wall
        self.gen = (proc_cpu_ms(os.getpid()) - self.g) / self.wall
        self.gen_main = (proc_cpu_ms(os.getpid(), threading.get_native_id()) - self.gm) / self.wall
        total, idle = machine_cpu()
        dt = total - self.m[0]
        self.machine_busy = NCPU * 1000 * (1 - (idle - self.m[1]) / dt) if dt else 0.0
        self.end = self.stats.snapshot()
        self.t_end = time.monotonic()
        return False

    def delta(self, name):
        a, b = self.snap[name], self.end[name]
        if isinstance(b, dict):
            return {k: b[k] - a.get(k, 0) for k in b}
        return b - a


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


# ---------------------------------------------------------------- running Janus


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_janus(tmp, media_ip):
    http, admin = free_port(), free_port()
    while admin == http:
        admin = free_port()
    mesh = {
        "mesh": "bench", "services": {}, "curve": {"keys_dir": "keys"},
        "janus": [{
            "name": "janus", "api": f"http://127.0.0.1:{http}/janus",
            "admin": f"http://127.0.0.1:{admin}/admin", "public": f"http://127.0.0.1:{http}/janus",
            "rtp_ports": "30000-30999", "ice_enforce": media_ip,
        }],
    }
    mesh_path = os.path.join(tmp, "mesh.json")
    with open(mesh_path, "w") as f:
        json.dump(mesh, f)
    err = open(os.path.join(tmp, "janus-run.stderr"), "w")
    proc = subprocess.Popen(
        [JANUS_RUN, "--mesh", mesh_path, "--data", os.path.join(tmp, "data"), "--name", "janus"],
        stdout=subprocess.PIPE, stderr=err, text=True,
    )
    line = [None]

    def read():
        line[0] = proc.stdout.readline()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(40)
    text = line[0] or ""
    if not text.startswith("READY"):
        proc.terminate()
        raise RuntimeError(f"janus-run did not say READY within 40 s: {text!r}; see {tmp}/janus-run.stderr")
    pid = int(text.strip().rsplit("pid=", 1)[1])
    secret = open(os.path.join(tmp, "keys", "janus.secret")).read().strip()
    return proc, pid, mesh["janus"][0]["api"], secret


def stop_janus(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------- the run


def default_steps(maximum):
    steps = [2, 3, 4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256]
    out = [s for s in steps if s <= maximum]
    if not out or out[-1] != maximum:
        out.append(maximum)
    return out


async def measure(bench, janus_pid, seconds, label):
    stats = bench.stats
    stats.delays = [d for d in stats.delays if d[0] > time.monotonic() - 1]
    stats.lags = []
    with Window(janus_pid, stats) as w:
        await asyncio.sleep(seconds)
    sent = w.delta("sent_video")
    recv = w.delta("recv_video")
    expected = 0
    received = 0
    for key, n in recv.items():
        role, who, room = key
        feed = 5000 + (room - 1000)
        expected += sent.get(feed, 0)
        received += n
    decoded_d = w.delta("decoded")
    dec_expected = sum(sent.get(5000 + (k[2] - 1000), 0) for k in decoded_d)
    delays = [d for t, r, d in stats.delays if w.t <= t <= w.t_end]
    delays_ex = [d for t, r, d in stats.delays if w.t <= t <= w.t_end and r == "examiner"]
    lags = [l for t, l in stats.lags if w.t <= t <= w.t_end]
    audio_exp = 0
    sent_a = w.delta("sent_audio")
    for key, n in w.delta("recv_audio").items():
        audio_exp += sent_a.get(5000 + (key[2] - 1000), 0)
    pubs = bench.publishers
    legs_out = bench.sub_legs["proctor"] + bench.sub_legs["examiner"]
    row = {
        "label": label, "candidates": bench.candidates, "publishers": pubs,
        "proctor_legs": bench.sub_legs["proctor"], "examiner_legs": bench.sub_legs["examiner"],
        "legs": pubs + legs_out, "wall": w.wall,
        "janus_ms_s": w.janus, "janus_sys_ms_s": w.janus_sys, "gen_ms_s": w.gen, "gen_main_ms_s": w.gen_main,
        "machine_ms_s": w.machine_busy, "other_ms_s": max(0.0, w.machine_busy - w.janus - w.gen),
        "sent_fps": sum(sent.values()) / w.wall / max(1, pubs),
        "expected": expected, "received": received,
        "ratio": received / expected if expected else float("nan"),
        "audio_ratio": sum(w.delta("recv_audio").values()) / audio_exp if audio_exp else float("nan"),
        "decoded": sum(decoded_d.values()), "dec_expected": dec_expected,
        "unmatched": w.delta("unmatched"), "skipped": w.delta("skipped"),
        "slowlink": w.delta("slowlink"), "hangups": w.delta("hangups"),
        "delay_p50": pct(delays, 50) * 1000, "delay_p99": pct(delays, 99) * 1000,
        "delay_ex_p50": pct(delays_ex, 50) * 1000, "delay_n": len(delays),
        "lag_p99": pct(lags, 99) * 1000 if lags else 0.0,
    }
    return row


HEADER = (
    f"{'step':<9}{'cand':>5}{'pubs':>5}{'subs':>5}{'janus%':>8}{'(sys)':>6}{'ms/leg/s':>9}"
    f"{'gen%':>7}{'loop%':>7}{'mach%':>7}{'othr%':>7}{'fps':>6}{'frames recv/exp':>18}"
    f"{'dec/exp':>13}{'dly50':>7}{'dly99':>7}{'lag99':>7}"
)


def fmt_row(r, idle):
    legs = r["legs"]
    per = (r["janus_ms_s"] - idle) / legs if legs else float("nan")
    ratio = f"{r['received']}/{r['expected']}" if r["expected"] else "-"
    dec = f"{r['decoded']}/{r['dec_expected']}" if r["dec_expected"] else "-"
    return (
        f"{r['label']:<9}{r['candidates']:>5}{r['publishers']:>5}{r['proctor_legs'] + r['examiner_legs']:>5}"
        f"{r['janus_ms_s'] / 10:>8.1f}{r['janus_sys_ms_s'] / 10:>6.1f}{per:>9.2f}{r['gen_ms_s'] / 10:>7.1f}{r['gen_main_ms_s'] / 10:>7.1f}"
        f"{r['machine_ms_s'] / 10:>7.1f}{r['other_ms_s'] / 10:>7.1f}{r['sent_fps']:>6.1f}{ratio:>18}"
        f"{dec:>13}{r['delay_p50']:>7.1f}{r['delay_p99']:>7.1f}{r['lag_p99']:>7.1f}"
    )


def verdict(r, args):
    """Why this step is the last one, or None when it passed."""
    if r["expected"] == 0:
        return "no video reached the subscribers"
    if r["ratio"] < 0.98:
        cause = "generator" if (r["gen_main_ms_s"] >= 900 or r["sent_fps"] < 0.95 * args.fps) else "janus-or-machine"
        return f"frames dropped ({r['ratio']:.1%} delivered; likely {cause})"
    if r["delay_p50"] > args.max_delay_ms:
        cause = "generator" if (r["gen_main_ms_s"] >= 800 or r["lag_p99"] > 40) else "janus-or-machine"
        return f"frames queue (delay p50 {r['delay_p50']:.0f} ms > {args.max_delay_ms:.0f}; likely {cause})"
    if r["janus_ms_s"] >= 900:
        return "janus uses 90% of a core"
    if r["gen_main_ms_s"] >= 900 or r["sent_fps"] < 0.95 * args.fps:
        return "generator saturated (its event loop, or senders below 95% of the frame rate)"
    # A machine without idle CPU is not a stop by itself (other work, e.g.
    # parallel builds, may fill it): it stops the bench when it shows as
    # dropped frames or late senders.
    return None


async def run(args):
    tmp = tempfile.mkdtemp(prefix="media-bench-")
    t_start = time.monotonic()
    print(f"media-bench: {NCPU} cores, Janus via {os.path.relpath(JANUS_RUN, ROOT)}, work dir {tmp}", flush=True)
    clip_path = os.path.join(tmp, "phone.webm")
    small_path = os.path.join(tmp, "phone-small.webm")
    encode_clip(clip_path, args.size, args.fps, args.kbps, 10, 2)
    w, h = (int(x) for x in args.size.split("x"))
    encode_clip(small_path, f"{w // 2}x{h // 2}", args.fps, args.small_kbps, 10, 2)
    clip = Clip(clip_path, args.fps)
    small = Clip(small_path, args.fps)
    print(
        f"clip: VP8 {args.size} {args.fps} fps {clip.video_kbps:.0f} kbit/s ({clip.video_pps:.1f} pkt/s), "
        f"{clip.keyframes} keyframes in {clip.video_len:.0f} s, {len(clip.index)} distinct frames; "
        f"Opus {clip.audio_kbps:.0f} kbit/s ({clip.audio_pps:.0f} pkt/s); replayed, not re-encoded",
        flush=True,
    )
    stats = Stats(clip)
    global MEDIA_IP
    MEDIA_IP = pick_media_ip(args.ice_ip)
    print(f"media on {MEDIA_IP} (this host's own address, delivered through lo; Janus 1.1.2 gathers no loopback "
          f"candidate), signalling on 127.0.0.1", flush=True)
    proc, janus_pid, api, secret = start_janus(tmp, MEDIA_IP)
    janus = Janus(api, stats)
    bench = None
    rows = []
    stop_reason = None
    pub_only = None
    idle_ms = 0.0
    try:
        await janus.start()
        # Janus idle: its own housekeeping with nothing connected.
        with Window(janus_pid, stats) as w0:
            await asyncio.sleep(min(5, args.seconds_per_step))
        idle_ms = w0.janus
        print(f"janus pid {janus_pid}: idle {idle_ms:.1f} CPU-ms/s\n", flush=True)
        bench = Bench(args, janus, clip, stats, secret)
        await bench.open()
        steps = args.steps or default_steps(args.max_candidates)
        print(HEADER, flush=True)
        last_setup = 0.0
        for target in steps:
            elapsed = time.monotonic() - t_start
            # This step (its setup grows with the candidates added) and, kept in
            # reserve, the publisher-only phase and the teardown.
            guess = (2 * last_setup if rows else 10) + args.warmup + args.seconds_per_step
            reserve = args.warmup + max(4.0, args.seconds_per_step * 0.6) + 5
            if rows and elapsed + guess + reserve > args.budget:
                stop_reason = f"time budget ({args.budget:.0f} s) reached before {target} candidates"
                break
            t_step = time.monotonic()
            try:
                await asyncio.wait_for(bench.grow(target), max(30, args.budget - elapsed))
            except Exception as exc:
                stop_reason = f"setting up {target} candidates failed: {type(exc).__name__}: {exc}"
                break
            setup_s = time.monotonic() - t_step
            await asyncio.sleep(args.warmup)
            row = await measure(bench, janus_pid, args.seconds_per_step, f"{target}c")
            row["setup_s"] = setup_s
            rows.append(row)
            print(fmt_row(row, idle_ms), flush=True)
            last_setup = setup_s
            why = verdict(row, args)
            if why and row["other_ms_s"] >= 250 and time.monotonic() - t_start + args.seconds_per_step < args.budget:
                # Other work on the machine (a quarter of a core or more) may
                # have starved the bench: measure this step once more.
                row["failed"] = why
                row = await measure(bench, janus_pid, args.seconds_per_step, f"{target}c(2)")
                row["setup_s"] = setup_s
                rows.append(row)
                print(fmt_row(row, idle_ms), flush=True)
                why = verdict(row, args)
                if not why:
                    rows[-2]["failed_then_passed"] = rows[-2].pop("failed")
            if why:
                row["failed"] = why
                stop_reason = f"{target} candidates: {why}"
                break
        else:
            stop_reason = f"every step passed (up to {steps[-1]} candidates; raise --max-candidates)"
        if rows and bench.publishers:
            await bench.drop_subscribers()
            await asyncio.sleep(args.warmup)
            pub_only = await measure(bench, janus_pid, max(4.0, args.seconds_per_step * 0.6), "pubs-only")
            print(fmt_row(pub_only, idle_ms), flush=True)
    finally:
        if bench is not None:
            await bench.close()
        await janus.close()
        stop_janus(proc)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if not rows or rows[0]["expected"] == 0:
        print(f"\nmedia-bench: no usable step ({stop_reason})", file=sys.stderr)
        return 1
    report(args, rows, pub_only, idle_ms, clip, small, stop_reason, time.monotonic() - t_start)
    return 0


def report(args, rows, pub_only, idle, clip, small, stop_reason, total_s):
    good = [r for r in rows if "failed" not in r and "failed_then_passed" not in r]
    best = good[-1] if good else rows[0]
    print(f"\nstop: {stop_reason}; whole run {total_s:.0f} s")
    print(
        "columns: janus% / gen% / loop% = CPU of Janus / this generator process / its event-loop thread, "
        "in % of one core; mach% = whole machine (of one core, 200 = both); othr% = the rest of the machine; "
        "ms/leg/s = Janus CPU-ms per second per leg (idle subtracted; leg = one phone in or one subscription out, "
        "audio+video); fps = video frames sent per publisher per second; frames = video frames reassembled by "
        "subscribers / sent to them; dec = frames decoded by the examiners' VP8 decoders; dly = one-way delay "
        "sender->Janus->subscriber (ms); lag99 = the senders' own lateness p99 (ms)"
    )
    # Janus's cost: per leg (blended, at the largest clean step), and in/out separated.
    per_leg = (best["janus_ms_s"] - idle) / best["legs"]
    # The publisher-only phase gives Janus's cost of a phone with nobody
    # watching; what a subscription adds follows from the largest clean step.
    # Indicative only: Janus's CPU per packet falls as load rises (its threads
    # wake up once for several packets), so the two phases are not at the same
    # point of that curve. The day's figures use the blended per-leg cost,
    # measured at a mix (about as many subscriptions as phones) close to the
    # day's own.
    alone = sub_add = None
    if pub_only and pub_only["publishers"]:
        alone = max(0.0, (pub_only["janus_ms_s"] - idle) / pub_only["publishers"])
        out_legs = best["proctor_legs"] + best["examiner_legs"]
        if out_legs:
            sub_add = (best["janus_ms_s"] - idle - alone * best["publishers"]) / out_legs
    pkt = per_leg / clip.leg_pps
    gen_per_leg = best["gen_ms_s"] / best["legs"]
    # Least squares of Janus's CPU on legs over the clean steps: the marginal cost.
    fit = None
    if len(good) >= 3:
        xs, ys = [r["legs"] for r in good], [r["janus_ms_s"] for r in good]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx:
            fit = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    print(f"\nJanus: idle {idle:.1f} CPU-ms/s; per leg {per_leg:.2f} CPU-ms/s at {best['candidates']} candidates "
          f"({best['legs']} legs), {pkt * 1000:.1f} us per packet (a leg = {clip.leg_pps:.0f} pkt/s, "
          f"{clip.leg_wire_kbps:.0f} kbit/s on the wire); {best['janus_sys_ms_s'] / max(1e-9, best['janus_ms_s']):.0%} "
          f"of it in the kernel (on loopback a send also pays the receiver's delivery)")
    if alone is not None:
        print(f"  indicative split: a phone alone (publisher-only phase, {pub_only['publishers']} phones) "
              f"{alone:.2f} CPU-ms/s; a subscription then adds {sub_add:.2f} (different load points: not used below)")
    if fit is not None:
        print(f"Janus marginal cost (least squares over {len(good)} clean steps): {fit:.2f} CPU-ms/s per leg")
    print(f"generator (aiortc senders + subscribers, one Python process): {gen_per_leg:.2f} CPU-ms/s per leg, "
          f"{best['gen_ms_s'] / max(1, best['janus_ms_s']):.1f}x Janus's")
    fails = [r for r in rows if "failed" in r]
    bound = "janus"
    if fails:
        f = fails[-1]["failed"]
        if "generator" in f:
            bound = "generator"
        elif "janus-or-machine" in f:
            bound = "janus" if fails[-1]["janus_ms_s"] >= 700 else "machine"
    else:
        bound = "max-candidates"
    print(f"publishers carried with every frame delivered, on time: {best['publishers']} ({best['candidates']} candidates); "
          f"limit reached: {bound}")
    if bound != "janus":
        print(f"  (the limit was not Janus's: this {NCPU}-core machine also runs the senders and subscribers; "
              "the instance figures below come from Janus's measured CPU per leg)")

    # The 10,000-candidate day.
    n = args.day_candidates
    R = args.room_size
    rooms = math.ceil(n / R)
    small_leg_pps = small.video_pps + small.audio_pps
    small_ratio = small_leg_pps / clip.leg_pps  # Janus CPU of a small-layer leg vs a full one
    small_in = 1.0 + small.video_pps / clip.leg_pps  # a phone sending full + small layers, inbound
    pubs_room = 2 * R
    proctor_room = 2 * R * args.proctors
    panel_room = 2 * args.panel

    def plan(cores, small_grid):
        budget = cores * 1000 * args.util  # CPU-ms/s usable on one instance
        cpu = per_leg * (pubs_room * (small_in if small_grid else 1.0)
                         + proctor_room * (small_ratio if small_grid else 1.0)
                         + panel_room)
        per_inst = int(budget // cpu)
        out_kbps = small.leg_wire_kbps if small_grid else clip.leg_wire_kbps
        fit = max(1, per_inst)
        return {
            "room_cpu": cpu, "rooms_per_inst": per_inst,
            "instances": math.ceil(rooms / per_inst) if per_inst else None,
            "cores_total": rooms * cpu / 1000 / args.util,
            "egress": (proctor_room * out_kbps + panel_room * clip.leg_wire_kbps) * fit / 1000,
            "pcs": (pubs_room + proctor_room + panel_room) * fit,
        }

    sizes = sorted({args.instance_cores, 16})
    print(f"\n{n} candidates: {2 * n} phones publishing at once, {rooms} exam rooms of {R} candidates "
          f"({args.proctors} proctor(s) each subscribed to all {pubs_room} phones), one candidate per room "
          f"interviewed by a panel of {args.panel} (both phones); rooms placed whole on an instance filled to "
          f"{args.util:.0%} of its cores (Janus runs a thread per handle, so it is assumed to scale across cores); "
          f"{per_leg:.2f} CPU-ms/s per leg")
    print(f"{'proctor grid':<34}{'cores':>6}{'CPU-ms/s per room':>19}{'rooms/inst':>11}{'instances':>10}"
          f"{'cores in all':>13}{'egress Mbit/s/inst':>20}{'PCs/inst':>10}")
    plans = {}
    for small_grid in (False, True):
        for cores in sizes:
            pl = plans[(small_grid, cores)] = plan(cores, small_grid)
            name = "small simulcast layer (computed)" if small_grid else "full layer (measured)"
            inst = pl["instances"] if pl["instances"] is not None else "room too big"
            print(f"{name:<34}{cores:>6}{pl['room_cpu']:>19.0f}{pl['rooms_per_inst']:>11}{inst:>10}"
                  f"{pl['cores_total']:>13.0f}{pl['egress']:>20.0f}{pl['pcs']:>10}")
    print(f"  small layer: VP8 {small_path_desc(args)} {small.video_kbps:.0f} kbit/s = {small_leg_pps:.0f} pkt/s per leg "
          f"with audio vs {clip.leg_pps:.0f}: x{small_ratio:.2f} Janus CPU per proctor leg (Janus's cost taken per packet); "
          f"the phones then send both layers: inbound x{small_in:.2f}. aiortc cannot send simulcast: computed, not measured.")
    print("  an instance's RTP port range must hold one port per PeerConnection (PCs/inst; bundle + rtcp-mux)")
    # Delay over the clean steps.
    d50 = best["delay_p50"]
    d99 = best["delay_p99"]
    print("\ndelay: one-way, sender's RTP stack -> Janus -> subscriber's RTP stack (last packet of each video frame), "
          "one process, one monotonic clock; excludes capture, encoding, jitter buffer, decoding, display")

    print("\n# media-bench results")
    lines = {
        "janus.version": "1.1.2 (Debian)",
        "machine.cores": NCPU,
        "clip": f"vp8 {args.size} {args.fps}fps {clip.video_kbps:.0f}kbps + opus {clip.audio_kbps:.0f}kbps, replayed (no re-encode)",
        "janus.publishers_max": best["publishers"],
        "janus.publishers_max_bound": bound,
        "janus.candidates_max": best["candidates"],
        "janus.subscriptions_at_max": best["proctor_legs"] + best["examiner_legs"],
        "janus.idle_cpu_ms_s": f"{idle:.1f}",
        "janus.cpu_ms_per_stream_s": f"{per_leg:.2f}",
        "janus.cpu_ms_per_stream_s_fit": f"{fit:.2f}" if fit is not None else "n/a (fewer than 3 clean steps)",
        "janus.cpu_ms_per_publisher_alone_s": f"{alone:.2f}" if alone is not None else "n/a",
        "janus.cpu_us_per_packet": f"{pkt * 1000:.1f}",
        "janus.cpu_pct_at_max": f"{best['janus_ms_s'] / 10:.1f}",
        "janus.streams_per_core": int(1000 / per_leg) if per_leg > 0 else "inf",
        "generator.cpu_ms_per_stream_s": f"{gen_per_leg:.2f}",
        "frames_delivered_at_max": f"{best['ratio']:.4f}",
        "frames_decoded_examiners": f"{best['decoded']}/{best['dec_expected']}",
        "frames_unmatched": sum(r["unmatched"] for r in rows),
        "delay_p50_ms": f"{d50:.1f}",
        "delay_p99_ms": f"{d99:.1f}",
        "sender_lag_p99_ms_at_max": f"{best['lag_p99']:.1f}",
        "machine.other_load_pct_at_max": f"{best['other_ms_s'] / 10:.0f}",
        "delay_method": "one-way sender->janus->subscriber, same process clock, frame identified by payload hash",
        "instance_cores": args.instance_cores,
    }
    day_key = f"instances_for_{n}"
    full, simul = plans[(False, args.instance_cores)], plans[(True, args.instance_cores)]
    lines["janus.publishers_per_instance_day_mix"] = full["rooms_per_inst"] * pubs_room
    lines[day_key] = full["instances"]
    lines[day_key + "_proctor_small_layer"] = simul["instances"]
    lines[day_key + "_16core"] = plans[(False, 16)]["instances"]
    lines[day_key + "_16core_proctor_small_layer"] = plans[(True, 16)]["instances"]
    lines["janus_cores_for_" + str(n)] = f"{full['cores_total']:.0f}"
    lines["janus_cores_for_" + str(n) + "_proctor_small_layer"] = f"{simul['cores_total']:.0f}"
    lines["janus.egress_mbps_per_instance"] = f"{full['egress']:.0f}"
    for k, v in lines.items():
        print(f"{k}={'room-exceeds-instance' if v is None else v}")


def small_path_desc(args):
    w, h = (int(x) for x in args.size.split("x"))
    return f"{w // 2}x{h // 2}"


def main():
    p = argparse.ArgumentParser(description="Janus VideoRoom capacity bench (R64-R67): replayed VP8/Opus phones, proctor and examiners.")
    p.add_argument("--max-candidates", type=int, default=64, help="the largest step (default 64)")
    p.add_argument("--seconds-per-step", type=float, default=20.0, help="measuring window per step (default 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds between a step's setup and its window (default 3)")
    p.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")], help="explicit candidate counts, e.g. 2,4,8")
    p.add_argument("--budget", type=float, default=320.0, help="time budget in seconds, from the start, after which no new step begins (default 320)")
    p.add_argument("--max-delay-ms", type=float, default=100.0, help="a step whose median delay exceeds this fails (default 100)")
    p.add_argument("--quick", action="store_true", help="2 and 4 candidates, 8 s each (under 90 s)")
    p.add_argument("--examiners", type=int, default=3, help="examiners per panel in the bench (default 3)")
    p.add_argument("--proctors", type=int, default=1, help="proctors per exam room (default 1)")
    p.add_argument("--room-size", type=int, default=30, help="candidates per exam room (default 30)")
    p.add_argument("--panel", type=int, default=5, help="examiners per panel for the day's computation (default 5)")
    p.add_argument("--day-candidates", type=int, default=10000)
    p.add_argument("--instance-cores", type=int, default=NCPU, help=f"cores of one Janus instance (default {NCPU}, this machine)")
    p.add_argument("--util", type=float, default=0.7, help="share of an instance's CPU to fill (default 0.7)")
    p.add_argument("--decode", choices=["one-examiner", "examiners", "all", "none"], default="one-examiner",
                   help="whose video aiortc decodes (default: one examiner's two feeds; the others are reassembled and identified)")
    p.add_argument("--size", default="480x640", help="phone clip size (default 480x640, portrait)")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--kbps", type=int, default=600, help="phone clip VP8 bitrate (default 600)")
    p.add_argument("--small-kbps", type=int, default=150, help="small simulcast layer bitrate for the computation (default 150)")
    p.add_argument("--ice-ip", help="the local IPv4 address for media (default: this host's first non-loopback one)")
    p.add_argument("--setup-concurrency", type=int, default=8)
    p.add_argument("--keep", action="store_true", help="keep the work directory (Janus's log, the clips)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.steps = args.steps or [2, 4]
        args.seconds_per_step = 8.0
        args.warmup = 2.0
        args.budget = min(args.budget, 80.0)
    if args.max_candidates < 1 or args.seconds_per_step <= 0 or args.room_size < 1:
        p.error("--max-candidates, --seconds-per-step and --room-size must be positive")
    if args.steps:
        args.steps = sorted(s for s in set(args.steps) if 0 < s <= max(args.max_candidates, max(args.steps)))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(name)s: %(message)s")
    try:
        return asyncio.run(run(args))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"media-bench: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
