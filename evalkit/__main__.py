"""`python -m evalkit` runs the CLI."""

from evalkit.cli import main

main()
