"""The reference tables of `docs/` that come from code, and the command that keeps them current.

`python -m routecar.docs [REPO]` rewrites every block between
`<!-- generated:NAME -->` and `<!-- end generated -->` in the pages under `docs/` with the
table NAME renders from the code (`tables.BLOCKS`); `--check` only reports stale pages and
exits 1. The rest of each page is written by hand. tests/docs/ fails when a page is stale.

Nothing here runs in `routecar serve`: it imports the route-log schema and the metrics
registry only to describe them.
"""

REGENERATE = "python -m routecar.docs"
