"""Plots and tables of training runs (train.py) and grow-until-baseline searches (inherit.py).

Run the scripts from the repository root, as `python plots/plot_runs.py ...` or
`python -m plots.plot_runs ...`, or call their functions in-process:

    from plots.plot_runs import plot_runs          # loss curves vs steps and tokens
    from plots.plot_grow import plot_grow          # val loss per grow round vs n
    from plots.plot_ablation import plot_ablation  # final val loss per group of runs
    from plots.report import report_table          # markdown table of final losses

Reading and naming run directories lives in plots/runs.py.
"""
