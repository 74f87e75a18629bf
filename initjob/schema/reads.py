"""The catalogs a snapshot is read from: the list the catalog token digests.

A constant module of its own so that ``token`` (on the no-op path of every pod start) needs neither
the kind registry nor the model. ``kinds`` checks at import that every catalog an entry reads is
here, and ``tests/test_kinds.py`` that it is exactly their union: add a kind that reads a new
catalog and this list, and the token's filter for it (``token._SCOPES``), must follow.
"""

from __future__ import annotations

CATALOGS: tuple[str, ...] = (
    "pg_aggregate", "pg_attrdef", "pg_attribute", "pg_class", "pg_collation", "pg_constraint", "pg_conversion",
    "pg_default_acl", "pg_depend", "pg_description", "pg_enum", "pg_extension", "pg_index", "pg_inherits",
    "pg_language", "pg_namespace", "pg_opclass", "pg_operator", "pg_opfamily", "pg_policy", "pg_proc", "pg_range",
    "pg_rewrite", "pg_sequence", "pg_statistic_ext", "pg_trigger", "pg_ts_config", "pg_ts_dict", "pg_type",
)
