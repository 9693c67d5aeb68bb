"""Local runs use DirectRunner's batch engine (FnApiRunner) itself, never Beam's Prism attempt."""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from winnow.pipelines.score import local_runner


def test_direct_runner_batch_runs_get_the_fn_api_runner():
    for args in ([], ["--runner=DirectRunner"], ["--runner=direct", "--direct_num_workers=2"]):
        opts = PipelineOptions(args)
        if not args:
            opts.view_as(StandardOptions).runner = "DirectRunner"
        assert isinstance(local_runner(opts), FnApiRunner)


def test_other_runners_and_streaming_are_left_to_beam():
    assert local_runner(PipelineOptions(["--runner=DataflowRunner"])) is None
    assert local_runner(PipelineOptions(["--runner=PortableRunner"])) is None
    assert local_runner(PipelineOptions(["--runner=DirectRunner", "--streaming"])) is None
