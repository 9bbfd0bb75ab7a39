/* Blob validation status: the pinned codes of docs/blob-format.md §7.
 *
 * The numbers live once, in src/exewhitelist/blob/_format.py, and reach C
 * through the generated ewl_format.h (EWL_STATUS_OK, EWL_STATUS_TRUNCATED,
 * ...). This header only names their type. */
#ifndef EWL_STATUS_H
#define EWL_STATUS_H

#include "ewl_format.h"

typedef int ewl_status_t;

#endif /* EWL_STATUS_H */
