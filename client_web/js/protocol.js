// The conference protocol over socket.io (namespace /conf): typed requests with acks,
// server events, a server clock offset, and the shared conference state. No DOM here.
import { io } from "/vendor/socket.io/socket.io.esm.min.js";

export function readConfig() {
  return JSON.parse(document.getElementById("dewan-config").textContent);
}

const ACK_TIMEOUT_MS = 10000;
const SERVER_EVENTS = ["state", "conference", "queue", "floor", "roster", "recording", "health",
  "message", "notice", "log", "rtc:offer", "tiles", "layers", "processes", "error"];

// Several processes (--redis): the page talks to the process that hosts the media. When its
// socket drops (the process died, or it gave the media away and dropped us) the page asks the
// processes it knows (GET /owner, the current one first) where the owner is and connects there
// by itself; "reconnecting" meanwhile. The list comes with the page, with every `state`, and
// with a `processes` event whenever a process starts or stops.
const RETRY_MS = [250, 500, 1000];
const OWNER_TIMEOUT_MS = 1500;

export class Connection extends EventTarget {
  constructor(config) {
    super();
    this.config = config;
    this.state = null;          // the last full snapshot, kept current by the events below
    this.offsetMs = 0;          // server clock minus local clock
    this.stopped = false;       // replaced by another window, or the link was refused
    this.status = "connecting";
    this.auth = { token: config.token };   // one object for every socket (precheck adds `mode`)
    this.processes = [...(config.processes || [])];
    this.base = config.signal_url || location.origin;
    this.moves = 0;             // how often the page followed the owner elsewhere
    this._failures = 0;
    this._retry = null;
    this._open(this.base);
    this._clockTimer = setInterval(() => this.syncClock(), 30000);
  }

  _open(base) {
    if (this.socket) { this.socket.off(); this.socket.disconnect(); }
    if (base !== this.base) this.moves += 1;
    this.base = base;
    const socket = io(base + (this.config.namespace || "/conf"), {
      auth: this.auth, transports: ["websocket"], reconnection: false, forceNew: true, timeout: 4000,
    });
    this.socket = socket;
    const mine = (fn) => (...args) => { if (socket === this.socket) fn(...args); };
    socket.on("connect", mine(() => { this._failures = 0; this._status("connected"); this.syncClock(); }));
    socket.on("disconnect", mine((reason) => {
      if (this.stopped) return;
      this._status("reconnecting", { reason });
      this._schedule();
    }));
    socket.on("connect_error", mine((err) => {
      const data = err?.data;
      if (data && (data.error === "unauthorized" || data.error === "forbidden")) {
        this._stop("refused", { message: err.message, key: data.key });
      } else {
        this._status("reconnecting", { reason: err?.message });
        this._schedule();
      }
    }));
    for (const name of SERVER_EVENTS) socket.on(name, mine((data) => this._receive(name, data)));
  }

  _stop(status, detail) {
    this.stopped = true;
    clearTimeout(this._retry);
    this.socket.disconnect();
    this._status(status, detail);
  }

  _schedule() {
    if (this._retry || this.stopped) return;
    const delay = RETRY_MS[Math.min(this._failures, RETRY_MS.length - 1)] * (0.8 + Math.random() * 0.4);
    this._failures += 1;
    this._retry = setTimeout(async () => {
      const target = await this.findOwner();
      this._retry = null;
      if (!this.stopped) this._open(target);
    }, delay);
  }

  _learn(processes) {
    for (const url of processes || []) if (typeof url === "string" && !this.processes.includes(url)) this.processes.push(url);
  }

  /** Where the media owner answers: asks the known processes in turn (the current first). */
  async findOwner() {
    const candidates = [...new Set([this.base, ...this.processes, location.origin])];
    for (const base of candidates) {
      try {
        const reply = await fetch(`${base}/owner`, { cache: "no-store", signal: AbortSignal.timeout(OWNER_TIMEOUT_MS) });
        if (!reply.ok) continue;
        const info = await reply.json();
        this._learn(info.processes);
        return info.owner || base;
      } catch { /* that process is gone: ask the next */ }
    }
    return candidates[(candidates.indexOf(this.base) + 1) % candidates.length];
  }

  /** The server said it does not host the media (any more): go and find the owner. */
  relocate() {
    if (this.stopped || this._retry) return;
    this.socket.off();
    this.socket.disconnect();
    this._status("reconnecting", { reason: "not_owner" });
    this._schedule();
  }

  _status(status, detail = {}) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status, ...detail } }));
  }

  _receive(name, data) {
    if (name === "error" && data?.error === "replaced") {
      this._stop("replaced", { message: data.message });   // no reconnect war between two windows
    } else if (name === "error" && data?.error === "unauthorized") {
      this._stop("refused", { message: data.message, key: data.key });   // the link was revoked
    }
    if (name === "state" || name === "processes") this._learn(data?.processes);
    if (data && typeof data.server_time === "number") this._roughOffset(data.server_time);
    if (name === "state") this.state = data;
    else if (this.state && ["conference", "queue", "floor", "roster"].includes(name)) this.state[name] = data;
    else if (this.state && name === "recording" && data && typeof data.active === "boolean") this.state.recording = data;
    this.dispatchEvent(new CustomEvent(name, { detail: data }));
    if (["state", "conference", "queue", "floor", "roster", "recording"].includes(name)) {
      this.dispatchEvent(new CustomEvent("change", { detail: { part: name } }));
    }
  }

  _roughOffset(serverTimeS) {
    // Until a clock:sync round trip is measured, take the first server time seen.
    if (!this._synced) this.offsetMs = serverTimeS * 1000 - Date.now();
  }

  async syncClock() {
    const t0 = Date.now();
    const ack = await this.request("clock:sync", {});
    const t1 = Date.now();
    if (ack.ok) {
      this.offsetMs = ack.server_time * 1000 - (t0 + t1) / 2;
      this._synced = true;
      this.dispatchEvent(new CustomEvent("clock", { detail: { offsetMs: this.offsetMs, rttMs: t1 - t0 } }));
    }
    return ack;
  }

  serverNow() {  // seconds, on the server's clock
    return (Date.now() + this.offsetMs) / 1000;
  }

  request(event, payload = {}) {
    if (this.stopped) return Promise.resolve({ ok: false, error: "unavailable", message: "stopped" });
    return new Promise((resolve) => {
      this.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
        if (err) resolve({ ok: false, error: "unavailable", message: "no answer from the server" });
        else resolve(ack);
      });
    });
  }

  on(name, fn) {
    this.addEventListener(name, (e) => fn(e.detail));
  }

  // the floor's remaining seconds on the server's clock (null without a deadline)
  remaining() {
    const deadline = this.state?.floor?.deadline;
    return typeof deadline === "number" ? deadline - this.serverNow() : null;
  }
}

export function connect(config = readConfig()) {
  return new Connection(config);
}
