"""Run in the oracle-ads venv (not the project's): drives ADS as its users do, against the
modelyard server named by argv, and prints what happened as one JSON object.

    python ads_script.py <workdir> <service endpoint> <namespace> <oci config> <other config>

1. ``SklearnModel(...).prepare(...)`` of a tiny LogisticRegression into ``workdir/artifact``,
   and the request bodies ADS sends to a deployment: its default serializer's
   (``{"data": <base64 .npy>, "data_type": "<class 'numpy.ndarray'>"}``), and the JSON and
   DataFrame forms;
2. ``.save()`` into the catalog (the signed create, provenance and artifact upload calls);
3. ``SklearnModel.from_model_catalog()`` of what was saved into ``workdir/loaded``;
4. the same read signed with the key of ``other config`` (not registered): its error.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import ads  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from ads.model.datascience_model import DataScienceModel  # noqa: E402
from ads.model.framework.sklearn_model import SklearnModel  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


def main() -> None:
    workdir, endpoint, namespace, config, other = sys.argv[1:6]
    work = Path(workdir)
    client = {"service_endpoint": endpoint}
    ads.set_auth("api_key", oci_config_location=config, client_kwargs=client)
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    y = np.array([0, 1, 0, 1])
    model = SklearnModel(
        estimator=LogisticRegression().fit(x, y), artifact_dir=str(work / "artifact")
    )
    model.prepare(
        inference_conda_env="oci://bucket@namespace/conda/sklearn",
        inference_python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        X_sample=x,
        y_sample=y,
        force_overwrite=True,
        ignore_conda_error=True,
    )
    # ADS fills no custom metadata when it cannot resolve the conda environment (offline), and
    # from_model_catalog() then fails on the empty list: give it one entry, as users do.
    model.metadata_custom.add(key="team", value="modelyard", category="Other", description="owner")
    # ADS's score.py reads a DataFrame sent as JSON text with pd.read_json(text), which pandas 3
    # refuses: say what the script needs, and modelyard serves it in an environment that has it.
    (work / "artifact" / "requirements.txt").write_text("pandas<3\n")
    frame = pd.DataFrame(x)
    bodies = {
        "npy": model.get_data_serializer().serialize(x),
        "json": x.tolist(),
        "dataframe": {"data": frame.to_json(), "data_type": str(type(frame))},
    }
    expected = LogisticRegression().fit(x, y).predict(x).tolist()
    model_id = model.save(
        display_name="ads sklearn",
        compartment_id="ocid1.compartment.oc1..modelyard",
        project_id=namespace,
        ignore_introspection=True,
        timeout=30,
    )
    loaded = SklearnModel.from_model_catalog(
        model_id,
        artifact_dir=str(work / "loaded"),
        force_overwrite=True,
        ignore_conda_error=True,
    )
    ads.set_auth("api_key", oci_config_location=other, client_kwargs=client)
    try:
        DataScienceModel.from_id(model_id)
        refused = None
    except Exception as exc:  # the SDK's ServiceError
        refused = {"status": getattr(exc, "status", None), "code": getattr(exc, "code", None)}
    print(
        json.dumps(
            {
                "model_id": model_id,
                "bodies": bodies,
                "expected": expected,
                "loaded_predict": loaded.verify(x)["prediction"],
                "loaded_files": sorted(p.name for p in (work / "loaded").iterdir()),
                "refused": refused,
            }
        )
    )


if __name__ == "__main__":
    main()
