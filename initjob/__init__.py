"""initjob: make a PostgreSQL schema match the SQL shipped with a release, once, before it starts."""

__version__ = "0.1.0"
