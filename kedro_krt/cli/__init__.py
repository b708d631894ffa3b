"""kedro-krt's command line: `kedro krt ...` in a Kedro project, `kedro-krt ...` anywhere.

:mod:`~kedro_krt.cli.commands` holds the click commands (parse, call, print), written once and
registered on both groups; :mod:`~kedro_krt.cli.functions` the work they call;
:mod:`~kedro_krt.cli.errors` how a user's mistake is shown (one line, exit 1).
"""

from kedro_krt.cli.commands import commands, krt, main

__all__ = ["commands", "krt", "main"]
