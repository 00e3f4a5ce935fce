// Web4AI dashboard: one page, plain ES modules, no build step, no CDN.
// Data flow: a snapshot over REST, then WebSocket messages; views re-render at most
// once a second, only while visible. Without a WebSocket it polls.
import { ApiError, Feed, api, del, get, getKey, post, put, setKey } from "./api.js";
import { bar, lineChart, sparkline } from "./charts.js";
import { drawNetwork } from "./network.js";
import { keysView } from "./keys.js";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const enc = encodeURIComponent;
const RENDER_EVERY = 1000; // ms: at most one render per second per view
const POLL_EVERY = 5000;
const HISTORY_WINDOW = 900; // s
const STALE_AFTER = 15, DEAD_AFTER = 60; // heartbeat age (s): warning, error

const state = {
  role: null,
  view: "overview",
  status: null,
  history: [],
  recs: [],
  nodes: new Map(),
  cpuHistory: new Map(),
  tasks: { rows: [], summary: {}, offset: 0, loading: false },
  events: [],
  eventsPaused: false,
  eventTypes: new Set(),
  config: null,
  conn: "idle",
  feed: null,
  timers: [],
  drawer: null,
  progress: new Map(), // task id -> the latest task_progress message's data
};

// ---------------------------------------------------------------- rendering
const views = {};
const lastRender = {};
const pending = {};
function invalidate(view) {
  if (view !== state.view || document.hidden || pending[view] || !state.role) return;
  const wait = Math.max(0, RENDER_EVERY - (performance.now() - (lastRender[view] ?? -1e9)));
  pending[view] = setTimeout(() => {
    pending[view] = null;
    if (view !== state.view || document.hidden) return;
    lastRender[view] = performance.now();
    views[view].render();
  }, wait);
}
const invalidateAll = () => Object.keys(views).forEach(invalidate);
function renderNow(view) {
  // a navigation or a user's action: render at once (the 1/s limit is for live updates)
  clearTimeout(pending[view]);
  pending[view] = null;
  if (view !== state.view || document.hidden || !state.role) return;
  lastRender[view] = performance.now();
  views[view].render();
}

function toast(text, bad = false) {
  const el = document.createElement("div");
  el.className = bad ? "toast bad" : "toast";
  el.textContent = text;
  $("#toasts").appendChild(el);
  setTimeout(() => el.remove(), 5000);
}
const errText = (e) => (e instanceof ApiError ? `${e.message} (${e.status})` : String(e.message || e));

