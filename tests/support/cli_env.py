"""The environment a `launchpad` subprocess gets in tests: sources on the fake Hub, no templates
package, no free-space margin, quick retries."""

from __future__ import annotations

import os
from pathlib import Path


def cli_env(hub_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    templates = tmp_path / "no-templates"
    templates.mkdir(exist_ok=True)
    return {
        **os.environ,
        "HF_ENDPOINT": hub_url,
        "CIVITAI_ENDPOINT": hub_url,
        "DOWNLOAD_FREE_SPACE_MARGIN": "0",
        "DOWNLOAD_RETRY_BACKOFF": "0.02",
        "LAUNCHPAD_TEMPLATES_DIR": str(templates),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
