#!/usr/bin/env perl
# PostgreSQL goes down while incidentd-sse has queries in flight for many
# streams: the organisations' syncs, then their replays. And the hourly prune
# of the event log, which shares the stream process's one query queue: it
# deletes in batches, so a storm of new streams is served between them, and
# only one host prunes at a time. A lock held by
# another session keeps the stream process's query waiting inside PostgreSQL
# until the fast shutdown cuts it, so the failure lands exactly there, every
# run. The stream process must neither crash nor touch freed memory (the
# ASan run checks that), every stream gets an answer, and once PostgreSQL is
# back every event is still delivered.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

my $PATH = '/v1/incidents/stream';
my $STREAMS = 200;
my $ORGS = 10;

my $s = IncidentdTest->new(own_postgres => 1);

# Orgs with three events each, made before any table is locked.
sub orgs_with_events {
	my @orgs = map { $s->new_org } 1 .. $ORGS;
	for my $org (@orgs) {
		for my $i (1 .. 3) {
			my $r = $s->req(POST => '/v1/tickets', key => $org->{keys}{write}, body => { title => "event $i" });
			die "create: $r->{status}\n" unless $r->{status} == 201;
		}
	}
	return @orgs;
}

# An exclusive lock on $table: the stream process's reads of it wait.
sub hold_lock {
	my ($table) = @_;
	return $s->hold_lock("BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE",
		"relation = '$table'::regclass AND mode = 'AccessExclusiveLock'");
}

# Raw stream requests: the response head only comes once the org is synced,
# so nothing here waits for it.
sub open_raw {
	my ($org, $last_event_id) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $s->port, Proto => 'tcp')
	    or die "connect: $!";
	print $sock "GET $PATH HTTP/1.1\r\nHost: t\r\nx-api-key: $org->{keys}{read}\r\n"
	    . "Last-Event-ID: $last_event_id\r\n\r\n";
	return { sock => $sock, buf => '' };
}

# Reads until every raw stream has its status line; returns status => count.
sub statuses {
	my ($raws, $timeout) = @_;
	my $deadline = time + $timeout;
	my %pending = map { fileno($_->{sock}) => $_ } @$raws;
	while (%pending && time < $deadline) {
		for my $sock (IO::Select->new(map { $_->{sock} } values %pending)->can_read(0.5)) {
			my $raw = $pending{ fileno $sock };
			my $n = sysread $sock, $raw->{buf}, 4096, length $raw->{buf};
			delete $pending{ fileno $sock } if !$n || $raw->{buf} =~ m{^HTTP/1\.1 \d+};
		}
	}
	my %count;
	$count{ $_->{buf} =~ m{^HTTP/1\.1 (\d+)} ? $1 : 'none' }++ for @$raws;
	return \%count;
}

sub wait_for_lock_wait {
	return eventually(sub {
		$s->psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'incidentd-sse'"
			. " AND wait_event_type = 'Lock'") + 0 > 0;
	}, 30);
}

# The fault itself: PostgreSQL stops (fast shutdown: every session cut,
# the lock holder's too) and starts again.
sub cut_postgres {
	my ($locker) = @_;
	$s->stop_postgres;
	waitpid $locker, 0;
	$s->start_postgres;
}

