"""`python -m tuneloop.cli` runs the `tuneloop` command."""

from tuneloop.cli import main

main()
