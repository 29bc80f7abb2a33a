from django import template

register = template.Library()


@register.filter
def rate(value):
    """Render a metrics rate dict as 'value [low, high] n=N'."""
    if not isinstance(value, dict) or "n" not in value:
        return "–"
    if value.get("value") is None:
        return f"– (n={value['n']})"
    return f"{value['value']:.2f} [{value['low']:.2f}, {value['high']:.2f}] n={value['n']}"


@register.filter
def get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None
