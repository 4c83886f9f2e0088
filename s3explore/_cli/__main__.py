"""``python -m s3explore._cli``: the same as the ``s3explore`` command."""

import sys

from s3explore._cli import main

sys.exit(main())
