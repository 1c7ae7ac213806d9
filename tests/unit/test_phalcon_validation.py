"""php_session_app's Phalcon settings: the control case of their rows in
test_app_validation.py's table (a seeded source install gets past validation).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from role_validation import GOOD_APPS, PAST_VALIDATION, SHA, run_app_role


def _seed(tmp_path: Path) -> Path:
    seed = tmp_path / "seed"
    (seed / "prebuilt/php8.4").mkdir(parents=True)
    module = seed / "prebuilt/php8.4/phalcon.so"
    module.write_bytes(b"not really a module")
    (seed / "SHA256SUMS").write_text(f"{hashlib.sha256(module.read_bytes()).hexdigest()}  prebuilt/php8.4/phalcon.so\n")
    return seed


def test_phalcon_good_source_input_passes_validation(tmp_path: Path) -> None:
    """Control: a seeded source install gets past validation and fails only at the host."""
    output = run_app_role(tmp_path, {"php_session_app_apps": GOOD_APPS, "php_session_app_phalcon": "source",
                                     "php_session_app_phalcon_source": "/x.tgz",
                                     "php_session_app_phalcon_source_sha256": SHA,
                                     "php_session_app_phalcon_seed_dir": str(_seed(tmp_path))})
    assert any(m in output for m in PAST_VALIDATION), output[-3000:]
