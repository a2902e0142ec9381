"""Promises about the source itself: the engine reads in one sitting, and the package's
modules import each other without a cycle, imports inside functions included (CI's
`lint-imports` also keeps the layers of pyproject.toml; this check needs nothing installed)."""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tapegrad"

# The path from `Value(2.0) * Value(3.0)` to `.backward()`: Value, apply and the walk, and the
# rules. (It also reads `state.mode` from modes.py and two registries from closures.py, which a
# first reading can take on trust.)
ENGINE_PATH = ("engine.py", "ops.py")
ENGINE_PATH_LINES = 450


def code_lines(source: str) -> int:
    """Lines holding code: not blank, not only a comment, not part of a docstring (a module's,
    class's or function's first string, or a string standing alone as an attribute's doc)."""
    docs: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    if isinstance(stmt.value.value, str):
                        docs.update(range(stmt.lineno, stmt.end_lineno + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip and tok.type != tokenize.ENDMARKER:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docs)


def test_code_lines_counts_code_only():
    source = '"""Doc\n\nstring."""\n\n# comment\nx = 1  # trailing\n\n\ndef f(a,\n      b):\n'
    source += '    """Doc."""\n    return """not a\n    docstring"""\n'
    assert code_lines(source) == 5  # x = 1, the two lines of def, the return's two lines


def test_the_engine_reads_in_one_sitting():
    counts = {name: code_lines((PACKAGE / name).read_text()) for name in ENGINE_PATH}
    total = sum(counts.values())
    assert total <= ENGINE_PATH_LINES, (
        f"Value(2.0) * Value(3.0) -> backward() now takes {total} lines of code to read "
        f"({counts}); the promise is {ENGINE_PATH_LINES}: move what a first reading does not "
        f"need into a module of its own"
    )


@pytest.mark.parametrize("name", ENGINE_PATH)
def test_each_file_on_the_path_opens_by_saying_what_it_holds(name):
    doc = ast.get_docstring(ast.parse((PACKAGE / name).read_text()))
    assert doc and len(doc.split()) >= 20, f"{name} needs an opening docstring for the reader"


# --- no import cycles ----------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _executed(body: list[ast.stmt]):
    """Every statement Python may run, function bodies included, but not `if TYPE_CHECKING:`
    blocks (which only type checkers read)."""
    for stmt in body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            yield from _executed(stmt.orelse)
            continue
        yield stmt
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                yield from _executed(
                    [s for h in inner for s in h.body] if field == "handlers" else inner
                )


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports, at its top or inside a function."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for stmt in _executed(ast.parse(path.read_text()).body):
        if isinstance(stmt, ast.Import):
            found.update(alias.name for alias in stmt.names)
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                anchor = package.rsplit(".", stmt.level - 1)[0] if stmt.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in stmt.names:  # `from . import x` imports module x, else a name of base
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = "open"
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_import_graph_is_read_correctly():
    graph = import_graph()
    assert "tapegrad.ops" in graph["tapegrad.engine"]
    assert "tapegrad.engine" in graph["tapegrad.valuemath"]
    assert "tapegrad.floatmath" in graph["tapegrad.valuemath"]  # `from . import floatmath`
    assert "tapegrad" not in graph["tapegrad.engine"]  # `from . import x` is x, not __init__
    # train imports the tape only inside functions (it loads NumPy): that counts too
    assert any(m.startswith("tapegrad.tape") for m in graph["tapegrad.train"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_inside_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "modules import each other in a cycle: " + " -> ".join(cycle)


FUNCTION_LINES = 60
"""The most lines of code (docstring, comments and blanks not counted) one function may have,
unless a comment on its `def` line says `# long: <why>`."""


def long_functions(path: Path, root: Path = PACKAGE) -> list[str]:
    """Functions in `path` with more than FUNCTION_LINES lines of code and no stated reason."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if "# long:" in lines[node.lineno - 1]:
            continue
        body = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        n = code_lines(textwrap.dedent(body))
        if n > FUNCTION_LINES:
            found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({n} lines)")
    return found


def test_long_functions_are_found(tmp_path):
    (tmp_path / "m.py").write_text(
        "def short():\n    return 1\n\n\ndef long():\n"
        + "".join(f"    x{i} = {i}\n" for i in range(FUNCTION_LINES + 1))
        + "\n\ndef excused():  # long: a table written out\n"
        + "".join(f"    y{i} = {i}\n" for i in range(FUNCTION_LINES + 1)),
        encoding="utf-8",
    )
    found = long_functions(tmp_path / "m.py", root=tmp_path)
    assert found == [f"m.py:5 long ({FUNCTION_LINES + 2} lines)"]


def test_no_function_in_the_package_is_too_long():
    found = [f for path in sorted(PACKAGE.rglob("*.py")) for f in long_functions(path)]
    assert not found, "split these into named parts, or say why on the def line: " + ", ".join(
        found
    )


MAX_FUNCTION_LINES = 80
"""No function is longer than this, docstring, comments and blank lines included, whatever
its reason: past it, a reader loses the thread."""


def test_no_function_is_over_80_lines():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({n})")
    assert not found, "split these into named parts: " + ", ".join(found)
