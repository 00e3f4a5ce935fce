// REST and WebSocket access. Every URL is relative to the page, so the dashboard
// works at / and under an ingress path prefix alike.
const KEY = "web4ai.apiKey";
export const base = new URL(".", location.href);

export const getKey = () => sessionStorage.getItem(KEY) || "";
export const setKey = (k) => (k ? sessionStorage.setItem(KEY, k) : sessionStorage.removeItem(KEY));

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
  get details() { return this.body.details || {}; }
}

export async function api(method, path, body, key = getKey()) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(new URL(path, base), init);
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

export const get = (p) => api("GET", p);
export const post = (p, b) => api("POST", p, b === undefined ? {} : b);
export const put = (p, b) => api("PUT", p, b);
export const del = (p) => api("DELETE", p);

function b64url(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// A WebSocket that reconnects with exponential backoff (0.5 s .. 30 s, with jitter).
// onState receives "connecting", "live" or "down"; onMessage the parsed messages.
export class Feed {
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.stopped = true;
  }
  start() {
    this.stopped = false;
    this.open();
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }
  open() {
    const url = new URL("api/v1/ws", base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const protocols = ["web4ai.v1"];
    const key = getKey();
    if (key) protocols.push(`base64url.bearer.authorization.web4ai.io.${b64url(key)}`);
    this.onState("connecting");
    const ws = new WebSocket(url, protocols);
    this.ws = ws;
    ws.onopen = () => { this.attempt = 0; this.onState("live"); };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.attempt += 1;
      const delay = Math.min(30000, 500 * 2 ** Math.min(this.attempt, 6)) * (0.75 + Math.random() / 2);
      this.onState("down", delay);
      this.timer = setTimeout(() => this.open(), delay);
    };
  }
}
