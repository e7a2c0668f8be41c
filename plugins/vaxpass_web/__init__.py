"""vaxpass's pages inside the Airflow UI: one FastAPI app mounted at `/vaxpass`, behind Airflow's login.

The app only shows what the ops store holds and records what the district reviewers decide; the decisions
themselves are taken by `vaxpass` (review, lineage, reports). Each page module brings its own router.
"""
