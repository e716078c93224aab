"""`python -m seraudit.cli`: the same as the `seraudit` command."""

import sys

from seraudit.cli import main

sys.exit(main())
