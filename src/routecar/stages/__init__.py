"""Request policies around planning and dispatch (classify, cache, budget, canary, ...), each
a small `Stage` built once per config generation; `Pipeline` runs the ones a route needs."""
