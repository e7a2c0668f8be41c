"""The cycle's stages as the DAG calls them (`stages`), and the validation stage's store glue."""
