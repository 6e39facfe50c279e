#!/usr/bin/env perl
# PostgreSQL goes down while incidentd-sse has queries in flight for many
# streams: the organisations' syncs, then their replays. A lock held by
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

# A psql session holding an exclusive lock on $table until PostgreSQL
# stops; returns once the lock is granted.
sub hold_lock {
	my ($table) = @_;
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		open STDOUT, '>', '/dev/null';
		open STDERR, '>', '/dev/null';
		eval { $s->psql("BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)") };
		POSIX::_exit(0);
	}
	my $deadline = time + 30;
	until ($s->psql("SELECT count(*) FROM pg_locks WHERE relation = '$table'::regclass"
		. " AND mode = 'AccessExclusiveLock' AND granted") + 0 > 0) {
		die "the lock on $table was not granted in 30 s\n" if time > $deadline;
		sleep 0.05;
	}
	return $pid;
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
	my $deadline = time + 30;
	while (time < $deadline) {
		my $n = $s->psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'incidentd-sse'"
			. " AND wait_event_type = 'Lock'");
		return 1 if $n + 0 > 0;
		sleep 0.05;
	}
	return 0;
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

$s->finish;
done_testing;