function confirmAction(title, text, extra = null) {
  const dlg = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-extra").replaceChildren(...(extra ? [extra] : []));
  dlg.returnValue = "";
  dlg.showModal();
  return new Promise((resolve) => dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true }));
}
const isAdmin = () => state.role === "admin";
const age = (ts) => (ts ? Math.max(0, Date.now() / 1000 - ts) : null);
const ago = (s) => (s === null ? "never" : s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`);
const when = (ts) => (ts ? new Date(ts * 1000).toLocaleTimeString() : "–");
const pct = (v) => `${(100 * (Number(v) || 0)).toFixed(1)}%`;
const st = (s) => `<span class="st st-${esc(s)}">${esc(s)}</span>`;

// ---------------------------------------------------------------- overview
function pushSample(d) {
  const t = d.tasks || {}, m = d.network_metrics || {}, p = d.performance || {};
  const last = state.history[state.history.length - 1];
  const ts = d.timestamp;
  if (last && ts - last.timestamp < 1) return;
  const completed = m.tasks_completed ?? t.completed ?? 0;
  const rate = last && ts > last.timestamp ? Math.max(0, (completed - last.tasks_completed) / (ts - last.timestamp)) : 0;
  state.history.push({
    timestamp: ts,
    network_utilization: m.network_utilization ?? p.network_utilization ?? 0,
    pending_tasks: t.pending ?? 0,
    active_tasks: t.active ?? 0,
    tasks_completed: completed,
    completions_per_second: rate,
    avg_cpu_usage: p.avg_cpu_usage ?? 0,
    avg_memory_usage: p.avg_memory_usage ?? 0,
  });
  const cutoff = ts - HISTORY_WINDOW;
  while (state.history.length && state.history[0].timestamp < cutoff) state.history.shift();
}

views.overview = {
  async load() {
    const [h, perf] = await Promise.all([get(`api/v1/metrics/history?window=${HISTORY_WINDOW}`), get("api/v1/metrics/performance")]);
    state.history = h.samples || [];
    state.recs = (perf.performance_analysis || {}).recommendations || [];
    if (!state.status) state.status = (await get("api/v1/status")).data;
  },
  render() {
    const d = state.status;
    if (!d) return;
    $("#paused-banner").hidden = !d.paused;
    const m = d.network_metrics || {}, n = d.nodes || {}, t = d.tasks || {}, bs = n.by_status || {};
    const tile = (k, v, s = "") => `<div class="tile"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div><div class="s">${esc(s)}</div></div>`;
    $("#tiles").innerHTML = [
      tile("Nodes", n.total ?? 0, Object.entries(bs).filter(([, c]) => c).map(([s, c]) => `${c} ${s}`).join(" · ") || "none"),
      tile("Agents", (d.agents || {}).total ?? 0),
      tile("Tasks pending / active", `${t.pending ?? 0} / ${t.active ?? 0}`),
      tile("Tasks completed / failed", `${m.tasks_completed ?? 0} / ${m.tasks_failed ?? 0}`),
      tile("Success rate", pct(m.success_rate ?? 1)),
      tile("Throughput", `${(m.throughput_per_minute ?? 0).toFixed(0)}/min`, "completed in the last minute"),
      tile("Utilization", pct(m.network_utilization), "active tasks / capacity"),
      tile("Avg response time", `${(m.average_response_time ?? 0).toFixed(0)} ms`),
    ].join("");
    const hs = state.history, times = hs.map((s) => s.timestamp);
    const charts = [
      ["Utilization", [["utilization", hs.map((s) => 100 * s.network_utilization)]], { max: 100, unit: "%" }],
      ["Pending and active tasks", [["pending", hs.map((s) => s.pending_tasks)], ["active", hs.map((s) => s.active_tasks)]], {}],
      ["Completions per second", [["completed/s", hs.map((s) => s.completions_per_second || 0)]], {}],
      ["Average CPU and memory", [["cpu", hs.map((s) => s.avg_cpu_usage)], ["memory", hs.map((s) => s.avg_memory_usage)]], { max: 100, unit: "%" }],
    ];
    const host = $("#charts");
    if (host.children.length !== charts.length) {
      host.innerHTML = charts.map(([title, series]) => `<div class="chart"><h3>${esc(title)}</h3><div class="plot"></div><div class="legend">${series.map(([l], i) => `<span class="sw${i}">━ ${esc(l)}</span>`).join("")}</div></div>`).join("");
    }
    charts.forEach(([, series, opts], i) => {
      lineChart($$(".plot", host)[i], times, series.map(([label, values]) => ({ label, values })), opts);
    });
    $("#recs").innerHTML = state.recs.map((r) => `<div class="card rec ${esc(r.priority)}"><h3>${esc(r.type.replace(/_/g, " "))} · ${esc(r.priority)}</h3><p>${esc(r.description)}</p>${recDetails(r.details)}</div>`).join("") || '<p class="muted">No recommendations.</p>';
  },
};
function recDetails(d) {
  if (!d) return "";
  return `<p class="muted">${Object.entries(d).map(([k, v]) => `${esc(k.replace(/_/g, " "))}: ${esc(Array.isArray(v) ? v.join(", ") || "none" : v)}`).join(" · ")}</p>`;
}

// ---------------------------------------------------------------- nodes
const nodeSort = { key: "node_id", dir: 1 };
const NODE_PAGE = 100; // rows drawn at once: a 1,000-node table stays cheap to redraw
let nodeOffset = 0;
function upsertNode(n) {
  const old = state.nodes.get(n.node_id) || {};
  const merged = { ...old, ...n };
  state.nodes.set(n.node_id, merged);
  const h = state.cpuHistory.get(n.node_id) || [];
  if (n.cpu_usage !== undefined) {
    h.push(n.cpu_usage);
    if (h.length > 60) h.shift();
    state.cpuHistory.set(n.node_id, h);
  }
}
async function loadNodes() {
  const r = await get("api/v1/nodes");
  const seen = new Set(Object.keys(r.nodes || {}));
  for (const id of [...state.nodes.keys()]) if (!seen.has(id)) state.nodes.delete(id);
  for (const n of Object.values(r.nodes || {})) upsertNode(n);
  invalidate("nodes");
  invalidate("network");
  if (state.drawer && state.drawer.kind === "node") refreshDrawer();
}
views.nodes = {
  load: loadNodes,
  render() {
    const f = $("#node-filter").value.trim().toLowerCase();
    const sf = $("#node-status").value;
    let rows = [...state.nodes.values()];
    if (sf) rows = rows.filter((n) => n.status === sf);
    if (f) rows = rows.filter((n) => [n.node_id, n.host, n.location, n.node_type, ...(n.capabilities || []), ...(n.agents || []).map((a) => a.agent_id)].some((v) => String(v ?? "").toLowerCase().includes(f)));
    const key = nodeSort.key, dir = nodeSort.dir;
    const val = (n) => (key === "heartbeat_age" ? age(n.last_heartbeat) ?? 1e12 : n[key] ?? "");
    rows.sort((a, b) => (val(a) < val(b) ? -dir : val(a) > val(b) ? dir : 0));
    $("#node-count").textContent = `${rows.length} of ${state.nodes.size} nodes`;
    if (nodeOffset >= rows.length) nodeOffset = Math.max(0, Math.floor((rows.length - 1) / NODE_PAGE) * NODE_PAGE);
    const total = rows.length;
    rows = rows.slice(nodeOffset, nodeOffset + NODE_PAGE);
    $("#node-page").textContent = total > NODE_PAGE ? `${nodeOffset + 1}–${nodeOffset + rows.length} of ${total}` : "";
    $("#node-prev").disabled = nodeOffset === 0;
    $("#node-next").disabled = nodeOffset + NODE_PAGE >= total;
    $("#nodes-table tbody").innerHTML = rows.map((n) => {
      const a = age(n.last_heartbeat);
      const cls = a === null || a > DEAD_AFTER ? "dead" : a > STALE_AFTER ? "stale" : "";
      const status = n.admin_status && n.admin_status !== n.status ? `${st(n.status)} <span class="muted">admin: ${esc(n.admin_status)}</span>` : st(n.status);
      return `<tr tabindex="0" data-node="${esc(n.node_id)}"><td>${esc(n.node_id)}<div class="muted">${esc(n.host)}:${esc(n.port)}</div></td><td>${status}</td><td class="${cls}">${ago(a)}</td><td>${bar(n.cpu_usage)}</td><td>${bar(n.memory_usage)}</td><td>${bar(n.gpu_usage)}</td><td>${(n.load_score ?? 0).toFixed(2)}</td><td>${n.tasks_running ?? 0} / ${n.tasks_completed ?? 0} / ${n.tasks_failed ?? 0}</td><td>${(100 * (n.reliability_score ?? 1)).toFixed(0)}%</td><td class="caps">${(n.capabilities || []).map((c) => `<span class="chip">${esc(c)}</span>`).join("")}</td><td>${esc(n.agents_count ?? 0)}</td></tr>`;
    }).join("");
    for (const th of $$("#nodes-table th[data-sort]")) th.setAttribute("aria-sort", th.dataset.sort === key ? (dir > 0 ? "ascending" : "descending") : "none");
  },
};

async function openNode(id) {
  state.drawer = { kind: "node", id };
  showDrawer(`Node ${id}`);
  await refreshDrawer();
}
async function refreshDrawer() {
  const d = state.drawer;
  if (!d) return;
  try {
    if (d.kind === "node") renderNodeDrawer((await get(`api/v1/nodes/${enc(d.id)}`)).node, await recentTasksOf(d.id));
    else renderTaskDrawer((await get(`api/v1/tasks/${enc(d.id)}`)).task);
  } catch (e) {
    $("#drawer-body").innerHTML = `<p class="error">${esc(errText(e))}</p>`;
  }
}
async function recentTasksOf(nodeId) {
  const r = await get("api/v1/tasks?limit=100");
  return Object.values(r.tasks || {}).flat().filter((t) => t.node_id === nodeId || (t.assigned_nodes || []).includes(nodeId)).slice(0, 20);
}
function dl(pairs) {
  return `<dl>${pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
}
function renderNodeDrawer(n, tasks) {
  const body = $("#drawer-body");
  const actions = isAdmin()
    ? `<div class="actions">${n.status === "maintenance" || n.admin_status === "maintenance" ? '<button type="button" class="primary" data-act="active">Set active</button>' : '<button type="button" data-act="maintenance">Maintenance</button>'}<button type="button" data-act="drain">Drain</button><button type="button" class="danger" data-act="delete">Delete</button></div>`
    : "";
  body.innerHTML = `${actions}${dl([
    ["Status", st(n.status) + (n.admin_status ? ` <span class="muted">admin ${esc(n.admin_status)}, reported ${esc(n.reported_status ?? "–")}</span>` : "")],
    ["Host", `${esc(n.host)}:${esc(n.port)}`],
    ["Type / version", `${esc(n.node_type)} / ${esc(n.version)}`],
    ["Location", esc(n.location ?? "–")],
    ["Heartbeat", `${ago(age(n.last_heartbeat))} ago`],
    ["CPU / memory / GPU", `${bar(n.cpu_usage)} ${bar(n.memory_usage)} ${bar(n.gpu_usage)}`],
    ["Load", (n.load_score ?? 0).toFixed(2)],
    ["Tasks", `${n.tasks_running ?? 0} running, ${n.tasks_completed ?? 0} completed, ${n.tasks_failed ?? 0} failed`],
    ["Reliability", `${(100 * (n.reliability_score ?? 1)).toFixed(0)}%`],
    ["Capabilities", (n.capabilities || []).map((c) => `<span class="chip">${esc(c)}</span>`).join("") || "–"],
    ["Models loaded / served", n.models ? `${(n.loaded_models || []).map((m) => `<span class="chip loaded">${esc(m)}</span>`).join("") || "–"} / ${(n.models || []).map((m) => `<span class="chip">${esc(m)}</span>`).join("")}` : "–"],
  ])}<h3>CPU (recent samples)</h3><div class="spark-host"></div>
  <h3>Agents (${(n.agents || []).length})</h3>
  <table class="grid"><thead><tr><th>Agent</th><th>Type</th><th>Models (loaded in bold)</th><th>Running</th><th>Done</th></tr></thead><tbody>${(n.agents || []).map((a) => `<tr><td>${esc(a.agent_id)}</td><td>${esc(a.agent_type)}</td><td>${[...new Set([...(a.loaded_models || []), ...(a.specialized_models || [])])].map((m) => `<span class="chip${(a.loaded_models || []).includes(m) ? " loaded" : ""}">${esc(m)}</span>`).join("")}</td><td>${a.tasks_running}</td><td>${a.tasks_completed}</td></tr>`).join("")}</tbody></table>
  <h3>Recent tasks</h3>${tasks.length ? `<table class="grid"><tbody>${tasks.map((t) => `<tr data-task="${esc(t.task_id)}" tabindex="0"><td>${esc(t.task_id)}</td><td>${esc(t.task_type)}</td><td>${st(t.status)}</td></tr>`).join("")}</tbody></table>` : '<p class="muted">None.</p>'}
  <h3>Metadata</h3><pre>${esc(JSON.stringify(n.metadata || {}, null, 2))}</pre>`;
  $(".spark-host", body).appendChild(sparkline(state.cpuHistory.get(n.node_id) || []));
  for (const b of $$("[data-act]", body)) b.addEventListener("click", () => nodeAction(n.node_id, b.dataset.act));
}
async function nodeAction(id, act) {
  let extra = null;
  if (act === "drain") {
    extra = document.createElement("label");
    extra.innerHTML = 'Deadline (seconds, optional) <input id="drain-deadline" type="number" min="1" placeholder="none">';
  }
  const texts = {
    maintenance: "No new tasks will be assigned to it; running tasks continue.",
    active: "The node will accept tasks again.",
    drain: "No new tasks; running tasks finish (or are requeued at the deadline), then the node goes to maintenance.",
    delete: "The node is unregistered; its tasks are requeued.",
  };
  if (!(await confirmAction(`${act[0].toUpperCase()}${act.slice(1)} node ${id}?`, texts[act], extra))) return;
  try {
    if (act === "maintenance" || act === "active") await put(`api/v1/nodes/${enc(id)}/status`, { status: act });
    else if (act === "drain") {
      const dl = Number($("#drain-deadline")?.value || 0);
      await post(`api/v1/nodes/${enc(id)}/drain`, dl > 0 ? { deadline: dl } : {});
    } else if (act === "delete") {
      await del(`api/v1/nodes/${enc(id)}`);
      state.nodes.delete(id);
      closeDrawer();
    }
    toast(`Node ${id}: ${act} done`);
  } catch (e) {
    toast(`Node ${id}: ${act} failed: ${errText(e)}`, true);
  }
  await loadNodes().catch(() => {});
  if (state.drawer) refreshDrawer();
}

// ---------------------------------------------------------------- tasks
const PAGE = 50;
const BIG = 1000;
async function loadTasks(userAction = true) {
  const status = $("#task-status").value, phase = $("#task-phase").value, q = $("#task-search").value.trim();
  const off = state.tasks.offset;
  const filtered = phase || q;
  const qs = [];
  if (status) qs.push(`status=${enc(status)}`);
  qs.push(filtered || !status ? `limit=${filtered ? BIG : Math.min(BIG, off + PAGE)}&offset=0` : `limit=${PAGE}&offset=${off}`);
  state.tasks.loading = true;
  const r = await get(`api/v1/tasks?${qs.join("&")}`);
  let rows = Object.values(r.tasks || {}).flat();
  if (!status) rows.sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0));
  if (phase) rows = rows.filter((t) => (t.phase ?? t.status) === phase);
  if (q) {
    const ql = q.toLowerCase();
    rows = rows.filter((t) => t.task_id.toLowerCase().includes(ql) || String(t.task_type).toLowerCase().includes(ql));
    if (!rows.length && /^[\w.-]+$/.test(q)) {
      try { rows = [(await get(`api/v1/tasks/${enc(q)}`)).task]; } catch { rows = []; }
    }
  }
  const total = filtered ? rows.length : status ? r.summary?.[`${status}_count`] ?? rows.length : Object.values(r.summary || {}).reduce((a, b) => a + b, 0);
  if (filtered || !status) rows = rows.slice(off, off + PAGE);
  state.tasks = { rows, summary: r.summary || {}, offset: off, total, loading: false };
  if (userAction) renderNow("tasks");
  else invalidate("tasks");
}
views.tasks = {
  load: loadTasks,
  render() {
    const { rows, summary, offset, total } = state.tasks;
    $("#task-summary").textContent = Object.entries(summary).map(([k, v]) => `${k.replace("_count", "")}: ${v}`).join(" · ");
    $("#tasks-table tbody").innerHTML = rows.map((t) => `<tr tabindex="0" data-task="${esc(t.task_id)}"><td>${esc(t.task_id)}</td><td>${esc(t.task_type)}</td><td>${st(t.status)}${progressOf(t)}</td><td>${t.phase ? st(t.phase) : "–"}</td><td>${esc(t.priority ?? "")}</td><td>${esc(t.node_id ?? (t.assigned_nodes || [])[0] ?? "")}</td><td>${when(t.created_at)}</td><td>${t.execution_time !== undefined && t.execution_time !== null ? `${Number(t.execution_time).toFixed(2)} s` : ""}</td></tr>`).join("") || '<tr><td colspan="8" class="muted">No tasks.</td></tr>';
    $("#task-page").textContent = total ? `${offset + 1}–${offset + rows.length} of ${total}` : "";
    $("#task-prev").disabled = offset === 0;
    $("#task-next").disabled = offset + PAGE >= (total || 0) || offset + PAGE >= BIG;
  },
};
// live progress: task_progress messages (at once) over what REST showed (every 2 s)
function progressOf(t) {
  if (t.status !== "active") return "";
  const p = state.progress.get(t.task_id) ?? t.progress;
  if (!p) return "";
  const pct = Math.max(0, Math.min(100, Number(p.percent) || 0));
  return `<span class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${pct.toFixed(0)}" title="${esc(p.message ?? "")}"><svg class="bar" viewBox="0 0 100 8" aria-hidden="true"><rect class="bg" width="100" height="8" rx="2"/><rect class="fg" width="${pct.toFixed(0)}" height="8" rx="2"/></svg>${pct.toFixed(0)}%</span>`;
}
function noteProgress(data) {
  state.progress.set(data.task_id, data);
  if (state.progress.size > 2000) state.progress.delete(state.progress.keys().next().value);
  if (state.tasks.rows.some((t) => t.task_id === data.task_id)) invalidate("tasks");
  const host = $("#task-progress");
  if (host && state.drawer && state.drawer.kind === "task" && state.drawer.id === data.task_id) {
    host.innerHTML = progressOf({ task_id: data.task_id, status: "active" }) + (data.message ? ` <span class="muted">${esc(data.message)}</span>` : "");
  }
}
async function openTask(id) {
  state.drawer = { kind: "task", id };
  showDrawer(`Task ${id}`);
  await refreshDrawer();
}
function renderTaskDrawer(t) {
  const phase = t.phase ?? t.status;
  const terminal = t.status === "completed" || t.status === "failed";
  const actions = isAdmin()
    ? `<div class="actions">${!terminal ? '<button type="button" class="danger" data-act="cancel">Cancel task</button>' : ""}${t.status === "failed" ? '<button type="button" class="primary" data-act="retry">Retry task</button>' : ""}</div>`
    : "";
  const cond = (t.conditions || []).filter((c) => c.status !== "True" || c.type !== "Ready");
  const waiting = t.status === "pending" && cond.length ? `<p class="banner warn">Waiting: ${cond.map((c) => `${esc(c.reason)}: ${esc(c.message)}`).join("; ")}</p>` : "";
  const attempts = t.attempts || [];
  $("#drawer-body").innerHTML = `${actions}${waiting}${dl([
    ["Status", `${st(t.status)} ${t.phase ? st(phase) : ""}`],
    ["Type", esc(t.task_type)],
    ["Priority", esc(t.priority)],
    ["Node / agent", `${esc(t.node_id ?? (t.assigned_nodes || [])[0] ?? "–")} / ${esc(t.agent_id ?? "–")}`],
    ...(t.status === "active" ? [["Progress", `<span id="task-progress">${progressOf(t) || '<span class="muted">not reported</span>'}${(state.progress.get(t.task_id) ?? t.progress)?.message ? ` <span class="muted">${esc((state.progress.get(t.task_id) ?? t.progress).message)}</span>` : ""}</span>`]] : []),
    ["Created", when(t.created_at)],
    ["Assigned / started", `${when(t.assigned_at)} / ${when(t.started_at)}`],
    ["Completed", when(t.completed_at)],
    ["Execution time", t.execution_time != null ? `${Number(t.execution_time).toFixed(3)} s` : "–"],
    ["Retries", `${t.retry_count ?? 0} of ${t.max_retries ?? "–"}`],
    ["Timeout", `${esc(t.timeout)} s`],
    ["Requirements", `<code>${esc(JSON.stringify(t.requirements || {}))}</code>`],
  ])}${t.error_message ? `<h3>Error</h3><pre class="error">${esc(t.error_message)}</pre>` : ""}
  <h3>Attempts</h3>${attempts.length ? `<ol class="timeline">${attempts.map((a) => {
    const cls = a.outcome === "completed" ? "ok" : a.outcome ? "bad" : "now";
    const t0 = a.assigned_at ?? a.assignedAt, t1 = a.started_at ?? a.startedAt, t2 = a.finished_at ?? a.finishedAt;
    return `<li class="${cls}"><b>${esc(a.node_id ?? a.nodeId ?? "?")}</b>${a.agent_id ? ` / ${esc(a.agent_id)}` : ""}: ${esc(a.outcome ?? "in progress")}<div class="muted">assigned ${esc(fmtTime(t0))}, started ${esc(fmtTime(t1))}, finished ${esc(fmtTime(t2))}</div>${a.error_message ?? a.error ? `<div class="error">${esc(a.error_message ?? a.error)}</div>` : ""}</li>`;
  }).join("")}</ol>` : '<p class="muted">None yet.</p>'}
  <h3>Input</h3><pre>${esc(JSON.stringify(t.input_data ?? {}, null, 2))}</pre>
  <h3>Result</h3><pre>${esc(t.result === undefined ? "–" : JSON.stringify(t.result, null, 2))}</pre>
  ${cond.length && t.status !== "pending" ? `<h3>Conditions</h3><pre>${esc(JSON.stringify(t.conditions, null, 2))}</pre>` : ""}`;
  for (const b of $$("[data-act]", $("#drawer-body"))) b.addEventListener("click", () => taskAction(t.task_id, b.dataset.act));
}
function fmtTime(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return new Date(v * 1000).toLocaleTimeString();
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleTimeString();
}
async function taskAction(id, act) {
  const text = act === "cancel" ? "The task ends failed (cancelled); a node running it stops it." : "The failed task is queued again.";
  if (!(await confirmAction(`${act === "cancel" ? "Cancel" : "Retry"} task ${id}?`, text))) return;
  try {
    await post(`api/v1/tasks/${enc(id)}/${act}`, {});
    toast(`Task ${id}: ${act} done`);
  } catch (e) {
    toast(`Task ${id}: ${act} failed: ${errText(e)}`, true);
  }
  refreshDrawer();
  loadTasks().catch(() => {});
}
function submitForm() {
  const err = $("#f-error");
  err.textContent = "";
  const type = $("#f-type").value.trim();
  if (!type) { err.textContent = "Type is required."; $("#f-type").focus(); return null; }
  let input;
  try { input = JSON.parse($("#f-input").value || "{}"); } catch (e) {
    err.textContent = `Input is not valid JSON: ${e.message}`;
    $("#f-input").focus();
    return null;
  }
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    err.textContent = "Input must be a JSON object.";
    $("#f-input").focus();
    return null;
  }
  const timeout = Number($("#f-timeout").value);
  if (!Number.isInteger(timeout) || timeout < 1) { err.textContent = "Timeout must be a positive whole number of seconds."; return null; }
  const body = { task_type: type, priority: Number($("#f-priority").value), input_data: input, timeout };
  const caps = $("#f-caps").value.split(",").map((s) => s.trim()).filter(Boolean);
  const req = {};
  if (caps.length) req.capabilities = caps;
  for (const [id, key] of [["#f-mincpu", "min_cpu"], ["#f-minmem", "min_memory"]]) {
    const raw = $(id).value.trim();
    if (!raw) continue;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0 || v > 100) { err.textContent = `${key.replace("_", " ")} must be a number from 0 to 100.`; $(id).focus(); return null; }
    req[key] = v;
  }
  if (Object.keys(req).length) body.requirements = req;
  return body;
}

