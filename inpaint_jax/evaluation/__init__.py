"""Scoring and comparing fills: metrics, baselines, the cell runner (whole splits, Table 1
cells, the demo), Table 1 and the paper's figures."""
