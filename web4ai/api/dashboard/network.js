// The topology: orchestrator -> nodes -> agents, radial, coloured by status.
// Up to GROUP_ABOVE nodes each node is drawn; beyond, nodes are grouped by status.
import { svg } from "./charts.js";

export const GROUP_ABOVE = 200;
const STATUSES = ["active", "degraded", "maintenance", "offline", "error"];

export function drawNetwork(host, nodes, onPick) {
  const list = [...nodes].sort((a, b) => (a.node_id < b.node_id ? -1 : 1));
  const grouped = list.length > GROUP_ABOVE;
  const S = 800, C = S / 2;
  const root = svg("svg", { viewBox: `0 0 ${S} ${S}`, role: "img", "aria-label": `Network of ${list.length} nodes` });
  const links = svg("g", {}, root);
  const dots = svg("g", {}, root);
  const orch = svg("g", { class: "node-g" }, dots);
  svg("circle", { class: "n-orch", cx: C, cy: C, r: 18 }, orch);
  svg("text", { x: C, y: C + 32, "text-anchor": "middle" }, orch).textContent = "orchestrator";
  if (grouped) {
    const groups = STATUSES.map((s) => ({ status: s, nodes: list.filter((n) => n.status === s) })).filter((g) => g.nodes.length);
    const R = 230;
    groups.forEach((g, i) => {
      const a = (2 * Math.PI * i) / groups.length - Math.PI / 2;
      const x = C + R * Math.cos(a), y = C + R * Math.sin(a);
      svg("line", { class: "link", x1: C, y1: C, x2: x, y2: y }, links);
      const el = svg("g", { class: "node-g", tabindex: 0, role: "button", "data-status": g.status }, dots);
      svg("circle", { class: `n-${g.status}`, cx: x, cy: y, r: 14 + Math.sqrt(g.nodes.length) * 2 }, el);
      const agents = g.nodes.reduce((t, n) => t + (n.agents_count || 0), 0);
      svg("text", { x, y: y + 26 + Math.sqrt(g.nodes.length) * 2, "text-anchor": "middle" }, el).textContent =
        `${g.status} × ${g.nodes.length} (${agents} agents)`;
      el.addEventListener("click", () => onPick({ group: g.status }));
    });
    host.replaceChildren(root);
    return `${list.length} nodes: grouped by status above ${GROUP_ABOVE}.`;
  }
  const R = list.length > 60 ? 320 : 240;
  const r = list.length > 100 ? 5 : list.length > 30 ? 8 : 12;
  list.forEach((n, i) => {
    const a = (2 * Math.PI * i) / Math.max(list.length, 1) - Math.PI / 2;
    const x = C + R * Math.cos(a), y = C + R * Math.sin(a);
    svg("line", { class: "link", x1: C, y1: C, x2: x, y2: y }, links);
    const k = Math.min(n.agents_count || 0, 8);
    for (let j = 0; j < k; j++) {
      const b = a + ((j - (k - 1) / 2) * 0.5) / Math.max(Math.sqrt(list.length), 1);
      const ax = C + (R + r * 3) * Math.cos(b), ay = C + (R + r * 3) * Math.sin(b);
      svg("line", { class: "link", x1: x, y1: y, x2: ax, y2: ay }, links);
      svg("circle", { class: "n-agent", cx: ax, cy: ay, r: Math.max(2, r / 3) }, dots);
    }
    const el = svg("g", { class: "node-g", tabindex: 0, role: "button", "aria-label": `${n.node_id} ${n.status}` }, dots);
    svg("circle", { class: `n-${n.status}`, cx: x, cy: y, r }, el);
    svg("title", {}, el).textContent = `${n.node_id} (${n.status}, ${n.agents_count} agents)`;
    if (list.length <= 60) {
      const lx = C + (R + r * 3 + 18) * Math.cos(a), ly = C + (R + r * 3 + 18) * Math.sin(a);
      svg("text", { x: lx, y: ly, "text-anchor": Math.cos(a) < -0.2 ? "end" : Math.cos(a) > 0.2 ? "start" : "middle" }, el).textContent = n.node_id;
    }
    el.addEventListener("click", () => onPick({ node: n.node_id }));
    el.addEventListener("keydown", (e) => { if (e.key === "Enter") onPick({ node: n.node_id }); });
  });
  host.replaceChildren(root);
  return `${list.length} nodes, ${list.reduce((t, n) => t + (n.agents_count || 0), 0)} agents.`;
}
