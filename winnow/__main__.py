"""`python -m winnow ...` is the `winnow` command."""

import sys

from winnow.pipelines.entry import main

if __name__ == "__main__":
    sys.exit(main())
