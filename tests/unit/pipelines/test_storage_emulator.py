"""Stand-in credentials for a Cloud Storage emulator (winnow.pipelines.storage_emulator)."""

from __future__ import annotations

import os

import google.auth

from winnow.pipelines.storage_emulator import CREDENTIALS_ENV, EMULATOR_ENV, use_emulator_credentials


def test_emulator_credentials_load_without_network(no_credentials_file, monkeypatch):
    monkeypatch.setenv(EMULATOR_ENV, "http://127.0.0.1:9")
    path = use_emulator_credentials()
    assert path and os.environ[CREDENTIALS_ENV] == path and os.path.isfile(path)
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/devstorage.full_control"])
    # Valid as loaded: google-auth never refreshes it, so no token endpoint is contacted.
    assert credentials.valid and not credentials.expired
    assert credentials.token == "winnow-storage-emulator"
    assert use_emulator_credentials() is None  # already set: left alone


def test_emulator_credentials_only_for_an_emulator_and_never_over_the_users(no_credentials_file, monkeypatch):
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    assert use_emulator_credentials() is None
    assert CREDENTIALS_ENV not in os.environ
    monkeypatch.setenv(EMULATOR_ENV, "http://127.0.0.1:9")
    monkeypatch.setenv(CREDENTIALS_ENV, "/home/me/key.json")
    assert use_emulator_credentials() is None
    assert os.environ[CREDENTIALS_ENV] == "/home/me/key.json"
