"""The CLI starts without the heavy libraries only some commands need.

Every `winnow` command imports pipelines.cli; scikit-learn alone takes about
2 s to import, which the quick start (30 rows) would pay on every run.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sklearn", "scipy", "statsmodels", "krippendorff", "argilla")


def test_importing_the_cli_loads_no_heavy_library():
    code = f"import json, sys, winnow.pipelines.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
