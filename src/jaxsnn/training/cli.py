"""Command-line front end shared by every task.

A task module defines its own options with :func:`task_parser` and a function that turns the
parsed options into a :class:`~jaxsnn.training.harness.Model`, an optimiser and the data;
:func:`run_task` does the rest (validation, ``--resume``, training, summary line)::

    python -m jaxsnn.discrete.tasks.yinyang --epochs 30 --seed 1 --output runs/a
    python -m jaxsnn.discrete.tasks.yinyang --resume runs/a
    python -m jaxsnn.discrete.tasks.yinyang --resume-previous runs/a  # checkpoint.npz damaged
    python -m jaxsnn.discrete.tasks.yinyang --devices 4  # each batch split over 4 devices
    python -m jaxsnn.discrete.tasks.yinyang --coordinator 10.0.0.1:1234 --num-processes 2 \
        --process-id 0  # on host A; the same with --process-id 1 on host B

Exit status: 0 done; 1 training failed (a non-finite loss); 2 an option, folder or file
cannot be used (one line on stderr names it); 130 stopped by Ctrl-C after a saved epoch (one
line gives the command that continues the run).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

#: the held-out splits a run can be evaluated on (``--eval-split``)
EVAL_SPLITS = ("test", "validation")
#: the data a run trains on (``--train-split``): the training split, or for the final test
#: figure the settings chosen on validation refitted on the training and validation splits
TRAIN_SPLITS = ("train", "train+validation")

#: Options that steer where and how a run happens, not what is trained; they are not part
#: of the saved configuration and may differ on --resume.
RUN_OPTIONS = (
    "output",
    "resume",
    "resume_previous",
    "quiet",
    "verbose",
    "devices",
    "coordinator",
    "num_processes",
    "process_id",
)

#: The options of a distributed run, which go together (all or none).
MULTIHOST_OPTIONS = ("coordinator", "num_processes", "process_id")


def _int_at_least(text: str, minimum: int) -> int:
    """Parse ``text`` as an integer ``>= minimum`` or raise ``ArgumentTypeError``."""
    try:
        value = int(text)
    except ValueError:
        message = f"expected an integer >= {minimum}, got {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def address(text: str) -> str:
    """argparse type: ``HOST:PORT`` with a port in 1..65535 (e.g. ``10.0.0.1:1234``)."""
    host, colon, port = text.rpartition(":")
    if not (colon and host and port.isdigit() and 1 <= int(port) <= 65535):
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. 10.0.0.1:1234), got {text!r}")
    return text


def _finite_float(text: str, allow_zero: bool, expected: str) -> float:
    """A finite float ``> 0`` (``>= 0`` with ``allow_zero``) parsed from ``text``, else an
    ``ArgumentTypeError`` (``expected`` names what was wanted)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    in_range = value >= 0 if allow_zero else value > 0
    if not in_range or value == float("inf"):
        bound = ">= 0" if allow_zero else "> 0"
        raise argparse.ArgumentTypeError(f"must be a finite number {bound}, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    return _finite_float(text, False, "a positive number")


def non_negative_float(text: str) -> float:
    """argparse type: a finite float >= 0."""
    return _finite_float(text, True, "a number >= 0")


class _DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to every option that has a meaningful default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        trivial = any(action.default is value for value in (None, False, argparse.SUPPRESS))
        if not trivial and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def task_parser(
    prog: str, description: str, *, epochs: int, batch_size: int, lr: float
) -> argparse.ArgumentParser:
    """A parser with the options every task has; the task adds its own."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=_DefaultsHelpFormatter
    )
    group = parser.add_argument_group("run")
    group.add_argument("--epochs", type=positive_int, default=epochs, help="training epochs")
    group.add_argument("--seed", type=non_negative_int, default=0, help="random seed")
    group.add_argument(
        "--batch-size", type=positive_int, default=batch_size, help="samples per update"
    )
    group.add_argument("--lr", type=positive_float, default=lr, help="learning rate")
    group.add_argument(
        "--eval-split",
        choices=EVAL_SPLITS,
        default="test",
        help="split evaluated after every epoch and in the final line: choose settings on "
        "validation, report test once",
    )
    group.add_argument(
        "--train-split",
        choices=TRAIN_SPLITS,
        default="train",
        help="data trained on: train+validation refits the settings chosen on validation on "
        "both splits for the final test figure (needs --eval-split test)",
    )
    group.add_argument(
        "--output",
        type=Path,
        default=None,
        help="result folder (default: results/<task>/<time>-seed<seed>)",
    )
    resume = group.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="DIR",
        help="continue the run saved in DIR from its last completed epoch",
    )
    resume.add_argument(
        "--resume-previous",
        type=Path,
        default=None,
        metavar="DIR",
        help="continue the run saved in DIR from the checkpoint before the last one "
        "(checkpoint.previous.npz), when checkpoint.npz is damaged; --resume says when",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    group.add_argument("--verbose", action="store_true", help="log every epoch")
    add_parallel_options(parser)
    return parser


def add_parallel_options(parser: argparse.ArgumentParser) -> None:
    """The group "devices and hosts": ``--devices`` and the three options of a run over
    several processes (``--coordinator``, ``--num-processes``, ``--process-id``)."""
    group = parser.add_argument_group(
        "devices and hosts",
        "each batch is split over the devices (the batch size must be a multiple of their "
        "number); parameters and optimiser state are replicated",
    )
    group.add_argument(
        "--devices",
        type=positive_int,
        default=None,
        metavar="N",
        help="devices that share each batch (default: all visible devices of the default "
        "backend, or the most that divide the batch size; 1: one device)",
    )
    group.add_argument(
        "--coordinator",
        type=address,
        default=None,
        metavar="HOST:PORT",
        help="address of process 0 for a run over several processes or hosts (jax.distributed);"
        " give it, --num-processes and --process-id to every process",
    )
    group.add_argument(
        "--num-processes",
        type=positive_int,
        default=None,
        metavar="N",
        help="number of processes of the distributed run",
    )
    group.add_argument(
        "--process-id",
        type=non_negative_int,
        default=None,
        metavar="I",
        help="this process's number, 0 .. N-1 (0 writes the results)",
    )


#: a network option: ``(name, type, help)``; a sequence of strings as the type gives the choices
Option = tuple[str, Callable[[str], Any] | Sequence[str], str]


def network_parser(
    prog: str, description: str, defaults: dict[str, Any], options: Sequence[Option]
) -> argparse.ArgumentParser:
    """:func:`task_parser` (epochs, batch size and learning rate from ``defaults``) plus a
    group "network" with one ``--name`` per option, its default ``defaults[name]``."""
    parser = task_parser(
        prog,
        description,
        epochs=defaults["epochs"],
        batch_size=defaults["batch_size"],
        lr=defaults["lr"],
    )
    group = parser.add_argument_group("network")
    for name, kind, text in options:
        flag = "--" + name.replace("_", "-")
        if callable(kind):
            group.add_argument(flag, type=kind, default=defaults[name], help=text)
        else:
            group.add_argument(flag, choices=list(kind), default=defaults[name], help=text)
    return parser


def _explicit_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """Names of the options given on the command line (not left at their defaults)."""
    probe = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:  # noqa: SLF001 - argparse offers no public iterator
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = True
            else:
                kwargs["nargs"] = action.nargs
            probe.add_argument(*action.option_strings, **kwargs)
    known, _ = probe.parse_known_args(argv)
    return set(vars(known))


def _apply_saved_config(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    argv: Sequence[str],
    *,
    previous: bool = False,
) -> None:
    """On ``--resume``: take the saved options; refuse explicit options that contradict them."""
    from jaxsnn.training import results

    saved = results.saved_config(args.resume, previous=previous)
    options = {**saved["task_config"], **saved["train"]}
    explicit = _explicit_options(parser, argv) - set(RUN_OPTIONS)
    for name, value in options.items():
        if not hasattr(args, name):
            continue
        current = getattr(args, name)
        if name in explicit and _jsonable(current) != value:
            flag = "--" + name.replace("_", "-")
            parser.error(f"{flag}={current} differs from the resumed run's value {value!r}")
        setattr(args, name, tuple(value) if isinstance(value, list) else value)


def _command_of(parser: argparse.ArgumentParser) -> str:
    """The command line that runs the task again: the parser's ``prog`` when it is one
    (``python -m jaxsnn.event.tasks.yinyang_event_prop``), else ``python <script>``."""
    if parser.prog.startswith("python"):
        return parser.prog
    return f"python {shlex.quote(sys.argv[0])}"


def _fail(parser: argparse.ArgumentParser, message: str, status: int = 2) -> NoReturn:
    """End the program with one line ``<prog>: error: <message>`` on stderr."""
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    sys.exit(status)


def _checkpoint_state(path: Path) -> tuple[int | None, str]:
    """``(completed epochs, "")`` of an intact checkpoint file, else ``(None, why not)``."""
    from jaxsnn.training import results

    try:
        return results.checkpoint_epoch(path), ""
    except results.MissingFileError:
        return None, "missing"
    except results.ResultsError as error:
        return None, getattr(error, "problem", str(error))


def _resume_hint(output: Path, command: str) -> str:
    """How to continue the run in ``output`` from what is saved there (one phrase)."""
    from jaxsnn.training import results

    folder = shlex.quote(str(output))
    epoch, _ = _checkpoint_state(output / results.CHECKPOINT)
    if epoch is not None:
        return f"epoch {epoch} is saved; resume with: {command} --resume {folder}"
    epoch, _ = _checkpoint_state(output / results.PREVIOUS_CHECKPOINT)
    if epoch is not None:
        return f"epoch {epoch} is saved; resume with: {command} --resume-previous {folder}"
    return "no epoch is saved, so there is nothing to resume"


def _resume_problem(error: Exception, output: Path, previous: bool, command: str) -> str:
    """The one-line refusal of ``--resume``/``--resume-previous``, with what is still usable."""
    from jaxsnn.training import results

    option = "--resume-previous" if previous else "--resume"
    message = str(error)
    if not message.startswith(option):
        message = f"{option} {output}: {message}"
    if not isinstance(error, (results.MissingFileError, results.DamagedFileError)):
        return message
    if previous:
        epoch, _ = _checkpoint_state(output / results.CHECKPOINT)
        return message + (
            "; no saved state is usable: start a new run with another --output"
            if epoch is None
            else ""
        )
    if error.path.name != results.CHECKPOINT:
        return message
    if isinstance(error, results.MissingFileError):
        message = f"--resume {output}: {error.path} does not exist"
    prev = output / results.PREVIOUS_CHECKPOINT
    epoch, why = _checkpoint_state(prev)
    if epoch is not None:
        return (
            f"{message}; the previous checkpoint {prev} (after epoch {epoch}) is intact: "
            f"continue from it with: {command} --resume-previous {shlex.quote(str(output))}"
        )
    if why == "missing":
        if isinstance(error, results.MissingFileError):
            return str(error)  # the run saved nothing yet
        return message + "; there is no previous checkpoint: start a new run with another --output"
    return (
        f"{message}; the previous checkpoint {prev} {why}, so no saved state is usable: "
        "start a new run with another --output"
    )


def _flag(name: str) -> str:
    """The option of an argparse destination: ``num_processes`` -> ``--num-processes``."""
    return "--" + name.replace("_", "-")


def _multihost_problem(args: argparse.Namespace) -> str | None:
    """Why the options of a distributed run cannot be used (``None``: they can)."""
    given = [name for name in MULTIHOST_OPTIONS if getattr(args, name, None) is not None]
    if not given:
        return None
    missing = [_flag(name) for name in MULTIHOST_OPTIONS if name not in given]
    if missing:
        return "--coordinator, --num-processes and --process-id go together; missing: " + ", ".join(
            missing
        )
    if args.process_id >= args.num_processes:
        return (
            f"--process-id {args.process_id} must be smaller than "
            f"--num-processes {args.num_processes} (processes are numbered from 0)"
        )
    return None


def _join_processes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Join the distributed run the options describe, before anything touches a device.

    Returns whether this process is the main one (process 0, which writes and reports);
    ends the program with one line when the options are incomplete or joining fails.
    """
    problem = _multihost_problem(args)
    if problem is not None:
        _fail(parser, problem)
    if getattr(args, "coordinator", None) is None:
        return True
    from jaxsnn.training import distributed

    try:
        distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    except (RuntimeError, ValueError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        _fail(
            parser, f"--coordinator {args.coordinator}: cannot join the distributed run: {reason}"
        )
    return distributed.is_main_process()


def _select_devices(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The number of devices that share each batch (``--devices``, checked), or one line."""
    from jaxsnn.training import distributed

    try:
        return len(distributed.select_devices(getattr(args, "devices", None), args.batch_size))
    except ValueError as error:
        _fail(parser, str(error))


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def _task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options that define the experiment (all but run and loop options)."""
    loop = {"epochs", "batch_size", "seed"}
    return {
        name: _jsonable(value)
        for name, value in vars(args).items()
        if name not in RUN_OPTIONS and name not in loop
    }


Builder = Callable[[argparse.Namespace], dict[str, Any]]


def run_task(
    task: str, parser: argparse.ArgumentParser, build: Builder, argv: Sequence[str] | None = None
) -> dict[str, Any]:
    """Parse ``argv``, build the experiment with ``build(args)`` and train it.

    ``build`` returns a dict with keys ``model``, ``optimizer``, ``train_data`` and
    ``test_data``, and optionally ``task_config`` (extra JSON-able facts to save) and
    ``eval_split`` (which split ``test_data`` is, where ``--eval-split`` chose it). Every
    parsed option except the run options (``--output``, ``--resume``, ...) is saved in the
    run's configuration, so ``--resume`` restores them all. Returns the metrics dict.

    Nothing ends in a traceback for a user's mistake or a bad file: errors in the options
    end the program with status 2 and a one-line message naming the option; a folder or
    file that cannot be used or written (missing, damaged, foreign, read-only) with status 2
    and one line naming it; Ctrl-C stops after the current epoch with status 130 and one line
    giving the command that continues the run (see the module docstring).
    """
    from jaxsnn.training import harness, results

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    main = _join_processes(parser, args)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level if main else logging.ERROR, format="%(message)s")
    command = _command_of(parser)
    previous = getattr(args, "resume_previous", None) is not None
    if previous:
        args.resume = args.resume_previous
    if args.resume is not None:
        option = "--resume-previous" if previous else "--resume"
        if args.output is not None and args.output != args.resume:
            parser.error(f"--output and {option} name different folders; give only {option}")
        output = args.resume
        if previous:
            epoch, _ = _checkpoint_state(output / results.CHECKPOINT)
            if epoch is not None:
                _fail(
                    parser,
                    f"--resume-previous {output}: {output / results.CHECKPOINT} is intact "
                    f"(after epoch {epoch}); continue from it with: {command} --resume "
                    f"{shlex.quote(str(output))}",
                )
        try:
            _apply_saved_config(parser, args, argv, previous=previous)
        except results.ResultsError as error:
            _fail(parser, _resume_problem(error, output, previous, command))
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        output = args.output or Path("results") / task / f"{stamp}-seed{args.seed}"
    try:
        config = harness.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
        experiment = build(args)
        split = getattr(args, "eval_split", "test")
        if experiment.get("eval_split", "test") != split:
            parser.error(f"--eval-split {split}: this task has no {split} split")
        fitted = getattr(args, "train_split", "train")
        if experiment.get("train_split", "train") != fitted:
            parser.error(f"--train-split {fitted}: this task has no validation split")
        n_train = len(experiment["train_data"])
        if args.batch_size > n_train:
            parser.error(
                f"--batch-size {args.batch_size} exceeds the {n_train} training samples; "
                f"choose at most {n_train}"
            )
        devices = _select_devices(parser, args)
        run = harness.train(
            experiment["model"],
            experiment["optimizer"],
            experiment["train_data"],
            experiment["test_data"],
            config,
            output,
            task=task,
            task_config={**_task_options(args), **experiment.get("task_config", {})},
            resume=args.resume is not None,
            resume_previous=previous,
            progress=not args.quiet and main,
            devices=devices,
        )
    except harness.TrainingInterrupted as stop:
        if main:
            print(
                f"{task}: stopped by Ctrl-C after epoch {stop.epoch} of {stop.epochs}; resume "
                f"with: {command} --resume {shlex.quote(str(output))}",
                file=sys.stderr,
            )
        sys.exit(130)
    except KeyboardInterrupt:
        print(f"{task}: interrupted by Ctrl-C; {_resume_hint(output, command)}", file=sys.stderr)
        sys.exit(130)
    except results.ResultsError as error:
        if isinstance(error, results.WriteError):
            _fail(parser, f"{error}; {_resume_hint(output, command)}")
        if args.resume is not None:
            _fail(parser, _resume_problem(error, output, previous, command))
        _fail(parser, str(error))
    except FloatingPointError as error:  # a non-finite loss: resuming would meet it again
        _fail(parser, str(error), status=1)
    except ValueError as error:
        parser.error(str(error))
    metrics = run.metrics
    if not main:  # process 0 reports the run
        return metrics
    print(
        f"{task}: {split} accuracy {metrics['test_accuracy']:.4f} after "
        f"{metrics['epochs_completed']} epochs "
        f"({metrics['wall_time_s']:.1f} s + {metrics['compile_time_s']:.1f} s compile); "
        f"results in {output}"
    )
    return metrics


def split_experiment(
    model: Any,
    args: argparse.Namespace,
    lr_decay: float,
    load_split: Callable[[str], Any],
    data_name: str,
) -> dict[str, Any]:
    """What a task's ``build`` returns: ``model``, the data set's splits and Adam (AdamW).

    ``load_split(name)`` gives the split ``"train"``, ``"validation"`` or ``"test"`` of the
    data set called ``data_name`` (in messages). The learning rate follows a cosine decay from
    ``args.lr`` to ``lr_decay * args.lr`` over the whole run (``args.epochs`` epochs of
    ``n_train // args.batch_size`` updates). With ``args.weight_decay > 0`` (where the task
    has that option) the optimiser is AdamW, ``optax.adamw``: ``p <- p - lr (adam step + wd
    p)``. The held-out data is ``args.eval_split`` (``"test"`` or ``"validation"``; the
    metrics' ``test_*`` entries then hold that split's figures, and the saved configuration
    names it). The training data is ``args.train_split``: ``"train"``, or
    ``"train+validation"`` (both splits, for the final test figure of settings chosen on
    validation; refused together with ``eval_split="validation"``, which it would contain).
    """
    import numpy as np
    import optax

    from jaxsnn.datasets import Dataset

    if not 0.0 <= lr_decay <= 1.0:
        raise ValueError(f"--lr-decay must lie in [0, 1], got {lr_decay!r}")
    split = getattr(args, "eval_split", "test")
    fitted = getattr(args, "train_split", "train")
    if split in fitted.split("+"):
        raise ValueError(
            f"--train-split {fitted} trains on the {split} split that --eval-split {split} "
            "evaluates; refit on train+validation only for the test figure (--eval-split test)"
        )
    parts = [load_split(name) for name in fitted.split("+")]
    train_data = Dataset(
        features=np.concatenate([part.features for part in parts]),
        labels=np.concatenate([part.labels for part in parts]),
    )
    if args.batch_size > len(train_data):  # before the schedule, which needs >= 1 step
        raise ValueError(
            f"--batch-size {args.batch_size} exceeds the {len(train_data)} samples of the "
            f"{data_name} training split; choose at most {len(train_data)}"
        )
    steps = args.epochs * (len(train_data) // args.batch_size)
    schedule = optax.cosine_decay_schedule(args.lr, steps, alpha=lr_decay)
    weight_decay = getattr(args, "weight_decay", 0.0)
    if weight_decay:
        optimizer = optax.adamw(schedule, weight_decay=weight_decay)
    else:
        optimizer = optax.adam(schedule)
    return {
        "model": model,
        "optimizer": optimizer,
        "train_data": train_data,
        "test_data": load_split(split),
        "eval_split": split,
        "train_split": fitted,
    }


def yinyang_experiment(model: Any, args: argparse.Namespace, lr_decay: float) -> dict[str, Any]:
    """:func:`split_experiment` on the published Yin-Yang splits (5000 training samples)."""
    from jaxsnn.datasets import yinyang_split

    return split_experiment(model, args, lr_decay, yinyang_split, "Yin-Yang")
