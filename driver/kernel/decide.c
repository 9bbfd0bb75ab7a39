/* One image decided (docs/driver.md, "Decide"): the same for the main image
 * of a new process (notify.c) and for an image load decided at section
 * creation (imageload.c), so both share the rules, the staged decision and
 * the verdict cache of the image's stream:
 *
 *   1. a stream whose executable section was made while a writer was open,
 *      or that changed afterwards, is denied with its own reason, whatever
 *      the rules say;
 *   2. a verdict cached in the stream context for this policy generation and
 *      this unchanged stream (and, when it depended on the path, this path)
 *      decides at once;
 *   3. otherwise the core's staged decision (ewl_decide_staged) asks for the
 *      facts it needs, in its order: the path (the file system's normalized
 *      name in its Win32 spelling, path.c), then the digests (read on the
 *      driver's own file object, hash.c), then the signers (the certificate
 *      table the same pass kept, verified by signer.c). A fact that cannot be
 *      had is MISSING, and the core turns a decision that needed it into a
 *      deny with a reason (never a silent allow);
 *   4. a verdict decided by the rules (not by a missing fact) on a local
 *      stream is cached.
 * The caller reports and acts. Runs at PASSIVE_LEVEL (the process callback)
 * or at most APC_LEVEL (the section callback, before the file system takes
 * its locks). */
#include "ewl_kernel.h"

_IRQL_requires_max_(APC_LEVEL)
VOID EwlImageDecisionPath(_In_opt_ PFILE_OBJECT FileObject, _In_ const EWL_STREAM_REF *Stream,
                          _Inout_ PEWL_IMAGE_DECISION Decision)
{
    PAGED_CODE();
    if (FileObject != NULL && !Decision->PathQueried) {
        Decision->PathStatus = EwlImagePathQuery(FileObject, Stream->Instance, &Decision->Path);
        Decision->PathQueried = TRUE;
    }
}

/* FNV-1a (64 bits) of a folded path: the cache's key for a verdict that
 * depended on the path. */
static ULONGLONG EwlPathHash(_In_ PCUNICODE_STRING Folded)
{
    ULONGLONG hash = 0xcbf29ce484222325ULL;
    USHORT i;

    for (i = 0; i < Folded->Length / sizeof(WCHAR); i++) {
        hash = (hash ^ Folded->Buffer[i]) * 0x100000001b3ULL;
    }
    return hash;
}

/* The digests, when the image can be trusted to be hashed at all: a local
 * volume we are attached to (or a network one with TrustNetworkHashes=1), a
 * name for the driver's own open. */
_IRQL_requires_max_(APC_LEVEL)
static NTSTATUS EwlImageHashes(_In_ PEWL_POLICY Policy, _In_opt_ PFILE_OBJECT FileObject,
                               _In_ const EWL_STREAM_REF *Stream, _Inout_ PEWL_IMAGE_DECISION D)
{
    NTSTATUS status;

    PAGED_CODE();
    RtlZeroMemory(&D->Hashes, sizeof(D->Hashes));
    if (FileObject == NULL) {
        status = STATUS_INVALID_PARAMETER;
        goto Exit;
    }
    if (Stream->Instance == NULL) {
        status = STATUS_FLT_INSTANCE_NOT_FOUND; /* a volume the filter is not attached to */
        goto Exit;
    }
    if (!Stream->InstanceKnown || (Stream->Network && !g_EwlSettings.TrustNetworkHashes)) {
        status = STATUS_NOT_SUPPORTED; /* the server's answer is not the mapped image */
        goto Exit;
    }
    if (!D->PathQueried) {
        D->PathStatus = EwlImagePathQuery(FileObject, Stream->Instance, &D->Path);
        D->PathQueried = TRUE;
    }
    if (D->Path.NtName.Length == 0) {
        status = NT_SUCCESS(D->Path.NameStatus) ? STATUS_OBJECT_NAME_INVALID : D->Path.NameStatus;
        goto Exit;
    }
    if (Policy->HasSigners) {
        /* Off the stack: the digests and views are a few hundred bytes. */
        D->Signed = (PEWL_IMAGE_SIGNED)EwlAllocatePool(FALSE, sizeof(*D->Signed), EWL_TAG_SIGNER);
        if (D->Signed == NULL) {
            status = STATUS_INSUFFICIENT_RESOURCES;
            goto Exit;
        }
    }
    status = EwlHashImage(Stream->Instance, FileObject, &D->Path.NtName, Policy->HasFlatHashes,
                          Stream->Network ? g_EwlSettings.NetworkReadBudgetMs : 0, &D->Hashes,
                          D->Signed);

Exit:
    return status;
}

