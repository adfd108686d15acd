"""The import graph keeps the layering docs/ARCHITECTURE.md promises.

    cli → worker → (market | model | chain | journal) → config → (logging_setup, wallet_format)
        → (secrets, exitcodes, the package root)

An import may only point down: never up, never sideways between two parts of one layer (market
does not import chain; chain does not import journal). The devnet stands apart: it imports
nothing of the worker, and nothing imports it but the `devnet` command and the demo. Nothing in
src imports the tests, the benchmarks or their shared harness, and bench/ and harness/ never
import tests/. The graph comes from grimp, which reads every import statement, lazy ones too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "allora_worker"

# Higher imports lower; equal ranks are siblings and must not import each other. A new top-level
# module or package must be placed here (the test says so), which is the point: decide its layer.
LAYERS: dict[str, int] = {
    "__main__": 6,
    "cli": 5,
    "worker": 4,
    "market": 3,
    "model": 3,
    "chain": 3,
    "journal": 3,
    "config": 2,
    "logging_setup": 1,
    "wallet_format": 1,
    "candles": 1,  # the numpy candle type market fills and model reads (neither imports the other)
    "secrets": 0,
    "exitcodes": 0,
    "extras": 0,
    "": 0,  # the package root: `__version__` only
}
DEVNET = "devnet"
# The only modules outside the devnet that may import it: they compose the devnet with the worker.
DEVNET_USERS = frozenset({f"{PACKAGE}.cli.devnet_cmd", f"{PACKAGE}.cli.demo"})
OUTSIDE_SRC = ("tests", "bench", "harness")


def _part(module: str) -> str:
    """The layer part a module belongs to. A top-level `X_something` module belongs to part `X`
    when X has a layer (`journal_pg`, `journal_schema` -> journal; `config_reference` -> config)."""
    parts = module.split(".")
    part = parts[1] if len(parts) > 1 else ""
    family = part.split("_")[0]
    return family if part not in LAYERS and family in LAYERS else part


def layering_violations(graph: grimp.ImportGraph) -> list[str]:
    """Every import that breaks the rules above, as `importer -> imported (line N): why`."""
    problems: list[str] = []
    for importer in sorted(m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")):
        src = _part(importer)
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            top = imported.split(".")[0]
            if top in OUTSIDE_SRC:
                problems.append(f"{importer} -> {imported}: src never imports {top}/")
                continue
            if top != PACKAGE:
                continue
            dst = _part(imported)
            if src == dst:
                continue
            why = None
            if src == DEVNET:
                why = "the devnet imports nothing of the worker"
            elif dst == DEVNET:
                if importer not in DEVNET_USERS:
                    why = f"only {sorted(DEVNET_USERS)} may import the devnet"
            elif src not in LAYERS or dst not in LAYERS:
                unknown = src if src not in LAYERS else dst
                why = f"{PACKAGE}.{unknown} has no layer: add it to LAYERS in {Path(__file__).name}"
            elif LAYERS[src] == LAYERS[dst]:
                why = f"sideways: {src} and {dst} are siblings in one layer"
            elif LAYERS[src] < LAYERS[dst]:
                why = f"upward: {src} is below {dst}"
            if why:
                lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer,
                                                                                    imported=imported)})
                problems.append(f"{importer} -> {imported} (line {', '.join(map(str, lines))}): {why}")
    return problems


def test_src_imports_point_down_only() -> None:
    graph = grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)
    problems = layering_violations(graph)
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


def _imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("folder", ["bench", "harness"])
def test_bench_and_harness_never_import_tests(folder: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports_of(path) if n.split(".")[0] == "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_the_checker_catches_each_kind_of_violation() -> None:
    """The rules above, applied to a graph with one import of each forbidden kind."""
    graph = grimp.ImportGraph()
    edges = [
        ("allora_worker.config", "allora_worker.chain.wallet"),  # upward
        ("allora_worker.chain.reconcile", "allora_worker.journal"),  # sideways
        ("allora_worker.worker.demo", "allora_worker.devnet.server"),  # devnet from the worker
        ("allora_worker.devnet.state", "allora_worker.chain.tx"),  # devnet into the worker
        ("allora_worker.market.http", "tests.conftest"),  # src into tests
        ("allora_worker.plugins", "allora_worker.config"),  # no layer
        # allowed:
        ("allora_worker.cli.demo", "allora_worker.devnet.server"),
        ("allora_worker.worker.wiring", "allora_worker.config"),
        ("allora_worker.chain.client", "allora_worker.chain.tx"),
    ]
    for importer, imported in edges:
        graph.add_module(importer)
        graph.add_module(imported)
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import")
    found = layering_violations(graph)
    assert [p.split(" ")[0] for p in found] == sorted(e[0] for e in edges[:6])


# A name that says it exists for the tests (`clear_for_tests`, `_testing_only`) or an import of a
# test framework: production code carries no test hooks. Tests isolate by building fresh objects
# (e.g. a new `secrets.SecretRegistry` per test in tests/conftest.py).
_TEST_HOOK_WORDS = ("for_test", "for_tests", "testing", "test_hook", "test_only")
_TEST_FRAMEWORKS = ("pytest", "unittest", "_pytest")


def _test_hooks_in(src: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(src.rglob("*.py")):
        if "/pb/" in path.as_posix():
            continue  # generated protobuf code
        rel = path.relative_to(src.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name.lower()
                if any(word in name for word in _TEST_HOOK_WORDS):
                    found.append(f"{rel}:{node.lineno}: {node.name}")
        found += [f"{rel}: imports {name}" for name in sorted(_imports_of(path))
                  if name.split(".")[0] in _TEST_FRAMEWORKS]
    return found


def test_src_carries_no_test_hooks() -> None:
    hooks = _test_hooks_in(ROOT / "src" / PACKAGE)
    assert not hooks, "test hooks in production code:\n" + "\n".join(hooks)


def test_the_hook_check_sees_a_hook_and_a_test_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "state.py").write_text("def clear_for_tests():\n    pass\n\ndef clear():\n    pass\n")
    (pkg / "probe.py").write_text("from _pytest.monkeypatch import MonkeyPatch\n")
    assert _test_hooks_in(pkg) == ["pkg/probe.py: imports _pytest.monkeypatch", "pkg/state.py:1: clear_for_tests"]


# Exit codes are part of the operator contract (docs/OPERATIONS.md, systemd's
# RestartPreventExitStatus): one module names them all, and nothing else spells one as a number.
_EXITING_CALLS = ("Exit", "SystemExit", "exit", "fail")


def _numeric_exit_codes(src: Path) -> list[str]:
    found: list[str] = []
    for path in sorted(src.rglob("*.py")):
        if path.name == "exitcodes.py" or "/pb/" in path.as_posix():
            continue
        rel = path.relative_to(src.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Assign):
                found += [f"{rel}:{node.lineno}: {t.id} defined outside exitcodes.py" for t in node.targets
                          if isinstance(t, ast.Name) and t.id.startswith("EXIT_")]
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                values = [k.value for k in node.keywords if k.arg == "code"]
                if name in _EXITING_CALLS:
                    values += node.args[:1] if name != "fail" else node.args[1:2]
                found += [f"{rel}:{node.lineno}: {name}(... {v.value} ...)" for v in values
                          if isinstance(v, ast.Constant) and type(v.value) is int and v.value != 0]
    return found


def test_exit_codes_are_named_in_exitcodes_only() -> None:
    numeric = _numeric_exit_codes(ROOT / "src" / PACKAGE)
    assert not numeric, "use the names in allora_worker/exitcodes.py:\n" + "\n".join(numeric)


def test_the_exit_code_check_sees_each_spelling(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "cmd.py").write_text("EXIT_X = 3\nraise typer.Exit(1)\nfail('no', code=2)\nfail('no', 2)\n"
                                "sys.exit(0)\nraise SystemExit(EXIT_X)\n")
    assert [line.split(": ", 1)[0] for line in _numeric_exit_codes(pkg)] == [
        "pkg/cmd.py:1", "pkg/cmd.py:2", "pkg/cmd.py:3", "pkg/cmd.py:4"]
