# The image every Airflow service of docker-compose.yml runs: Airflow 3.3 plus vaxpass and its pinned deps.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.txt /opt/vaxpass-src/requirements.txt
RUN pip install --no-cache-dir -r /opt/vaxpass-src/requirements.txt
COPY --chown=airflow:0 pyproject.toml README.md /opt/vaxpass-src/
COPY --chown=airflow:0 include /opt/vaxpass-src/include
RUN pip install --no-cache-dir --no-deps /opt/vaxpass-src
