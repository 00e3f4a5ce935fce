"""The dashboard's Keys view in chromium (issue 23): an admin lists keys, creates one
(its secret shown once, with a copy button that works) and revokes it; a read-only key
sees no Keys tab and cannot open the view."""

from __future__ import annotations

import asyncio
from typing import Any

import requests

from tests.browser.conftest import Dash, shot_path
from tests.conftest import Stack
from tests.integration.helpers import eventually


def rest(stack: Stack, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else stack.headers
    r = requests.request(method, f"{stack.api.base}{path}", headers=headers, json=body, timeout=30)
    return r.status_code, r.json()


async def test_an_admin_creates_copies_and_revokes_a_key(dash: Dash, stack: Stack) -> None:
    await dash.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await dash.open("/#keys")
    await dash.sign_in()
    await dash.page.wait_for_selector('#keys-table tr[data-key="admin-env"]')
    await dash.page.click("#key-new")
    await dash.page.select_option("#k-role", "node")
    await dash.page.fill("#k-node", "browser-key-node")
    await dash.page.fill("#k-caps", "echo, test_task")
    await dash.page.select_option("#k-expires", "2592000")
    await dash.page.fill("#k-description", "made in the browser")
    await dash.page.click("#key-go")
    await dash.page.wait_for_selector("#key-secret:not([hidden])")
    secret = await dash.page.input_value("#key-value")
    key_id = await dash.page.inner_text("#key-created-id")
    assert secret.startswith("w4a_") and key_id.startswith("key-")
    await dash.page.click("#key-copy")
    await dash.page.wait_for_selector("#key-copied:has-text('Copied')")
    assert await dash.page.evaluate("navigator.clipboard.readText()") == secret
    await dash.page.screenshot(path=str(shot_path("keys-created")))
    await dash.page.click("#key-done")
    # the new key works, is in the table, and the page never shows its secret again
    status, _ = rest(stack, "GET", "/nodes/browser-key-node", key=secret)
    assert status in (200, 404)  # its own node (not registered yet): not 401/403
    row = dash.page.locator(f'#keys-table tr[data-key="{key_id}"]')
    await row.wait_for()
    text = await row.inner_text()
    assert (
        "browser-key-node" in text and "echo, test_task" in text and "made in the browser" in text
    )
    assert secret not in await dash.page.content()
    await dash.page.screenshot(path=str(shot_path("keys-light")), full_page=True)
    # revoke, confirmed
    await row.locator("button[data-revoke]").click()
    await dash.confirm()
    await row.wait_for(state="detached")
    assert rest(stack, "GET", "/nodes/browser-key-node", key=secret)[0] == 401


async def test_bad_input_is_shown_in_the_form(dash: Dash) -> None:
    await dash.open("/#keys")
    await dash.sign_in()
    await dash.page.click("#key-new")
    await dash.page.select_option("#k-role", "node")
    await dash.page.click("#key-go")  # no node id
    await dash.page.wait_for_selector("#k-error:has-text('node_id')")
    assert await dash.page.is_hidden("#key-secret")
    dash.errors[:] = [e for e in dash.errors if "status of 400" not in e]


async def test_a_read_only_key_has_no_keys_view(dash: Dash, stack: Stack) -> None:
    status, made = rest(stack, "POST", "/keys", {"role": "read-only"})
    assert status == 200, made
    await dash.open()
    await dash.sign_in(made["api_key"])
    await dash.page.wait_for_selector("#tiles .tile")
    assert await dash.page.locator('#tabs a[data-view="keys"]').is_hidden()
    await dash.open("/#keys")
    await dash.page.wait_for_selector("#view-overview:not([hidden])")
    assert await dash.page.is_hidden("#view-keys")

    async def used() -> bool:  # the page's reads show as the key's last use
        _status, body = await asyncio.to_thread(rest, stack, "GET", "/keys")
        return any(k["id"] == made["key"]["id"] and k["last_used"] for k in body["keys"])

    await eventually(used, within=10)
