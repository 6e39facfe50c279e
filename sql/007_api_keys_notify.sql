-- 007_api_keys_notify.sql — every incidentd worker remembers the API keys it
-- has seen (src/auth_cache.c) and LISTENs on incidentd_api_keys.  Any change
-- to api_keys that could take a key's access away (revocation, deletion, a
-- changed role, a truncate), by any path — incidentctl, psql, a future API —
-- notifies that channel in the same transaction, and the workers forget
-- every key they remember.  A new key needs no notice: no worker remembers
-- a key it has never seen accepted.
CREATE FUNCTION api_keys_notify_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('incidentd_api_keys', '');
	RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_changed
	AFTER UPDATE OR DELETE OR TRUNCATE ON api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify_changed();
