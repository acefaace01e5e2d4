"""tuneloop: fine-tune pretrained models on a team's labeled data and keep a better one in production.

The package is a set of gRPC services (dataprep first; registry, trainer, evaluator and
controller follow) built as thin servicers over plain-Python cores, plus a typed client
(`tuneloop.client`) and the `tuneloop` command line (`tuneloop.cli`).
"""

__version__ = "0.1.0"
