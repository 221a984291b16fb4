"""Celery tasks of the configuration app: thin wrappers around its services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import transaction

from .models import Campaign, Verification
from .verify import verification_run


@shared_task(ignore_result=True)
def verify_totals(verification_id: int) -> None:
    """Run a "Verify totals" recount on a worker (it reads the table; the web server need not)."""
    verification_run(verification_id=verification_id)


def verification_start(*, campaign: Campaign, by: Any) -> Verification:
    """Queue a "Verify totals" run; its report page follows it."""
    run = Verification.objects.create(campaign=campaign, requested_by=by)
    transaction.on_commit(lambda: verify_totals.delay(run.pk))
    return run
