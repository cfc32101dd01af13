"""`python -m cli ...` is `vending ...`."""

import sys

from .main import main

sys.exit(main())
