"""A version whose requirements differ from the server's (a pinned older scikit-learn) is
served from an environment of its own, built once with uv from PyPI (reachable from the test
machine; about a minute the first time, then cached by uv and by modelyard)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from serving_support import ROWS, score_bundle
from sklearn.linear_model import LogisticRegression

from modelyard import Client
from modelyard.errors import FailedPrecondition

PINNED = "1.6.1"


def test_a_pinned_older_scikit_learn_is_served_from_its_own_environment(
    client: Client, tmp_path: Path
) -> None:
    assert metadata.version("scikit-learn") != PINNED  # the server's own is another
    bundle = score_bundle(
        tmp_path / "old-sklearn",
        """
        import numpy as np
        import sklearn
        from sklearn.linear_model import LogisticRegression

        x = np.array(data, dtype=float)
        fitted = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
        return {"sklearn": [sklearn.__version__] * len(x), "labels": fitted.predict(x).tolist()}
        """,
        requirements=f"scikit-learn=={PINNED}\n",
    )
    version = client.new_model("old-sklearn").new_model_version("1", artifacts=[bundle]).finish()
    report = version.wait_for_checks(timeout=600)
    env = next(r for r in report.results if r.id == "requirements.environment")
    assert env.status == "PASS", report

    deployment = version.deploy(timeout=600)
    try:
        answer = deployment.predict(ROWS)
        assert answer["sklearn"] == [PINNED] * len(ROWS)
        x = np.array(ROWS, dtype=float)  # the same fit with the server's scikit-learn
        expected = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)).predict(x)
        assert answer["labels"] == expected.tolist()
    finally:
        deployment.undeploy()


def test_requirements_that_cannot_be_installed_fail_the_deploy_with_uv_s_message(
    client: Client, tmp_path: Path
) -> None:
    bundle = score_bundle(
        tmp_path / "impossible", "return data", requirements="scikit-learn==0.0.1\n"
    )
    version = client.new_model("impossible").new_model_version("1", artifacts=[bundle]).finish()
    version.wait_for_checks(timeout=300)

    with pytest.raises(FailedPrecondition) as failed:
        version.deploy(force=True, timeout=300)
    assert "uv could not build the environment" in failed.value.message
    assert "scikit-learn==0.0.1" in failed.value.message
