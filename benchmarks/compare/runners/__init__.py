"""One module per kind of competitor. Each exposes ``run(ds, params, threads, max_epochs, time_budget_s)``
returning ``(config, Outcome)``: every parameter it used, and the epochs from runners.loop.run_epochs.
torch is imported only by the torch runners, so hsrnet and scikit-learn runs never load it.
"""
