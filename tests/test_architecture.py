"""One PostgreSQL client layer: only services/postgres/ builds and starts pg_dump, pg_restore, pg_dumpall or psql.

It also starts initdb and pg_ctl, and the compressors and age beside them in
a pipe: outside it nothing starts a program, except the two modules below
whose programs are no PostgreSQL program (the console's own processes, age).

Import circles and upward imports: test_import_layers.py.

Read from the source with ast, so a comment or a docstring never counts and
an import inside a function does.
"""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "backups_app"
SERVICES = APP / "services"
CLIENT_LAYER = SERVICES / "postgres"

PROGRAMS = {"pg_dump", "pg_dumpall", "pg_restore", "psql", "initdb", "pg_ctl"}
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


# Outside postgres/, only these start programs, and none of them a PostgreSQL one.
MAY_START = {
    SERVICES / "jobs" / "supervisor.py": "the console's own web server and worker (manage.py)",
    SERVICES / "crypto" / "age.py": "age, holding the private key's pipe; pipes to PostgreSQL programs are postgres/'s",
}
STARTERS = {
    "subprocess": {"Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"},
    "os": {"system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp",
           "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl",
           "spawnle", "spawnlp", "spawnlpe"},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
    "pty": {"spawn", "fork"},
}
PROC = "backups_app.services.postgres.proc"  # the client layer's own way of starting a program
PROC_STARTERS = {"spawn", "run"}


def _process_starts(path: Path, tree: ast.AST) -> list[str]:
    where = path.relative_to(APP.parent)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.attr in STARTERS.get(node.func.value.id, ()):
            found.append(f"{where}:{node.lineno}: starts a program ({node.func.value.id}.{node.func.attr})")
        elif isinstance(node, ast.ImportFrom) and node.module in STARTERS \
                and STARTERS[node.module] & {a.name for a in node.names}:
            found.append(f"{where}:{node.lineno}: imports a way to start programs from {node.module}")
        elif isinstance(node, ast.ImportFrom) and _imports_proc_starters(node):
            found.append(f"{where}:{node.lineno}: starts programs through postgres/proc.py")
    return found


def _imports_proc_starters(node: ast.ImportFrom) -> bool:
    imported = {a.name for a in node.names}
    if node.module == PROC:
        return bool(PROC_STARTERS & imported)
    return node.module == PROC.rsplit(".", 1)[0] and "proc" in imported


def test_no_module_outside_the_client_layer_starts_a_program():
    findings = [f for path, tree in _outside_client_layer() if path not in MAY_START
                for f in _process_starts(path, tree)]
    assert findings == []


def test_the_check_would_see_a_program_started_elsewhere():
    tree = ast.parse(
        "import subprocess, os\n"
        "from subprocess import Popen\n"
        "from backups_app.services.postgres.proc import Ran, last_lines, spawn\n"
        "from backups_app.services.postgres.proc import Ran, last_lines\n"  # what a run left, not a start
        "from backups_app.services.postgres import proc\n"
        "subprocess.Popen(args)\n"
        "subprocess.run(args, env=env)\n"
        "os.execvp(args[0], args)\n"
        "subprocess.PIPE\n"  # a constant, not a start
    )
    found = _process_starts(APP / "services" / "backups" / "example.py", tree)
    assert len(found) == 6, found
