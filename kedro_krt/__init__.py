"""kedro-krt: compile Kedro pipelines into KRT versions for KRE, and serve them locally."""

__version__ = "0.1.0"
