"""What an organizer posts to the campaign form of the admin (its inlines' management forms too)."""

from __future__ import annotations

from fundraiser.admin import MetricInline

RAISED = {
    "slug": "raised",
    "label": "Raised",
    "aggregation": "sum",
    "value_path": "amount",
    "group_by_path": "platform",
    "decimal_places": "2",
    "is_money": "on",
}


def campaign_form(*, metrics: list[dict] | None = None, **fields) -> dict:
    data = {
        "name": "Spring Gala",
        "slug": "gala",
        "currency": "USD",
        "goal_amount": "1000",
        "table_name": "Donations",
        "region": "us-east-1",
        "endpoint_url": "",
        "is_active": "on",
        "accent_color": "#3ee08f",
        "bar_color": "#5aa9ff",
        "background_color": "#060a16",
        "donor_name_path": "name",
        "milestones-TOTAL_FORMS": "0",
        "milestones-INITIAL_FORMS": "0",
        "metrics-INITIAL_FORMS": "0",
    }
    data.update(fields)
    metrics = metrics if metrics is not None else [RAISED]
    data["metrics-TOTAL_FORMS"] = str(len(metrics))
    for i, metric in enumerate(metrics):
        for name in MetricInline.fields:
            if name in metric:
                data[f"metrics-{i}-{name}"] = metric[name]
    return {k: v for k, v in data.items() if v is not None}
