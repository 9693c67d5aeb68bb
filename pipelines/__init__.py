"""Beam pipelines and the `winnow` command line."""
