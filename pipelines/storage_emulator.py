"""Run against a Cloud Storage emulator (STORAGE_EMULATOR_HOST) without credentials.

google-cloud-storage sends every gs:// request to STORAGE_EMULATOR_HOST
when it is set, and an emulator checks no credentials. Beam's GCS filesystem
still looks them up first (apache_beam.internal.gcp.auth, once per process:
the driver and every DirectRunner worker). With no Application Default
Credentials on the machine, that lookup retries with backoff for 20-30 s per
process before Beam falls back to an anonymous client. Beam 2.77 has no option
to skip it (`--no_auth` only reaches the Dataflow API client), so winnow
points Application Default Credentials at a stand-in file: google-auth loads it
at once, and its access token never expires, so no token is ever fetched.
Worker processes inherit the environment variable and take the same path.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"

# An authorized-user credential in the format google-auth reads and writes
# (google.oauth2.credentials.Credentials.to_json): with a token and a far
# expiry, google-auth uses the token as is and never refreshes it.
PLACEHOLDER_CREDENTIALS = {
    "type": "authorized_user",
    "client_id": "winnow-storage-emulator",
    "client_secret": "unused",
    "refresh_token": "unused",
    "token": "winnow-storage-emulator",
    "expiry": "9999-12-31T23:59:59Z",
}


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def use_emulator_credentials() -> str | None:
    """When an emulator is configured and no credentials file is named, name a stand-in one.

    Returns the stand-in file's path, or None when nothing was changed (no
    emulator, or GOOGLE_APPLICATION_CREDENTIALS already set by the user).
    Sets the variable in os.environ so that Beam's worker processes, started
    later, inherit it; the file is removed when this process exits.
    """
    if not os.environ.get(EMULATOR_ENV) or os.environ.get(CREDENTIALS_ENV):
        return None
    fd, path = tempfile.mkstemp(prefix="winnow-emulator-credentials-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(PLACEHOLDER_CREDENTIALS, f)
    atexit.register(_remove, path)
    os.environ[CREDENTIALS_ENV] = path
    return path
