"""Studies as data: a YAML file of experiments/studies/ names a base spec, a grid (and named
variants), the repeats and the claims being tested; the study runner runs every cell x repeat and
writes reports/studies/<name>/ with a table per metric, charts and a verdict per claim.

- :mod:`experiments.studies.model`: the study file's model and its claims;
- :mod:`experiments.studies.cells`: the study's cells (the sweep's grid expansion) and labels;
- :mod:`experiments.studies.verdict`: each claim judged on the cells' 95 % intervals (pure);
- :mod:`experiments.studies.report`: the study's report folder;
- :mod:`experiments.studies.runner`: runs the cells and writes the report (`harness study`).
"""
