"""One goal per campaign: the amount on the campaign form is the headline goal the screens follow."""

from __future__ import annotations

from .models import Campaign, Goal, Metric


def goal_metric(campaign: Campaign) -> Metric | None:
    """The headline goal's metric if it has one, else the first money total the organizer added."""
    if campaign.headline_goal_id:
        return campaign.headline_goal.metric
    return campaign.metrics.filter(aggregation=Metric.SUM).order_by("-is_money", "pk").first()


def campaign_goal_sync(*, campaign: Campaign) -> Goal | None:
    """Make the headline goal say what the campaign's goal amount says (0: no goal)."""
    goal = current_goal(campaign)
    if not campaign.goal_amount:
        if goal is not None:
            Campaign.objects.filter(pk=campaign.pk).update(headline_goal=None)
            campaign.headline_goal = None
        return None
    metric = goal_metric(campaign)
    if metric is None:
        return None  # no money metric yet: the goal applies once there is one
    if goal is None:
        goal = Goal.objects.create(metric=metric, target=campaign.goal_amount, label="Goal")
        Campaign.objects.filter(pk=campaign.pk).update(headline_goal=goal)
        campaign.headline_goal = goal
    elif goal.target != campaign.goal_amount:
        goal.target = campaign.goal_amount
        goal.save(update_fields=["target"])
    return goal


def current_goal(campaign: Campaign) -> Goal | None:
    """The headline goal as the database has it now. The campaign's cached one may be gone: saving
    the form's metrics deletes a replaced metric, and its goal with it."""
    goal_id = Campaign.objects.filter(pk=campaign.pk).values_list("headline_goal", flat=True).first()
    goal = Goal.objects.select_related("metric").filter(pk=goal_id).first() if goal_id else None
    campaign.headline_goal = goal
    return goal
