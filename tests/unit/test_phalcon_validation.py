"""php_session_app's Phalcon settings: bad input fails on the control node, naming the variable.

Same harness as test_app_validation.py: the target host is unreachable, so
input that gets past validation fails at the host instead (the control case).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from test_app_validation import GOOD_APPS, PAST_VALIDATION, run_app_role

SHA = "a" * 64


def _seed(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    (seed / "prebuilt/php8.4").mkdir(parents=True)
    module = seed / "prebuilt/php8.4/phalcon.so"
    module.write_bytes(b"not really a module")
    (seed / "SHA256SUMS").write_text(f"{hashlib.sha256(module.read_bytes()).hexdigest()}  prebuilt/php8.4/phalcon.so\n")
    return seed


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown install mode": ({"php_session_app_phalcon": "apt"}, "php_session_app_phalcon"),
    "source without archive": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source_sha256": SHA},
                               "php_session_app_phalcon_source must be"),
    "source without sha256": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source": "/x.tgz"},
                              "php_session_app_phalcon_source_sha256"),
    "source over plain http": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source": "http://x/y.tgz",
                                "php_session_app_phalcon_source_sha256": SHA},
                               "php_session_app_phalcon_source must be"),
    "sha256 with a trailing newline": ({"php_session_app_phalcon": "source", "php_session_app_phalcon_source": "/x.tgz",
                                        "php_session_app_phalcon_source_sha256": SHA + "\n"},
                                       "php_session_app_phalcon_source_sha256"),
    "version not X.Y.Z": ({"php_session_app_phalcon_version": "latest"}, "php_session_app_phalcon_version"),
    "relative cache dir": ({"php_session_app_phalcon_cache_dir": "cache"}, "php_session_app_phalcon_cache_dir"),
    "seed dir missing": ({"php_session_app_phalcon_seed_dir": "/nonexistent/seed"}, "KIT_PHALCON_SEED"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_phalcon_bad_input_fails_early(tmp_path: Path, case: str) -> None:
    override, needle = CASES[case]
    output = run_app_role(tmp_path, {"php_session_app_apps": GOOD_APPS, **override})
    assert needle in output, output[-3000:]
    assert not any(m in output for m in PAST_VALIDATION), "validation let the value through: " + output[-2000:]


def test_phalcon_good_source_input_passes_validation(tmp_path: Path) -> None:
    """Control: a seeded source install gets past validation and fails only at the host."""
    output = run_app_role(tmp_path, {"php_session_app_apps": GOOD_APPS, "php_session_app_phalcon": "source",
                                     "php_session_app_phalcon_source": "/x.tgz",
                                     "php_session_app_phalcon_source_sha256": SHA,
                                     "php_session_app_phalcon_seed_dir": str(_seed(tmp_path))})
    assert any(m in output for m in PAST_VALIDATION), output[-3000:]
