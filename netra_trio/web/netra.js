// netra.js: the browser client of the netra-trio wire protocol, version 1.
// A dependency-free ES module, served by the server at /static/netra.js.
//
//   import { NetraClient } from "/static/netra.js";
//   const client = new NetraClient("ws://127.0.0.1:8765/ws", { token });
//   client.addEventListener("agent_thinking", (e) => console.log(e.detail.payload.thought));
//   client.addEventListener("statechange", (e) => console.log(e.detail.state));
//   client.connect();
//   const ack = await client.request("user_message", { content: "hello" });
//
// What it does:
// - Authenticates in the handshake with the subprotocols "netra.v1" and
//   "bearer.TOKEN" (a browser cannot set an Authorization header).
// - Resumes: it keeps the session id of connection_established and the
//   highest seq it has delivered; every connection asks for ?session_id=
//   and sends `resume {last_seq}` as its first frame, and a frame whose seq is
//   not above the last one delivered is dropped. Each stored event (agent
//   events) is delivered once, in seq order, across reconnects and server
//   restarts. `lastSeq: 0` (the default) starts with every event the server
//   still retains; `lastSeq: null` starts with live events only.
// - Reconnects with exponential backoff and jitter ("equal jitter": a delay
//   drawn between half of and the whole of min(maxDelayMs, initialDelayMs *
//   factor ** attempt)). The attempt count goes back to 0 once a connection
//   has stayed up for stableMs.
// - Correlates requests: request() sends a frame with a fresh message_id and
//   resolves with the reply whose correlation_id is that id (rejects with a
//   NetraError on an `error` reply, a timeout or a lost connection).
// - Queues what is sent while not connected, and sends it after the resume.
//
// When it does not reconnect. A browser hides the HTTP status of a refused
// handshake (401, 403, 429 and 503 all look like close code 1006 before
// `open`), so the client decides from what it can see:
// - a token whose `exp` (read from the JWT, not verified) has passed is not
//   sent at all: state "refused", reason "expired"; the same after a close
//   with 1008 once the token has expired (the server ends a connection whose
//   token expires with 1008). Give `getToken` to be asked for a new token
//   instead.
// - a handshake refused before this token ever got a connection, while the
//   server answers plain HTTP on the same address (GET /healthz): state
//   "refused", reason "handshake". That is almost always the token (bad
//   signature, wrong secret, malformed), and retrying cannot fix it. (With a
//   server that cannot be reached it keeps retrying: the server may be
//   starting.) Once a token has been accepted, a refused handshake is taken as
//   transient (a restart in progress: 503; the connection limit: 429) and
//   retried with backoff.
// - a close with 4001 (the session idled past the server's idle timeout):
//   state "closed", reason "idle"; connect() (or anything sent) opens it again.
// Every other close (1001 shutdown, 1006 lost, 1011, 4002 heartbeat, 4008
// slow consumer, 4009 evicted, ...) reconnects and resumes.
//
// Events (an EventTarget; `event.detail` holds the data):
// - "statechange" {state, previous, reason, code, attempt, delayMs}: state is
//   one of "idle", "connecting", "open", "reconnecting", "refused", "closed".
// - "established" {payload of connection_established}
// - "frame" {the frame}: every frame delivered, after batches are unpacked
//   and duplicates dropped; and the same frame as an event named by its type
//   ("agent_thinking", "message_ack", "error", ...).
// - "resumed" {replayed, gap}: a replay ended (gap: events past last_seq had
//   left the server's retention).
// - "duplicate" {the frame}: a frame dropped because its seq was delivered before.

export const SUBPROTOCOL = "netra.v1";

export const State = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  OPEN: "open",
  RECONNECTING: "reconnecting",
  REFUSED: "refused",
  CLOSED: "closed",
});

const DEFAULTS = Object.freeze({
  token: null,
  getToken: null, // async () => token, asked before each connection when given
  lastSeq: 0,
  sessionId: null,
  initialDelayMs: 250,
  maxDelayMs: 15000,
  factor: 2,
  stableMs: 10000,
  requestTimeoutMs: 15000,
  maxQueued: 100,
  probeTimeoutMs: 3000,
});

const IDLE_EXPIRED = 4001;
const POLICY_VIOLATION = 1008;
const NORMAL_CLOSURE = 1000;

export class NetraError extends Error {
  constructor(code, message, details = null, frame = null) {
    super(message);
    this.name = "NetraError";
    this.code = code;
    this.details = details;
    this.frame = frame;
  }
}

/** The delay before reconnection attempt `attempt` (0 for the first). */
export function backoffDelay(attempt, options = DEFAULTS, random = Math.random) {
  const { initialDelayMs, maxDelayMs, factor } = { ...DEFAULTS, ...options };
  const ceiling = Math.min(maxDelayMs, initialDelayMs * factor ** Math.min(attempt, 64));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The `exp` claim of a JWT in seconds, read without verifying it; null when unreadable. */
export function tokenExpiry(token) {
  try {
    const part = String(token).split(".")[1];
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)));
    return typeof claims.exp === "number" ? claims.exp : null;
  } catch {
    return null;
  }
}

