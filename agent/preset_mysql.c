/*
 * preset_mysql - the panels' queries in MySQL/MariaDB SQL
 */
#include <stddef.h>

#include "preset.h"

const struct preset preset_mysql[] = {
    {NULL, NULL, NULL, NULL},
};
