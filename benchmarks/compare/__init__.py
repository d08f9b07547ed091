"""Head-to-head benchmark of hsrnet against PyTorch and scikit-learn (entry point: run.py).

data.py         the data sets and their fixed splits
competitors.py  who runs, with which runner and parameters
runners/        one module per kind of competitor, all on one epoch loop (runners/loop.py)
child.py        one run in a fresh process (its own peak memory, thread variables set before imports)
machine.py      thread variables, load, kernels, versions
schema.py       the JSON record every run writes, and its validation
report.py       docs/benchmarks.md and the plots, from the JSON records alone
"""
