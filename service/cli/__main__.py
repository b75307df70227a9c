"""`python -m service.cli ...` runs the `rmserve` command line, as the console script does."""

import sys

from service.cli.main import main

sys.exit(main())
