/* Pool allocations. ExAllocatePool2 (Windows 10 2004 and later) is resolved
 * at load: mingw-w64 does not declare it, and importing it would stop the
 * driver from loading on older builds. Where it is missing,
 * ExAllocatePoolWithTag with NonPagedPoolNx / PagedPool, zeroed, gives the
 * same result. Every block carries its kind's tag (ewl_kernel.h). */
#include "ewl_kernel.h"

#define EWL_POOL_FLAG_NON_PAGED 0x0000000000000040ULL
#define EWL_POOL_FLAG_PAGED 0x0000000000000100ULL

typedef PVOID(NTAPI *EWL_EX_ALLOCATE_POOL2)(_In_ ULONG64 Flags, _In_ SIZE_T NumberOfBytes,
                                             _In_ ULONG Tag);

static EWL_EX_ALLOCATE_POOL2 g_ExAllocatePool2;

_IRQL_requires_(PASSIVE_LEVEL)
VOID EwlPoolInitialize(VOID)
{
    UNICODE_STRING name = RTL_CONSTANT_STRING(L"ExAllocatePool2");

    PAGED_CODE();
    g_ExAllocatePool2 = (EWL_EX_ALLOCATE_POOL2)MmGetSystemRoutineAddress(&name);
}

_IRQL_requires_max_(APC_LEVEL)
PVOID EwlAllocatePool(_In_ BOOLEAN NonPaged, _In_ SIZE_T Bytes, _In_ ULONG Tag)
{
    PVOID block;

    if (g_ExAllocatePool2 != NULL) {
        return g_ExAllocatePool2(NonPaged ? EWL_POOL_FLAG_NON_PAGED : EWL_POOL_FLAG_PAGED, Bytes,
                                 Tag);
    }
    block = ExAllocatePoolWithTag(NonPaged ? NonPagedPoolNx : PagedPool, Bytes, Tag);
    if (block != NULL) {
        RtlZeroMemory(block, Bytes);
    }
    return block;
}
