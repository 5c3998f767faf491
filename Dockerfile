# Shopflow's Airflow image: the official Airflow image, the project's pinned dependencies and
# its code. Every Airflow service of docker-compose.yaml runs this one image.
#
# The tag must match apache-airflow==X in requirements.lock (tests/test_deployment.py checks it).
FROM apache/airflow:3.3.2-python3.11

# Recorded with every trained model (include/settings.py); the image has no .git to read it from.
# `SHOPFLOW_CODE_VERSION=$(git rev-parse --short=12 HEAD) docker compose build`
ARG SHOPFLOW_CODE_VERSION=""

USER airflow

# Dependencies first, so that a change of code does not reinstall them. The lock pins
# apache-airflow itself to the base image's version, so pip keeps Airflow as it is and brings
# everything else to exactly the locked versions.
COPY --chown=airflow:0 requirements.lock /requirements.lock
RUN pip install --no-cache-dir -r /requirements.lock

# The CeleryExecutor's provider and its Redis client come with the base image, not with the
# lock: fail the build here rather than at the first task if that ever changes.
RUN python -c "import airflow.providers.celery, celery, redis"

ENV PYTHONPATH=/opt/airflow \
    SHOPFLOW_VAR_DIR=/opt/airflow/var \
    SHOPFLOW_CODE_VERSION=${SHOPFLOW_CODE_VERSION} \
    GX_ANALYTICS_ENABLED=False \
    TF_CPP_MIN_LOG_LEVEL=2

# Mount points of the shared volumes; a new named volume takes over their owner (airflow, group 0).
RUN mkdir -p /opt/airflow/var/staging /opt/airflow/var/models /opt/airflow/auth /opt/airflow/plugins \
    && chmod -R g+rwX /opt/airflow/var /opt/airflow/auth

# The code: DAG files, Airflow plugins and the importable package `include` (PYTHONPATH above).
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 include/ /opt/airflow/include/
# plugins/ may be absent from a checkout (git keeps no empty folder): the pattern copies it when
# it is there and nothing otherwise.
COPY --chown=airflow:0 plugin[s] /opt/airflow/plugins/
