"""Every dotted task path handed to django-q2 names a real function, so a typo fails here and not at 3 a.m."""

import ast
import importlib
import pydoc
import re
from pathlib import Path

import pytest

from backups_app import tasks
from backups_app.services.jobs import queue

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("backups_app", "backupconsole") for p in (ROOT / d).rglob("*.py")]
DOTTED = re.compile(r"""["'](backups_app\.tasks\.[A-Za-z_][A-Za-z0-9_]*)["']""")
# Functions whose first argument is a task name that queue.TASKS prefixes.
TAKES_TASK_NAME = {"enqueue", "run_in_turn"}
INTERFACE = ["run_backup", "run_restore", "run_verify", "run_prune", "run_scheduled_backup", "reap_lost_jobs",
             "copy_offsite"]


def dotted_paths_in_code() -> set[str]:
    return {m for p in SOURCES for m in DOTTED.findall(p.read_text())}


def task_names_given_to_the_queue() -> set[str]:
    names = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if func in TAKES_TASK_NAME and isinstance(node.args[0].value, str):
                    names.add(queue.TASKS + node.args[0].value)
    return names


def assert_resolves(path: str) -> None:
    # pydoc.locate is how a django-q2 worker turns the string into a function.
    assert callable(pydoc.locate(path)), f"{path} does not resolve to a function"


def test_the_queue_prefix_is_the_tasks_module():
    assert queue.TASKS == tasks.__name__ + "."


def test_every_task_name_given_to_the_queue_resolves():
    names = task_names_given_to_the_queue()
    wanted = ("run_backup", "run_restore", "run_verify", "run_prune", "copy_offsite")
    assert {queue.TASKS + n for n in wanted} <= names
    for path in names:
        assert_resolves(path)


def test_every_dotted_task_path_written_in_the_code_resolves():
    for path in dotted_paths_in_code():
        assert_resolves(path)


def test_the_task_interface_others_rely_on_is_complete():
    for name in INTERFACE:
        assert_resolves(queue.TASKS + name)


@pytest.mark.django_db
def test_every_schedule_row_after_migrations_names_a_real_function():
    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("migrate", verbosity=0)
    for func in Schedule.objects.values_list("func", flat=True):
        assert_resolves(func)


def service_calls_in_tasks() -> list[tuple[str, str]]:
    """(module path, function) for each `from backups_app.services.pkg import m` ... `m.f(` in tasks.py."""
    tree = ast.parse(Path(tasks.__file__).read_text())
    imported = {a.asname or a.name: f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and (n.module or "").startswith("backups_app.services") for a in n.names}
    return sorted({(imported[n.value.id], n.attr) for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                   and isinstance(n.value, ast.Name) and n.value.id in imported})


def test_tasks_call_services():
    assert len(service_calls_in_tasks()) >= 6


@pytest.mark.parametrize("module,function", service_calls_in_tasks())
def test_each_task_calls_a_service_function_that_exists(module, function):
    mod = importlib.import_module(module)  # a missing module is a failure, never a skip
    assert callable(getattr(mod, function, None)), f"{module}.{function} is missing"
