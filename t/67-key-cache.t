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

# Each way of taking a key away, then the request that must be refused: a
# get, a list, and a create whose body is invalid (it runs no statement).
my @taken_away = (
	['revoked with incidentctl', sub {
		my ($kid) = $s->psql("SELECT id FROM api_keys WHERE name = '$_[0]'") =~ /(\d+)/;
		$s->_ctl_ok('key', 'revoke', $kid);
	}, GET => "/v1/tickets/$id"],
	['revoked by an UPDATE in psql', sub {
		$s->psql("UPDATE api_keys SET revoked_at = now() WHERE name = '$_[0]'");
	}, GET => '/v1/tickets'],
	['deleted in psql', sub {
		$s->psql("DELETE FROM api_keys WHERE name = '$_[0]'");
	}, GET => "/v1/tickets/$id"],
	['revoked, then a request that runs no statement (422 before the key)', sub {
		$s->psql("UPDATE api_keys SET revoked_at = now() WHERE name = '$_[0]'");
	}, POST => '/v1/tickets', body => { description => 'no title' }],
);
my $n = 0;
for my $case (@taken_away) {
	my ($name, $take, @request) = @$case;
	subtest $name => sub {
		my $label = 'taken-' . ++$n;
		my $api = new_key('write', $label);
		warm($api, $label);
		$take->($label);
		error_is($api->call(@request), 401, 'authentication_error', 'invalid_api_key',
			'the next request is refused');
	};
}

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

subtest 'other keys are unaffected and a new key works at once' => sub {
	is($write->call(GET => "/v1/tickets/$id")->{status}, 200, 'the write key still reads');
	my $api = new_key('read', 'fresh');
	is($api->call(GET => '/v1/tickets')->{status}, 200, 'a key made now works');
};

sub release {
	my ($pid) = @_;
	$s->psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		. " WHERE query LIKE '%LOCK TABLE incidents%' AND pid <> pg_backend_pid()");
	waitpid $pid, 0;
}

subtest 'revoked while the request waits in PostgreSQL' => sub {
	my $api = new_key('read', 'in-flight');
	warm($api, 'in-flight');
	my $locker = $s->hold_lock('BEGIN; LOCK TABLE incidents IN ACCESS EXCLUSIVE MODE',
		"relation = 'incidents'::regclass AND mode = 'AccessExclusiveLock'");
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
