"""``python -m profilo`` is the ``profilo`` command."""

from profilo.cli import main

main()
