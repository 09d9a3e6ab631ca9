"""BigQuery adapter: streaming inserts with insertId (best-effort dedupe) and small queries.
Locally BIGQUERY_EMULATOR_HOST points the official client at local-bigquery."""

from __future__ import annotations

from datetime import datetime

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from shared.config import Settings
from shared.topology import dataset, topology

_clients: dict[str, bigquery.Client] = {}


class StreamingError(RuntimeError):
    """BigQuery refused some rows; the caller retries (rows carry insertIds, so retries dedupe)."""


def client(cfg: Settings) -> bigquery.Client:
    key = cfg.bigquery_emulator_host or "cloud"
    if key not in _clients:
        if cfg.bigquery_emulator_host:
            _clients[key] = bigquery.Client(
                project=cfg.project,
                credentials=AnonymousCredentials(),
                client_options=ClientOptions(api_endpoint=f"http://{cfg.bigquery_emulator_host}"),
            )
        else:
            _clients[key] = bigquery.Client(project=cfg.project)
    return _clients[key]


def table_id(cfg: Settings, table: str) -> str:
    return f"{cfg.project}.{dataset()}.{table}"


def stream(cfg: Settings, table: str, rows: list[dict], row_ids: list[str]) -> None:
    if not rows:
        return
    errors = client(cfg).insert_rows_json(table_id(cfg, table), rows, row_ids=row_ids)
    if errors:
        raise StreamingError(f"BigQuery rejected {len(errors)} row(s) of {table}: {errors[:3]}")


def _parameter(name: str, value):
    if isinstance(value, list | tuple):  # `x IN UNNEST(@name)`
        return bigquery.ArrayQueryParameter(name, "STRING", [str(v) for v in value])
    if isinstance(value, datetime):
        return bigquery.ScalarQueryParameter(name, "TIMESTAMP", value)
    return bigquery.ScalarQueryParameter(name, "INT64" if isinstance(value, int) else "STRING", value)


def query(cfg: Settings, sql: str, **params: str | int | datetime | list[str]) -> list[dict]:
    """Run SQL with named @parameters (never string-formatted values): strings, integers, timestamps
    and lists of strings (arrays). `{table:NAME}` in sql expands to the fully qualified table id from
    the topology."""
    config = bigquery.QueryJobConfig(query_parameters=[_parameter(name, value) for name, value in params.items()])
    return [dict(row.items()) for row in client(cfg).query(_expand(cfg, sql), job_config=config).result()]


def _expand(cfg: Settings, sql: str) -> str:
    for table in {t["name"] for t in topology()["bigquery"]["tables"]}:
        sql = sql.replace(f"{{table:{table}}}", f"`{table_id(cfg, table)}`")
    return sql
