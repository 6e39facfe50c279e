#!/usr/bin/env perl
# Several hosts whose Redis delivery differs (DESIGN §1, §5). Host B runs on
# a private Redis, so it hears none of the events written through host A:
# it still delivers every one (its probe of PostgreSQL finds them) but says
# so, in its log and in /healthz, since a deaf host is 2 s late for good.
# And a client that resumes on a host lagging behind the one it left (its
# Last-Event-ID is past what that host has applied) resumes from the log
# instead of being reset and sent the same events again.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep time);

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

my $PATH = '/v1/incidents/stream';

my $A = IncidentdTest->new;
my $B = $A->add_host(own_redis => 1);
my ($W, $R) = map { $A->key($_) } qw(write read);

sub create {
	my ($title) = @_;
	my $r = $A->req(POST => '/v1/tickets', key => $W, body => { title => $title });
	die "create: $r->{status}\n" unless $r->{status} == 201;
}


# Host B's stream stays open throughout: B holds the org, so what B has
# applied is what it heard, not what it just read from PostgreSQL.
my $seq = current_seq($A);
my $keeper = stream_ok($B, $PATH, 'a stream on host B', key => $R, fresh_id => $seq);

subtest 'a host on another Redis delivers by the probe, and says so' => sub {
	create("unheard $_") for 1 .. 3;
	ids_ok(scalar $keeper->events_until_id($seq + 3, 10), $seq + 1, $seq + 3, 'B delivers every event');
	ok(eventually(sub { $B->log =~ /msg="sse: events reached this host by the probe, not Redis"/ }, 10),
		'B logs a warning');
	unlike($A->log, qr/by the probe, not Redis/, 'A, which hears Redis, does not');
	my $health;
	ok(eventually(sub {
		$health = $B->req(GET => '/healthz')->{json};
		($health->{streams}{probe_deliveries} // 0) >= 3;
	}, 10), "B's /healthz counts the events the probe delivered")
	    or diag(explain $health);
	is($A->req(GET => '/healthz')->{json}{streams}{probe_deliveries}, 0, "A's counts none");
	$seq += 3;
};

subtest 'resuming on a lagging host: replayed from the log, never reset' => sub {
	for my $round (1 .. 3) {
		my $on_a = stream_ok($A, $PATH, "round $round: a stream on A", key => $R, fresh_id => $seq);
		create("round $round, first");
		my $e = $on_a->next_event(5);
		is($e && $e->{id}, $seq + 1, "round $round: A has it at once");
		$on_a->close;
		# B hears of it only at its next probe: the client is ahead of B.
		my $on_b = stream_ok($B, $PATH, "round $round: resumed on B", key => $R,
			headers => { 'Last-Event-ID' => $seq + 1 });
		create("round $round, second");
		$e = $on_b->next_event(10);
		is($e && $e->{event}, 'incident.created', "round $round: no stream.reset")
		    or diag($e && $e->{raw});
		is($e && $e->{id}, $seq + 2, "round $round: the next event, once");
		$on_b->close;
		ids_ok(scalar $keeper->events_until_id($seq + 2, 10), $seq + 1, $seq + 2,
			"round $round: B's other stream has both");
		$seq += 2;
	}
};

$keeper->close;
$A->finish;
done_testing;
