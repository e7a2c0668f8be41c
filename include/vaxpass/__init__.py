"""vaxpass: signed, verifiable vaccination certificates from messy field data.

The domain package. It never imports Airflow: DAG files and the plugin call into it.
"""

__version__ = "0.1.0"
