"""winnow: quality assessment of instruction-tuning corpora on Apache Beam.

One installed name. The project keeps its code in the top-level folders
`pipelines/` (the CLI and one module per command), `transforms/` (the
library) and `configs/` (default config, rule packs, taxonomies); in a
checkout they are linked in here, and an installed wheel holds them as
`winnow.pipelines`, `winnow.transforms` and `winnow.configs`.
"""

from importlib import metadata

try:
    __version__ = metadata.version("winnow")
except metadata.PackageNotFoundError:  # a source checkout run without installing
    __version__ = "0+unknown"
