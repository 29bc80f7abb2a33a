"""Generic overlays: conditions that apply to a task on any site (filled in below)."""
