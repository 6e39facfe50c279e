#!/usr/bin/perl
# The worker's key cache never outlives a key's access: whatever takes a key
# away — revocation by incidentctl, an UPDATE or DELETE in psql, a lower
# role — is refused on the very next request, even though the worker
# answered the key from memory a moment before.  One worker, so every
# request after the first is a cache hit.  And a key revoked while its
# request waits inside PostgreSQL is refused when that request's statement
# returns (the re-check after a cached request's first statement), and one
# whose request runs no statement at all before answering.
use strict;
use warnings;
use lib 't/lib';
use POSIX ();
use Test::More;
use IncidentdTest;
use ApiCall qw(error_is finish_bg req_bg);
use StreamCheck qw(eventually);

my $s = IncidentdTest->new(workers => 1);
my $org = $s->org_name;

sub new_key {
	my ($role, $name) = @_;
	my $key = $s->_ctl_ok('key', 'create', '--org', $org, '--role', $role, '--name', $name);
	return ApiCall->new($s, $key);
}

# A few requests with the key: the worker has it cached after the first.
sub warm {
	my ($api, $name) = @_;
	my @ok = grep { $api->call(GET => '/v1/tickets')->{status} == 200 } 1 .. 3;
	is(scalar @ok, 3, "$name: the key works (and is now remembered)");
}

my $write = new_key('write', 'cached-write');
my $id = $write->call(POST => '/v1/tickets', body => { title => 'cache' })->{json}{id};
ok($id, 'an incident to read');

subtest 'revoked with incidentctl' => sub {
	my $api = new_key('read', 'ctl');
	warm($api, 'ctl');
	my ($kid) = $s->psql("SELECT id FROM api_keys WHERE name = 'ctl'") =~ /(\d+)/;
	$s->_ctl_ok('key', 'revoke', $kid);
	error_is($api->call(GET => "/v1/tickets/$id"), 401, 'authentication_error', 'invalid_api_key',
		'the next request is refused');
};

subtest 'revoked by an UPDATE in psql' => sub {
	my $api = new_key('read', 'sql-update');
	warm($api, 'sql-update');
	$s->psql("UPDATE api_keys SET revoked_at = now() WHERE name = 'sql-update'");
	error_is($api->call(GET => '/v1/tickets'), 401, 'authentication_error', 'invalid_api_key',
		'the next request is refused');
};

subtest 'deleted in psql' => sub {
	my $api = new_key('read', 'sql-delete');
	warm($api, 'sql-delete');
	$s->psql("DELETE FROM api_keys WHERE name = 'sql-delete'");
	error_is($api->call(GET => "/v1/tickets/$id"), 401, 'authentication_error', 'invalid_api_key',
		'the next request is refused');
};

subtest 'demoted from write to read' => sub {
	my $api = new_key('write', 'demoted');
	warm($api, 'demoted');
	is($api->call(POST => '/v1/tickets', body => { title => 'before' })->{status}, 201, 'writes while write');
	$s->psql("UPDATE api_keys SET role = 'read' WHERE name = 'demoted'");
	error_is($api->call(POST => '/v1/tickets', body => { title => 'after' }), 403, 'authorization_error',
		'insufficient_role', 'the next write is refused');
	is($api->call(GET => "/v1/tickets/$id")->{status}, 200, 'reads still work');
	is($s->psql("SELECT count(*) FROM incidents WHERE title = 'after'") + 0, 0, 'nothing was written');
	# the refusal came after the write's BEGIN: it must have been rolled back
	is($s->psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'incidentd'"
		. " AND state LIKE 'idle in transaction%'") + 0, 0, 'no transaction is left open');
};

subtest 'revoked, then a request that needs no statement' => sub {
	my $api = new_key('write', 'no-statement');
	warm($api, 'no-statement');
	$s->psql("UPDATE api_keys SET revoked_at = now() WHERE name = 'no-statement'");
	error_is($api->call(POST => '/v1/tickets', body => { description => 'no title' }), 401,
		'authentication_error', 'invalid_api_key', 'an invalid body gets 401, not 422');
};

subtest 'other keys are unaffected and a new key works at once' => sub {
	is($write->call(GET => "/v1/tickets/$id")->{status}, 200, 'the write key still reads');
	my $api = new_key('read', 'fresh');
	is($api->call(GET => '/v1/tickets')->{status}, 200, 'a key made now works');
};

# A session holding an exclusive lock on incidents until killed.
sub hold_incidents_lock {
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', '/dev/null';
		eval { $s->psql('BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)') };
		POSIX::_exit(0);
	}
	eventually(sub {
		$s->psql("SELECT count(*) FROM pg_locks WHERE relation = 'incidents'::regclass"
			. " AND mode = 'AccessExclusiveLock' AND granted") + 0 > 0
	}, 30) or die "the lock on incidents was not granted in 30 s\n";
	return $pid;
}

sub release {
	my ($pid) = @_;
	$s->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		. " WHERE query LIKE '%LOCK TABLE incidents%' AND pid <> pg_backend_pid()");
	waitpid $pid, 0;
}

subtest 'revoked while the request waits in PostgreSQL' => sub {
	my $api = new_key('read', 'in-flight');
	warm($api, 'in-flight');
	my $locker = hold_incidents_lock();
	my $bg = req_bg($s, GET => "/v1/tickets/$id", key => $api->{key});
	ok(eventually(sub {
		$s->psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'incidentd'"
			. " AND wait_event_type = 'Lock'") + 0 > 0
	}, 30), "the get's statement waits on the lock (its key came from the cache)");
	$s->psql("UPDATE api_keys SET revoked_at = now() WHERE name = 'in-flight'");
	release($locker);
	my $r = finish_bg($bg);
	is($r->{status}, 401, 'the get is refused when its statement returns');
	is(($r->{json}{errors} || [{}])->[0]{code}, 'invalid_api_key', 'as invalid_api_key');
	is($write->call(GET => "/v1/tickets/$id")->{status}, 200, 'the worker goes on serving');
};

done_testing;