// ---------------------------------------------------------------- events
const MAX_EVENTS = 300;
function recordEvent(msg) {
  state.events.unshift(msg);
  if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
  if (!state.eventTypes.has(msg.type)) {
    state.eventTypes.add(msg.type);
    const o = document.createElement("option");
    o.textContent = msg.type;
    $("#events-type").appendChild(o);
  }
  if (!state.eventsPaused) invalidate("events");
}
views.events = {
  load: async () => invalidate("events"),
  render() {
    if (state.eventsPaused) return;
    const type = $("#events-type").value;
    const list = type ? state.events.filter((e) => e.type === type) : state.events;
    $("#events-count").textContent = `${state.events.length} messages kept`;
    $("#events-list").innerHTML = list.slice(0, 200).map((e) => `<li><span>${when(e.timestamp)}</span><span>${st(e.type)}</span><span class="data">${esc(JSON.stringify(e.data).slice(0, 300))}</span></li>`).join("");
  },
};

// ---------------------------------------------------------------- network
views.network = {
  load: loadNodes,
  render() {
    $("#network-note").textContent = drawNetwork($("#network-graph"), state.nodes.values(), (pick) => {
      if (pick.node) openNode(pick.node);
      else { $("#node-status").value = pick.group; location.hash = "#nodes"; }
    });
  },
};

