"""The ``tokencost`` command: parse, call the API, render, choose the exit code.

Commands::

    tokencost run SCENARIO.yaml [-o PATH] [--json] [--check] [--no-report] [--set KEY=VALUE ...]
    tokencost compare A.yaml B.yaml ... [-o PATH] [--json] [--check] [--no-report] [--allow-infeasible]
    tokencost simulate SCENARIO.yaml [--requests N] [--seed S] [--json] [--check] [-o PATH] [--set ...]
    tokencost plan SCENARIO.yaml [--requests N] [--seed S] [--mixed] [--json] [--check] [-o PATH] [--set ...]
    tokencost sweep SPEC.yaml [-o results.parquet|.csv] [--what evaluate|simulate|plan] [--resume] [--dask]
    tokencost validate SCENARIO.yaml ... [--json] [--set KEY=VALUE ...]
    tokencost calibrate [-o hardware.yaml] [--device cpu|cuda] [--quick] [--json]
    tokencost verify [--profile hardware.yaml] [--json] [-o report.html] [--quick]
    tokencost accuracy [--json] [-o report.html]
    tokencost schema [--json]
    tokencost init [PATH] [--model NAME] [--hardware NAME] [--gpus N] [--example NAME] [--force] [--json]
    tokencost hardware list|show NAME [--json]
    tokencost models list|show NAME [--json]
    tokencost prices list [--model M] [--json] | show KEY [--json]

Exit codes: 0 success (a closed stdout too); 2 bad input (unreadable or invalid YAML, a schema
error, an unknown preset, a scenario that cannot run on its hardware, a file ``init`` would
overwrite, an output path that cannot be written); 3 a missed SLO under ``--check``; 130 Ctrl-C;
143 SIGTERM (handlers in ``_tokencost_entry``, installed before any import); 1 anything else.
An error is one line on stderr (``file:line:column: field: what is wrong (what is allowed)``),
never a traceback (set ``TOKENCOST_DEBUG=1`` to get one), and leaves no partial file behind.
A :class:`~tokencost.errors.TokenCostWarning` is one line, ``warning: ...``, on stderr.

Start-up is kept light: the report writer (plotly) and pandas are imported only inside the
commands that write reports, so ``tokencost --help`` and ``validate`` never load them.

Layout: :mod:`~tokencost.cli.common` holds the app and what commands share (error mapping, number
formats, tables, atomic output); one module per command group (:mod:`~tokencost.cli.run`,
:mod:`~tokencost.cli.scenario`, :mod:`~tokencost.cli.catalog`, :mod:`~tokencost.cli.prices`,
:mod:`~tokencost.cli.simulate`, :mod:`~tokencost.cli.sweep`, :mod:`~tokencost.cli.machine`,
:mod:`~tokencost.cli.accuracy`) registers its commands on import; :mod:`~tokencost.cli.render`
holds the rich tables, progress bars and preset completion, :mod:`~tokencost.cli.check` ``--check``.

Adding a command: put it in its group's module (import that module below if it is new), decorate it
with ``@app.command()`` and then ``@guarded``; import heavy modules
inside it; raise :class:`~tokencost.errors.ScenarioError` or :class:`Failure` for what the user
got wrong (exit 2) and let anything else escape (exit 1); write files through
``_report_target`` or ``_atomic_write`` so that a failure leaves nothing behind.
"""

# Importing a command module registers its commands on ``app``, in this order (the order of --help).
# isort: off
from tokencost.cli import run, compare, scenario, catalog, prices  # noqa: F401
from tokencost.cli import simulate, sweep, sensitivity, machine, accuracy  # noqa: F401

# isort: on
from tokencost.cli.common import app, main
from tokencost.cli.scenario import scenario_schema

__all__ = ["app", "main", "scenario_schema"]
