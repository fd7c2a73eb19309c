"""Multi-device plans of decoder LLMs: tensor, pipeline and expert parallelism over an interconnect.

:mod:`models.parallel.plan` turns the ``*_parallel`` algorithm knobs into one device's operator
table (sharded config, micro-batches, expert placement) with the plan's collectives;
:mod:`models.parallel.collectives` gives each collective's alpha-beta cost;
:mod:`models.parallel.links` reads the interconnect catalogue (``data/links.toml``). The one pricing
kernel (:func:`models.perf.evaluate`) prices the collectives on the target's link.
"""

from models.parallel.collectives import ALLREDUCE_ALGORITHMS, COLLECTIVES, Collective, collective_cost
from models.parallel.links import Link, LinkError, get_link, load_links
from models.parallel.plan import ParallelError, ParallelPlan, build_parallel, plan_of, shard_config

__all__ = [
    "ALLREDUCE_ALGORITHMS",
    "COLLECTIVES",
    "Collective",
    "Link",
    "LinkError",
    "ParallelError",
    "ParallelPlan",
    "build_parallel",
    "collective_cost",
    "get_link",
    "load_links",
    "plan_of",
    "shard_config",
]
