"""The secrets docker-compose.yaml requires, freshly generated: `python -m include.compose_env`.

`make env` writes them to `.env` beside the compose file (never over an existing one). Each run
gives new values; keep the file: the Fernet key decrypts the connections Airflow has stored.
"""

from __future__ import annotations

import secrets
import sys

SECRETS = (
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "SHOPFLOW_OBJECT_STORE_USER",
    "SHOPFLOW_OBJECT_STORE_PASSWORD",
)


def fresh_secrets() -> dict[str, str]:
    """A new value for every secret the deployment requires."""
    from cryptography.fernet import Fernet

    return {
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(48),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(48),
        # The object store's root user and password (at most 20 and at least 8 characters for MinIO); the Airflow services
        # reach it with the same pair through the connection `shopflow_store`.
        "SHOPFLOW_OBJECT_STORE_USER": "shopflow" + secrets.token_hex(6),
        "SHOPFLOW_OBJECT_STORE_PASSWORD": secrets.token_urlsafe(32),
    }


def main() -> int:
    sys.stdout.write("# Secrets of the Shopflow deployment (made by `make env`): keep this file private.\n")
    for name, value in fresh_secrets().items():
        sys.stdout.write(f"{name}={value}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
