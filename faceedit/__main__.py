"""``python -m faceedit``: the same as the ``faceedit`` command."""

import sys

from faceedit.launcher import main

sys.exit(main())
