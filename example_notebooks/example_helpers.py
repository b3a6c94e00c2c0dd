"""Functions the example notebooks call from ``python:`` steps.

A step ``python: example_helpers:code_metrics`` imports this module from the notebook's
folder, so a file like this next to your notebook is all it takes: nothing to install.
"""

from __future__ import annotations

import ast
import csv
from collections import Counter
from typing import Any


def code_metrics(code: str) -> dict[str, Any]:
    """Size and shape of some Python code, for reviewers to weigh their findings against."""
    tree = ast.parse(code)
    lines = code.strip("\n").splitlines()
    return {
        "lines": len(lines),
        "functions": [node.name for node in ast.walk(tree)
                      if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)],
        "longest_line": max((len(line) for line in lines), default=0),
        "todos": sum("TODO" in line for line in lines),
    }


def region_summary(path: str, region: str, max_rows: int = 1000) -> dict[str, Any]:
    """Revenue of one region in a sales CSV (date, region, product, ..., revenue).

    Reads at most ``max_rows`` rows of the region; rows without a revenue are counted,
    not guessed.
    """
    by_month: Counter[str] = Counter()
    by_product: Counter[str] = Counter()
    rows = missing = 0
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["region"] != region:
                continue
            if rows == max_rows:
                break
            rows += 1
            if not row["revenue"].strip():
                missing += 1
                continue
            revenue = float(row["revenue"])
            by_month[row["date"][:7]] += revenue
            by_product[row["product"]] += revenue
    if rows == 0:
        raise ValueError(f"no rows for region {region!r} in {path}")
    return {
        "region": region,
        "rows": rows,
        "missing_revenue": missing,
        "revenue": round(sum(by_product.values()), 2),
        "by_month": {month: round(total, 2) for month, total in sorted(by_month.items())},
        "by_product": {product: round(total, 2) for product, total in by_product.most_common()},
        "best_month": max(by_month, key=by_month.__getitem__, default=None),
        "top_product": max(by_product, key=by_product.__getitem__, default=None),
    }
