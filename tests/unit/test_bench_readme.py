"""README's performance table is generated from bench/results.json and must match it."""

import json

from bench import report


def test_readme_table_matches_results_json() -> None:
    results = json.loads(report.RESULTS.read_text())
    readme = report.README.read_text()
    assert report.readme_with(report.markdown(results), readme) == readme, (
        "run `python -m bench.report render` after changing bench/results.json"
    )
