"""exewhitelist: application whitelisting for Windows, authored in Python.

The public API is what ``__all__`` lists, and :func:`exewhitelist.scan.scan`
(the module ``exewhitelist.scan`` keeps its name: the function is not
re-exported here, where it would hide the module); everything else is internal.
"""

from .blob import Blob, BlobDecision, compile_policy, read_blob
from .catalog import Catalog, CatalogIndex, CatalogMatch, read_catalog
from .errors import (
    BlobError,
    BlobFormatError,
    BlobVersionError,
    CatalogError,
    DeployError,
    DigestAlgorithmError,
    ExewhitelistError,
    FileChangedError,
    FileReadError,
    InputError,
    InteropError,
    NonconformantPEError,
    OutputError,
    PEFormatError,
    PolicyError,
    PolicyProblem,
    ScanCacheError,
    ScanError,
    SignatureError,
    TruncatedPEError,
    VersionResourceError,
)
from .hashing import FileHashes, PEInfo, authenticode_digest, hash_file
from .pe import Anomaly
from .policy import Decision, Mode, Policy, Query, decide
from .policycheck import CheckedPolicy, check_policy
from .policyfile import dumps_json, dumps_toml, load_policy, loads_json, loads_toml, save_policy
from .policyops import diff_policies, merge_policies, policy_from_hashes
from .rules import (
    Action,
    AuthenticodeRule,
    FileHashRule,
    HashRule,
    PathRule,
    Rule,
    RuleKind,
    hash_rule,
    make_rule,
)
from .scan import Scan, ScanOptions, ScanRecord, ScanSummary, VersionInfo
from .signatures import Certificate, Signature, SignatureStatus

__version__ = "0.1.0"

__all__ = [
    "Action",
    "Anomaly",
    "AuthenticodeRule",
    "Blob",
    "BlobDecision",
    "BlobError",
    "BlobFormatError",
    "BlobVersionError",
    "Catalog",
    "CatalogError",
    "CatalogIndex",
    "CatalogMatch",
    "Certificate",
    "CheckedPolicy",
    "Decision",
    "DeployError",
    "DigestAlgorithmError",
    "ExewhitelistError",
    "FileChangedError",
    "FileHashRule",
    "FileHashes",
    "FileReadError",
    "HashRule",
    "InputError",
    "InteropError",
    "Mode",
    "NonconformantPEError",
    "OutputError",
    "PEFormatError",
    "PEInfo",
    "PathRule",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "Query",
    "Rule",
    "RuleKind",
    "Scan",
    "ScanCacheError",
    "ScanError",
    "ScanOptions",
    "ScanRecord",
    "ScanSummary",
    "Signature",
    "SignatureError",
    "SignatureStatus",
    "TruncatedPEError",
    "VersionInfo",
    "VersionResourceError",
    "__version__",
    "authenticode_digest",
    "check_policy",
    "compile_policy",
    "decide",
    "diff_policies",
    "dumps_json",
    "dumps_toml",
    "hash_file",
    "hash_rule",
    "load_policy",
    "loads_json",
    "loads_toml",
    "make_rule",
    "merge_policies",
    "policy_from_hashes",
    "read_blob",
    "read_catalog",
    "save_policy",
]
