/*
 * preset_pgsql - the panels' queries in PostgreSQL SQL
 */
#include <stddef.h>

#include "preset.h"

const struct preset preset_pgsql[] = {
    {NULL, NULL, NULL, NULL},
};
