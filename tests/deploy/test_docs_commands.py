"""Every `allora-worker` command in the operator docs exists and accepts the flags written there."""

from __future__ import annotations

import shlex

import pytest

from tests.deploy.support import OWNED_DOCS, cli_check, inline_commands, invocations, shell_lines


def _documented_commands() -> list[tuple[str, list[str]]]:
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for doc in OWNED_DOCS:
        text = doc.read_text(encoding="utf-8")
        for line in [*shell_lines(text), *inline_commands(text)]:
            for args in invocations(line):
                found.setdefault((doc.name, shlex.join(args)), (doc.name, args))
    return sorted(found.values(), key=lambda item: (item[0], item[1]))


COMMANDS = _documented_commands()


def test_the_docs_are_read_and_hold_the_essential_commands() -> None:
    # Guards the extractor itself: a parser that found nothing would make the test below vacuous.
    joined = {shlex.join(args) for _, args in COMMANDS}
    for essential in ("run", "status", "doctor", "config check", "wallet balance", "run --dry-run --once"):
        assert any(command == essential or command.endswith(" " + essential) for command in joined), essential
    assert {doc for doc, _ in COMMANDS} == {doc.name for doc in OWNED_DOCS}


@pytest.mark.parametrize(("doc", "args"), COMMANDS, ids=[f"{d}: {shlex.join(a)}" for d, a in COMMANDS])
def test_documented_command_is_accepted_by_the_cli(doc: str, args: list[str]) -> None:
    ok, output = cli_check(args)
    assert ok, f"{doc}: `allora-worker {shlex.join(args)}` is not accepted by the CLI:\n{output}"


def test_the_checker_rejects_unknown_commands_and_flags() -> None:
    assert cli_check(["config", "check"])[0]
    assert not cli_check(["config", "chekc"])[0]
    assert not cli_check(["config", "check", "--no-such-flag"])[0]
    assert not cli_check(["config"])[0], "a bare group is not a command"


def test_the_extractor_understands_the_wrappers_used_in_the_docs() -> None:
    line = "sudo -u allora-worker X=1 /opt/allora-worker/venv/bin/allora-worker status --json"
    assert invocations(line) == [["status", "--json"]]
    assert invocations("podman exec -it allora-worker allora-worker status") == [["status"]]
    assert invocations("podman run --rm -v a:/b allora-worker:latest config check") == [["config", "check"]]
    assert invocations("systemctl status allora-worker && allora-worker doctor") == [["doctor"]]
    assert invocations("journalctl -u allora-worker -f") == []
