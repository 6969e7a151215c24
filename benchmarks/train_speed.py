"""Time to quality of every training recipe, side by side in one process.

    python benchmarks/train_speed.py [--original-epochs 2500] [--device auto]

Same as `python -m breathing_lib bench`. Prints a table; asserts nothing.
"""

import sys

from breathing_lib.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
