#!/usr/bin/env perl
# Resuming a stream (DESIGN §5, SSE.md): Last-Event-ID (or ?last_event_id=)
# replays the events after it from the event log, then live events follow with
# no gap and no duplicate, also while writes go on. A malformed id is a 400
# envelope; an id ahead of the org's sequence, or older than the retained log,
# gets `event: stream.reset` with the current sequence, then live events.
use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

my $s = IncidentdTest->new;
my ($W, $R) = map { $s->key($_) } qw(write read);
my $PATH = '/v1/incidents/stream';
my $ORG = $s->org_id;

sub call {
	my ($method, $path, $body) = @_;
	return $s->req($method, $path, key => $W, defined $body ? (body => $body) : ());
}

# Ten events of every kind; returns the incident ids.
sub write_some {
	my ($tag) = @_;
	my @ids;
	for my $i (1 .. 2) {
		my $id = call(POST => '/v1/tickets', { title => "$tag $i", description => "about $tag" })->{json}{id};
		push @ids, $id;
		call(PATCH => "/v1/tickets/$id", { status => 'investigating', message => "looking at $tag $i" });
		call(POST => "/v1/incidents/$id/replies", { body => "public $tag $i" });
		call(POST => "/v1/incidents/$id/replies", { body => "internal $tag $i", internal => JSON::PP::true });
	}
	call(PATCH => "/v1/tickets/$ids[0]", { priority => 'high' });
	call(DELETE => "/v1/tickets/$ids[1]");
	return @ids;
}

# Opens a stream resuming after $after (header unless query => 1); checks the
# head and that the next frame is already the first replayed event (no
# `id: <current>` frame that would move the client's last id past the gap).
sub resume {
	my ($after, $name, %o) = @_;
	my $path = $o{query} ? "$PATH?last_event_id=$o{query}" : $PATH;
	my %headers = defined $after ? ('Last-Event-ID' => $after) : ();
	return stream_ok($s, $path, $name, key => $R, headers => \%headers);
}

