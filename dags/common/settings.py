"""How the DAGs get vaxpass's settings: from the worker's environment (and Airflow Variables named
`vaxpass_*`, which override it). Read at task run time only, never at parse time."""

from __future__ import annotations

import os

from vaxpass.config import Settings, settings_from_mapping

_NAMES = ("VAXPASS_HOME", "VAXPASS_DB_URL", "VAXPASS_DATA_DIR", "VAXPASS_LANDING_DIR", "VAXPASS_PKI_DIR",
          "VAXPASS_REGISTRY_URL", "VAXPASS_SUITE_DIR", "VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY")


def settings() -> Settings:
    from airflow.sdk import Variable

    values = {name: os.environ[name] for name in _NAMES if os.environ.get(name)}
    for name in _NAMES:
        value = Variable.get(name.lower(), default=None)
        if value:
            values[name] = value
    return settings_from_mapping(values)
