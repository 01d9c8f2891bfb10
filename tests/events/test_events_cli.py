"""``modelyard webhooks`` and ``modelyard events`` against the live server (the commands are
invoked as a group of their own: the top-level ``modelyard`` command adds them)."""

from __future__ import annotations

import json
import threading
import time

from click.testing import CliRunner
from events_support import Live, Receiver, create_model, eventually

from modelyard.cli._common import Env
from modelyard.cli.webhooks import events, webhooks
from modelyard.errors import Unauthenticated


def test_webhook_commands(live: Live, receiver: Receiver) -> None:
    receiver.start()
    create_model(live.admin, "m")
    runner = CliRunner()
    env = Env(url=live.url, token=live.registry.admin_token)
    try:
        r = runner.invoke(
            webhooks, ["create", "default", receiver.url, "--event", "model.", "--json"], obj=env
        )
        assert r.exit_code == 0, r.output
        hook = json.loads(r.stdout)
        assert hook["events"] == ["model."] and hook["secret"]
        r = runner.invoke(webhooks, ["list", "default"], obj=env)
        assert r.exit_code == 0 and hook["id"] in r.output and hook["secret"] not in r.output
        create_model(live.admin, "n")
        eventually(lambda: receiver.bodies(), 10, "a delivery")
        eventually(
            lambda: (
                "DELIVERED"
                in runner.invoke(webhooks, ["deliveries", "default", hook["id"]], obj=env).output
            ),
            10,
            "listed as delivered",
        )
        r = runner.invoke(webhooks, ["delete", "default", hook["id"]], obj=env)
        assert r.exit_code == 0 and "deleted" in r.output
        r = runner.invoke(webhooks, ["list", "default", "--json"], obj=env)
        assert json.loads(r.stdout) == []
    finally:
        env.close()


def test_events_command_prints_a_line_per_event(live: Live) -> None:
    hub = live.registry
    _, token = hub.user("alice")
    create_model(live.client(token), "m")
    create_model(live.client(token), "n", access="public")
    env = Env(url=live.url, token=token)
    result: list[object] = []

    def run() -> None:
        result.append(CliRunner().invoke(events, ["--since", "0"], obj=env))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        time.sleep(1.0)  # it has printed the history by now, and follows
        alice = hub.refreshed(token)
        hub.service.revoke_token(hub.admin, hub.service.list_tokens(alice)[0].id)
        thread.join(15)  # the revoked token ends the stream, and the reconnect is refused
    finally:
        env.close()
    (r,) = result
    lines = r.output.splitlines()  # type: ignore[attr-defined]
    assert isinstance(r.exception, Unauthenticated)  # type: ignore[attr-defined]
    assert [line.split()[2:4] for line in lines] == [
        ["model.create", "default/m"],
        ["model.create", "default/n"],
    ]
    assert all(line.endswith("by alice") for line in lines)
