"""A deployment's pool of worker processes, without a server around it."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from serving_support import deployment_entity, score_bundle

from modelyard.domain.runtime import Flavor, RuntimeSpec
from modelyard.serving.pool import Pool
from modelyard.serving.prepare import Prepared


def test_a_pool_stopping_leaves_the_next_pool_of_the_same_deployment_alone(
    tmp_path: Path,
) -> None:
    """Undeployed and deployed again at once (deploy-on-predict after an idle stop), a
    deployment's old pool may still be stopping while its new one starts: the old replicas'
    clean-up must not remove the new replicas' socket and spec files (it once did: both pools
    named their first replica alike, and the new worker could not read its spec)."""
    bundle = score_bundle(tmp_path / "bundle", "return [x * 2 for x in data]")
    prepared = Prepared(
        bundle=bundle,
        spec=RuntimeSpec(flavor=Flavor.PYTHON, entry_point="score.py"),
        python=sys.executable,
        input_schema=None,
        environment=None,
    )

    async def scenario() -> tuple[list[str], list[str], object]:
        with tempfile.TemporaryDirectory(prefix="my-pool-", dir="/tmp") as sockets:
            socket_dir = Path(sockets)
            old = Pool(deployment_entity(), prepared, socket_dir=socket_dir)
            await old.bring_up(timeout=60)
            new = Pool(deployment_entity(), prepared, socket_dir=socket_dir)
            await new.bring_up(timeout=60)
            before = sorted(p.name for p in socket_dir.iterdir())
            await old.stop()
            after = sorted(p.name for p in socket_dir.iterdir())
            try:
                answer = await new.predict([1, 2])
            finally:
                await new.stop()
            return before, after, answer

    before, after, answer = asyncio.run(scenario())
    assert len([n for n in before if n.endswith(".sock")]) == 2, before
    assert [n for n in after if n.endswith(".sock")], f"the new pool's socket is gone: {after}"
    assert [n for n in after if n.endswith(".spec.json")], after
    assert answer == [2, 4]
