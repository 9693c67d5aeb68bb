"""The file the Flex Template launcher runs (FLEX_TEMPLATE_PYTHON_PY_FILE).

It lives outside pipelines/ because Python puts a script's own directory
first on sys.path, and pipelines/inspect.py would then shadow the standard
library's inspect module.
"""

import sys

from winnow.pipelines.flex_main import main

if __name__ == "__main__":
    sys.exit(main())
