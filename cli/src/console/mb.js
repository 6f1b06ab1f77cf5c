// mb.js: the JavaScript client of mb's WebSocket broadcast (docs/protocol.md). No
// dependencies; an ES module (`/mb.js`, `/mb.mjs`) and, derived from it, a classic
// script that sets `globalThis.mb` (`/mb.global.js`).
//
//   const client = connect("wss://...", { channels: ["lobby"], token: () => fetchToken() });
//   client.on("message", (msg, meta) => show(msg, meta.channel, meta.seq));
//   client.on("gap", (gap) => reloadFromBackend(gap.channel, gap.reason));
//   client.publish("lobby", { text: "hi" });
//
// It reconnects with jittered exponential backoff until close(); after every (re)connect
// it resumes each channel from the last position it delivered (`resume`), and delivers
// each channel's copies in `_seq` order, each once. A jump in `_seq` is waited for a
// moment (`gapWait`), then asked for on the same connection. A history that cannot fill
// the hole (`recovered:false`) is said with a `gap` event, never silently. It never logs.

const version = "1";

const DEFAULTS = {
  channels: [],
  token: undefined,
  WebSocket: undefined,
  backoffBase: 500, // ms: the first retry waits up to this long
  backoffCap: 15000, // ms: no retry waits longer
  stableAfter: 2000, // ms: a connection open this long resets the backoff
  gapWait: 500, // ms: how long a jump in _seq waits for the late copy
  pingInterval: 300000, // ms: a keepalive under API Gateway's 10-minute idle timeout (0: none)
  resumeTimeout: 10000, // ms: a resume with no reply by then is sent again (3 tries)
  random: Math.random,
};

// The data of the keepalive ping, so its pong is not shown to the app.
const KEEPALIVE = "mb.js keepalive";

// Full jitter: a delay drawn uniformly from [0, min(cap, base * 2^attempt)).
function backoffDelay(attempt, options) {
  const o = Object.assign({}, DEFAULTS, options || {});
  const ceiling = Math.min(o.backoffCap, o.backoffBase * Math.pow(2, Math.max(0, attempt)));
  return Math.floor(o.random() * ceiling);
}

// The key of a room in the client's maps: a channel's name, or "" for the default room.
const DEFAULT_ROOM = "";

function roomOf(name) {
  return name === undefined || name === null ? DEFAULT_ROOM : String(name);
}

// One room's stream as the client sees it: the last position delivered in order, the
// copies waiting for an earlier one, and whether a resume is outstanding.
function newStream() {
  return {
    epoch: undefined, // the stream's epoch, once known
    seq: 0, // the last _seq delivered (or given up) in that epoch
    known: false, // whether (epoch, seq) is a position yet
    buffer: new Map(), // seq -> { epoch, msg, meta }: waiting for an earlier copy
    resuming: false,
    resumeTries: 0,
    resumeTimer: undefined,
    gapTimer: undefined,
  };
}

class Client {
  constructor(url, options) {
    this.options = Object.assign({}, DEFAULTS, options || {});
    this.url = String(url);
    this.Socket = this.options.WebSocket || globalThis.WebSocket;
    if (typeof this.Socket !== "function") {
      throw new TypeError(
        "mb.js: no WebSocket class: pass options.WebSocket, or run Node 20 with --experimental-websocket"
      );
    }
    // The channels named on the connect URL (fixed), and the channels wanted now.
    this.urlChannels = (this.options.channels || []).map(String);
    this.wanted = new Set(this.urlChannels);
    this.streams = new Map(); // room -> stream
    for (const c of this.wanted) this.streams.set(c, newStream());
    this.listeners = new Map();
    this.socket = null;
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = undefined;
    this.pingTimer = undefined;
    this.openedAt = 0;
    this.connects = 0; // connections opened so far
    this.awaitingSubscribe = new Set(); // channels subscribed on this connection, not yet answered
    this._connect();
  }

