/* fuzz_config.c — the configuration file format (config_load_text, the one
 * parser config_load uses), onto the built-in defaults.  The environment
 * plays no part. */
#include "core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CONFIG_MAX 65536

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[256];

	if (size > FUZZ_CONFIG_MAX)
		return 0;
	config_defaults(&cfg);
	err[0] = '\0';
	if (config_load_text(&cfg, (const char *)data, size, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort(); /* every refusal says why */
	} else if (cfg.workers < 1 || cfg.max_requests < 1 || cfg.heartbeat < 1 ||
	           cfg.max_connections < 1 || cfg.client_buffer_cap < 1024 ||
	           cfg.event_retention_days < 1 || cfg.shutdown_timeout < 1 ||
	           cfg.socket_mode < 0 || cfg.socket_mode > 0777 || cfg.listen == NULL ||
	           cfg.redis == NULL || cfg.sse_listen == NULL) {
		abort(); /* an accepted file holds only values in range */
	}
	config_free(&cfg);
	return 0;
}
