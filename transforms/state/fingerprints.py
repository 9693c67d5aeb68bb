"""What last night's results depend on besides the inputs: the config, the model files, winnow itself.

Any difference re-scores every shard (the first version of "invalidate
per concern": a change of one rule re-scores everything rather than risk
a result that differs from a full run's).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import winnow
from winnow.transforms.io import files
from winnow.transforms.signals import endings
from winnow.transforms.signals.classifiers import specs_from_config

if TYPE_CHECKING:
    from winnow.transforms.config import Config

_CODE = Path(__file__).resolve().parents[1]  # transforms/ (beside pipelines/ and configs/): the code behind every column


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with files.open_read(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def code_digest() -> str:
    """The library's source and shipped configs hashed: a checkout between releases has one version string."""
    h = hashlib.sha256()
    for root in (_CODE, _CODE.parent / "pipelines", _CODE.parent / "configs"):
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".py", ".yaml", ".yml", ".json", ".txt"):
                h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def referenced_files(config: Config) -> list[str]:
    """Files the config names whose content changes results: classifier and endings models, rule files, a
    taxonomy file."""
    out = [spec.model for spec in specs_from_config(config)]
    if (model := endings.options(config).model) is not None:
        out.append(model)
    for name in [*config.rules, config.taxonomy.path]:
        if ("/" in name or name.endswith((".yaml", ".yml"))) and (files.is_remote(name) or Path(name).is_file()):
            out.append(name)
    return sorted(set(out))


def results_hash(config: Config) -> str:
    """The config hashed without what changes no result: drift thresholds, whether report.html is written."""
    data = config.as_dict()
    data.pop("drift", None)
    data.get("output", {}).pop("report", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()[:16]


def fingerprints(config: Config) -> dict[str, Any]:
    return {
        "config_hash": results_hash(config),
        "files": {path: _file_digest(path) for path in referenced_files(config)},
        "winnow": winnow.__version__,
        "code": code_digest(),
    }


def change(before: dict[str, Any] | None, now: dict[str, Any]) -> str | None:
    """Why last night's results cannot be reused (None: they can)."""
    if before is None:
        return None
    if before.get("config_hash") != now["config_hash"]:
        return f"config changed (hash {before.get('config_hash')} -> {now['config_hash']}): every shard re-scored"
    changed = sorted(
        p for p in set(before.get("files", {})) | set(now["files"]) if before.get("files", {}).get(p) != now["files"].get(p)
    )
    if changed:
        return f"model or rule file changed ({', '.join(changed)}): every shard re-scored"
    if (before.get("winnow"), before.get("code")) != (now["winnow"], now["code"]):
        return f"winnow changed ({before.get('winnow')} -> {now['winnow']}): every shard re-scored"
    return None
