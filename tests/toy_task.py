"""A tiny non-spiking task (a 4-16-3 perceptron on Yin-Yang) that exercises the harness.

Run as a script by the resume test: ``python tests/toy_task.py --epochs 4 --output DIR``.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import optax

from jaxsnn.datasets import yinyang_dataset
from jaxsnn.training.cli import run_task, task_parser
from jaxsnn.training.harness import Model

TASK = "toy-perceptron"


def init(key):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": {"w": jax.random.normal(k1, (4, 16)) * 0.5, "b": jnp.zeros(16)},
        "out": {"w": jax.random.normal(k2, (16, 3)) * 0.5, "b": jnp.zeros(3)},
    }


def logits(params, features):
    h = jnp.tanh(features @ params["hidden"]["w"] + params["hidden"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]


def loss(params, features, labels):
    z = logits(params, features)
    value = optax.softmax_cross_entropy_with_integer_labels(z, labels).mean()
    return value, {"accuracy": jnp.mean(jnp.argmax(z, -1) == labels)}


def evaluate(params, features):
    return {"prediction": jnp.argmax(logits(params, features), -1)}


def build(args):
    return {
        "model": Model(init=init, loss=loss, evaluate=evaluate),
        "optimizer": optax.adam(args.lr),
        "train_data": yinyang_dataset(size=args.train_size, seed=42),
        "test_data": yinyang_dataset(size=200, seed=40),
    }


def main(argv=None):
    parser = task_parser(TASK, "toy perceptron", epochs=4, batch_size=50, lr=1e-2)
    parser.add_argument("--train-size", type=int, default=500)
    return run_task(TASK, parser, build, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
