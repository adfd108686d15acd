"""What the deploy tests share: paths, external tools, and checking a command line against the CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCS = ROOT / "docs"
UNIT = DEPLOY / "systemd" / "allora-worker.service"
SUPERVISOR_CONF = DEPLOY / "supervisord" / "allora-worker.conf"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
EXAMPLE_TOML = DEPLOY / "allora-worker.toml.example"
EXAMPLE_ENV = DEPLOY / "allora-worker.env.example"
OWNED_DOCS = (DOCS / "QUICK_START.md", DOCS / "DEPLOYMENT.md", DOCS / "OPERATIONS.md")
# Every page whose `allora-worker` commands tests/deploy/test_docs_commands.py runs.
ALL_DOCS = (ROOT / "README.md", *sorted(DOCS.glob("*.md")))


def require_tool(name: str, apt_package: str) -> str:
    """The path of an external tool. In CI (CI=true) a missing tool fails the test; elsewhere it skips."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install {apt_package})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: .ci/run must install it")
    pytest.skip(message)


def cli_check(args: list[str]) -> tuple[bool, str]:
    """Whether `allora-worker ARGS` names an existing command and its flags are accepted.

    Appends `--help` (eager: it runs after the whole line parsed, so an unknown command or
    option still fails) and requires the help of a command, not of a group.
    """
    from typer.testing import CliRunner

    from allora_worker.cli import app

    if not args:
        return False, "no command"
    if args == ["--version"]:
        result = CliRunner().invoke(app, args)
        return result.exit_code == 0 and result.output.startswith("allora-worker "), result.output
    result = CliRunner().invoke(app, [*args, "--help"])
    output = result.output
    if result.exit_code != 0:
        return False, output
    usage = next((line for line in output.splitlines() if "Usage:" in line), "")
    if not usage:
        return False, f"no usage line in:\n{output}"
    if "COMMAND [ARGS]" in usage and args:
        return False, f"`{' '.join(args)}` is a command group, not a command:\n{usage.strip()}"
    return True, output


_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_IMAGE = re.compile(r"(^|/)allora-worker:[\w.-]+$")
_SEPARATORS = {"&&", "||", ";", "|"}
_REDIRECTIONS = {">", ">>", "<", "2>", "2>&1", "&>"}


def _is_binary(token: str) -> bool:
    return token == "allora-worker" or token.endswith("/bin/allora-worker")


def invocations(line: str) -> list[list[str]]:
    """The argument lists of every `allora-worker` call in one shell command line (see below)."""
    return [args for _, args in invocations_with_env(line)]


def invocations_with_env(line: str) -> list[tuple[dict[str, str], list[str]]]:
    """(environment assignments, argument list) of every `allora-worker` call in one shell line.

    Understands `A && B`, pipes, leading `VAR=value`, `sudo [-u USER]`, `env`, a venv path to
    the binary, `podman|docker exec [-it] NAME allora-worker ...` and
    `podman|docker run ... allora-worker:TAG ARGS` (the image's entrypoint is allora-worker).
    """
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return []
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(token)
    found: list[tuple[dict[str, str], list[str]]] = []
    for segment in segments:
        words = list(segment)
        for index, word in enumerate(words):
            if word in _REDIRECTIONS:  # `... > file`: the file is not an argument
                words = words[:index]
                break
        env: dict[str, str] = {}
        while words:
            head = words[0]
            if head == "sudo":
                words.pop(0)
                while words and words[0].startswith("-"):
                    flag = words.pop(0)
                    if flag in ("-u", "-g") and words:
                        words.pop(0)
            elif head == "env" or head == "exec":
                words.pop(0)
            elif _ENV_ASSIGNMENT.match(head):
                name, _, value = words.pop(0).partition("=")
                env[name] = value
            else:
                break
        if not words:
            continue
        if _is_binary(words[0]):
            found.append((env, words[1:]))
        elif words[0] in ("podman", "docker") and len(words) > 1 and words[1] == "exec":
            rest = [w for w in words[2:] if not w.startswith("-")]
            if len(rest) >= 2 and _is_binary(rest[1]):
                found.append((env, rest[2:]))
        elif words[0] in ("podman", "docker") and len(words) > 1 and words[1] == "run":
            for index, word in enumerate(words):
                if _IMAGE.search(word):
                    found.append((env, words[index + 1 :] or image_default_args()))
                    break
    return found


def containerfile_instructions(path: Path = CONTAINERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of a Containerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "the Containerfile ends inside a continuation line"
    return instructions


def image_default_args() -> list[str]:
    """The arguments the image passes to its `allora-worker` entrypoint when run without any."""
    cmd = [rest for keyword, rest in containerfile_instructions() if keyword == "CMD"]
    return list(json.loads(cmd[-1])) if cmd else []


def shell_lines(markdown: str) -> list[str]:
    """Command lines of the shell code blocks of a Markdown text (continuations joined)."""
    lines: list[str] = []
    in_block = False
    is_shell = False
    pending = ""
    for raw in markdown.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            if in_block:
                in_block = False
            else:
                in_block = True
                is_shell = stripped[3:].strip() in ("bash", "sh", "shell", "console", "")
            continue
        if not (in_block and is_shell):
            continue
        text = stripped.removeprefix("$ ")
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        lines.append(pending + text)
        pending = ""
    return lines


def inline_commands(markdown: str) -> list[str]:
    """`allora-worker ...` commands written inline in the prose (outside code blocks)."""
    prose = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return [m.group(1) for m in re.finditer(r"`(allora-worker [^`]+)`", prose)]
