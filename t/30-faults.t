#!/usr/bin/env perl
# Fault tests: a worker killed with -9, PostgreSQL restarted and stopped, Redis
# stopped and restarted, workers replaced on SIGHUP and after max_requests.
# Through all of it the service recovers by itself, every failure is a clean
# 503 envelope, and no event is lost: the event log holds exactly one row per
# successful write, numbered 1..N without a gap.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;

my $s = IncidentdTest->new(own_postgres => 1, workers => 2,
	config => { max_requests => 25 });
my $key = $s->key('write');
my $writes = 0;    # successful writes: each must have left one event

sub create_ok {
	my ($title) = @_;
	my $r = $s->req(POST => '/v1/tickets', key => $key, body => { title => $title });
	$writes++ if $r->{status} == 201;
	return $r;
}

sub all_created {
	my ($n, $label) = @_;
	my @bad = grep { $_->{status} != 201 } map { create_ok("$label $_") } 1 .. $n;
	is scalar(@bad), 0, "$n creates after $label all answer 201"
	    or diag join "\n", map { "$_->{status} $_->{content}" } @bad;
}

sub is_unavailable {
	my ($r, $code, $name) = @_;
	is $r->{status}, 503, "$name: 503";
	is $r->{json}{type}, 'service_unavailable_error', "$name: envelope type";
	is $r->{json}{errors}[0]{code}, $code, "$name: code $code";
	is $r->{json}{request_id}, $r->{headers}{'x-request-id'}, "$name: request_id";
}

subtest 'a worker killed with -9 is replaced; requests keep working' => sub {
	all_created(3, 'warm-up');
	my @before = $s->worker_pids;
	my $killed = $s->kill_worker;
	my @after = $s->worker_pids;
	ok !(grep { $_ == $killed } @after), "worker $killed is gone";
	is scalar(@after), scalar(@before), 'the master restored the worker count';
	all_created(10, 'kill -9');
	like $s->log, qr/worker $killed killed by signal 9/, 'the master logged the death';
};

subtest 'PostgreSQL restarted: workers reconnect without failing a request' => sub {
	$s->restart_postgres;
	# Both workers hold dead connections now; the first statement of each
	# request runs outside a transaction and is retried on a new connection.
	all_created(10, 'PostgreSQL restart');
	my $r = $s->req(GET => '/v1/tickets?limit=1', key => $key);
	is $r->{status}, 200, 'reads work too';
};

subtest 'PostgreSQL down: 503 envelopes, then recovery' => sub {
	$s->stop_postgres;
	is_unavailable(create_ok('while down'), 'database_unavailable', 'create while down');
	is_unavailable($s->req(GET => '/v1/tickets/1', key => $key), 'database_unavailable',
		'get while down');
	my $h = $s->req(GET => '/healthz');
	is_unavailable($h, 'database_unavailable', 'healthz while down');
	is $h->{json}{postgres}, 'unavailable', 'healthz names PostgreSQL';
	is $h->{json}{redis}, 'ok', 'and Redis as fine';
	$s->start_postgres;
	all_created(5, 'PostgreSQL back');
	is $s->req(GET => '/healthz')->{status}, 200, 'healthz is 200 again';
};

subtest 'Redis down: writes still succeed, their events are logged' => sub {
	$s->stop_redis;
	all_created(5, 'Redis down');
	my $h = $s->req(GET => '/healthz');
	is_unavailable($h, 'redis_unavailable', 'healthz without Redis');
	is $h->{json}{redis}, 'unavailable', 'healthz names Redis';
	like $s->log, qr/redis unavailable|redis command failed/, 'the failure is logged';
	$s->start_redis;
	my $ok = 0;
	my $deadline = time + 10;
	while (!$ok && time < $deadline) {
		$ok = $s->req(GET => '/healthz')->{status} == 200;
		sleep 0.1 unless $ok;
	}
	ok $ok, 'healthz recovers once Redis is back';
	all_created(5, 'Redis back');
};

subtest 'SIGHUP replaces the workers without failing requests' => sub {
	# A worker that just reached max_requests may not be replaced yet (the
	# master respawns on its next tick): start from a full set.
	my $full_deadline = time + 10;
	sleep 0.05 until (() = $s->worker_pids) == 2 || time > $full_deadline;
	my @before = $s->worker_pids;
	is scalar(@before), 2, 'two workers before SIGHUP';
	kill 'HUP', $s->incidentd_pid or die "kill: $!";
	my $replaced = 0;
	my $deadline = time + 10;
	while (!$replaced && time < $deadline) {
		my @now = $s->worker_pids;
		my %old = map { $_ => 1 } @before;
		$replaced = @now == @before && !grep { $old{$_} } @now;
		sleep 0.05 unless $replaced;
	}
	ok $replaced, 'every worker is new after SIGHUP';
	all_created(5, 'SIGHUP');
};

subtest 'max_requests recycles workers' => sub {
	# accept() does not deal requests out evenly: one worker may serve most
	# of them. So write until neither of the workers there now is left (each
	# has served its 25), with a deadline, instead of a fixed count.
	my %old = map { $_ => 1 } $s->worker_pids;
	is scalar(keys %old), 2, 'two workers to recycle';
	my ($sent, $gone, @bad) = (0, 0);
	my $deadline = time + 60;
	until ($gone || time > $deadline) {
		my $r = create_ok('max_requests ' . ++$sent);
		push @bad, $r if $r->{status} != 201;
		$gone = !grep { $old{$_} } $s->worker_pids;
	}
	ok $gone, "both workers were replaced ($sent requests)";
	# Each had served at most the 5 SIGHUP requests before: recycling after
	# 25 needs 45 more at least, so an early exit (a crash) shows here.
	cmp_ok $sent, '>=', 45, 'not before they served max_requests';
	is scalar(@bad), 0, 'every create meanwhile answered 201'
	    or diag join "\n", map { "$_->{status} $_->{content}" } @bad;
};

subtest 'no event lost' => sub {
	my $org = $s->org_id;
	my ($count, $min, $max) = split /\|/,
	    $s->psql("SELECT count(*), min(seq), max(seq) FROM events WHERE org_id = $org");
	chomp $max;
	is $count, $writes, "one event per successful write ($writes)";
	is $min, 1, 'the log starts at 1';
	is $max, $writes, 'and has no gap';
	my $seq = $s->psql("SELECT event_seq FROM orgs WHERE id = $org");
	chomp $seq;
	is $seq, $writes, 'orgs.event_seq equals the last event';
	my $incidents = $s->psql("SELECT count(*) FROM incidents WHERE org_id = $org");
	chomp $incidents;
	is $incidents, $writes, 'and every acknowledged create is stored';
};

$s->finish;
done_testing;
