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


@register.filter
def browser_ms(step):
    """A step's time that was neither the agent's nor the World's: the browser observing and acting."""
    world = (step.data or {}).get("world_ms") or 0
    return max(0.0, step.step_ms - step.agent_latency_ms - world)
