#!/usr/bin/env perl
# The public stream of one incident (DESIGN §6, SSE.md): GET
# /incidents/status/:token/stream without a key. Only that incident's title
# and status changes and public timeline entries, each with exactly its keys;
# never internal replies or private fields; ids are the org's sequence (with
# gaps). Unknown token: 404. Deleted: incident.deleted, then the stream ends.
use strict;
use warnings;
use Test::More;
use JSON::PP ();

use lib 't/lib';
use IncidentdTest;
use StreamCheck;

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\z/;

sub call {
	my ($method, $path, $body) = @_;
	my $r = $s->req($method, $path, key => $W, defined $body ? (body => $body) : ());
	$r->{status} =~ /^20[014]$/ or diag("$method $path: $r->{status} $r->{content}");
	return $r;
}

my %SECRET = (description => 'SECRET-DESCRIPTION', priority => 'urgent', location_name => 'SECRET-LOCATION',
	assigned_to => 'SECRET-ASSIGNEE', impact_description => 'SECRET-IMPACT', lat => 1.5, lng => 2.5,
	source_ref => 'SECRET-REF', tags => ['SECRET-TAG'], affected_services => ['SECRET-SERVICE']);
my $inc = call(POST => '/v1/tickets', { title => 'Public one', %SECRET })->{json};
my $other = call(POST => '/v1/tickets', { title => 'Another one' })->{json};
my $PATH = "/incidents/status/$inc->{customer_token}/stream";

