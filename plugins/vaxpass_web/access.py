"""Who may see and do what on vaxpass's pages, decided from Airflow's own login.

Airflow authenticates (its JWT, from the `Authorization: Bearer` header or the UI's session cookie): an
anonymous request gets 401 before any vaxpass code runs. vaxpass then authorises:

- **read** (managers, engineers, reviewers): whoever Airflow lets read the issuance DAG;
- **act on a district** (review decisions, corrections, imports): only the reviewers the ops store assigns to
  that district (`vaxpass reviewer add`). Airflow admins are not reviewers: they get 403 like anyone else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, HTTPException, status
from sqlalchemy import select

from vaxpass.config import Settings, settings_from_mapping
from vaxpass.store import session_scope
from vaxpass.store.models import Reviewer

DAG_ID = "vaxpass_issuance"
_SETTING_NAMES = ("VAXPASS_HOME", "VAXPASS_DB_URL", "VAXPASS_DATA_DIR", "VAXPASS_LANDING_DIR", "VAXPASS_PKI_DIR",
                  "VAXPASS_REGISTRY_URL", "VAXPASS_SUITE_DIR", "VAXPASS_KEY_PASSPHRASE", "VAXPASS_PSEUDONYM_KEY")


@lru_cache(maxsize=1)
def web_settings() -> Settings:
    """The api-server's vaxpass settings, from its environment (the same names the workers read)."""
    return settings_from_mapping({name: os.environ[name] for name in _SETTING_NAMES if os.environ.get(name)})


@dataclass(frozen=True)
class Viewer:
    """The signed-in Airflow user as vaxpass sees them."""

    username: str
    can_read: bool
    districts: frozenset[str]  # the districts this user reviews

    def reviews(self, district_code: str) -> bool:
        return district_code in self.districts


def current_viewer(user: GetUserDep) -> Viewer:
    username = user.get_name()
    can_read = get_auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=DAG_ID), user=user)
    with session_scope(web_settings().db_url) as session:
        districts = frozenset(session.scalars(select(Reviewer.district_code).filter_by(username=username)))
    return Viewer(username=username, can_read=bool(can_read), districts=districts)


def reader(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    """Any page: the user must be able to read the issuance DAG in Airflow."""
    if not (viewer.can_read or viewer.districts):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may not read vaxpass's pages")
    return viewer


def require_reviewer(viewer: Viewer, district_code: str) -> None:
    """Acting on a district's records: only that district's reviewers (admins included, others get 403)."""
    if not viewer.reviews(district_code):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"only the reviewers of district {district_code} may act on its records")


ReaderDep = Annotated[Viewer, Depends(reader)]
