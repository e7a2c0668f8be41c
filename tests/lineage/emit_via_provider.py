"""Emit one task's START event through Airflow's OpenLineage provider, configured only by the environment.

Run as a separate process (Airflow reads its configuration at import) with the embedded mode's environment:
the provider builds its client from `AIRFLOW__OPENLINEAGE__TRANSPORT`, the task's datasets come from the real
DAG's Asset inlets/outlets, exactly as the listener does for a TaskFlow task without an extractor.

    python emit_via_provider.py TASK_ID
"""

from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC, datetime


def main(task_id: str) -> int:
    sys.path.insert(0, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    task = bag.dags["vaxpass_issuance"].get_task(task_id)  # parsed only: no metadata database
    lineage = OperatorLineage()
    ExtractorManager().extract_inlets_and_outlets(lineage, task)
    adapter = OpenLineageAdapter()
    adapter.start_task(run_id=str(uuid.uuid4()), job_name=f"vaxpass_issuance.{task_id}",
                       event_time=datetime.now(UTC).isoformat(), job_description=None, nominal_start_time=None,
                       nominal_end_time=None, owners=["vaxpass-data"], tags=["vaxpass"], task=lineage)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
