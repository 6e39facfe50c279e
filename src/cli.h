/*
 * cli.h — incidentctl: migrations, organisations and API keys from the
 * command line.  Builds on core.h only.
 */
#ifndef INCIDENTD_CLI_H
#define INCIDENTD_CLI_H

#include "core.h"

/* ---- migrate.c ---- */
int migrate_run(const char *conninfo, const char *sql_dir, int verbose);

#endif
