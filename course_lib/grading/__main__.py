"""``python -m course_lib.grading``: see :func:`course_lib.grading.cli.main`."""

import sys

from .cli import main

sys.exit(main())