# A public event: frame and exact data keys; nothing private in the raw data.
sub public_ok {
	my ($e, $type, $keys, $name) = @_;
	ok($e, "$name: arrived") or return 0;
	my $d = ref $e->{data} eq 'HASH' ? $e->{data} : {};
	my $ok = is($e->{event}, $type, "$name: event: $type");
	$ok &&= is_deeply([sort keys %$d], [sort @$keys], "$name: data keys exactly @{[sort @$keys]}");
	$ok &&= is($d->{type}, $type, "$name: data.type");
	$ok &&= is($d->{seq}, $e->{id}, "$name: data.seq equals the id");
	$ok &&= like($d->{at} // '', $TS, "$name: data.at");
	$ok &&= unlike($e->{data_raw}, qr/SECRET|"(?:id|incident_id|author|internal|description|priority)"/,
		"$name: no private field or id in the data");
	$ok or diag("frame: $e->{raw}");
	return $ok;
}

sub reply_ok {
	my ($reply, $body, $status, $name) = @_;
	is_deeply([sort keys %{ $reply || {} }], [qw(body created_at status)], "$name: reply keys body, status, created_at")
	    or return;
	is($reply->{body}, $body, "$name: reply.body");
	is($reply->{status}, $status, "$name: reply.status");
	like($reply->{created_at} // '', $TS, "$name: reply.created_at");
}

my @UPDATED = qw(type seq at title status updated_at);

subtest 'no key needed; unknown token 404' => sub {
	my $c = stream_ok($s, $PATH, 'public stream', fresh_id => current_seq($s));
	$c->close;
	error_ok($s->stream('/incidents/status/nosuchtoken0123456789ab/stream'), 404, 'not_found_error',
		'not_found', 'unknown token');
	error_ok($s->stream('/incidents/status/x/stream'), 404, 'not_found_error', 'not_found',
		'a short unknown token');
	my $bad = $s->stream('/incidents/status/nosuchtoken0123456789ab/stream', key => $W);
	is($bad->{status}, 404, 'unknown token with a key: still 404');
};

subtest 'only title, status and public timeline changes of this incident' => sub {
	my $c = stream_ok($s, $PATH, 'public stream', fresh_id => current_seq($s));
	my $id = $inc->{id};

	# None of these may appear on the public stream.
	call(PATCH => "/v1/tickets/$id", { description => 'SECRET-DESCRIPTION-2' });
	call(PATCH => "/v1/tickets/$id", { priority => 'low', assigned_to => 'SECRET-ASSIGNEE-2',
		location_name => 'SECRET-LOCATION-2', tags => ['SECRET-TAG-2'] });
	call(POST => "/v1/incidents/$id/replies", { body => 'SECRET-INTERNAL', internal => JSON::PP::true });
	call(PATCH => "/v1/tickets/$other->{id}", { title => 'SECRET-OTHER-TITLE', status => 'investigating' });
	call(POST => "/v1/incidents/$other->{id}/replies", { body => 'SECRET-OTHER-REPLY' });

	my $t = call(PATCH => "/v1/tickets/$id", { title => 'Public one, renamed' });
	my $seq = current_seq($s);
	my $e = $c->next_event(5);
	if (public_ok($e, 'incident.updated', \@UPDATED, 'title change (the private writes before sent nothing)')) {
		is($e->{id}, $seq, "its id is the org's sequence ($seq)");
		is($e->{data}{title}, 'Public one, renamed', 'the new title');
		is($e->{data}{status}, $t->{json}{status}, 'the status');
		is($e->{data}{updated_at}, $t->{json}{updated_at}, 'updated_at as the API says');
	}

	my $st = call(PATCH => "/v1/tickets/$id", { status => 'investigating' });
	$e = $c->next_event(5);
	if (public_ok($e, 'incident.updated', [@UPDATED, 'reply'], 'status change')) {
		is($e->{id}, current_seq($s), 'id: the sequence');
		is($e->{data}{status}, 'investigating', 'the new status');
		is($e->{data}{updated_at}, $st->{json}{updated_at}, 'updated_at');
		reply_ok($e->{data}{reply}, undef, 'investigating', 'status change');
	}

	call(PATCH => "/v1/tickets/$id", { message => 'We are on it.' });
	$e = $c->next_event(5);
	if (public_ok($e, 'incident.updated', [@UPDATED, 'reply'], 'a message alone')) {
		is($e->{data}{status}, 'investigating', 'status unchanged');
		reply_ok($e->{data}{reply}, 'We are on it.', undef, 'a message alone');
	}

	call(POST => "/v1/incidents/$id/replies", { body => 'SECRET-INTERNAL-2', internal => JSON::PP::true });
	call(POST => "/v1/incidents/$id/replies", { body => 'Public news.' });
	$e = $c->next_event(5);
	if (public_ok($e, 'incident.reply', [qw(type seq at reply)], 'a public reply (the internal one before: nothing)')) {
		is($e->{id}, current_seq($s), 'id: the sequence');
		reply_ok($e->{data}{reply}, 'Public news.', undef, 'public reply');
	}

	call(PATCH => "/v1/tickets/$id", { status => 'monitoring', message => 'Fix deployed.', priority => 'high' });
	$e = $c->next_event(5);
	if (public_ok($e, 'incident.updated', [@UPDATED, 'reply'], 'status and message')) {
		is($e->{data}{status}, 'monitoring', 'the new status');
		reply_ok($e->{data}{reply}, 'Fix deployed.', 'monitoring', 'status and message');
	}

	call(PATCH => "/v1/tickets/$id", { impact_description => 'SECRET-IMPACT-2' });
	my $none = $c->next_event(0.5);
	ok(!$none, 'a private change at the end: nothing') or diag($none->{raw});

	$c->close;
};

subtest 'reconnecting with Last-Event-ID replays only the public events missed' => sub {
	my $id = $inc->{id};
	my $from = current_seq($s);
	call(PATCH => "/v1/tickets/$id", { description => 'SECRET-WHILE-AWAY' });
	call(PATCH => "/v1/tickets/$id", { title => 'Renamed while away' });
	my $t_seq = current_seq($s);
	call(POST => "/v1/incidents/$id/replies", { body => 'SECRET-AWAY-INTERNAL', internal => JSON::PP::true });
	call(POST => "/v1/incidents/$id/replies", { body => 'Said while away.' });
	my $r_seq = current_seq($s);
	call(PATCH => "/v1/tickets/$other->{id}", { title => 'SECRET-OTHER-AWAY' });
	my $c = stream_ok($s, $PATH, 'resumed public stream', headers => { 'Last-Event-ID' => $from });
	my $events = $c->events_until_id($r_seq, 5);
	is_deeply([map { [$_->{id}, $_->{event}] } @$events], [[$t_seq, 'incident.updated'], [$r_seq, 'incident.reply']],
		'the title change and the public reply, with their ids');
	public_ok($events->[0], 'incident.updated', \@UPDATED, 'replayed title change');
	public_ok($events->[1], 'incident.reply', [qw(type seq at reply)], 'replayed reply');
	my $more = $c->next_event(0.5);
	ok(!$more, 'nothing else') or diag($more->{raw});
	$c->close;
};

subtest 'deleted: incident.deleted, then the stream ends' => sub {
	my $c = stream_ok($s, $PATH, 'public stream', fresh_id => current_seq($s));
	my $watch_other = stream_ok($s, "/incidents/status/$other->{customer_token}/stream", 'the other incident');
	is(call(DELETE => "/v1/tickets/$inc->{id}")->{status}, 204, 'delete');
	my $seq = current_seq($s);
	my $e = $c->next_event(5);
	if (public_ok($e, 'incident.deleted', [qw(type seq at)], 'deleted')) {
		is($e->{id}, $seq, "id: the sequence ($seq)");
	}
	my ($rest, $closed) = $c->wait_closed(5);
	is(scalar @$rest, 0, 'nothing after incident.deleted');
	ok($closed, 'the server ends the stream');
	is($c->end, 'clean', 'with the end of the chunked response (not a cut connection)');
	error_ok($s->stream($PATH), 404, 'not_found_error', 'not_found', 'the token after deletion');

	my $quiet = $watch_other->next_event(0.5);
	ok(!$quiet, "the other incident's stream saw nothing") or diag($quiet->{raw});
	ok(!$watch_other->closed, '... and stays open');
	$watch_other->close;
};

$s->finish;
done_testing;
