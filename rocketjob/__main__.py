"""``python -m rocketjob`` is the ``rocketjob`` command."""

from rocketjob.cli import main

raise SystemExit(main())
