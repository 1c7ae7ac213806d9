"""session_pki's CA rollover: a step out of order fails before any host change.

The CA directory's state tells where a rollover stands (session_pki_ca_rollover);
the Redis role runs against a host that cannot be reached (see role_validation).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from role_validation import GOOD_REDIS, PAST_VALIDATION, run_role

# CA rollover (session_pki_ca_rollover): the CA directory's state tells where
# a rollover stands; a step out of order is refused before any host change.
ROLLOVER_CASES: dict[str, tuple[str, list[str], bool]] = {
    "issue before trust": ("issue", [], False),
    "drop before issue": ("drop", ["ca.crt", "ca-next.crt"], False),
    "none during a rollover": ("none", ["ca.crt", "ca-next.crt"], False),
    "unknown step": ("rotate", [], False),
    "trust (control)": ("trust", ["ca.crt"], True),
    "drop after issue (control)": ("drop", ["ca.crt", "ca-next.crt", "ca-next.issuing"], True),
}


@pytest.mark.parametrize("case", list(ROLLOVER_CASES))
def test_ca_rollover_step_out_of_order_fails_early(tmp_path: Path, case: str) -> None:
    step, files, passes = ROLLOVER_CASES[case]
    ca_dir = tmp_path / "pki"
    ca_dir.mkdir()
    for name in files:
        (ca_dir / name).write_text("placeholder\n")
    result = run_role(tmp_path, "redis_session_store",
                      {**GOOD_REDIS, "session_pki_ca_rollover": step, "session_pki_ca_dir": str(ca_dir)})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    if passes:
        assert any(m in output for m in PAST_VALIDATION), output[-2000:]
    else:
        assert "session_pki_ca_rollover" in output, output[-2000:]
        assert not any(m in output for m in PAST_VALIDATION), f"{case}: let through: " + output[-2000:]
