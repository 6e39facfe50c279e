/* main.c — incidentd [-t] -c FILE: check the configuration, or run the
 * master (which forks the FastCGI workers). */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void
usage(void)
{
	fprintf(stderr, "usage: incidentd [-t] [-c config-file]\n"
	                "  -c FILE  configuration (key = value lines; INCIDENTD_* env overrides)\n"
	                "  -t       check the configuration and exit\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct config *cfg = xmalloc(sizeof(*cfg));
	const char *path = NULL;
	int check_only = 0, opt;
	char err[512];

	while ((opt = getopt(argc, argv, "c:th")) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': check_only = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	config_defaults(cfg);
	if (config_load(cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "incidentd: %s\n", err);
		return 1;
	}
	log_threshold = cfg->log_level;
	if (check_only) {
		printf("incidentd: configuration ok\n");
		config_free(cfg);
		free(cfg);
		return 0;
	}
	return master_run(cfg, path);
}
