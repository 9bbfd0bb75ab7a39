"""Signer facts as JSON: the form the shared test vectors write them in (spec §11).

``{"signers": [{"chain": ["sha256:<hex>", ...], "common_name": "..."}],
"attributes": {"original_filename": "..."}, "version": "1.2.3.4"}``: every key
optional (``signers`` none, ``attributes`` none, ``version`` none; a signer
without ``common_name`` has none), the chain leaf first, attribute values as
the file has them (not folded).
"""

from __future__ import annotations

from typing import Any

from ..rules import CertificateId, FileAttribute, FileVersion, Signer, SignerFacts

__all__ = ["signer_facts_from_json", "signer_facts_to_json"]


def signer_facts_to_json(facts: SignerFacts) -> dict[str, Any]:
    """The JSON form of ``facts`` (keys with nothing to say are left out)."""
    out: dict[str, Any] = {}
    if facts.signers:
        out["signers"] = [
            {"chain": [str(c) for c in s.chain]}
            | ({} if s.common_name is None else {"common_name": s.common_name})
            for s in facts.signers
        ]
    if facts.attributes:
        out["attributes"] = {
            a.value: facts.attributes[a] for a in FileAttribute if a in facts.attributes
        }
    if facts.version is not None:
        out["version"] = str(facts.version)
    return out


def signer_facts_from_json(data: dict[str, Any]) -> SignerFacts:
    """Signer facts from their JSON form (:class:`ValueError` or a ``PolicyError`` if bad)."""
    signers = tuple(
        Signer(
            tuple(CertificateId.parse(c) for c in s.get("chain", ())),
            s.get("common_name"),
        )
        for s in data.get("signers", ())
    )
    attributes = {FileAttribute(k): v for k, v in data.get("attributes", {}).items()}
    version = data.get("version")
    return SignerFacts(
        signers, attributes, FileVersion.parse(version) if version is not None else None
    )
