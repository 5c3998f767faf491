# Shopflow's Airflow image: the official slim Airflow image (Airflow without providers), the
# project's runtime dependencies at their locked versions and its code. Every Airflow service of
# docker-compose.yaml runs this one image. Test and lint tools (requirements-dev.txt) stay out.
#
# The tag must match apache-airflow==X in requirements.lock (tests/test_deployment.py checks it).
FROM apache/airflow:slim-3.3.2-python3.11

# Recorded with every trained model (include/settings.py); the image has no .git to read it from.
# `SHOPFLOW_CODE_VERSION=$(git rev-parse --short=12 HEAD) docker compose build`
ARG SHOPFLOW_CODE_VERSION=""

USER airflow

# Dependencies first, so that a change of code does not reinstall them. The lock pins
# apache-airflow itself to the base image's version, so pip keeps Airflow as it is and brings
# everything else to exactly the locked versions.
COPY --chown=airflow:0 requirements.lock /requirements.lock
RUN pip install --no-cache-dir -r /requirements.lock

# What the compose deployment needs at run time, checked at build time rather than at the first
# task: the CeleryExecutor with its Redis client, the S3 object store, the MLflow client.
RUN python -c "import airflow.providers.celery, celery, redis, airflow.providers.amazon.aws.fs.s3, s3fs, mlflow"

ENV PYTHONPATH=/opt/airflow \
    SHOPFLOW_VAR_DIR=/opt/airflow/var \
    SHOPFLOW_CODE_VERSION=${SHOPFLOW_CODE_VERSION} \
    GX_ANALYTICS_ENABLED=False \
    TF_CPP_MIN_LOG_LEVEL=2

# Mount points of the named volumes; a new named volume takes over their owner (airflow, group 0).
RUN mkdir -p /opt/airflow/var /opt/airflow/auth /opt/airflow/plugins \
    && chmod -R g+rwX /opt/airflow/var /opt/airflow/auth

# The code: DAG files, Airflow plugins and the importable package `include` (PYTHONPATH above).
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
# plugins/ may be absent from a checkout (git keeps no empty folder): the pattern copies it when
# it is there and nothing otherwise.
COPY --chown=airflow:0 plugin[s] /opt/airflow/plugins/
