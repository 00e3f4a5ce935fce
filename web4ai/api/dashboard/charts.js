// Small SVG charts drawn by hand: no library, no inline styles (CSP).
const NS = "http://www.w3.org/2000/svg";
export const svg = (tag, attrs = {}, parent = null) => {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
};

function fmt(v) {
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(1)}k`;
  if (Math.abs(v) >= 10 || v === 0) return v.toFixed(0);
  return v.toFixed(2);
}

// series: [{label, values: [number]}], times: [seconds]; fixed: optional y max.
export function lineChart(host, times, series, { max = null, unit = "" } = {}) {
  const W = 400, H = 140, L = 34, B = 16, T = 6, R = 6;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  let hi = max;
  if (hi === null) {
    hi = 0;
    for (const s of series) for (const v of s.values) if (v > hi) hi = v;
    hi = hi <= 0 ? 1 : hi * 1.1;
  }
  const t0 = times.length ? times[0] : 0;
  const t1 = times.length > 1 ? times[times.length - 1] : t0 + 1;
  const x = (t) => L + ((t - t0) / (t1 - t0 || 1)) * (W - L - R);
  const y = (v) => T + (1 - Math.min(v, hi) / hi) * (H - T - B);
  svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }, root);
  svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }, root);
  svg("text", { class: "axis-label", x: 2, y: T + 8 }, root).textContent = fmt(hi) + unit;
  svg("text", { class: "axis-label", x: 2, y: H - B }, root).textContent = "0";
  if (times.length) {
    const span = t1 - t0;
    svg("text", { class: "axis-label", x: L, y: H - 3 }, root).textContent = span < 120 ? `-${Math.round(span)} s` : `-${Math.round(span / 60)} min`;
    svg("text", { class: "axis-label", x: W - R - 22, y: H - 3 }, root).textContent = "now";
  }
  series.forEach((s, i) => {
    if (!s.values.length) return;
    let d = "";
    s.values.forEach((v, j) => { d += `${j ? "L" : "M"}${x(times[j]).toFixed(1)},${y(v).toFixed(1)}`; });
    svg("path", { class: `series c${i}`, d }, root);
  });
  host.replaceChildren(root);
  const label = series.map((s) => `${s.label} ${s.values.length ? fmt(s.values[s.values.length - 1]) : "–"}${unit}`).join(", ");
  root.setAttribute("aria-label", label);
}

export function sparkline(values, max = 100) {
  const W = 200, H = 50;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "spark" });
  if (values.length > 1) {
    let d = "";
    values.forEach((v, i) => {
      d += `${i ? "L" : "M"}${((i / (values.length - 1)) * W).toFixed(1)},${(H - 2 - (Math.min(v, max) / max) * (H - 4)).toFixed(1)}`;
    });
    svg("path", { class: "series c0", d }, root);
  }
  return root;
}

// A percentage bar as an SVG string (attributes only, so CSP allows it in innerHTML).
export function bar(pct) {
  const v = Math.max(0, Math.min(100, Number(pct) || 0));
  const cls = v >= 90 ? "hot" : v >= 75 ? "warm" : "fg";
  return `<svg class="bar" viewBox="0 0 100 8" aria-hidden="true"><rect class="bg" width="100" height="8" rx="2"/><rect class="${cls}" width="${v.toFixed(0)}" height="8" rx="2"/></svg>${v.toFixed(0)}%`;
}
