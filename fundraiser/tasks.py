"""Celery tasks of the configuration app: thin wrappers around its services."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def verify_totals(verification_id: int) -> None:
    """Run a "Verify totals" recount on a worker (it reads the table; the web server need not)."""
    from .verify import verification_run

    verification_run(verification_id=verification_id)