  // Adds a listener; returns a function that removes it. Events: "message" (msg, meta),
  // "reply" (obj, raw), "error" (obj, raw), "gap" (gap), "status" (status).
  on(event, listener) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(listener);
    return () => this.listeners.get(event).delete(listener);
  }

  _emit(event, ...args) {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of Array.from(set)) {
      try {
        listener(...args);
      } catch (e) {
        // A listener's failure must not stop delivery: report it without blocking.
        setTimeout(() => {
          throw e;
        }, 0);
      }
    }
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === 1;
  }

  // The position (epoch, seq) the client has delivered up to in a room, or undefined.
  position(channel) {
    const s = this.streams.get(roomOf(channel));
    return s && s.known ? { epoch: s.epoch, seq: s.seq } : undefined;
  }

  // Sends a text frame (an object is sent as its JSON). False when not connected.
  send(message) {
    if (!this.connected) return false;
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
    return true;
  }

  publish(channel, data) {
    return this.send({ action: "publish", channel: String(channel), data: data });
  }

  // Joins a channel now (when connected) and after every reconnect; its stream is resumed.
  subscribe(channel) {
    channel = String(channel);
    this.wanted.add(channel);
    if (!this.streams.has(channel)) this.streams.set(channel, newStream());
    if (this.connected) {
      this.awaitingSubscribe.add(channel);
      this.send({ action: "subscribe", channel: channel });
    }
  }

  unsubscribe(channel) {
    channel = String(channel);
    this.wanted.delete(channel);
    this.awaitingSubscribe.delete(channel);
    this._forget(channel);
    this.send({ action: "unsubscribe", channel: channel });
  }

  // Stops for good: no more reconnects, timers or events but the last status.
  close() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this._stopTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      try {
        socket.close(1000);
      } catch (e) {
        // Already closing.
      }
    }
    this._emit("status", { state: "stopped" });
  }

  _forget(room) {
    const s = this.streams.get(room);
    if (!s) return;
    clearTimeout(s.gapTimer);
    clearTimeout(s.resumeTimer);
    this.streams.delete(room);
  }

  _stopTimers() {
    clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    for (const s of this.streams.values()) {
      clearTimeout(s.gapTimer);
      clearTimeout(s.resumeTimer);
      s.gapTimer = s.resumeTimer = undefined;
      s.resuming = false;
      s.resumeTries = 0;
    }
  }

  async _connect() {
    if (this.stopped) return;
    this._emit("status", { state: "connecting", attempt: this.attempt });
    let url;
    try {
      url = new URL(this.url);
      for (const c of this.urlChannels) url.searchParams.append("channel", c);
      let token = this.options.token;
      if (typeof token === "function") token = await token();
      if (token !== undefined && token !== null && token !== "") {
        url.searchParams.set("token", String(token));
      }
    } catch (e) {
      // A bad URL or a token callback that failed: try again later, saying why (the
      // message only, which never holds the token).
      this._retry({ error: "mb.js: cannot connect: " + (e && e.message ? e.message : e) });
      return;
    }
    if (this.stopped) return;
    let socket;
    try {
      socket = new this.Socket(url.href);
    } catch (e) {
      this._retry({ error: "mb.js: cannot open a WebSocket: " + (e && e.message ? e.message : e) });
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      this.openedAt = Date.now();
      this.connects += 1;
      this._emit("status", { state: "open", connects: this.connects });
      this._opened();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      this._frame(event.data);
    };
    socket.onerror = () => {
      // The close event follows with what there is to say.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this._stopTimers();
      if (opened && Date.now() - this.openedAt >= this.options.stableAfter) this.attempt = 0;
      this._retry({
        opened: opened,
        code: event && event.code,
        reason: event && event.reason,
      });
    };
  }

  _retry(why) {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.options);
    this.attempt += 1;
    this._emit("status", Object.assign({ state: "closed", retryIn: delay }, why));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connect(), delay);
  }

  // A new connection: join what was subscribed since, leave what was left, resume the rest.
  _opened() {
    for (const c of this.urlChannels) {
      if (!this.wanted.has(c)) this.send({ action: "unsubscribe", channel: c });
    }
    this.awaitingSubscribe.clear();
    for (const c of this.wanted) {
      if (this.urlChannels.includes(c)) {
        this._resume(c);
      } else {
        this.awaitingSubscribe.add(c);
        this.send({ action: "subscribe", channel: c });
      }
    }
    // Rooms joined otherwise (a token's channels, the default room's history).
    for (const [room, s] of this.streams) {
      if (!this.wanted.has(room) && s.known) this._resume(room);
    }
    if (this.options.pingInterval > 0) {
      this.pingTimer = setInterval(
        () => this.send({ action: "ping", data: KEEPALIVE }),
        this.options.pingInterval
      );
    }
  }

  // Asks for a room's messages after its position (none yet: the reply gives one).
  _resume(room) {
    const s = this.streams.get(room) || newStream();
    this.streams.set(room, s);
    clearTimeout(s.gapTimer);
    s.gapTimer = undefined;
    s.resuming = true;
    const ask = { action: "resume" };
    if (room !== DEFAULT_ROOM) ask.channel = room;
    if (s.known) {
      ask.seq = s.seq;
      if (s.epoch !== undefined) ask.epoch = s.epoch;
    }
    this.send(ask);
    clearTimeout(s.resumeTimer);
    s.resumeTimer = setTimeout(() => this._resumeTimedOut(room), this.options.resumeTimeout);
  }

  _resumeTimedOut(room) {
    const s = this.streams.get(room);
    if (!s || !s.resuming || !this.connected) return;
    s.resumeTries += 1;
    if (s.resumeTries < 3) {
      this._resume(room);
      return;
    }
    // No answer: deliver what is held, in order, and say that something may be missing.
    s.resuming = false;
    s.resumeTries = 0;
    const last = Math.max(s.seq, ...Array.from(s.buffer.keys()));
    this._emit("gap", { channel: room || null, reason: "no_reply", epoch: s.epoch, seq: s.seq });
    this._drain(s, room, true);
    s.seq = Math.max(s.seq, last);
  }

  _frame(data) {
    if (typeof data !== "string") {
      // mb sends only text; pass anything else on as it came.
      this._emit("message", data, { binary: true });
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      this._emit("message", data, { raw: data });
      return;
    }
    if (!msg || typeof msg !== "object" || Array.isArray(msg)) {
      this._emit("message", msg, { raw: data });
      return;
    }
    const copy = "_me" in msg;
    if (!copy && typeof msg.error === "string") {
      this._emit("error", msg, data);
      return;
    }
    if (!copy && typeof msg.action === "string") {
      this._reply(msg, data);
      return;
    }
    const meta = {
      channel: typeof msg._channel === "string" ? msg._channel : null,
      seq: typeof msg._seq === "number" ? msg._seq : undefined,
      epoch: typeof msg._epoch === "string" ? msg._epoch : undefined,
      me: msg._me === true,
      now: msg._now,
      raw: data,
    };
    if (meta.seq === undefined) {
      // No history in this room: the copy as it came.
      this._emit("message", msg, meta);
      return;
    }
    this._numbered(roomOf(meta.channel), msg, meta);
  }

  _reply(msg, raw) {
    if (msg.action === "pong" && msg.data === KEEPALIVE) return;
    if (msg.action === "subscribed" && this.awaitingSubscribe.delete(msg.channel)) {
      this._emit("reply", msg, raw);
      this._resume(String(msg.channel));
      return;
    }
    if (msg.action === "resumed") {
      this._resumed(roomOf(msg.channel), msg);
    }
    this._emit("reply", msg, raw);
  }

  // A copy that carries its room's position.
  _numbered(room, msg, meta) {
    let s = this.streams.get(room);
    if (!s) {
      // A room the client did not ask for (a token's channels, the default room with
      // history): its first copy is where it starts.
      s = newStream();
      s.epoch = meta.epoch;
      s.seq = meta.seq - 1;
      s.known = true;
      this.streams.set(room, s);
    }
    if (s.known && s.epoch === undefined && s.seq === 0) {
      // The stream had no message yet: its first epoch counts from there.
      s.epoch = meta.epoch;
    }
    if (s.known && !s.resuming && meta.epoch !== s.epoch) {
      // The stream started again: ask where it is (the reply says what was lost).
      s.buffer.set(meta.seq, { epoch: meta.epoch, msg: msg, meta: meta });
      this._resume(room);
      return;
    }
    if (s.known && meta.epoch === s.epoch && meta.seq <= s.seq) return; // delivered already
    if (!s.buffer.has(meta.seq) || s.buffer.get(meta.seq).epoch !== meta.epoch) {
      s.buffer.set(meta.seq, { epoch: meta.epoch, msg: msg, meta: meta });
    }
    if (s.resuming || !s.known) return; // held until the reply
    this._drain(s, room, false);
  }

  // Delivers the buffered copies that follow the position, in order; a hole left is
  // waited for (gapWait), then resumed. With `all`, holes are skipped.
  _drain(s, room, all) {
    const keys = Array.from(s.buffer.keys()).sort((a, b) => a - b);
    for (const seq of keys) {
      const held = s.buffer.get(seq);
      if (held.epoch !== s.epoch || seq <= s.seq) {
        s.buffer.delete(seq);
        continue;
      }
      if (seq !== s.seq + 1 && !all) break;
      s.buffer.delete(seq);
      s.seq = seq;
      this._emit("message", held.msg, held.meta);
    }
    if (s.buffer.size === 0) {
      clearTimeout(s.gapTimer);
      s.gapTimer = undefined;
    } else if (s.gapTimer === undefined) {
      s.gapTimer = setTimeout(() => {
        s.gapTimer = undefined;
        if (this.streams.get(room) !== s || s.resuming || !this.connected) return;
        if (s.buffer.size > 0) this._resume(room);
      }, this.options.gapWait);
    }
  }

  // The answer to a resume: the position after the replayed copies (held meanwhile).
  _resumed(room, reply) {
    const s = this.streams.get(room);
    if (!s) return;
    clearTimeout(s.resumeTimer);
    s.resumeTimer = undefined;
    s.resuming = false;
    s.resumeTries = 0;
    const epoch = typeof reply.epoch === "string" ? reply.epoch : undefined;
    const seq = typeof reply.seq === "number" ? reply.seq : 0;
    let from;
    if (reply.recovered === false) {
      this._emit("gap", {
        channel: room || null,
        reason: reply.reason,
        from: s.known ? { epoch: s.epoch, seq: s.seq } : undefined,
        epoch: epoch,
        seq: seq,
      });
      from = seq; // what lay between is lost; the app was told
    } else if (s.known && (s.epoch === epoch || (s.epoch === undefined && s.seq === 0))) {
      from = s.seq; // the replay, held, fills from here
    } else {
      // No position before (or an empty stream that now has an epoch): start at the
      // reply's, with any copies of this stream that came meanwhile.
      from = seq;
      for (const [k, held] of s.buffer) {
        if (held.epoch === epoch && k - 1 < from) from = k - 1;
      }
    }
    s.epoch = epoch;
    s.seq = Math.max(0, from);
    s.known = true;
    this._drain(s, room, false);
  }
}

// Connects to `url` (ws:// or wss://) and keeps connected until close().
function connect(url, options) {
  return new Client(url, options);
}

export { connect, backoffDelay, version };
