"""What every embedded index engine here understands, shared by them without importing one
another (MongoStore on mongomock/montydb, DuckDBStore)."""

from __future__ import annotations

# Query operators every embedded engine here understands; MongoDB itself accepts more.
PORTABLE_OPERATORS = frozenset(
    "$eq $ne $gt $gte $lt $lte $in $nin $and $or $nor $not $exists $type $regex $options "
    "$all $elemMatch $size $mod".split()
)
