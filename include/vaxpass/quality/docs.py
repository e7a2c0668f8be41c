"""Great Expectations Data Docs for one cycle: a static HTML site with one validation page per site batch.

The pages are rendered from `QualityReport.docs_result`, GE's validation result reduced to the expectations, their
verdicts and counts (see `engine.docs_safe`): Data Docs show no record, no row number and no value, so they may
be opened by anyone who may read the run report.
"""

from __future__ import annotations

import copy
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from vaxpass.quality.engine import _lock

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def docs_folder(root: Path, cycle_id: str) -> Path:
    """The cycle's Data Docs folder under `root` (the cycle id made safe as a folder name)."""
    return Path(root) / _UNSAFE.sub("_", cycle_id)


def build_data_docs(out_dir: Path, *, cycle_id: str, run_time: datetime, suite_name: str,
                    results: list[tuple[str, dict[str, Any]]]) -> Path:
    """Write the Data Docs site for `results` ((site code, docs-safe result) per site batch) into `out_dir`,
    replacing an earlier build; returns the site's index.html."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    site = {"class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                               progress_bars=ProgressBarsConfig(globally=False), analytics_enabled=False,
                               data_docs_sites={"vaxpass": site})
    with _lock:
        context = gx.get_context(mode="ephemeral", project_config=config)
        run_id = RunIdentifier(run_name=_UNSAFE.sub("_", cycle_id), run_time=run_time)
        for site_code, result in results:
            key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=suite_name), run_id,
                                             _UNSAFE.sub("_", site_code))
            page = copy.deepcopy(result)
            page["meta"] = {**page.get("meta", {}), "run_id": run_id.to_json_dict(),
                            "active_batch_definition": {"datasource_name": "vaxpass",
                                                        "data_asset_name": f"site {site_code}",
                                                        "batch_definition_name": cycle_id}}
            context.validation_results_store.set(key, ExpectationSuiteValidationResultSchema().load(page))
        context.build_data_docs(site_names=["vaxpass"])
    return out_dir / "index.html"
