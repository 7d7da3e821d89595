"""Release manifests: the schema, the writer that builds one from a release directory, the reader, the
diff between two releases and the loader that turns a release into a Hugging Face dataset.

    import manifests
    m = manifests.load("out/demo/0.1.0")                 # typed Manifest
    problems = manifests.verify("out/demo/0.1.0")        # [] when every shard matches
    ds = manifests.to_dataset("out/demo/0.1.0", weighted=True)
"""

from manifests.dataset import ReleaseVerificationError, to_dataset
from manifests.diff import diff
from manifests.check import verify
from manifests.reader import load
from manifests.schema import SCHEMA_VERSION, Manifest, Shard

__all__ = ["SCHEMA_VERSION", "Manifest", "ReleaseVerificationError", "Shard", "diff", "load", "to_dataset", "verify"]
