"""What the configuration app announces. Whoever shows campaigns listens (dashboard/apps.py)."""

from django.dispatch import Signal

# A campaign's configuration (its metrics, goals, milestones or screens) changed: kwargs `slug`.
config_changed = Signal()

# An organizer pulled a lever (issue 11): kwargs `slug`, `what` ("adjustments" or "moderation").
# Open screens get the new paddle-raise state or the recent gifts list as it now shows.
levers_changed = Signal()
