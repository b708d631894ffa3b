"""`python -m kedro_krt.handwritten DIR [--output FILE] [--version NAME]`: `kedro-krt build`."""

from kedro_krt.handwritten.command import build_command

if __name__ == "__main__":
    build_command(prog_name="kedro-krt build")
