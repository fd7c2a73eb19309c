"""Entry point of one search worker process: ``python -m models.dse._worker SPEC_JSON``."""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from models.dse.search import run_worker
    from models.dse.space import _rebuild

    spec = json.loads(argv[0])
    run_worker(
        _rebuild(spec["space"], spec["source"]),
        spec["storage"],
        spec["study_name"],
        spec["n_trials"],
        sampler=spec["sampler"],
        seed=spec["seed"],
        batch_size=spec["batch_size"],
        population_size=spec["population_size"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
