"""``python -m monitor`` runs the ``flarewatch`` command line."""

from monitor.cli import main

main()
