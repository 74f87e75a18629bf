"""The auto-sync engine, in layers that import one way (each only from those above it):

* ``model``: typed plain-data values for every kind compared, and identifier quoting;
* ``reads``: the catalogs a snapshot is read from (what the token digests);
* ``token``: the cheap catalog token of the no-op path;
* ``kinds``: the kind registry: per kind its catalog query and catalogs, model, fields, label;
* ``compare``: two snapshots into typed changes (the one comparison), and the lines ``verify`` prints;
* ``catalog``: reads a snapshot from a live database in one round trip (objects and their
  ``pg_depend`` edges); JSON and fingerprint;
* ``scope``: which schemas are the application's, whether they hold objects, snapshots compared
  column order aside (what every mode needs; migrations mode needs nothing below);
* ``graph``: the dependency graph of a snapshot: dependants and creation order;
* ``account``: every differing field of the changes accounted for by a step, a refusal or a declared reason;
* ``diff``: the planner: snapshots in, ordered steps with typed hazards out.
"""