sub streams_recover {
	my ($name, $sse, $raws, @orgs) = @_;
	my $count = statuses($raws, 30);
	is($count->{none} // 0, 0, "$name: every stream got an answer")
	    or diag(join ', ', map { "$count->{$_} x $_" } sort keys %$count);
	is(join(',', grep { $_ ne '200' && $_ ne '503' } sort keys %$count), '', "$name: 200 or 503 only");
	is($s->sse_pid, $sse, "$name: incidentd-sse is the same process");
	unlike($s->log, qr/AddressSanitizer|runtime error:|killed by signal/, "$name: no crash, no sanitizer report");
	close $_->{sock} for @$raws;
	for my $org (@orgs) {
		my $c = stream_ok($s, $PATH, "$name: org $org->{id} again", key => $org->{keys}{read},
			headers => { 'Last-Event-ID' => 0 });
		ids_ok(scalar($c->events_until_id(3, 10)), 1, 3, "$name: org $org->{id} replays its log");
	}
}

subtest "PostgreSQL stops while $STREAMS streams of $ORGS orgs sync" => sub {
	my @orgs = orgs_with_events();
	my $sse = $s->sse_pid;
	my $locker = hold_lock('orgs');    # the sync reads orgs.event_seq
	my @raws = map { my $o = $_; map { open_raw($o, 0) } 1 .. $STREAMS / $ORGS } @orgs;
	ok(wait_for_lock_wait(), 'sync: a sync query waits on the lock');
	cut_postgres($locker);
	streams_recover('sync', $sse, \@raws, @orgs);
};

subtest "PostgreSQL stops while $STREAMS streams of $ORGS orgs replay" => sub {
	my @orgs = orgs_with_events();
	my $sse = $s->sse_pid;
	my $locker = hold_lock('events');    # replays read the events table
	my @raws = map { my $o = $_; map { open_raw($o, 0) } 1 .. $STREAMS / $ORGS } @orgs;
	# The first org syncs and its streams start; their replay waits on the
	# lock, and every other org's sync waits behind it.
	ok(wait_for_lock_wait(), 'replay: a replay query waits on the lock');
	cut_postgres($locker);
	# The streams started already: each one is ended (it resumes with
	# Last-Event-ID) or carries on once its replay succeeds.
	streams_recover('replay', $sse, \@raws, @orgs);
};

# ---------------------------------------------------------------- the prune

# An org of its own with $n events logged 40 days ago (past the 30-day
# retention); no stream ever reads it.
sub old_events {
	my ($n) = @_;
	my $org = $s->new_org;
	$s->psql("INSERT INTO events (org_id, seq, type, incident_id, payload, at, created_at) "
		. "SELECT $org->{id}, g, 'incident.deleted', g, json_build_object('incident_id', g), "
		. "now() - interval '40 days', now() - interval '40 days' FROM generate_series(1, $n) g");
	$s->psql("UPDATE orgs SET event_seq = $n WHERE id = $org->{id}");
	return $org;
}

sub logged_events {
	my ($org) = @_;
	return $s->psql("SELECT count(*) FROM events WHERE org_id = $org->{id}") + 0;
}

# incidentd-sse's statements, from PostgreSQL's log (log_statement = all).
sub sse_statements {
	my ($from) = @_;
	my $log = $s->_slurp("$s->{dir}/postgres.log");
	return grep { /^incidentd-sse .*execute/ } split /\n/, substr($log, $from);
}

subtest 'the prune deletes in batches while a storm of streams opens' => sub {
	my $old = old_events(20_000);
	$s->psql("ALTER SYSTEM SET log_statement = 'all'");
	$s->psql("ALTER SYSTEM SET log_line_prefix = '%a '");
	$s->psql('SELECT pg_reload_conf()');
	my $from = -s "$s->{dir}/postgres.log";
	my @orgs = orgs_with_events();
	$s->kill_sse;    # a new incidentd-sse prunes as it starts
	my @raws = map { my $o = $_; map { open_raw($o, 3) } 1 .. $STREAMS / $ORGS } @orgs;
	my $count = statuses(\@raws, 30);
	is($count->{200} // 0, $STREAMS, "all $STREAMS streams opened")
	    or diag(join ', ', map { "$count->{$_} x $_" } sort keys %$count);
	close $_->{sock} for @raws;
	ok(eventually(sub { logged_events($old) == 0 }, 30), 'every expired event is pruned');
	like($s->log, qr/msg="sse: pruned the event log" rows=20000/, 'and logged once, with the total');
	my @batches = grep { /DELETE FROM events/ } sse_statements($from);
	cmp_ok(scalar @batches, '>=', 20, scalar(@batches) . ' statements of at most 1,000 rows each');
	$s->psql("ALTER SYSTEM RESET log_statement");
	$s->psql('SELECT pg_reload_conf()');
};

subtest 'one host prunes at a time' => sub {
	my $old = old_events(500);
	# Another host's prune, as far as the lock says (sse_prune.c's lock id).
	my $pid = $s->hold_lock('SELECT pg_advisory_lock(7355609)', "locktype = 'advisory' AND objid = 7355609");
	my $skips = () = $s->log =~ /another host is pruning/g;
	$s->kill_sse;
	ok(eventually(sub { (() = $s->log =~ /another host is pruning/g) > $skips }, 10),
		'a host that finds the lock taken leaves the prune to its holder');
	is(logged_events($old), 500, 'and deletes nothing');
	kill 'KILL', $pid;
	waitpid $pid, 0;
	$s->psql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7355609");
	$s->kill_sse;
	ok(eventually(sub { logged_events($old) == 0 }, 10), 'once the lock is free, it prunes');
};


$s->finish;
done_testing;