/* The hashing pass once per decision, and the facts it gives. */
_IRQL_requires_max_(APC_LEVEL)
static VOID EwlHashStage(_In_ PEWL_POLICY Policy, _In_opt_ PFILE_OBJECT FileObject,
                         _In_ const EWL_STREAM_REF *Stream, _Inout_ PEWL_IMAGE_DECISION D,
                         _Inout_ ewl_facts_t *Facts)
{
    PAGED_CODE();
    if (!D->Hashed) {
        D->HashStatus = EwlImageHashes(Policy, FileObject, Stream, D);
        D->Hashed = TRUE;
    }
    /* A complete pass is KNOWN even without a digest (not a PE, and no flat
     * rules): the core then decides without one. */
    Facts->hash_state = NT_SUCCESS(D->HashStatus) && D->HashStatus != STATUS_OPLOCK_BREAK_IN_PROGRESS
                            ? EWL_FACT_KNOWN
                            : EWL_FACT_MISSING;
    Facts->authenticode_sha256 = D->Hashes.HaveAuthenticode ? D->Hashes.Authenticode : NULL;
    Facts->file_sha256 = D->Hashes.HaveFlat ? D->Hashes.Flat : NULL;
}

_IRQL_requires_max_(APC_LEVEL)
VOID EwlImageDecide(_In_ PEWL_POLICY Policy, _In_opt_ PFILE_OBJECT FileObject,
                    _In_ const EWL_STREAM_REF *Stream, _Inout_ PEWL_IMAGE_DECISION Decision)
{
    static const ANSI_STRING noPath = RTL_CONSTANT_STRING(EWL_REASON_TEXT_NO_PATH);
    static const ANSI_STRING noHash = RTL_CONSTANT_STRING(EWL_REASON_TEXT_NO_HASH);
    static const ANSI_STRING changed = RTL_CONSTANT_STRING("(image stream changed)");
    static const ANSI_STRING kindRule = RTL_CONSTANT_STRING("rule");
    static const ANSI_STRING kindNoPath = RTL_CONSTANT_STRING("no_path");
    static const ANSI_STRING kindNoHash = RTL_CONSTANT_STRING("no_hash");
    static const ANSI_STRING noSigner = RTL_CONSTANT_STRING(EWL_REASON_TEXT_NO_SIGNER);
    static const ANSI_STRING kindNoSigner = RTL_CONSTANT_STRING("no_signer");
    static const ANSI_STRING kindChanged = RTL_CONSTANT_STRING("image_changed");
    PEWL_IMAGE_DECISION d = Decision;
    ewl_facts_t facts;
    BOOLEAN tainted = FALSE;
    BOOLEAN cached = FALSE;
    LONG modifiedSeq = 0;
    LONG nameSeq = 0;
    ULONGLONG cachedPathHash = 0;
    ULONG cachedPathUnits = 0;
    KIRQL irql;

    PAGED_CODE();
    /* The caller zeroed *d; the path it may have asked for already (image
     * loads) is the decision's. */
    RtlZeroMemory(&facts, sizeof(facts));
    if (!d->PathQueried) {
        d->PathStatus = STATUS_NOT_FOUND; /* not asked */
    }
    d->HashStatus = STATUS_NOT_FOUND; /* not attempted */
    d->SignerStatus = STATUS_NOT_FOUND;
    d->Kind = &kindRule;
    if (Stream->Stream != NULL) {
        PEWL_STREAM_CONTEXT s = Stream->Stream;
        KeAcquireSpinLock(&s->Lock, &irql);
        tainted = s->ImageTainted;
        modifiedSeq = s->ModifiedSeq;
        nameSeq = s->NameSeq;
        if (!tainted && s->CacheValid && s->CacheGeneration == Policy->Generation &&
            s->CacheModifiedSeq == modifiedSeq &&
            (!(s->CacheVerdict.depends & EWL_DEPENDS_PATH) || s->CacheNameSeq == nameSeq)) {
            d->Verdict = s->CacheVerdict;
            d->Hashes = s->CacheHashes;
            d->SignerStatus = s->CacheSignerStatus;
            d->Signers = s->CacheSigners;
            cachedPathHash = s->CachePathHash;
            cachedPathUnits = s->CachePathUnits;
            cached = TRUE;
        }
        KeReleaseSpinLock(&s->Lock, irql);
    }
    if (cached && (IoGetTransactionParameterBlock(FileObject) != NULL || FileObject->DeletePending)) {
        /* This file object sees a transaction's view, or a file going away:
         * decide afresh (hash.c refuses a digest for either). */
        cached = FALSE;
        RtlZeroMemory(&d->Verdict, sizeof(d->Verdict));
        RtlZeroMemory(&d->Hashes, sizeof(d->Hashes));
    }
    if (cached && (d->Verdict.depends & EWL_DEPENDS_PATH)) {
        /* The stream's other hard links have other paths: the cached verdict
         * holds only for the path it was decided on. */
        EwlImageDecisionPath(FileObject, Stream, d);
        facts.path_state = NT_SUCCESS(d->PathStatus) ? EWL_FACT_KNOWN : EWL_FACT_MISSING;
        facts.path = (const uint16_t *)d->Path.Folded.Buffer;
        facts.path_len = d->Path.Folded.Length / sizeof(WCHAR);
        if (!NT_SUCCESS(d->PathStatus) || facts.path_len != cachedPathUnits ||
            EwlPathHash(&d->Path.Folded) != cachedPathHash) {
            cached = FALSE;
            RtlZeroMemory(&d->Verdict, sizeof(d->Verdict));
            RtlZeroMemory(&d->Hashes, sizeof(d->Hashes));
        }
    }
    if (tainted) {
        /* The mapped image may not be the file: whatever the rules say. */
        d->Verdict.decision.action = EWL_ACTION_DENY;
        d->Verdict.decision.enforced = (Policy->Blob.flags & EWL_FLAG_AUDIT) == 0;
        d->HashStatus = STATUS_SHARING_VIOLATION;
        d->Reason = &changed;
        d->Kind = &kindChanged;
        goto Exit;
    }
    if (cached) {
        d->Cached = TRUE;
        d->HashStatus = d->Hashes.HaveAuthenticode || d->Hashes.HaveFlat ? STATUS_SUCCESS
                                                                        : STATUS_NOT_FOUND;
        if (!d->PathQueried) {
            d->PathStatus = STATUS_SUCCESS; /* asked for if a deny is reported */
        }
        goto Exit;
    }
    /* The staged decision: ask for what it needs, in its order. */
    for (;;) {
        ewl_decide_staged(&Policy->Blob, &facts, &Policy->Variables.Vars, &d->Verdict);
        if (d->Verdict.next == EWL_NEXT_PATH) {
            if (FileObject == NULL) {
                d->PathStatus = STATUS_INVALID_PARAMETER; /* no FileObject */
            }
            EwlImageDecisionPath(FileObject, Stream, d);
            facts.path_state = NT_SUCCESS(d->PathStatus) ? EWL_FACT_KNOWN : EWL_FACT_MISSING;
            facts.path = (const uint16_t *)d->Path.Folded.Buffer;
            facts.path_len = d->Path.Folded.Length / sizeof(WCHAR);
        } else if (d->Verdict.next == EWL_NEXT_HASH) {
            EwlHashStage(Policy, FileObject, Stream, d, &facts);
        } else if (d->Verdict.next == EWL_NEXT_SIGNER) {
            /* The signers come from the hashing pass's certificate table:
             * without a complete pass there are none to be had. */
            EwlHashStage(Policy, FileObject, Stream, d, &facts);
            d->SignerStatus = facts.hash_state == EWL_FACT_KNOWN && d->Signed != NULL
                                  ? EwlSignerFacts(d->Signed, &d->SignerWork, &facts.signers)
                                  : (NT_SUCCESS(d->HashStatus) ? STATUS_NOT_FOUND : d->HashStatus);
            facts.signer_state = NT_SUCCESS(d->SignerStatus) && facts.signers != NULL
                                     ? EWL_FACT_KNOWN
                                     : EWL_FACT_MISSING;
            d->Signers = facts.signers != NULL ? (ULONG)facts.signers->signer_count : 0;
        } else {
            break;
        }
    }
    if (d->Verdict.reason == EWL_REASON_NO_HASH) {
        d->Reason = &noHash;
        d->Kind = &kindNoHash;
    } else if (d->Verdict.reason == EWL_REASON_NO_PATH) {
        d->Reason = &noPath;
        d->Kind = &kindNoPath;
    } else if (d->Verdict.reason == EWL_REASON_NO_SIGNER) {
        d->Reason = &noSigner;
        d->Kind = &kindNoSigner;
    } else if (Stream->Stream != NULL && !Stream->Network) {
        /* Decided by the rules on facts about an unchanged local stream:
         * cache it, unless the stream changed while we decided. */
        PEWL_STREAM_CONTEXT s = Stream->Stream;
        ULONGLONG pathHash =
            (d->Verdict.depends & EWL_DEPENDS_PATH) ? EwlPathHash(&d->Path.Folded) : 0;
        KeAcquireSpinLock(&s->Lock, &irql);
        if (s->ModifiedSeq == modifiedSeq && s->NameSeq == nameSeq && !s->ImageTainted) {
            s->CacheValid = TRUE;
            s->CacheGeneration = Policy->Generation;
            s->CacheModifiedSeq = modifiedSeq;
            s->CacheNameSeq = nameSeq;
            s->CacheVerdict = d->Verdict;
            s->CacheHashes = d->Hashes;
            s->CacheSignerStatus = d->SignerStatus;
            s->CacheSigners = d->Signers;
            s->CachePathUnits = (ULONG)(d->Path.Folded.Length / sizeof(WCHAR));
            s->CachePathHash = pathHash;
        }
        KeReleaseSpinLock(&s->Lock, irql);
    }

Exit:
    return;
}

