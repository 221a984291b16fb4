"""What the configuration app announces. Whoever shows campaigns listens (dashboard/apps.py)."""

from django.dispatch import Signal

# A campaign's configuration (its metrics, goals, milestones or screens) changed: kwargs `slug`.
config_changed = Signal()
