"""FlowClass: no-code image analytics as JSON workflows of typed nodes.

The package holds what every node and front end shares: the declaration types a node
is written with (:mod:`flowclass.params`, :mod:`flowclass.node`), the workflow model
(:mod:`flowclass.workflow`), validation, the registry, the cache and the engine. It knows
nothing about images; the node library lives in the top-level package ``nodes``.
"""

__version__ = "0.1.0"
