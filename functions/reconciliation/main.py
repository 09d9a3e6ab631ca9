"""reconciliation: match a partner's settlement report (and the bank statement) against the ledger.

  POST /runs {"partner": "stripe", "date": "YYYY-MM-DD"}   run (Cloud Scheduler daily; date defaults
                                                           to the day before the schedule time)
  GET  /clearing                                           the ledger's clearing position per partner
  GET  /healthz

Reports come from the reports bucket (cloud) or directory (local): shared/adapters/gcs_reports.py.
Runs are idempotent (same inputs -> same run id, nothing written twice). Authenticated by OIDC in the
cloud (the Scheduler's service account). The run is shared.reconciliation.service.run over the ports
of shared.bootstrap."""

import logging
from datetime import date, datetime, timedelta

import functions_framework

from shared import bootstrap, logs
from shared.adapters.gcs_reports import ReportMissing
from shared.auth import verify_invoker
from shared.config import settings
from shared.errors import ClientError
from shared.http import error_response, handle_errors, json_response
from shared.ledger.balances import all_balances
from shared.reconciliation import ReportError, clearing_positions
from shared.reconciliation import service as recon_service

log = logging.getLogger("ledgerline.reconciliation")
handle_errors(functions_framework.errorhandler, log, refused="reconciliation request refused")


@functions_framework.errorhandler(ReportMissing)
def _report_missing(exc: ReportMissing):
    return error_response(ClientError(404, "report_missing", str(exc), "date"))


@functions_framework.errorhandler(ReportError)
def _report_invalid(exc: ReportError):
    log.error("settlement report rejected", extra={"error": str(exc)})
    return error_response(ClientError(422, "report_invalid", str(exc), "report"))


@functions_framework.http
def reconciliation(request):
    cfg = settings()
    logs.begin(cfg.project, request.headers)
    if request.path == "/healthz":
        return json_response(200, {"status": "ok"})
    verify_invoker(cfg, request.headers, cfg.function_urls["reconciliation"], (cfg.scheduler_invoker_sa,))
    root = bootstrap.root(cfg)
    if request.path == "/clearing" and request.method == "GET":
        return json_response(200, {"clearing": clearing_positions(all_balances(root.store))})
    if request.path != "/runs":
        raise ClientError(404, "not_found", "POST /runs or GET /clearing", "path")
    if request.method != "POST":
        raise ClientError(405, "method_not_allowed", "runs are POSTed", "method")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ClientError(400, "invalid_request", "POST a JSON object {partner, date?}")
    partner = body.get("partner")
    if partner not in recon_service.PARTNER_PARSERS:
        raise ClientError(
            400, "unsupported_partner", f"partner is one of {list(recon_service.PARTNER_PARSERS)}", "partner"
        )
    day = _day(body.get("date"), request.headers.get("X-CloudScheduler-ScheduleTime"), root.clock())
    ports = bootstrap.reconciliation(root)
    report, bank = ports.reports.inputs(partner, day)
    outcome = bootstrap.run_reconciliation(root, partner=partner, as_of=day, report=report, bank=bank, now=root.clock())
    written = ports.reports.write(partner, day, f"{outcome.run_id}.md", outcome.report)
    return json_response(200, outcome.answer(written))


def _day(given, schedule_time: str | None, now: datetime) -> date:
    if given is not None:
        try:
            return date.fromisoformat(str(given))
        except ValueError:
            raise ClientError(400, "invalid_date", "date is YYYY-MM-DD", "date") from None
    base = now
    if schedule_time:
        try:
            base = datetime.fromisoformat(schedule_time.replace("Z", "+00:00"))
        except ValueError:
            raise ClientError(400, "invalid_schedule_time", "X-CloudScheduler-ScheduleTime is RFC 3339") from None
    return (base - timedelta(days=1)).date()
