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


def signer_facts_to_json(facts: SignerFacts, *, every_key: bool = False) -> dict[str, Any]:
    """The JSON form of ``facts``: keys with nothing to say left out (the vectors), or with
    ``every_key`` written as empty or null (what ``check --json`` prints, so that a reader
    finds every key); :func:`signer_facts_from_json` reads both."""
    out: dict[str, Any] = {}
    if facts.signers or every_key:
        out["signers"] = [
            {"chain": [str(c) for c in s.chain]}
            | ({} if s.common_name is None and not every_key else {"common_name": s.common_name})
            for s in facts.signers
        ]
    if facts.attributes or every_key:
        out["attributes"] = {
            a.value: facts.attributes[a] for a in FileAttribute if a in facts.attributes
        }
    if facts.version is not None or every_key:
        out["version"] = str(facts.version) if facts.version is not None else None
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
