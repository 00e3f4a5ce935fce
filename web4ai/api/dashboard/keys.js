// The Keys view (admin only): every API key without its secret, a form that mints one
// and shows the key once with a copy button, and revoke (confirmed).
const EXPIRY = [["", "never"], ["86400", "in 1 day"], ["2592000", "in 30 days"], ["7776000", "in 90 days"], ["31536000", "in 1 year"]];

function since(iso) {
  if (!iso) return "never";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  const a = Math.abs(s);
  const text = a < 90 ? `${a.toFixed(0)} s` : a < 5400 ? `${(a / 60).toFixed(0)} min` : a < 172800 ? `${(a / 3600).toFixed(1)} h` : `${(a / 86400).toFixed(0)} d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

// ui: { $, esc, get, post, del, toast, errText, confirmAction, renderNow }
export function keysView(ui) {
  const { $, esc } = ui;
  let keys = [];
  const view = {
    async load() {
      keys = (await ui.get("api/v1/keys")).keys || [];
    },
    render() {
      $("#keys-count").textContent = `${keys.length} key${keys.length === 1 ? "" : "s"}`;
      $("#keys-table tbody").innerHTML = keys.map((k) => `<tr data-key="${esc(k.id)}">
        <td><code>${esc(k.id)}</code></td><td>${esc(k.role)}</td><td>${esc(k.node_id || "")}</td>
        <td>${esc(k.capabilities ? k.capabilities.join(", ") : "any")}</td>
        <td>${esc(k.description || "")}</td><td title="${esc(k.created_at || "not recorded")}">${esc(k.created_at ? since(k.created_at) : "–")}</td>
        <td title="${esc(k.expires_at || "")}" class="${k.expired ? "st st-failed" : ""}">${esc(k.expired ? "expired" : k.expires_at ? since(k.expires_at) : "never")}</td>
        <td title="${esc(k.last_used || "")}">${esc(since(k.last_used))}</td>
        <td><button type="button" class="danger" data-revoke="${esc(k.id)}" aria-label="Revoke ${esc(k.id)}">Revoke</button></td></tr>`).join("")
        || '<tr><td colspan="9" class="muted">No keys.</td></tr>';
    },
    wire() {
      $("#key-new").addEventListener("click", () => {
        $("#k-error").textContent = "";
        $("#key-form").hidden = false;
        $("#key-secret").hidden = true;
        $("#key-dialog").showModal();
      });
      $("#k-role").addEventListener("change", () => { $("#k-node-fields").hidden = $("#k-role").value !== "node"; });
      $("#k-expires").innerHTML = EXPIRY.map(([v, t]) => `<option value="${v}">${t}</option>`).join("");
      $("#key-cancel").addEventListener("click", () => $("#key-dialog").close());
      $("#key-done").addEventListener("click", () => { $("#key-value").value = ""; $("#key-dialog").close(); });
      $("#key-copy").addEventListener("click", async () => {
        const value = $("#key-value").value;
        try { await navigator.clipboard.writeText(value); } catch { $("#key-value").select(); document.execCommand("copy"); }
        $("#key-copied").textContent = "Copied.";
      });
      $("#key-form").addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const role = $("#k-role").value;
        const body = { role };
        const description = $("#k-description").value.trim();
        if (description) body.description = description;
        if (role === "node") {
          body.node_id = $("#k-node").value.trim();
          const caps = $("#k-caps").value.split(",").map((s) => s.trim()).filter(Boolean);
          if (caps.length) body.capabilities = caps;
        }
        const ttl = $("#k-expires").value;
        if (ttl) body.expires_at = Date.now() / 1000 + Number(ttl);
        try {
          const r = await ui.post("api/v1/keys", body);
          $("#key-form").hidden = true;
          $("#key-secret").hidden = false;
          $("#key-created-id").textContent = r.key.id;
          $("#key-value").value = r.api_key;
          $("#key-copied").textContent = "";
          $("#key-form").reset();
          $("#k-node-fields").hidden = true;
          await view.load();
          ui.renderNow("keys");
        } catch (e) {
          const errors = (e.details && e.details.errors) || [];
          $("#k-error").textContent = errors.length ? errors.map((x) => `${x.field}: ${x.message}`).join("; ") : ui.errText(e);
        }
      });
      $("#keys-table tbody").addEventListener("click", async (e) => {
        const btn = e.target.closest("button[data-revoke]");
        if (!btn) return;
        const id = btn.dataset.revoke;
        if (!(await ui.confirmAction(`Revoke key ${id}?`, "Every request with this key is refused from now on, on every API replica."))) return;
        try {
          await ui.del(`api/v1/keys/${encodeURIComponent(id)}`);
          ui.toast(`Key ${id} revoked`);
          await view.load();
          ui.renderNow("keys");
        } catch (err) {
          ui.toast(ui.errText(err), true);
        }
      });
    },
  };
  return view;
}
