"""Reading the URL query that every page is built from."""

from __future__ import annotations


def query_runs(query: dict) -> list[str]:
    """The run ids a URL query selects: `runs=a,b` (repeatable), or the older `run=a`; duplicates dropped."""
    wanted: list[str] = []
    for name in ("runs", "run"):
        value = query.get(name)
        for part in (value if isinstance(value, list) else [value]):
            if isinstance(part, str):
                wanted.extend(r for r in part.split(",") if r)
    return list(dict.fromkeys(wanted))
