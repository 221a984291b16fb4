import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Relay events from Redis to Pushpin (streams held by Pushpin: docs/PERFORMANCE.md)."

    def add_arguments(self, parser):
        parser.add_argument("--publish-url", default=settings.PUSHPIN_PUBLISH_URL)

    def handle(self, *args, publish_url: str, **options):
        from dashboard.pushpin import run

        self.stdout.write(f"relaying events to {publish_url}")
        asyncio.run(run(publish_url))