# The replayed events equal the log: ids $from..$to, data = stored payload.
sub replay_ok {
	my ($c, $from, $to, $name) = @_;
	my $events = $c->events_until_id($to, 10);
	ids_ok($events, $from, $to, $name);
	my %stored = map { $_->{seq} => $_ } @{ stored_events($s, $from - 1) };
	my @bad = grep {
		my $row = $stored{ $_->{id} };
		!$row || $row->{type} ne ($_->{event} // '') || $_->{data}{seq} != $_->{id}
		    || $_->{data}{type} ne $row->{type}
		    || JSON::PP->new->canonical->encode(strip_envelope($_->{data}))
		    ne JSON::PP->new->canonical->encode($row->{payload})
	} @$events;
	is(scalar @bad, 0, "$name: every replayed event is the logged one") or diag($bad[0]{raw});
	return $events;
}

# After a replay or a reset: a new write arrives live, as the next id.
sub live_ok {
	my ($c, $name) = @_;
	my $seq = current_seq($s);
	my $r = call(POST => '/v1/tickets', { title => "live after $name" });
	my $e = $c->next_event(5);
	is($e && $e->{id}, $seq + 1, "$name: then live events (id " . ($seq + 1) . ')');
	is($e && $e->{data}{incident}{title}, "live after $name", "$name: the live event is the write");
}

sub reset_ok {
	my ($c, $reason, $name) = @_;
	my $cur = current_seq($s);
	# an event frame: a heartbeat may come first while the log is read
	my $f = $c->next_event(5);
	ok($f, "$name: a frame") or return;
	is($f->{raw} =~ s/\ndata: .*//sr, "id: $cur\nevent: stream.reset", "$name: id: $cur, event: stream.reset");
	is_deeply($f->{data}, { type => 'stream.reset', seq => $cur, reason => $reason },
		"$name: data {type, seq: $cur, reason: $reason}");
}

my $seq0 = current_seq($s);
is($seq0, 0, 'a fresh org');
write_some('first');
my $last = current_seq($s);
is($last, 10, 'ten events logged');

subtest 'Last-Event-ID replays what came after it, then live' => sub {
	my $c = resume(3, 'Last-Event-ID: 3');
	# the first frame with an id (a heartbeat may come while the log is read)
	my $f;
	do { $f = $c->next_frame(5) } while ($f && !defined $f->{id} && !defined $f->{event});
	is($f && $f->{id}, 4, 'the frame after retry is already event 4');
	ok($f && defined $f->{event}, '... an event frame, not a bare id');
	unshift @{ $c->{frames} }, $f if $f;    # give it back to the event reader
	replay_ok($c, 4, $last, 'Last-Event-ID: 3');
	live_ok($c, 'Last-Event-ID: 3');
	$last = current_seq($s);
	$c->close;
};

subtest '?last_event_id= does the same; the header wins' => sub {
	my $c = resume(undef, '?last_event_id=5', query => 5);
	replay_ok($c, 6, $last, '?last_event_id=5');
	$c->close;
	my $both = resume(7, 'header 7, query 2', query => 2);
	replay_ok($both, 8, $last, 'header 7 and ?last_event_id=2');
	$both->close;
};

subtest 'Last-Event-ID: 0 replays the whole log; the current id replays nothing' => sub {
	my $all = resume(0, 'Last-Event-ID: 0');
	replay_ok($all, 1, $last, 'Last-Event-ID: 0');
	$all->close;
	my $now = resume($last, "Last-Event-ID: $last (current)");
	my $e = $now->next_event(0.5);
	ok(!$e, 'nothing replayed') or diag($e->{raw});
	live_ok($now, 'current id');
	$last = current_seq($s);
	$now->close;
};

subtest 'a malformed id: 400 envelope' => sub {
	my @bad = ('abc', '-1', '1.5', '0x10', '1e3', '+5', '12345678901234567', '5 6');
	for my $v (@bad) {
		my $c = $s->stream($PATH, key => $R, headers => { 'Last-Event-ID' => $v });
		error_ok($c, 400, 'invalid_request_error', 'invalid_last_event_id', "Last-Event-ID: '$v'");
		is_deeply(($c->{json} || {})->{errors}[0]{source}, { parameter => 'last_event_id' },
			"Last-Event-ID: '$v': source.parameter last_event_id");
	}
	for my $v ('abc', '-1', '', '%31%32x', '99999999999999999') {
		my $c = $s->stream("$PATH?last_event_id=$v", key => $R);
		error_ok($c, 400, 'invalid_request_error', 'invalid_last_event_id', "?last_event_id=$v");
		is_deeply(($c->{json} || {})->{errors}[0]{source}, { parameter => 'last_event_id' },
			"?last_event_id=$v: source.parameter last_event_id");
	}
	my $max = resume('9999999999999999', '16 digits');
	reset_ok($max, 'ahead', '16 digits is well-formed (and ahead)');
	$max->close;
};

subtest 'an id ahead of the sequence: stream.reset, then live' => sub {
	my $c = resume($last + 100, 'ahead');
	reset_ok($c, 'ahead', 'Last-Event-ID: ' . ($last + 100));
	live_ok($c, 'ahead');
	$c->close;
	my $one = resume($last + 2, 'one ahead');
	reset_ok($one, 'ahead', 'Last-Event-ID: current + 1');
	$one->close;
	$last = current_seq($s);
};

subtest 'replay while writes go on: no gap, no duplicate' => sub {
	my $start = current_seq($s);
	my $n = 120;
	my $writer = fork // die "fork: $!";
	if ($writer == 0) {
		my $failed = 0;
		for my $i (1 .. $n) {
			my $r = $s->req(POST => '/v1/tickets', key => $W, body => { title => "concurrent $i" });
			$failed++ unless $r->{status} == 201;
		}
		POSIX::_exit($failed > 255 ? 255 : $failed);
	}
	# Streams opened at several points of the run, each resuming some way back.
	my @streams;
	for my $at (5, 30, 60, 90) {
		my $t_end = time + 30;
		my $cur;
		sleep 0.01 until ($cur = current_seq($s)) >= $start + $at || time > $t_end;
		my $from = $cur - 3 - int rand 10;
		push @streams, [resume($from, "resume from $from at $cur"), $from];
	}
	my $fresh_at = current_seq($s);
	my $fresh = $s->stream($PATH, key => $R);
	my ($retry, $idf) = map { $fresh->next_frame(5) } 1 .. 2;
	my ($fresh_from) = ($idf && $idf->{raw} // '') =~ /^id: (\d+)$/;
	ok(defined $fresh_from && $fresh_from >= $fresh_at, "a fresh stream during the writes starts at its id ("
		. ($fresh_from // 'none') . ')');

	my $t_end = time + 60;
	sleep 0.05 until waitpid($writer, POSIX::WNOHANG()) == $writer || time > $t_end;
	is($? >> 8, 0, "the writer's $n creates succeeded");
	my $end = current_seq($s);
	is($end, $start + $n, 'all written');
	for (@streams) {
		my ($c, $from) = @$_;
		my $events = $c->events_until_id($end, 15);
		ids_ok($events, $from + 1, $end, "resumed from $from");
		$c->close;
	}
	ids_ok(scalar $fresh->events_until_id($end, 15), ($fresh_from // 0) + 1, $end, 'the fresh stream');
	$fresh->close;
	$last = current_seq($s);
};

subtest 'an id older than the retained log: stream.reset expired' => sub {
	# Prune as event_retention_days would: the oldest events go.
	my $prune = 12;
	$s->psql("DELETE FROM events WHERE org_id = $ORG AND seq <= $prune");
	my $min = $prune + 1;
	for my $after (0, $prune - 5, $prune - 1) {
		my $c = resume($after, "Last-Event-ID: $after");
		reset_ok($c, 'expired', "Last-Event-ID: $after (event " . ($after + 1) . ' pruned)');
		live_ok($c, "expired $after");
		$c->close;
	}
	$last = current_seq($s);
	my $ok = resume($prune, "Last-Event-ID: $prune");
	replay_ok($ok, $min, $last, "Last-Event-ID: $prune (the next is the oldest kept): a replay");
	$ok->close;

	$s->psql("DELETE FROM events WHERE org_id = $ORG");
	my $gone = resume($last - 1, 'every event pruned');
	reset_ok($gone, 'expired', 'Last-Event-ID: current - 1, the log emptied');
	$gone->close;
	my $cur = resume($last, 'every event pruned, current id');
	my $e = $cur->next_event(0.5);
	ok(!$e, 'Last-Event-ID: current with an empty log: no reset, nothing replayed') or diag($e->{raw});
	live_ok($cur, 'current id, empty log');
	$cur->close;
};

$s->finish;
done_testing;