function expired(token) {
  const exp = tokenExpiry(token);
  return exp !== null && exp * 1000 <= Date.now();
}

let clientCount = 0;

export class NetraClient extends EventTarget {
  #url;
  #options;
  #token;
  #socket = null;
  #state = State.IDLE;
  #sessionId;
  #lastSeq;
  #established = null;
  #attempt = 0;
  #timer = null;
  #stableTimer = null;
  #accepted = false; // a connection was established with the current token
  #pending = new Map(); // message_id -> {resolve, reject, timer, sent}
  #queue = []; // [message_id, text] of frames sent while not connected
  #closedByUser = false;
  #ids = 0;
  #prefix;
  #duplicates = 0;
  #reconnects = 0;

  constructor(url, options = {}) {
    super();
    this.#url = String(url);
    this.#options = { ...DEFAULTS, ...options };
    this.#token = this.#options.token;
    this.#lastSeq = this.#options.lastSeq;
    this.#sessionId = this.#options.sessionId;
    clientCount += 1;
    this.#prefix = `w${clientCount}-${Math.random().toString(36).slice(2, 8)}`;
  }

  get state() {
    return this.#state;
  }
  get sessionId() {
    return this.#sessionId;
  }
  get lastSeq() {
    return this.#lastSeq;
  }
  /** The payload of the current connection's connection_established, or null. */
  get established() {
    return this.#established;
  }
  get stats() {
    return { duplicates: this.#duplicates, reconnects: this.#reconnects };
  }

  /** Connect (again, after "closed" or "refused"); nothing when already under way. */
  connect() {
    if ([State.CONNECTING, State.OPEN, State.RECONNECTING].includes(this.#state)) return this;
    this.#closedByUser = false;
    this.#attempt = 0;
    this.#open();
    return this;
  }

  /** Close for good: no reconnection; pending requests are rejected. */
  close(code = NORMAL_CLOSURE, reason = "") {
    this.#closedByUser = true;
    this.#clearTimers();
    const socket = this.#socket;
    this.#socket = null;
    if (socket) socket.close(code, reason);
    this.#queue = [];
    this.#failPending("CLOSED", "the client was closed", true);
    this.#setState(State.CLOSED, { reason: "closed" });
  }

  /** A new token for the next connections (after "refused", connect() again). */
  setToken(token) {
    this.#token = token;
    this.#accepted = false;
  }

  /** Send a frame (queued until connected); returns its message_id. */
  send(type, payload = {}, { threadId = null, messageId = null } = {}) {
    const frame = { type, payload, message_id: messageId ?? this.#nextId() };
    if (threadId) frame.thread_id = threadId;
    const text = JSON.stringify(frame);
    if (this.#state === State.OPEN && this.#socket) {
      this.#transmit(frame.message_id, text);
    } else {
      if (this.#queue.length >= this.#options.maxQueued) {
        throw new NetraError("QUEUE_FULL", "too many frames waiting for a connection");
      }
      this.#queue.push([frame.message_id, text]);
      if (this.#state === State.CLOSED && !this.#closedByUser) this.connect();
    }
    return frame.message_id;
  }

  /** Send a frame and wait for its reply (the frame whose correlation_id is its id). */
  request(type, payload = {}, { threadId = null, timeoutMs = null } = {}) {
    const messageId = this.#nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(messageId);
        reject(new NetraError("TIMEOUT", `no reply to ${type} in time`));
      }, timeoutMs ?? this.#options.requestTimeoutMs);
      this.#pending.set(messageId, { resolve, reject, timer, sent: false });
      try {
        this.send(type, payload, { threadId, messageId });
      } catch (error) {
        clearTimeout(timer);
        this.#pending.delete(messageId);
        reject(error);
      }
    });
  }

  /** Give the connection a new token of the same user (`refresh`); later connections use it. */
  async refresh(token) {
    const reply = await this.request("refresh", { token });
    this.#token = token;
    return reply;
  }

  // -- the connection ---------------------------------------------------------------

  async #open() {
    this.#clearTimers();
    this.#setState(State.CONNECTING, { attempt: this.#attempt });
    if (this.#options.getToken) {
      try {
        this.#token = await this.#options.getToken();
      } catch (error) {
        this.#retry({ reason: "getToken failed", error });
        return;
      }
      if (this.#state !== State.CONNECTING) return;
    }
    if (!this.#token) {
      this.#setState(State.REFUSED, { reason: "no token" });
      return;
    }
    if (expired(this.#token)) {
      this.#setState(State.REFUSED, { reason: "expired" });
      return;
    }
    let url = this.#url;
    if (this.#sessionId) {
      url += (url.includes("?") ? "&" : "?") + "session_id=" + encodeURIComponent(this.#sessionId);
    }
    let socket;
    try {
      socket = new WebSocket(url, [SUBPROTOCOL, `bearer.${this.#token}`]);
    } catch (error) {
      this.#setState(State.REFUSED, { reason: "bad url", error });
      return;
    }
    this.#socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (event) => {
      if (socket === this.#socket) this.#receive(event.data);
    };
    socket.onclose = (event) => {
      if (socket !== this.#socket) return; // replaced or closed by us
      this.#socket = null;
      this.#established = null;
      this.#failPending("DISCONNECTED", "the connection was lost before the reply");
      this.#closed(event.code, opened);
    };
  }

  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // the server sends only JSON text frames
    }
    if (frame.type === "batch") {
      for (const inner of frame.payload?.messages ?? []) this.#deliver(inner);
      return;
    }
    this.#deliver(frame);
  }

  #deliver(frame) {
    if (typeof frame.seq === "number") {
      if (this.#lastSeq !== null && frame.seq <= this.#lastSeq) {
        this.#duplicates += 1;
        this.dispatchEvent(new CustomEvent("duplicate", { detail: frame }));
        return;
      }
      this.#lastSeq = frame.seq;
    }
    if (frame.type === "connection_established") this.#onEstablished(frame.payload);
    const pending = frame.correlation_id && this.#pending.get(frame.correlation_id);
    if (pending) {
      this.#pending.delete(frame.correlation_id);
      clearTimeout(pending.timer);
      if (frame.type === "error") {
        const p = frame.payload ?? {};
        pending.reject(new NetraError(p.code, p.message, p.details ?? null, frame));
      } else {
        pending.resolve(frame);
      }
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    this.dispatchEvent(new CustomEvent(frame.type, { detail: frame }));
    if (frame.type === "resume_complete") {
      this.dispatchEvent(new CustomEvent("resumed", { detail: frame.payload }));
    }
  }

  #onEstablished(payload) {
    this.#established = payload;
    this.#sessionId = payload.session_id;
    this.#accepted = true;
    const socket = this.#socket;
    // the server holds live events until the first frame: the resume goes first
    if (this.#lastSeq !== null) {
      socket.send(JSON.stringify({ type: "resume", payload: { last_seq: this.#lastSeq } }));
    }
    const queued = this.#queue;
    this.#queue = [];
    for (const [messageId, text] of queued) this.#transmit(messageId, text, socket);
    this.#stableTimer = setTimeout(() => {
      this.#attempt = 0;
    }, this.#options.stableMs);
    this.#setState(State.OPEN, {});
    this.dispatchEvent(new CustomEvent("established", { detail: payload }));
  }

  async #closed(code, opened) {
    clearTimeout(this.#stableTimer);
    if (code === IDLE_EXPIRED) {
      this.#setState(State.CLOSED, { reason: "idle", code });
      return;
    }
    if (code === POLICY_VIOLATION && expired(this.#token) && !this.#options.getToken) {
      this.#setState(State.REFUSED, { reason: "expired", code });
      return;
    }
    if (!opened && !this.#accepted) {
      this.#setState(State.CONNECTING, { reason: "checking the server", code });
      if (await this.#serverAnswers()) {
        if (this.#state === State.CONNECTING) {
          this.#setState(State.REFUSED, { reason: "handshake", code });
        }
        return;
      }
      if (this.#state !== State.CONNECTING) return;
    }
    this.#retry({ code, reason: opened ? "closed" : "unreachable" });
  }

  #retry(info) {
    const delayMs = backoffDelay(this.#attempt, this.#options);
    this.#attempt += 1;
    this.#reconnects += 1;
    this.#setState(State.RECONNECTING, { ...info, attempt: this.#attempt, delayMs });
    this.#timer = setTimeout(() => this.#open(), delayMs);
  }

  /** Whether the server's address answers plain HTTP (GET /healthz): a refused
   * handshake from a running server, rather than a server that is not there. */
  async #serverAnswers() {
    const base = new URL(this.#url);
    base.protocol = base.protocol === "wss:" ? "https:" : "http:";
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#options.probeTimeoutMs);
    try {
      await fetch(new URL("/healthz", base), {
        mode: "no-cors",
        cache: "no-store",
        credentials: "omit",
        signal: controller.signal,
      });
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #setState(state, info) {
    const previous = this.#state;
    this.#state = state;
    const detail = { state, previous, reason: null, code: null, attempt: 0, delayMs: 0, ...info };
    this.dispatchEvent(new CustomEvent("statechange", { detail }));
  }

  #transmit(messageId, text, socket = this.#socket) {
    socket.send(text);
    const pending = this.#pending.get(messageId);
    if (pending) pending.sent = true;
  }

  /** Reject the requests sent and not answered (all of them, with `queuedToo`). */
  #failPending(code, message, queuedToo = false) {
    for (const [id, pending] of this.#pending) {
      if (!pending.sent && !queuedToo) continue;
      clearTimeout(pending.timer);
      pending.reject(new NetraError(code, message));
      this.#pending.delete(id);
    }
  }

  #clearTimers() {
    clearTimeout(this.#timer);
    clearTimeout(this.#stableTimer);
    this.#timer = null;
  }

  #nextId() {
    this.#ids += 1;
    return `${this.#prefix}-${this.#ids}`;
  }
}