// ---------------------------------------------------------------- config
views.config = {
  async load() {
    state.config = (await get("api/v1/config")).config;
  },
  render() {
    const d = state.status;
    $("#orch-state").textContent = d ? (d.paused ? "stopped" : "running") : "";
    $("#orch-state").className = `badge st-${d && d.paused ? "failed" : "completed"}`;
    $("#ctl-stop").hidden = !isAdmin() || !d || d.paused;
    $("#ctl-start").hidden = !isAdmin() || !d || !d.paused;
    const form = $("#config-form");
    if (!state.config || form.dataset.rendered === JSON.stringify(state.config)) return;
    if (form.contains(document.activeElement) && form.dataset.rendered) return; // do not disturb editing
    form.dataset.rendered = JSON.stringify(state.config);
    const ro = isAdmin() ? "" : " disabled";
    form.innerHTML = Object.entries(state.config).map(([section, values]) => `<fieldset><legend>${esc(section)}</legend>${Object.entries(values).map(([k, v]) => {
      const name = `${section}.${k}`, id = `cfg-${section}-${k}`;
      const input = typeof v === "boolean"
        ? `<input type="checkbox" id="${id}" name="${esc(name)}" data-kind="bool"${v ? " checked" : ""}${ro}>`
        : Array.isArray(v)
          ? `<input id="${id}" name="${esc(name)}" data-kind="list" value="${esc(v.join(", "))}"${ro}>`
          : `<input id="${id}" name="${esc(name)}" data-kind="${typeof v === "number" ? "number" : "string"}" ${typeof v === "number" ? 'inputmode="decimal"' : ""} value="${esc(v)}"${ro}>`;
      return `<div class="field" data-field="${esc(name)}"><label for="${id}">${esc(k.replace(/_/g, " "))}</label>${input}<p class="error" id="${id}-error" role="alert"></p></div>`;
    }).join("")}</fieldset>`).join("") + (isAdmin() ? '<div class="save"><button type="submit" class="primary control">Save configuration</button><span id="config-msg" class="muted" role="status"></span></div>' : "");
  },
};
async function saveConfig(ev) {
  ev.preventDefault();
  const form = $("#config-form");
  for (const f of $$(".field", form)) { f.classList.remove("invalid"); $(".error", f).textContent = ""; }
  const update = {};
  for (const input of $$("input", form)) {
    const [section, key] = input.name.split(".");
    const old = state.config[section][key];
    let v;
    if (input.dataset.kind === "bool") v = input.checked;
    else if (input.dataset.kind === "list") v = input.value.split(",").map((s) => s.trim()).filter(Boolean);
    else if (input.dataset.kind === "number") v = input.value.trim() === "" || Number.isNaN(Number(input.value)) ? input.value : Number(input.value);
    else v = input.value;
    if (JSON.stringify(v) !== JSON.stringify(old)) (update[section] ||= {})[key] = v;
  }
  const msg = $("#config-msg");
  if (!Object.keys(update).length) { msg.textContent = "Nothing changed."; return; }
  try {
    const r = await put("api/v1/config", update);
    state.config = r.config;
    form.dataset.rendered = "";
    document.activeElement?.blur();
    renderNow("config");
    toast("Configuration saved");
  } catch (e) {
    const errors = e instanceof ApiError ? e.details.errors || [] : [];
    let placed = 0;
    for (const { field, message } of errors) {
      const el = $(`.field[data-field="${CSS.escape(field)}"]`, form);
      if (el) { el.classList.add("invalid"); $(".error", el).textContent = message; placed++; }
    }
    msg.textContent = placed ? "Some values were refused; see the fields." : errText(e);
    msg.className = "error";
  }
}
async function control(action) {
  const stop = action === "stop";
  const ok = await confirmAction(stop ? "Stop the orchestrator?" : "Start the orchestrator?", stop ? "No new assignments; new submissions are refused until started again." : "Assignments and submissions resume.");
  if (!ok) return;
  try {
    await post(`api/v1/control/${action}`);
    state.status = (await get("api/v1/status")).data;
    toast(stop ? "Orchestrator stopped" : "Orchestrator started");
    invalidateAll();
  } catch (e) {
    toast(errText(e), true);
  }
}

