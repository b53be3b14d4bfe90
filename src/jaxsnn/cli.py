"""The ``jaxsnn`` command: ``jaxsnn plot DIR``, ``jaxsnn train TASK``, ``jaxsnn tasks``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: Task name -> module run by ``python -m``; ``jaxsnn train NAME`` runs the same.
TASKS = {
    "yinyang-discrete": "jaxsnn.discrete.tasks.yinyang",
    "yinyang-analytical": "jaxsnn.event.tasks.yinyang_analytical",
    "yinyang-event-prop": "jaxsnn.event.tasks.yinyang_event_prop",
    "yinyang-hardware": "jaxsnn.event.tasks.hardware.yinyang",
    "yinyang-mock": "jaxsnn.event.tasks.hardware.yinyang_mock",
    "digits": "jaxsnn.event.tasks.digits",
}

#: tasks that run on the chip: listed with what they still need
NEEDS_CHIP = ("yinyang-hardware",)
#: tasks that need an optional package: task -> (module, how to install it)
NEEDS_PACKAGE = {"digits": ("sklearn", 'pip install "jaxsnn[digits]"')}

USAGE = """usage: jaxsnn <command> [arguments]

commands:
  plot DIR [DIR ...]       draw the figures of saved runs into DIR/plots/
  train TASK [options]     train a task (same options as python -m <module>; see --help)
  tasks                    list the tasks and whether they are available
  export-nir DIR FILE      write the network of a Yin-Yang event result folder as a NIR file
"""


def _available_tasks() -> dict[str, bool]:
    from importlib.util import find_spec

    available = {}
    for name, module in TASKS.items():
        try:
            available[name] = find_spec(module) is not None
        except ModuleNotFoundError:
            available[name] = False
    return available


def _export_nir(args: Sequence[str]) -> int:
    """``jaxsnn export-nir DIR FILE``: the trained network of a Yin-Yang event result folder
    (yinyang-analytical, yinyang-event-prop with or without --recurrent) as a NIR file.
    Exit status 0 written, 2 a folder or file that cannot be used or no package ``nir``
    (one line on stderr, never a traceback); warnings (what other NIR readers ignore) are
    printed as one line each."""
    import warnings

    prog = "jaxsnn export-nir"
    if len(args) == 1 and args[0] in ("-h", "--help"):
        print(f"usage: {prog} RESULT_DIR FILE.nir")
        return 0
    if len(args) != 2 or any(arg.startswith("-") for arg in args):
        print(f"{prog}: error: expected RESULT_DIR FILE.nir, got {list(args)}", file=sys.stderr)
        return 2
    from jaxsnn.event import nir as nir_io

    folder, path = args
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph = nir_io.export_result(folder, path)
    except (nir_io.MissingNIRError, ValueError) as error:
        print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    for warning in caught:
        print(f"{prog}: warning: {warning.message}", file=sys.stderr)
    sizes = " -> ".join(
        str(int(node.input_type["input"][0]))
        for name, node in graph.nodes.items()
        if name.startswith("lif_") or name == "input"
    )
    print(f"{prog}: wrote {path} (neurons: {sizes})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaxsnn`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "plot":
        from jaxsnn.plot.__main__ import main as plot_main

        return plot_main(rest)
    if command == "tasks":
        for name, ok in _available_tasks().items():
            note = "" if ok else "   (not available)"
            if ok and name in NEEDS_CHIP:
                from jaxsnn.event.hardware.bss2 import missing_package

                missing = missing_package()
                if missing is not None:
                    note = f"   (needs the BrainScaleS-2 software stack: {missing} is missing)"
            if ok and name in NEEDS_PACKAGE:
                from importlib.util import find_spec

                package, install = NEEDS_PACKAGE[name]
                if find_spec(package) is None:
                    note = f"   (needs {package}: {install})"
            print(f"{name:22s} python -m {TASKS[name]}{note}")
        return 0
    if command == "export-nir":
        return _export_nir(rest)
    if command == "train":
        if not rest or rest[0].startswith("-"):
            print("jaxsnn train: error: name a task: " + ", ".join(TASKS), file=sys.stderr)
            return 2
        name = rest[0]
        if name not in TASKS:
            print(
                f"jaxsnn train: error: unknown task {name!r}; choose one of: " + ", ".join(TASKS),
                file=sys.stderr,
            )
            return 2
        if not _available_tasks()[name]:
            print(f"jaxsnn train: error: task {name!r} is not available yet", file=sys.stderr)
            return 2
        module = importlib.import_module(TASKS[name])
        module.main(rest[1:])
        return 0
    print(f"jaxsnn: error: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
