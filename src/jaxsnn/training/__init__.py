"""The training loop, result files and command-line front end shared by every task.

``jaxsnn.training.harness`` (the loop; imports JAX), ``jaxsnn.training.results`` (the result
folder; numpy only), ``jaxsnn.training.cli`` (options shared by every task).
"""
