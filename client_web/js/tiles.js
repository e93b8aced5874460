// Tile slots of a console (chair, hall station): a fixed number of video tiles (msid stream
// ids tile-0 ... tile-N-1) that the relay re-points, plus every point at a glance (name and
// health colour) for the points not in view. The server's `tiles` event maps each slot to a
// point; `tiles:view {page, pinned}` pages or pins (see server/media/__init__.py).
import { t } from "./i18n.js";
import { $, el, pointName } from "./ui.js";

export class TileGrid {
  /**
   * @param conn     protocol.js Connection
   * @param media    rtc.js MediaClient (binds tile-<i> to the slot's <video>)
   * @param options  {actions(node) -> [elements], pinnable: bool}
   */
  constructor(conn, media, { actions = null, pinnable = false } = {}) {
    this.conn = conn;
    this.media = media;
    this.actions = actions;
    this.pinnable = pinnable;
    this.view = null;        // the last `tiles` payload
    this.ratings = {};       // point -> health rating (consoles in the health room)
    this.slotNodes = [];
    conn.on("tiles", (view) => { this.view = view; this.render(); });
    conn.on("health", (h) => {
      this.ratings = Object.fromEntries(Object.entries(h?.points || {}).map(([id, s]) => [id, s.rating]));
      this.renderAll();
    });
    $("#tiles-prev")?.addEventListener("click", () => this.page(-1));
    $("#tiles-next")?.addEventListener("click", () => this.page(1));
  }

  /** The stream id of the slot showing `point`, or null (tests and pages). */
  slotOf(point) {
    for (const [slot, p] of Object.entries(this.view?.slots || {})) if (p === point) return slot;
    return null;
  }

  async page(step) {
    if (!this.view) return;
    const page = Math.min(Math.max(0, this.view.page + step), this.view.pages - 1);
    const ack = await this.conn.request("tiles:view", { page });
    if (ack.ok) { this.view = ack.tiles; this.render(); }
  }

  async togglePin(point) {
    if (!this.view) return;
    const pinned = this.view.pinned.includes(point)
      ? this.view.pinned.filter((p) => p !== point) : [...this.view.pinned, point];
    const ack = await this.conn.request("tiles:view", { pinned });
    if (ack.ok) { this.view = ack.tiles; this.render(); }
  }

  _slotNode(i) {
    if (this.slotNodes[i]) return this.slotNodes[i];
    const video = el("video", { autoplay: true, playsinline: true, muted: true });
    video.muted = true;
    const node = el("div", { class: "tile", dataset: { slot: `tile-${i}` } },
      el("div", { class: "tile-video" }, video),
      el("div", { class: "tile-name" }),
      el("div", { class: "tile-state", role: "status" }));
    if (this.actions) node.append(el("div", { class: "tile-actions" }, ...this.actions(node)));
    this.media.bind(`tile-${i}`, { video });
    this.slotNodes[i] = node;
    return node;
  }

  /** Per point: speaking | requesting | online | offline. */
  stateOf(state, id) {
    const online = new Set(state.roster.online);
    if (state.floor.holder === id) return "speaking";
    if (state.queue.entries.some((e) => e.point === id)) return "requesting";
    return online.has(id) ? "online" : "offline";
  }

  render() {
    const state = this.conn.state;
    if (!state || !this.view) return;
    const nodes = [];
    for (let i = 0; i < this.view.count; i++) {
      const point = this.view.slots[`tile-${i}`];
      const node = this._slotNode(i);
      node.hidden = !point;
      if (!point) { delete node.dataset.point; continue; }
      node.dataset.point = point;
      node.querySelector(".tile-name").textContent = pointName(state, point);
      node.querySelector("video").setAttribute("aria-label", pointName(state, point));
      nodes.push(node);
    }
    // slots in fill order would move the DOM on every change; keep slot order
    const box = $("#tiles");
    const all = this.slotNodes.slice(0, this.view.count);
    if (all.length !== box.children.length || all.some((n, i) => box.children[i] !== n)) box.replaceChildren(...all);
    const pager = $("#tiles-page");
    if (pager) pager.textContent = t("tiles.page", { page: this.view.page + 1, pages: this.view.pages });
    if ($("#tiles-prev")) $("#tiles-prev").disabled = this.view.page <= 0;
    if ($("#tiles-next")) $("#tiles-next").disabled = this.view.page >= this.view.pages - 1;
    this.renderAll();
    this.onRender?.(nodes);
  }

  /** Every point at a glance: name, state and health colour; in view or not. */
  renderAll() {
    const state = this.conn.state;
    const box = $("#points-all");
    if (!state || !box) return;
    const inView = new Set(Object.values(this.view?.slots || {}).filter(Boolean));
    const pinned = new Set(this.view?.pinned || []);
    const existing = new Map([...box.children].map((n) => [n.dataset.point, n]));
    const chips = state.points.filter((p) => p.kind === "district").map((p) => {
      let chip = existing.get(p.id);
      if (!chip) {
        chip = el(this.pinnable ? "button" : "span", { class: "chip", dataset: { point: p.id } });
        if (this.pinnable) chip.addEventListener("click", () => this.togglePin(p.id));
      }
      const st = this.stateOf(state, p.id);
      chip.dataset.state = st;
      chip.dataset.rating = this.ratings[p.id] || "unknown";
      chip.dataset.inView = String(inView.has(p.id));
      chip.dataset.pinned = String(pinned.has(p.id));
      const name = pointName(state, p.id);
      chip.textContent = (pinned.has(p.id) ? "📌 " : "") + name;
      chip.title = `${name} · ${t(`tile.${st}`)}${this.ratings[p.id] ? ` · ${t(`tech.rating.${this.ratings[p.id]}`)}` : ""}`
        + (this.pinnable ? ` · ${t(pinned.has(p.id) ? "tiles.unpin" : "tiles.pin")}` : "");
      if (this.pinnable) chip.setAttribute("aria-pressed", String(pinned.has(p.id)));
      return chip;
    });
    const same = chips.length === box.children.length && chips.every((n, i) => box.children[i] === n);
    if (!same) box.replaceChildren(...chips);
  }
}
