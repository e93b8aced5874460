// The conference protocol over socket.io (namespace /conf): typed requests with acks,
// server events, a server clock offset, and the shared conference state. No DOM here.
import { io } from "/vendor/socket.io/socket.io.esm.min.js";

export function readConfig() {
  return JSON.parse(document.getElementById("dewan-config").textContent);
}

const ACK_TIMEOUT_MS = 10000;
const SERVER_EVENTS = ["state", "conference", "queue", "floor", "roster", "recording", "health",
  "message", "notice", "log", "rtc:offer", "tiles", "layers", "error"];

export class Connection extends EventTarget {
  constructor(config) {
    super();
    this.config = config;
    this.state = null;          // the last full snapshot, kept current by the events below
    this.offsetMs = 0;          // server clock minus local clock
    this.stopped = false;       // replaced by another window, or the link was refused
    this.status = "connecting";
    const url = (config.signal_url || "") + (config.namespace || "/conf");
    this.socket = io(url, {
      auth: { token: config.token }, transports: ["websocket"],
      reconnectionDelay: 500, reconnectionDelayMax: 4000,
    });
    this.socket.on("connect", () => { this._status("connected"); this.syncClock(); });
    this.socket.on("disconnect", (reason) => {
      if (!this.stopped) this._status("reconnecting", { reason });
      if (reason === "io server disconnect" && !this.stopped) this.socket.connect();
    });
    this.socket.on("connect_error", (err) => {
      const data = err?.data;
      if (data && (data.error === "unauthorized" || data.error === "forbidden")) {
        this.stopped = true;
        this.socket.disconnect();
        this._status("refused", { message: err.message, key: data.key });
      } else {
        this._status("reconnecting", { reason: err?.message });
      }
    });
    for (const name of SERVER_EVENTS) this.socket.on(name, (data) => this._receive(name, data));
    this._clockTimer = setInterval(() => this.syncClock(), 30000);
  }

  _status(status, detail = {}) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status, ...detail } }));
  }

  _receive(name, data) {
    if (name === "error" && data?.error === "replaced") {
      this.stopped = true;          // no reconnect war between two windows of one station
      this.socket.disconnect();
      this._status("replaced", { message: data.message });
    }
    if (data && typeof data.server_time === "number") this._roughOffset(data.server_time);
    if (name === "state") this.state = data;
    else if (this.state && ["conference", "queue", "floor", "roster"].includes(name)) this.state[name] = data;
    this.dispatchEvent(new CustomEvent(name, { detail: data }));
    if (["state", "conference", "queue", "floor", "roster"].includes(name)) {
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
