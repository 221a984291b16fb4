from django.apps import AppConfig


class FundraiserConfig(AppConfig):
    name = "fundraiser"
    verbose_name = "Fundraising"
