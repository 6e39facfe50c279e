package StreamCheck;

# Assertions shared by the stream tests (t/4*-stream*.t): the opening of a
# stream, the error envelope, and runs of event ids.

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);

our @EXPORT = qw(current_seq stream_ok error_ok ids_ok stored_events strip_envelope eventually);

my $JSON = JSON::PP->new->utf8->canonical;

# orgs.event_seq of $org_id (default: the test's org).
sub current_seq {
	my ($s, $org_id) = @_;
	$org_id //= $s->org_id;
	my $v = $s->psql("SELECT event_seq FROM orgs WHERE id = $org_id");
	chomp $v;
	return $v + 0;
}

# The event log of an org after $seq: [{seq, type, incident_id, payload}, ...].
sub stored_events {
	my ($s, $seq, $org_id) = @_;
	$org_id //= $s->org_id;
	my $out = $s->psql("SELECT coalesce(json_agg(q ORDER BY seq), '[]'::json) FROM (SELECT seq, type,"
		. " incident_id, payload FROM events WHERE org_id = $org_id AND seq > $seq) q");
	return $JSON->decode($out);
}

# An event's data without type, seq and at: what the log stores.
sub strip_envelope {
	my %p = %{ $_[0] || {} };
	delete @p{qw(type seq at)};
	return \%p;
}

# Opens a stream and checks its response head and first frames: 200,
# text/event-stream, no-store, X-Request-Id, then `retry: 3000` and, for a
# fresh stream (no Last-Event-ID), `id: <$fresh_id>`. Returns the client.
# (s, path, name, fresh_id => N or undef, stream options ...)
sub stream_ok {
	my ($s, $path, $name, %o) = @_;
	my $fresh = delete $o{fresh_id};
	my $c = $s->stream($path, %o);
	my $ok = is($c->{status}, 200, "$name: 200");
	$ok &&= like($c->header('content-type') // '', qr{^text/event-stream\b}, "$name: text/event-stream");
	$ok &&= is($c->header('cache-control'), 'no-store', "$name: Cache-Control no-store");
	$ok &&= like($c->request_id // '', qr/^[0-9a-f]{32}$/, "$name: X-Request-Id");
	$ok or diag("response: $c->{status} " . ($c->{content} // ''));
	my $retry = $c->next_frame(5);
	is($retry && $retry->{raw}, 'retry: 3000', "$name: first frame is 'retry: 3000'");
	if (defined $fresh) {
		my $id = $c->next_frame(5);
		is($id && $id->{raw}, "id: $fresh", "$name: then 'id: $fresh' alone");
	}
	return $c;
}

# The DESIGN §3 envelope on a response (HTTP::Tiny's hash from req, or an
# SSEClient): status, type, first error's code, request_id = X-Request-Id.
sub error_ok {
	my ($r, $status, $type, $code, $name) = @_;
	my $json = $r->{json} || {};
	my $rid = $r->{headers}{'x-request-id'};
	my $ok = is($r->{status}, $status, "$name: $status");
	$ok &&= like($r->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON");
	$ok &&= is($json->{type}, $type, "$name: type $type");
	$ok &&= is($json->{status}, $status, "$name: status in the body");
	$ok &&= is($json->{errors}[0]{code}, $code, "$name: code $code");
	$ok &&= ok(defined $rid && ($json->{request_id} // '') eq $rid, "$name: request_id equals X-Request-Id");
	$ok or diag('response: ' . ($r->{content} // ''));
	return $ok;
}

# The events' ids are exactly $from, $from + 1, ..., $to.
sub ids_ok {
	my ($events, $from, $to, $name) = @_;
	my @got = map { $_->{id} } @$events;
	my @want = $to >= $from ? ($from .. $to) : ();
	return is_deeply(\@got, \@want, "$name: ids $from..$to, each once, in order")
	    || diag("got ids: @got");
}

# Polls $check every 0.05 s until it returns true (1) or $timeout seconds
# pass (0): for what a process does on its own time, never a fixed sleep.
sub eventually {
	my ($check, $timeout) = @_;
	my $deadline = time + $timeout;
	until ($check->()) {
		return 0 if time > $deadline;
		sleep 0.05;
	}
	return 1;
}

1;
