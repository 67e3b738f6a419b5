"""Write golden_official.json: the official metric's own answers on the seeded cases.

Usage: python -m tests.oracle.make_golden PATH/TO/official_metric.py [N]
where the file is the competition's metric code (it defines `score(solution, submission,
row_id_column_name)` and `HostVisibleError`), saved from a public notebook. The official code
itself stays out of this repository; only its answers are kept.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import polars as pl

from tests.oracle.cases import SOLUTION_COLUMNS, SUBMISSION_COLUMNS, random_case

GOLDEN = Path(__file__).with_name("golden_official.json")


def fingerprint(sol: list[tuple], sub: list[tuple]) -> list[int]:
    """Cheap identity of a generated case, so a drifting RNG stream is detected, not misread."""
    return [len(sol), len(sub), sum(r[4] + 3 * r[5] for r in sol), sum(r[5] + 3 * r[6] for r in sub)]


def main(path: str, n: int = 400) -> None:
    spec = importlib.util.spec_from_file_location("official_metric", path)
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    out, sol_rows, sub_rows = [], [], []
    for seed in range(n):
        clash = seed % 5 == 0
        sol, sub = random_case(seed, clash=clash)
        s, p = pd.DataFrame(sol, columns=SOLUTION_COLUMNS), pd.DataFrame(sub, columns=SUBMISSION_COLUMNS)
        try:
            value, error = official.score(s, p, "row_id"), None
        except official.HostVisibleError as e:
            value, error = None, str(e)
        out.append({"seed": seed, "clash": clash, "fingerprint": fingerprint(sol, sub),
                    "score": value, "error": error})
        sol_rows += [(seed, *r) for r in sol]
        sub_rows += [(seed, *r) for r in sub]
    GOLDEN.write_text(json.dumps(out, indent=0))
    # the cases themselves, so the test never depends on regenerating them from numpy's stream
    pl.DataFrame(sol_rows, schema=["case", *SOLUTION_COLUMNS], orient="row").write_parquet(
        GOLDEN.with_name("golden_solution.parquet"), compression_level=19)
    pl.DataFrame(sub_rows, schema=["case", *SUBMISSION_COLUMNS], orient="row").write_parquet(
        GOLDEN.with_name("golden_submission.parquet"), compression_level=19)
    print(f"wrote {len(out)} cases to {GOLDEN}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
