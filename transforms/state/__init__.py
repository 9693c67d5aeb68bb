"""Nightly state: the manifest and fingerprints of the last complete night, what to reuse, the commit."""
