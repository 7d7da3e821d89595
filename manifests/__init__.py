"""Release manifests: the schema, the writer that builds one from a release directory, and the reader."""

from manifests.reader import load, verify
from manifests.schema import SCHEMA_VERSION, Manifest, Shard

__all__ = ["SCHEMA_VERSION", "Manifest", "Shard", "load", "verify"]