// ---------------------------------------------------------------- keys (admin)
views.keys = keysView({ $, esc, get, post, del, toast, errText, confirmAction, renderNow });

// ---------------------------------------------------------------- drawer
let drawerReturn = null;
function showDrawer(title) {
  drawerReturn = document.activeElement;
  $("#drawer-title").textContent = title;
  $("#drawer-body").innerHTML = '<p class="muted">Loading…</p>';
  $("#drawer").hidden = false;
  $("#drawer-close").focus();
}
function closeDrawer() {
  state.drawer = null;
  $("#drawer").hidden = true;
  if (drawerReturn && document.contains(drawerReturn)) drawerReturn.focus();
}

// ---------------------------------------------------------------- live data
const NODE_MESSAGES = new Set(["node_registered", "node_status_changed", "node_failure", "node_unregistered", "node_drained", "node_discovered"]);
function onMessage(msg) {
  recordEvent(msg);
  const { type, data } = msg;
  if (type === "initial_status" || type === "network_status") {
    state.status = data;
    if (type === "network_status") pushSample({ ...data, timestamp: data.timestamp ?? msg.timestamp });
    invalidate("overview");
    invalidate("config");
    return;
  }
  if (NODE_MESSAGES.has(type) && data) {
    if (type === "node_registered" && data.node_id) upsertNode(data);
    else if (data.node_id && data.new_status) upsertNode({ node_id: data.node_id, status: data.new_status });
    else if (type === "node_unregistered" && data.node_id) state.nodes.delete(data.node_id);
    invalidate("nodes");
    invalidate("network");
    return;
  }
  if (type === "task_progress" && data) {
    noteProgress(data);
    return;
  }
  if (type === "node_models_changed" && data && data.node_id) {
    upsertNode({ node_id: data.node_id, models: data.models, loaded_models: data.loaded_models });
    if (state.drawer && state.drawer.kind === "node" && state.drawer.id === data.node_id) refreshDrawer();
    return;
  }
  if (type.startsWith("task_")) {
    tasksStale = true;
    if (state.drawer && state.drawer.kind === "task" && data && data.task_id === state.drawer.id) drawerStale = true;
  }
}
let tasksStale = false, drawerStale = false;
function tick() {
  // once a second: refetch what task messages made stale, if it is on screen
  if (document.hidden) return;
  if (tasksStale && state.view === "tasks" && !state.tasks.loading) {
    tasksStale = false;
    loadTasks(false).catch(() => { state.tasks.loading = false; });
  }
  if (drawerStale) { drawerStale = false; refreshDrawer(); }
}
async function poll() {
  // the fallback without a WebSocket, plus the data no message carries (heartbeats)
  if (document.hidden || !state.role) return;
  try {
    if (state.conn !== "live") {
      state.status = (await get("api/v1/status")).data;
      pushSample(state.status);
      invalidate("overview");
      invalidate("config");
      tasksStale = true;
    }
    if (state.view === "nodes" || state.view === "network") await loadNodes();
    else if (state.drawer) await refreshDrawer(); // e.g. the scheduler's condition of a pending task
    if (state.view === "overview" && Date.now() - (state.recsAt || 0) > 30000) {
      state.recsAt = Date.now();
      state.recs = ((await get("api/v1/metrics/performance")).performance_analysis || {}).recommendations || [];
      invalidate("overview");
    }
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) signOut("Your key is no longer accepted.");
  }
}
function setConn(s, delay) {
  state.conn = s;
  const el = $("#conn");
  el.dataset.state = s;
  el.textContent = s === "live" ? "live" : s === "connecting" ? "connecting…" : s === "polling" ? "polling" : `reconnecting in ${Math.round((delay || 0) / 1000)} s (polling)`;
}
async function startLive() {
  let enabled = true;
  try { enabled = (await get("api/v1/websocket/info")).websocket?.enabled !== false; } catch { enabled = true; }
  if (enabled) {
    state.feed = new Feed(onMessage, setConn);
    state.feed.start();
  } else setConn("polling");
  state.timers.push(setInterval(tick, RENDER_EVERY), setInterval(poll, POLL_EVERY));
}

