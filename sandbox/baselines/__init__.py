"""The built-in baselines' solutions of the tasks: how the oracle, gullible and cautious agents work each one.

A solution is ``(observation, params, memory) -> action string`` (:data:`common.Solution`), a state machine
over the current page that the agents in :mod:`runner.drivers.builtin` call every step. One module per site
holds that site's solutions in ``SOLUTIONS`` (task key -> solution), :mod:`sandbox.baselines.solutions` finds
a task's, and :mod:`sandbox.baselines.common` holds what they share. The sites know nothing of their
solutions: a baseline imports its site for constants and URLs, never the other way, so a task can be written,
and run by other agents, before it has one.
"""