VOID EwlImageDecisionFree(_Inout_ PEWL_IMAGE_DECISION Decision)
{
    EwlImagePathFree(&Decision->Path);
    if (Decision->Signed != NULL) {
        EwlImageSignedFree(Decision->Signed);
        ExFreePoolWithTag(Decision->Signed, EWL_TAG_SIGNER);
        Decision->Signed = NULL;
    }
    EwlSignerFree(Decision->SignerWork);
    Decision->SignerWork = NULL;
}

VOID EwlImageDecisionSigner(_In_opt_ const EWL_IMAGE_DECISION *Decision,
                            _Inout_ EWL_DENY_REPORT *Report)
{
    Report->SignerStatus = Decision != NULL ? Decision->SignerStatus : STATUS_NOT_FOUND;
    Report->Signers = Decision != NULL ? Decision->Signers : 0;
    EwlSignerName(Decision != NULL ? Decision->SignerWork : NULL, &Report->Signer);
}

VOID EwlHexDigest(_In_reads_(EWL_HASH_SIZE) const UCHAR *Digest,
                  _Out_writes_(2 * EWL_HASH_SIZE + 1) char *Out)
{
    static const char digits[] = "0123456789abcdef";
    ULONG i;

    for (i = 0; i < EWL_HASH_SIZE; i++) {
        Out[2 * i] = digits[Digest[i] >> 4];
        Out[2 * i + 1] = digits[Digest[i] & 15];
    }
    Out[2 * EWL_HASH_SIZE] = '\0';
}
