"""``python -m handset``: the same as the ``handset`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
