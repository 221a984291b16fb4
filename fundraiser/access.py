"""Per-campaign access: organizers are members of campaigns (manager or volunteer).

A superuser sees everything. Anyone else (staff, to reach the admin at all) sees and changes only
the campaigns they manage, with their metrics, goals, screens, adjustments, moderation and health;
a volunteer only records and reverses adjustments and paddles. Every admin of a campaign's objects
takes `CampaignScoped` (dashboard/admin.py's screens too), so lists, change pages, direct URLs,
actions and the JSON views behind them all go through the same queryset and permission checks.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Campaign, Membership

ANY_ROLE = (Membership.MANAGER, Membership.VOLUNTEER)


def campaign_ids(user: Any, roles: tuple[str, ...] = (Membership.MANAGER,)) -> set[int] | None:
    """The campaigns this user may act on in these roles; None means all (a superuser)."""
    if not user.is_active:
        return set()
    if user.is_superuser:
        return None
    cached = getattr(user, "_campaign_roles", None)
    if cached is None:
        cached = list(Membership.objects.filter(user=user).values_list("campaign_id", "role"))
        user._campaign_roles = cached
    return {campaign_id for campaign_id, role in cached if role in roles}


def may(user: Any, campaign_id: int | None, roles: tuple[str, ...] = (Membership.MANAGER,)) -> bool:
    allowed = campaign_ids(user, roles)
    return allowed is None or campaign_id in allowed


def campaigns_for(user: Any, roles: tuple[str, ...] = (Membership.MANAGER,)) -> QuerySet:
    allowed = campaign_ids(user, roles)
    return Campaign.objects.all() if allowed is None else Campaign.objects.filter(pk__in=allowed)


def require(request: HttpRequest, campaign_id: int | None, roles: tuple[str, ...] = (Membership.MANAGER,)):
    if not may(request.user, campaign_id, roles):
        raise PermissionDenied


class CampaignScoped:
    """For a ModelAdmin (or inline) of objects that belong to a campaign through `campaign_path`.

    Replaces Django's model permissions with membership: `roles` may view and add, `change_roles`
    may change and delete. Superusers keep Django's own rules."""

    campaign_path = "campaign"
    roles: tuple[str, ...] = (Membership.MANAGER,)
    change_roles: tuple[str, ...] = (Membership.MANAGER,)

    def campaign_id_of(self, obj: Any) -> int | None:
        for step in self.campaign_path.split("__")[:-1]:
            obj = getattr(obj, step)
        return getattr(obj, self.campaign_path.split("__")[-1] + "_id")

    def scoped(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        allowed = campaign_ids(request.user, self.roles)
        if allowed is None:
            return queryset
        return queryset.filter(**{f"{self.campaign_path}__in": allowed})

    def get_queryset(self, request):
        return self.scoped(request, super().get_queryset(request))

    def _allowed(self, request, obj, roles) -> bool:
        if request.user.is_superuser:
            return True
        if not request.user.is_staff:
            return False
        if obj is None:
            return bool(campaign_ids(request.user, roles))
        return may(request.user, self.campaign_id_of(obj), roles)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._allowed(request, None, self.roles)

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._allowed(request, obj, self.roles)

    def has_add_permission(self, request, *args):
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)
        return self._allowed(request, None, self.change_roles)

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._allowed(request, obj, self.change_roles)

    def has_delete_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self._allowed(request, obj, self.change_roles)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Campaign and not request.user.is_superuser:
            kwargs["queryset"] = campaigns_for(request.user, self.change_roles)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class CampaignItself(CampaignScoped):
    """The campaigns admin: managers view and change their own; only superusers add or delete."""

    def campaign_id_of(self, obj: Any) -> int | None:
        return obj.pk

    def scoped(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        allowed = campaign_ids(request.user, self.roles)
        return queryset if allowed is None else queryset.filter(pk__in=allowed)

    def has_add_permission(self, request, *args):
        return request.user.is_superuser and super().has_add_permission(request, *args)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)


def _inline_permission(action: str):
    """The inline's has_<action>_permission: a superuser's is Django's; staff may on their campaigns."""
    name = f"has_{action}_permission"

    def permitted(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return getattr(super(InlineOfCampaign, self), name)(request, obj)
        return request.user.is_staff and obj is not None and may(request.user, obj.pk)

    permitted.__name__, permitted.__qualname__ = name, f"InlineOfCampaign.{name}"
    return permitted


class InlineOfCampaign:
    """An inline on the campaign form (metrics, milestones): the campaign's manager edits it."""

    has_view_permission = _inline_permission("view")
    has_add_permission = _inline_permission("add")
    has_change_permission = _inline_permission("change")
    has_delete_permission = _inline_permission("delete")


def related_only(field: str) -> tuple[str, type]:
    """A list filter that offers only campaigns present in the (scoped) list, not every campaign."""
    return (field, admin.RelatedOnlyFieldListFilter)
