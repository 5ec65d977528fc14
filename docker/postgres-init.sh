#!/usr/bin/env bash
# Creates the MLflow and Prefect databases and their owners, once, on an empty PostgreSQL data directory.
#
# compose.yaml mounts it into /docker-entrypoint-initdb.d/ of the postgres image; a containerless test runs it
# as it is, with PGHOST/PGPORT pointing at its own server. Names come from settings/common.env, passwords from
# the environment (docker/.env); psql variables quote them, so no value is ever spliced into SQL text.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v mlflow_user="${MLFLOW_DB_USER:?}" -v mlflow_password="${MLFLOW_DB_PASSWORD:?}" \
    -v mlflow_db="${MLFLOW_DB_NAME:?}" -v mlflow_auth_db="${MLFLOW_AUTH_DB_NAME:?}" \
    -v prefect_user="${PREFECT_DB_USER:?}" -v prefect_password="${PREFECT_DB_PASSWORD:?}" \
    -v prefect_db="${PREFECT_DB_NAME:?}" <<'SQL'
CREATE ROLE :"mlflow_user" LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE :"mlflow_db" OWNER :"mlflow_user";
CREATE DATABASE :"mlflow_auth_db" OWNER :"mlflow_user";
CREATE ROLE :"prefect_user" LOGIN PASSWORD :'prefect_password';
CREATE DATABASE :"prefect_db" OWNER :"prefect_user";
SQL
