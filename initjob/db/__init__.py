"""Thin database edges: connect, lock, the job's own tables, backup marker, execution, shadow."""
