"""`python -m kedro_krt.cli ...` is `kedro-krt ...`, e.g. `python -m kedro_krt.cli build DIR`."""

from kedro_krt.cli.commands import main

if __name__ == "__main__":
    main(prog_name="kedro-krt")
