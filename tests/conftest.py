"""Suite-wide setup: make the helper module ``toy_task`` (a script beside the tests) importable
in importlib mode, compile with XLA's elemental CPU emitters, and share compiled programs
between the test processes (a persistent compilation cache for the run).

Most of the suite's time is XLA compiling small programs (one per network, parameter set and
gradient path). XLA's newer CPU fusion emitters take about a third longer to compile them
than the elemental ones (``--xla_cpu_use_fusion_emitters=false``; two of the gradient
tests: 63 -> 41 CPU seconds), so the suite turns them off -- in ``XLA_FLAGS`` before any
backend starts, so that the test processes and the subprocesses they start (notebooks, the
command line, several devices) all compile that way. The flag is added only if this XLA
accepts it (a short probe in a subprocess; an unknown flag would abort the process), and not
if ``XLA_FLAGS`` already names it.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

ELEMENTAL_EMITTERS = "--xla_cpu_use_fusion_emitters=false"


def _with_flag(flags: str, flag: str) -> str:
    return f"{flags} {flag}".strip()


def _xla_accepts(flags: str) -> bool:
    probe = "import jax, jax.numpy as jnp; jnp.zeros(2).block_until_ready()"
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    probed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
    return probed.returncode == 0


def _use_elemental_emitters() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_use_fusion_emitters" in flags:  # set by the caller, or by the pytest controller
        return
    if _xla_accepts(_with_flag(flags, ELEMENTAL_EMITTERS)):
        os.environ["XLA_FLAGS"] = _with_flag(flags, ELEMENTAL_EMITTERS)


_use_elemental_emitters()


def _share_compiled_programs() -> str | None:
    """One persistent compilation cache for the whole run: the controller, the xdist workers
    and the subprocesses they start (notebooks, the command line, several devices) compile
    many of the same programs; each is compiled once, kept in a temporary directory that its
    creator (the controller) removes at the end (``pytest_unconfigure``). Returns that
    directory, or ``None`` where the environment already names one."""
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return None
    cache_dir = tempfile.mkdtemp(prefix="jaxsnn-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache_dir
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return cache_dir


_OWN_CACHE_DIR = _share_compiled_programs()


def pytest_unconfigure(config) -> None:
    if _OWN_CACHE_DIR is not None:
        shutil.rmtree(_OWN_CACHE_DIR, ignore_errors=True)
