"""Moved to ``labkit.course.grading`` (the instructor's side); this name stays for old commands and imports.

>>> from labkit import exercises; exercises.KERNEL
'deeprec'
"""

from labkit.course.grading import *  # noqa: F401,F403
from labkit.course.grading import main

if __name__ == "__main__":
    import sys

    sys.exit(main())
