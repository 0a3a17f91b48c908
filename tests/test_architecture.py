"""One PostgreSQL client layer: only services/postgres/ builds pg_dump, pg_restore, pg_dumpall or psql command lines.

Import circles and upward imports: test_import_layers.py.

Read from the source with ast, so a comment or a docstring never counts and
an import inside a function does.
"""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "backups_app"
SERVICES = APP / "services"
CLIENT_LAYER = SERVICES / "postgres"

PROGRAMS = {"pg_dump", "pg_dumpall", "pg_restore", "psql"}
# Options only PostgreSQL's client programs take (the console's own commands
# have --list, --format, --table and --target too, so those are not here).
CLIENT_FLAGS = {
    "--dbname", "--database", "--host", "--port", "--username", "--exit-on-error", "--single-transaction",
    "--use-list", "--globals-only", "--no-role-passwords", "--snapshot", "--compress", "--format=custom",
    "--format=plain", "--no-sync", "--schema-only", "--data-only", "--clean", "--if-exists", "--no-owner",
    "--no-acl", "--create", "--jobs", "--verbose", "ON_ERROR_STOP=1",
}
LOOKUPS = {"find", "candidates"}  # binaries' lookups by program name


def _modules(root: Path):
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _outside_client_layer():
    for path, tree in _modules(APP):
        if CLIENT_LAYER not in path.parents:
            yield path, tree


def _is_flag(value) -> bool:
    return isinstance(value, str) and any(value == f or value.startswith(f + "=") for f in CLIENT_FLAGS)


def _command_line_findings(path: Path, tree: ast.AST) -> list[str]:
    where = path.relative_to(APP.parent)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in PROGRAMS:
            found.append(f"{where}:{node.lineno}: names the program {node.value!r}")
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            found += [f"{where}:{e.lineno}: client option {e.value!r} in an argument list"
                      for e in node.elts if isinstance(e, ast.Constant) and _is_flag(e.value)]
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) \
                and _is_flag(node.values[0].value.split("=")[0]):
            found.append(f"{where}:{node.lineno}: builds the client option {node.values[0].value!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in LOOKUPS and isinstance(node.func.value, ast.Name) \
                and node.func.value.id == "binaries":
            found.append(f"{where}:{node.lineno}: looks a program up by name (binaries.{node.func.attr})")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("postgres.binaries") \
                and LOOKUPS & {a.name for a in node.names}:
            found.append(f"{where}:{node.lineno}: imports binaries' lookup by name")
    return found


def test_no_module_outside_the_client_layer_builds_a_postgresql_command_line():
    findings = [f for path, tree in _outside_client_layer() for f in _command_line_findings(path, tree)]
    assert findings == []


def test_the_check_would_see_a_command_line_built_elsewhere():
    tree = ast.parse(
        'tool = binaries.find("pg_restore")\n'
        'args = [tool.path, "--list", "--exit-on-error", path]\n'
        'more = [tool.path, f"--jobs={jobs}"]\n'
        'psql = ["psql", "-X"]\n'
    )
    found = _command_line_findings(APP / "services" / "verify" / "example.py", tree)
    assert len(found) == 5, found
