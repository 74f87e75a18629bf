"""The schema model read from the catalog, its comparison and the planner of changes."""
