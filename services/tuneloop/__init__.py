"""tuneloop: fine-tune pretrained models on a team's labeled data and keep a better one in production.

The package is five gRPC services (dataprep, registry, trainer, evaluator, controller), each
a thin servicer over a plain-Python core, plus what they share (`core`: settings, SQL,
storage, the server; `ml`: models and data for training and evaluation; `errors`), the
typed client through which they reach each other and users reach them (`client`) and the
`tuneloop` command line (`cli`). docs/architecture.md draws the rooms and their arrows.
"""

__version__ = "0.1.0"
