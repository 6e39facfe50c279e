#!/usr/bin/env perl
# Streams through faults (DESIGN §1 and §5, SSE.md): Redis stopped and
# restarted during writes, incidentd-sse killed with -9, a client that does
# not read, a revoked key, the stream limit, SIGTERM. Streams stay open where
# they should, close where they must, and with Last-Event-ID no event is ever
# lost or repeated.
use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

my $PATH = '/v1/incidents/stream';

# Reads what each stream has until every one has seen $id (or $timeout).
sub drain {
	my ($streams, $got, $id, $timeout) = @_;
	my $deadline = time + $timeout;
	for my $i (0 .. $#$streams) {
		my $c = $streams->[$i];
		while (($c->last_id // -1) < $id) {
			my $left = $deadline - time;
			my $e = $c->next_event($left > 0 ? $left : 0) or last;
			push @{ $got->[$i] }, $e;
		}
	}
}

# A child writing $n creates; returns its pid (exit code = failed writes).
sub writer {
	my ($s, $n, $tag) = @_;
	my $pid = fork // die "fork: $!";
	return $pid if $pid;
	my $failed = 0;
	for my $i (1 .. $n) {
		my $r = $s->req(POST => '/v1/tickets', key => $s->key('write'), body => { title => "$tag $i" });
		$failed++ unless $r->{status} == 201;
	}
	POSIX::_exit($failed > 255 ? 255 : $failed);
}

sub writer_done_ok {
	my ($pid, $name) = @_;
	my $deadline = time + 60;
	sleep 0.05 until waitpid($pid, POSIX::WNOHANG()) == $pid || time > $deadline;
	is($?, 0, "$name: every write succeeded");
}

# ================================================================ default limits

my $s = IncidentdTest->new;
my ($W, $R) = map { $s->key($_) } qw(write read);

sub create {
	my ($title) = @_;
	return $s->req(POST => '/v1/tickets', key => $W, body => { title => $title })->{status};
}

subtest 'Redis stopped and restarted during writes: streams stay open, every event arrives' => sub {
	my $seq = current_seq($s);
	my @c = map { stream_ok($s, $PATH, "stream $_", key => $R, fresh_id => $seq) } 1 .. 2;
	my @got = ([], []);
	is(scalar(grep { create("before $_") == 201 } 1 .. 5), 5, '5 creates');
	drain(\@c, \@got, $seq + 5, 5);

	$s->stop_redis;
	is(scalar(grep { create("Redis down $_") == 201 } 1 .. 5), 5, '5 creates with Redis down');
	my $down_last = current_seq($s);
	for my $i (0, 1) {
		my ($none) = $c[$i]->read_until(sub { 1 }, 1.5);
		ok(!$c[$i]->closed, "stream " . ($i + 1) . ' stays open without Redis');
		push @{ $got[$i] }, @$none;
	}
	ok(@{ $c[0]{heartbeats} } >= 1, 'heartbeats go on meanwhile');

	$s->start_redis;
	# Without any further write: the reconnect to Redis catches up from the log.
	drain(\@c, \@got, $down_last, 15);
	for my $i (0, 1) {
		ids_ok($got[$i], $seq + 1, $down_last, 'stream ' . ($i + 1) . ' after Redis is back, no write since');
	}

	# Writes go on; publishing recovers (a worker may wait before reconnecting,
	# then the next event's gap brings the missed ones).
	my $deadline = time + 20;
	my $writes = 0;
	while (time < $deadline) {
		$writes++ if create("Redis back $writes") == 201;
		my $cur = current_seq($s);
		drain(\@c, \@got, $cur, 0.3);
		last if $writes >= 5 && !grep { ($_->last_id // 0) < $cur } @c;
	}
	my $end = current_seq($s);
	for my $i (0, 1) {
		ids_ok($got[$i], $seq + 1, $end, 'stream ' . ($i + 1) . ': every event once, in order');
		ok(!$c[$i]->closed, 'stream ' . ($i + 1) . ' is still open');
	}
	$_->close for @c;
};

subtest 'incidentd-sse killed with -9: Last-Event-ID resumes without loss' => sub {
	my $seq = current_seq($s);
	my $c = stream_ok($s, $PATH, 'stream', key => $R, fresh_id => $seq);
	my $n = 60;
	my $pid = writer($s, $n, 'through a kill');
	my $deadline = time + 30;
	sleep 0.01 until current_seq($s) >= $seq + 15 || time > $deadline;
	my $killed = $s->kill_sse;
	my ($before, $closed) = $c->wait_closed(10);
	ok($closed, 'the stream of the killed process ends');
	my $resume_from = $c->last_id // $seq;
	ok(@$before, 'it had received ' . scalar(@$before) . ' events');
	ids_ok($before, $seq + 1, $resume_from, 'before the kill');
	my $again = stream_ok($s, $PATH, 'reconnected', key => $R, headers => { 'Last-Event-ID' => $resume_from });
	writer_done_ok($pid, 'writer');
	my $end = current_seq($s);
	is($end, $seq + $n, "$n events");
	ids_ok(scalar $again->events_until_id($end, 15), $resume_from + 1, $end, 'after reconnecting');
	is(create('after the kill'), 201, 'one more write');
	my $e = $again->next_event(5);
	is($e && $e->{id}, $end + 1, 'arrives live');
	like($s->log, qr/sse $killed killed by signal 9/, 'the master logged the kill');
	isnt($s->sse_pid, $killed, 'a new incidentd-sse runs');
	$again->close;
};

subtest "a revoked key's stream is closed within 5 s" => sub {
	my $name = 'revoke-me';
	my ($code, $key) = $s->incidentctl('key', 'create', '--org', $s->org_name, '--role', 'read', '--name', $name);
	chomp $key;
	is($code, 0, 'a read key to revoke');
	my (undef, $list) = $s->incidentctl('key', 'list', '--org', $s->org_name);
	my ($key_id) = $list =~ /^(\d+)\tread\t\Q$name\E\t/m;
	ok($key_id, "its id ($key_id)") or diag($list);
	my $c = stream_ok($s, $PATH, 'with the key', key => $key, fresh_id => current_seq($s));
	my $other = stream_ok($s, $PATH, 'with another key', key => $R, fresh_id => current_seq($s));
	my ($rc) = $s->incidentctl('key', 'revoke', $key_id);
	my $t0 = time;
	is($rc, 0, 'key revoked');
	my ($events, $closed) = $c->wait_closed(8);
	my $took = time - $t0;
	ok($closed, 'the stream ends');
	cmp_ok($took, '<=', 5.5, sprintf('within 5 s (%.2f s)', $took));
	is(scalar @$events, 0, 'no event on it meanwhile');
	is(create('after the revoke'), 201, 'a write');
	my $e = $other->next_event(5);
	is($e && $e->{data}{incident}{title}, 'after the revoke', 'the other stream goes on');
	error_ok($s->stream($PATH, key => $key), 401, 'authentication_error', 'invalid_api_key',
		'the revoked key reconnecting');
	$other->close;
};

subtest 'SIGTERM to the master ends every stream cleanly' => sub {
	my $inc = $s->req(POST => '/v1/tickets', key => $W, body => { title => 'to the end' })->{json};
	my @c = (stream_ok($s, $PATH, 'org stream', key => $R),
		stream_ok($s, "/incidents/status/$inc->{customer_token}/stream", 'public stream'));
	my $sse = $s->sse_pid;
	my $status = $s->stop_incidentd;
	is($status, 0, 'the master exits 0');
	for my $i (0, 1) {
		my (undef, $closed) = $c[$i]->wait_closed(5);
		ok($closed, "stream $i ends");
		is($c[$i]->end, 'clean', "stream $i: the chunked response is terminated");
	}
	unlike($s->log, qr/sse $sse (?:exited with status [1-9]|killed by signal)/, 'incidentd-sse exited 0');
};

$s->finish;

# ================================================================ small limits

my $lim = IncidentdTest->new(config => { client_buffer_cap => 65536, max_connections => 3 });
($W, $R) = map { $lim->key($_) } qw(write read);

subtest 'a client that does not read is cut at its buffer cap; others are not' => sub {
	my $seq = current_seq($lim);
	my $slow = $lim->stream($PATH, key => $R, rcvbuf => 4096);
	is($slow->{status}, 200, 'a stream that will not be read');
	my $fast = stream_ok($lim, $PATH, 'a stream read as it goes', key => $R, fresh_id => $seq);
	my $id = $lim->req(POST => '/v1/tickets', key => $W, body => { title => 'big' })->{json}{id};
	my @fast = ($fast->next_event(5) // ());
	# Each update carries the incident and the description's old and new text:
	# about 3 x 9,000 bytes. Write until incidentd-sse logs that it closed the
	# slow stream, or (should its wording change) until far more than socket
	# buffers can hide has been written.
	my $rid = $slow->request_id // 'none';
	my ($bytes, $writes) = (0, 0);
	my $deadline = time + 90;
	while ($bytes < 24_000_000 && time < $deadline) {
		my $text = sprintf('%06d ', ++$writes) . ('x' x 8990);
		my $r = $lim->req(PATCH => "/v1/tickets/$id", key => $W, body => { description => $text });
		$r->{status} == 200 or diag("PATCH: $r->{status} $r->{content}"), last;
		my $e = $fast->next_event(5) or last;
		push @fast, $e;
		$bytes += length $e->{data_raw};
		last if $writes % 10 == 0 && $lim->log =~ /request_id=$rid\b.*stream closed/;
	}
	my $end = current_seq($lim);
	ok($writes >= 10, "$writes large updates written (" . int($bytes / 1e6) . ' MB of events)');
	ids_ok(\@fast, $seq + 1, $end, 'the reading stream: every event');
	ok(!$fast->closed, 'the reading stream stays open');

	my ($got, $closed) = $slow->wait_closed(30);
	ok($closed, 'the stream that did not read was disconnected');
	my $last = $slow->last_id // $seq;
	cmp_ok($last, '<', $end, "it got events up to $last of $end before that");
	ids_ok($got, $seq + 1, $last, 'what it got is a prefix without gaps');
	$slow->close;
	my $resumed = stream_ok($lim, $PATH, 'it reconnects', key => $R, headers => { 'Last-Event-ID' => $last });
	ids_ok(scalar $resumed->events_until_id($end, 20), $last + 1, $end, 'and gets the rest');
	$_->close for $resumed, $fast;
};

subtest 'max_connections: the stream over the limit gets 429' => sub {
	my $inc = $lim->req(POST => '/v1/tickets', key => $W, body => { title => 'limits' })->{json};
	# Streams closed just before may take a moment to be noticed.
	my @open;
	my $deadline = time + 10;
	while (@open < 3 && time < $deadline) {
		my $c = $lim->stream($PATH, key => $R);
		if ($c->{status} == 200) { push @open, $c } else { sleep 0.1 }
	}
	is(scalar @open, 3, 'three streams open');
	my $fourth = $lim->stream($PATH, key => $R);
	error_ok($fourth, 429, 'rate_limit_error', 'too_many_streams', 'a fourth org stream');
	my $public = $lim->stream("/incidents/status/$inc->{customer_token}/stream");
	error_ok($public, 429, 'rate_limit_error', 'too_many_streams', 'a fourth, public stream');
	my $cur = current_seq($lim);
	is($lim->req(POST => '/v1/tickets', key => $W, body => { title => 'still flowing' })->{status}, 201, 'a write');
	for my $i (0 .. 2) {
		my $e = $open[$i]->next_event(5);
		is($e && $e->{id}, $cur + 1, "open stream $i still gets events");
	}
	(shift @open)->close;
	my $again;
	$deadline = time + 5;
	until (($again = $lim->stream($PATH, key => $R))->{status} == 200 || time > $deadline) {
		sleep 0.1;
	}
	is($again->{status}, 200, 'after one closes, a new stream is accepted within 5 s');
	$_->close for @open, $again;
};

$lim->finish;
done_testing;