// ---------------------------------------------------------------- navigation
function show(view) {
  if (!views[view] || (view === "keys" && !isAdmin())) view = "overview";
  state.view = view;
  for (const s of $$(".view[data-view]")) s.hidden = s.dataset.view !== view;
  $$("#tabs a").forEach((a) => (a.dataset.view === view ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
  renderNow(view);
  views[view].load().then(() => renderNow(view), (e) => toast(errText(e), true));
}

// ---------------------------------------------------------------- sign-in
async function identify(key) {
  return api("GET", "api/v1/whoami", undefined, key);
}
function signOut(message = "") {
  setKey("");
  state.role = null;
  if (state.feed) state.feed.stop();
  state.timers.forEach(clearInterval);
  state.timers = [];
  for (const s of $$(".view[data-view]")) s.hidden = true;
  $("#signin").hidden = false;
  $("#tabs").hidden = true;
  $("#signout").hidden = true;
  $("#who").textContent = "";
  $("#signin-error").textContent = message;
  setConn("idle");
  $("#conn").textContent = "signed out";
  $("#signin-key").focus();
}
async function enter(who) {
  state.role = who.role;
  document.body.dataset.role = who.role;
  $("#signin").hidden = true;
  $("#tabs").hidden = false;
  $("#signout").hidden = !who.api_key_required;
  $("#who").textContent = `${who.name} (${who.role})`;
  for (const el of $$(".control")) el.hidden = !isAdmin();
  show(location.hash.slice(1) || "overview");
  await startLive();
}
async function boot() {
  const who = await identify(getKey()).catch(() => null);
  if (who && who.authenticated && who.role !== "node") return enter(who);
  signOut(who && who.role === "node" ? "Node keys cannot use the dashboard." : getKey() ? "Your key is no longer accepted." : "");
}

// ---------------------------------------------------------------- wiring
function theme(next) {
  if (next) localStorage.setItem("web4ai.theme", next);
  const t = localStorage.getItem("web4ai.theme");
  if (t) document.documentElement.dataset.theme = t;
}
function wire() {
  theme();
  $("#theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    theme(dark ? "light" : "dark");
  });
  $("#signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = $("#signin-key").value.trim();
    const err = $("#signin-error");
    err.textContent = "";
    try {
      const who = await identify(key);
      if (!who.authenticated) { err.textContent = "This key was refused: it is not a valid API key."; return; }
      if (who.role === "node") { err.textContent = "Node keys cannot use the dashboard: use an admin or read-only key."; return; }
      setKey(key);
      $("#signin-key").value = "";
      await enter(who);
    } catch (e) {
      err.textContent = `Sign-in failed: ${errText(e)}`;
    }
  });
  $("#signout").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", () => state.role && show(location.hash.slice(1)));
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.role) { views[state.view].load().catch(() => {}); invalidateAll(); } });
  // nodes
  $("#node-filter").addEventListener("input", () => { nodeOffset = 0; invalidate("nodes"); });
  $("#node-prev").addEventListener("click", () => { nodeOffset = Math.max(0, nodeOffset - NODE_PAGE); renderNow("nodes"); });
  $("#node-next").addEventListener("click", () => { nodeOffset += NODE_PAGE; renderNow("nodes"); });
  $("#node-status").addEventListener("change", () => { nodeOffset = 0; renderNow("nodes"); });
  const sortBy = (th) => {
    const k = th.dataset.sort;
    nodeSort.dir = nodeSort.key === k ? -nodeSort.dir : 1;
    nodeSort.key = k;
    renderNow("nodes");
  };
  for (const th of $$("#nodes-table th[data-sort]")) {
    th.addEventListener("click", () => sortBy(th));
    th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); } });
  }
  const rowOpen = (sel, attr, open) => {
    const tb = $(sel);
    tb.addEventListener("click", (e) => { const tr = e.target.closest(`tr[${attr}]`); if (tr) open(tr.getAttribute(attr)); });
    tb.addEventListener("keydown", (e) => { const tr = e.target.closest(`tr[${attr}]`); if (tr && e.key === "Enter") open(tr.getAttribute(attr)); });
  };
  rowOpen("#nodes-table tbody", "data-node", openNode);
  rowOpen("#tasks-table tbody", "data-task", openTask);
  rowOpen("#drawer-body", "data-task", openTask);
  $("#drawer-close").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("#drawer").hidden && !document.querySelector("dialog[open]")) closeDrawer(); });
  // tasks
  const reload = () => { state.tasks.offset = 0; loadTasks().catch((e) => toast(errText(e), true)); };
  $("#task-status").addEventListener("change", reload);
  $("#task-phase").addEventListener("change", reload);
  let searchTimer = null;
  $("#task-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(reload, 300); });
  $("#task-prev").addEventListener("click", () => { state.tasks.offset = Math.max(0, state.tasks.offset - PAGE); loadTasks(); });
  $("#task-next").addEventListener("click", () => { state.tasks.offset += PAGE; loadTasks(); });
  $("#task-new").addEventListener("click", () => { $("#f-error").textContent = ""; $("#submit-dialog").showModal(); });
  $("#submit-cancel").addEventListener("click", () => $("#submit-dialog").close());
  $("#submit-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = submitForm();
    if (!body) return;
    try {
      const r = await post("api/v1/tasks", body);
      $("#submit-dialog").close();
      toast(`Task ${r.task_id} submitted`);
      await loadTasks();
      openTask(r.task_id);
    } catch (e) {
      $("#f-error").textContent = errText(e);
    }
  });
  // events
  $("#events-pause").addEventListener("click", () => {
    state.eventsPaused = !state.eventsPaused;
    $("#events-pause").textContent = state.eventsPaused ? "Resume" : "Pause";
    $("#events-pause").setAttribute("aria-pressed", String(state.eventsPaused));
    if (!state.eventsPaused) invalidate("events");
  });
  $("#events-clear").addEventListener("click", () => { state.events = []; renderNow("events"); });
  $("#events-type").addEventListener("change", () => renderNow("events"));
  // config and control
  $("#config-form").addEventListener("submit", saveConfig);
  $("#ctl-stop").addEventListener("click", () => control("stop"));
  $("#ctl-start").addEventListener("click", () => control("start"));
  views.keys.wire();
}

wire();
boot();
