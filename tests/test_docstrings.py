"""Every public module, class, function and method of jaxsnn has a docstring of its own.

The test walks the installed package (every submodule, the tasks included), so a new module
is checked the day it is added. "Public" is what a user can reach without an underscore:
module-level functions and classes defined in that module (not re-exported ones, which are
checked where they are defined) and the methods and properties a class defines itself.
Auto-generated texts do not count: a ``NamedTuple``'s ``"Name(field, ...)"`` and a
dataclass's signature line are not documentation.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import jaxsnn


def public_modules() -> list[str]:
    """Names of jaxsnn and every submodule."""
    found = [jaxsnn.__name__]
    for info in pkgutil.walk_packages(jaxsnn.__path__, prefix=f"{jaxsnn.__name__}."):
        found.append(info.name)
    return sorted(found)


def own_docstring(obj: object) -> str:
    """``obj.__doc__`` unless it is missing or generated (NamedTuple, dataclass)."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    doc = (doc or "").strip()
    if not doc:
        return ""
    name = getattr(obj, "__name__", "")
    if inspect.isclass(obj) and re.fullmatch(rf"{re.escape(name)}\(.*\)", doc, re.S):
        return ""  # NamedTuple / dataclass signature line
    return doc


def undocumented_in(module_name: str) -> list[str]:
    """The public names of ``module_name`` without a docstring of their own."""
    module = importlib.import_module(module_name)
    missing = [] if (module.__doc__ or "").strip() else [module_name]
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not own_docstring(obj):
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                function = member.fget if isinstance(member, property) else member
                if isinstance(function, staticmethod | classmethod):
                    function = function.__func__
                if inspect.isfunction(function) and not (function.__doc__ or "").strip():
                    missing.append(f"{module_name}.{name}.{attr}")
    return missing


def test_the_walk_sees_the_whole_package():
    modules = public_modules()
    for expected in (
        "jaxsnn.neuron",
        "jaxsnn.event.step",
        "jaxsnn.event.eventprop.scan",
        "jaxsnn.event.hardware.mock",
        "jaxsnn.event.tasks.yinyang_event_prop",
        "jaxsnn.discrete.tasks.yinyang",
        "jaxsnn.training.harness",
    ):
        assert expected in modules
    assert len(modules) >= 40


def test_every_public_name_has_a_docstring():
    missing = [name for module in public_modules() for name in undocumented_in(module)]
    assert not missing, "without a docstring of their own:\n" + "\n".join(missing)


def test_the_check_catches_a_missing_docstring(tmp_path, monkeypatch):
    (tmp_path / "undocumented_probe.py").write_text(
        '"""A module."""\n\nimport typing\n\n\ndef documented():\n    """Yes."""\n\n\n'
        "def bare():\n    pass\n\n\nclass Point(typing.NamedTuple):\n    x: float\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert undocumented_in("undocumented_probe") == [
        "undocumented_probe.bare",
        "undocumented_probe.Point",
    ]
