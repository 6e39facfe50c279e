#!/usr/bin/perl
# Webhook subscriptions (issue 12, DESIGN §9), the API side: /v1/webhooks
# create, list, get, PATCH, DELETE, rotate-secret, deliveries and replay, for
# admin keys only, every response checked against openapi.json; the secret
# shown once; every validation rule with its source.field; private IP
# literals refused until webhook_allow_private = yes (reloaded by SIGHUP);
# another organisation's subscription a 404 on every route; keyset paging of
# subscriptions and deliveries; replay bounded by the retained event log;
# NOTIFY incidentd_webhooks on the API's writes and not on delivery
# progress; at most 1,000 subscriptions an organisation; and incidentctl
# webhook list|create|delete.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use IPC::Open2 qw(open2);
use JSON::PP ();
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);
use IncidentdTest;
use ApiCall qw(error_is);
use HookCheck qw(delivered_runs);

# Explicitly off: the setting under test, whatever the harness's default.
# No incidentd-hooks: this test writes delivery rows itself.
my $s = IncidentdTest->new(workers => 2, hooks => 0, config => { webhook_allow_private => 'no' });
my $A = $s->key('admin');
my $api = ApiCall->new($s, $A);
my $T = JSON::PP::true;
my $F = JSON::PP::false;
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
my $SECRET = qr{^whsec_[A-Za-z0-9+/]{43}=$};
my $ORG = $s->org_id;

sub q1 { my $v = $s->psql($_[0]); chomp $v; return $v }
sub event_seq { q1("SELECT event_seq FROM orgs WHERE id = $_[0]") + 0 }
sub stored { my ($id, $col) = @_; q1("SELECT $col FROM webhooks WHERE id = '$id'") }
sub incident {
	my $r = $s->req(POST => '/v1/incidents', key => $s->key('write'), body => { title => $_[0] });
	$r->{status} == 201 or die "incident: $r->{status} $r->{content}";
	return $r->{json}{id};
}

# ---- NOTIFY incidentd_webhooks: a psql session LISTENing on it --------------
# psql prints a notification after the statement during which it arrived:
# each check sends a marker query and reads up to it.
my ($listen_out, $listen_in);
my $listener = open2($listen_out, $listen_in, 'psql', '-X', '-q', '-A', '-t', '-d', $s->sql_conninfo);
my $mark = 0;
sub listener_read {
	my $want = 'mark-' . ++$mark;
	print $listen_in "SELECT '$want';\n";
	$listen_in->flush;
	my $notes = 0;
	while (defined(my $line = <$listen_out>)) {
		$notes++ if $line =~ /^Asynchronous notification "incidentd_webhooks"/;
		last if $line =~ /^\Q$want\E$/;
	}
	return $notes;
}
print $listen_in "LISTEN incidentd_webhooks;\n";
listener_read();
# The second read also collects a notice that arrived during the first one.
sub notified { my $n = listener_read(); return $n + listener_read() }

# ---- create: the cursor at the org's seq, the secret once ------------------
incident("before the subscription $_") for 1 .. 3;
my $seq = event_seq($ORG);
is($seq, 3, 'three incidents: the org is at seq 3');

my $r = $api->call(POST => '/v1/webhooks',
	body => { url => 'https://hooks.example.com/incidentd?team=ops', description => 'on-call bot' });
is($r->{status}, 201, 'create: 201') or diag($r->{content});
my $w = $r->{json} || {};
my $id = $w->{id} // '';
like($id, $UUID, 'a UUID id');
is($r->{headers}{location}, $s->url . "/v1/webhooks/$id", 'Location names it');
like($w->{secret} // '', $SECRET, 'the secret: whsec_ + base64 of 32 bytes');
is($w->{cursor_seq}, $seq, "cursor_seq = the org's event_seq at creation ($seq)");
is_deeply($w->{events}, ['*'], 'events omitted: every type, shown as ["*"]');
is(stored($id, "events = '{}'"), 't', "... stored as '{}'");
is($w->{format}, 'standard', 'format: standard by default');
ok($w->{enabled} && !defined $w->{disabled_reason} && !defined $w->{disabled_at}, 'enabled');
is(stored($id, 'secret'), $w->{secret}, 'the secret shown is the one stored (to sign with)');
is(notified(), 1, 'create: NOTIFY incidentd_webhooks');
my $first_secret = $w->{secret};

$r = $api->call(GET => "/v1/webhooks/$id");
is($r->{status}, 200, 'get: 200');
ok(!exists $r->{json}{secret}, 'get: no secret');
is_deeply([sort keys %{ $r->{json} }],
	[sort qw(id url events description format enabled disabled_reason disabled_at cursor_seq created_at updated_at
		previous_secret_expires_at)],
	'get: exactly the subscription\'s members');
is($r->{json}{url}, 'https://hooks.example.com/incidentd?team=ops', 'get: the url as given');
$r = $api->call(GET => '/v1/webhooks');
ok(!grep({ exists $_->{secret} } @{ $r->{json}{webhooks} || [] }), 'list: no secret');

incident('after the subscription');
is($api->call(GET => "/v1/webhooks/$id")->{json}{cursor_seq}, $seq,
	'an incident afterwards does not move the cursor (incidentd-hooks does)');

# ---- rotate-secret --------------------------------------------------------
$r = $api->call(POST => "/v1/webhooks/$id/rotate-secret");
is($r->{status}, 200, 'rotate-secret: 200') or diag($r->{content});
like($r->{json}{secret} // '', $SECRET, 'rotate-secret: a new secret');
is($w->{previous_secret_expires_at}, undef, 'created: no replaced secret signs');
{
	my $until = $r->{json}{previous_secret_expires_at} // '';
	my @t = $until =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/;
	my $at = @t ? timegm($t[5], $t[4], $t[3], $t[2], $t[1] - 1, $t[0]) : 0;
	ok(abs($at - (time + 86400)) <= 120, "rotate-secret: the old one signs until this time tomorrow ($until)");
	is(q1("SELECT previous_secret FROM webhooks WHERE id = '$id'"), $first_secret, 'the old one is kept for that');
}
isnt($r->{json}{secret}, $first_secret, '... not the old one');
is(stored($id, 'secret'), $r->{json}{secret}, '... stored');
is(notified(), 1, 'rotate-secret: NOTIFY');
ok(!exists $api->call(GET => "/v1/webhooks/$id")->{json}{secret}, 'get after rotate: no secret');
error_is($api->call(POST => "/v1/webhooks/$id/rotate-secret", body => { secret => 'mine' }),
	422, 'validation_error', 'unknown_field', 'rotate-secret takes no member', field => 'secret');
is($api->call(POST => "/v1/webhooks/$id/rotate-secret", body => {})->{status}, 200, 'rotate-secret with {}');
notified();

# ---- PATCH ------------------------------------------------------------------
$r = $api->call(PATCH => "/v1/webhooks/$id", body => { url => 'https://chat.example.com/hooks/T1/B2',
	events => [qw(incident.created incident.reply)], format => 'slack', description => undef });
is($r->{status}, 200, 'PATCH: 200') or diag($r->{content});
is_deeply([@{ $r->{json} }{qw(url format description)}], ['https://chat.example.com/hooks/T1/B2', 'slack', undef],
	'PATCH: url, format and description (null clears it)');
is_deeply($r->{json}{events}, [qw(incident.created incident.reply)], 'PATCH: events');
is(stored($id, "array_to_string(events, ',')"), 'incident.created,incident.reply', '... stored');
is(notified(), 1, 'PATCH: NOTIFY');
my $updated = stored($id, 'updated_at');
$r = $api->call(PATCH => "/v1/webhooks/$id", body => { format => 'slack', events => [qw(incident.reply incident.created)] });
is($r->{status}, 200, 'a PATCH that changes nothing: 200');
is(stored($id, 'updated_at'), $updated, '... writes nothing');
is(notified(), 0, '... and notifies nobody');
$r = $api->call(PATCH => "/v1/webhooks/$id", body => { events => ['*'] });
is_deeply($r->{json}{events}, ['*'], 'events ["*"]: every type again');
is(stored($id, "events = '{}'"), 't', "... stored as '{}'");

$r = $api->call(PATCH => "/v1/webhooks/$id", body => { enabled => $F });
ok(!$r->{json}{enabled} && $r->{json}{disabled_reason} && $r->{json}{disabled_at},
	'enabled false: disabled, with a reason and a time') or diag($r->{content});
# incidentd-hooks gives up after its retry window: its own reason
$s->psql("UPDATE webhooks SET disabled_reason = 'retry window ran out', disabled_at = now() - interval '1 hour' WHERE id = '$id'");
is($api->call(PATCH => "/v1/webhooks/$id", body => { enabled => $F })->{json}{disabled_reason},
	'retry window ran out', 'enabled false again keeps why it was disabled');
$r = $api->call(PATCH => "/v1/webhooks/$id", body => { enabled => $T });
ok($r->{json}{enabled} && !defined $r->{json}{disabled_reason} && !defined $r->{json}{disabled_at},
	'enabled true clears disabled_reason and disabled_at') or diag($r->{content});
notified();

# ---- validation: every rule with its source.field ---------------------------
my $long_url = 'https://e.com/' . ('a' x (2048 - 14));
for my $case (
	[ {}, 'is_required', 'url', 'no url' ],
	[ { url => undef }, 'is_required', 'url', 'url null' ],
	[ { url => 'ftp://hooks.example.com/' }, 'invalid_value', 'url', 'scheme ftp' ],
	[ { url => 'hooks.example.com/x' }, 'invalid_value', 'url', 'a relative URL' ],
	[ { url => 'https://user:pass@hooks.example.com/' }, 'invalid_value', 'url', 'userinfo' ],
	[ { url => 'https://hooks.example.com/#top' }, 'invalid_value', 'url', 'a fragment' ],
	[ { url => 'https://hooks.example.com:0/' }, 'invalid_value', 'url', 'port 0' ],
	[ { url => 'https://hooks.example.com:65536/' }, 'invalid_value', 'url', 'port 65536' ],
	[ { url => "${long_url}b" }, 'too_long', 'url', 'url of 2049 characters' ],
	[ { url => 42 }, 'invalid_value', 'url', 'url a number' ],
	[ { url => 'http://127.0.0.1:9000/hook' }, 'private_destination', 'url', 'loopback literal' ],
	[ { url => 'http://10.0.0.8/' }, 'private_destination', 'url', 'private literal' ],
	[ { url => 'http://[::1]/' }, 'private_destination', 'url', 'IPv6 loopback literal' ],
	[ { url => 'http://169.254.169.254/latest' }, 'private_destination', 'url', 'link-local (cloud metadata)' ],
	[ { url => 'http://2130706433/' }, 'private_destination', 'url', '127.0.0.1 written as a number' ],
	[ { url => 'https://e.com/', events => ['incident.closed'] }, 'invalid_value', 'events', 'an unknown event type' ],
	[ { url => 'https://e.com/', events => [qw(incident.reply incident.reply)] }, 'invalid_value', 'events', 'a type twice' ],
	[ { url => 'https://e.com/', events => [] }, 'invalid_value', 'events', 'no type' ],
	[ { url => 'https://e.com/', events => ['*', 'incident.reply'] }, 'invalid_value', 'events', '* with a type' ],
	[ { url => 'https://e.com/', events => [('incident.reply') x 5] }, 'too_long', 'events', 'five types' ],
	[ { url => 'https://e.com/', events => 'incident.reply' }, 'invalid_value', 'events', 'events a string' ],
	[ { url => 'https://e.com/', format => 'teams' }, 'invalid_value', 'format', 'an unknown format' ],
	[ { url => 'https://e.com/', description => 'd' x 501 }, 'too_long', 'description', 'description of 501 characters' ],
	[ { url => 'https://e.com/', enabled => 'yes' }, 'invalid_value', 'enabled', 'enabled a string' ],
	[ { url => 'https://e.com/', secret => 'whsec_mine' }, 'unknown_field', 'secret', 'a secret of the client\'s' ],
	[ { url => 'https://e.com/', cursor_seq => 0 }, 'unknown_field', 'cursor_seq', 'a cursor' ],
) {
	my ($body, $code, $field, $name) = @$case;
	error_is($api->call(POST => '/v1/webhooks', body => $body), 422, 'validation_error', $code, "create: $name", field => $field);
}
is($api->call(POST => '/v1/webhooks', body => { url => $long_url, description => 'é' x 500 })->{status}, 201,
	'a url of 2048 characters and a description of 500 two-byte characters pass');
$r = $api->call(POST => '/v1/webhooks', body => { url => 'ftp://x/', events => ['nope'], format => 'x', colour => 'red' });
is_deeply([map { "$_->{code}\@$_->{source}{field}" } @{ $r->{json}{errors} || [] }],
	[qw(unknown_field@colour invalid_value@events invalid_value@format invalid_value@url)],
	'every error of one request, together, in the body\'s order');
error_is($api->call(PATCH => "/v1/webhooks/$id", body => { url => 'http://192.168.1.10/' }),
	422, 'validation_error', 'private_destination', 'PATCH to a private literal', field => 'url');
error_is($api->call(PATCH => "/v1/webhooks/$id", body => { url => undef }),
	422, 'validation_error', 'is_required', 'PATCH url null', field => 'url');
error_is($api->call(POST => '/v1/webhooks', body => '{"url":'), 400, 'invalid_request_error', 'invalid_json', 'not JSON');
error_is($api->call(POST => '/v1/webhooks', body => '[]'), 400, 'invalid_request_error', 'invalid_body', 'not an object');
is(stored($id, 'url'), 'https://chat.example.com/hooks/T1/B2', 'a refused PATCH changes nothing');

# ---- roles and tenancy ------------------------------------------------------
my $other = $s->new_org('other');
my $OA = $other->{keys}{admin};
my $oid = $api->call(POST => '/v1/webhooks', key => $OA, body => { url => 'https://other.example.com/' })->{json}{id};
like($oid // '', $UUID, "the other org's subscription");
my $missing = '00000000-0000-4000-8000-000000000000';
my @routes = (
	[ GET => '' ], [ PATCH => '', { description => 'x' } ], [ DELETE => '' ],
	[ POST => '/rotate-secret' ], [ GET => '/deliveries' ], [ POST => '/replay', { from_seq => 1 } ],
);
for my $route (@routes) {
	my ($m, $tail, $body) = @$route;
	error_is($api->call($m => "/v1/webhooks/$oid$tail", defined $body ? (body => $body) : ()),
		404, 'not_found_error', 'not_found', "another org's subscription: $m .../:id$tail is 404");
	error_is($api->call($m => "/v1/webhooks/$missing$tail", defined $body ? (body => $body) : ()),
		404, 'not_found_error', 'not_found', "a missing subscription: $m .../:id$tail is 404");
	for my $role (qw(read write)) {
		error_is($api->call($m => "/v1/webhooks/$id$tail", key => $s->key($role), defined $body ? (body => $body) : ()),
			403, 'authorization_error', 'insufficient_role', "a $role key: $m .../:id$tail is 403");
	}
}
for my $role (qw(read write)) {
	error_is($api->call(GET => '/v1/webhooks', key => $s->key($role)), 403, 'authorization_error', 'insufficient_role', "a $role key cannot list");
	error_is($api->call(POST => '/v1/webhooks', key => $s->key($role), body => { url => 'https://e.com/' }),
		403, 'authorization_error', 'insufficient_role', "a $role key cannot create");
}
error_is($api->call(GET => '/v1/webhooks', key => undef), 401, 'authentication_error', 'missing_authorization_material', 'no key: 401');
error_is($api->call(GET => '/v1/webhooks/42'), 404, 'not_found_error', 'not_found', 'an id that is no UUID: 404');
is(stored($oid, 'description'), '', "the other org's subscription is untouched");
ok(!grep({ $_->{id} eq $oid } @{ $api->call(GET => '/v1/webhooks?limit=100')->{json}{webhooks} || [] }),
	"the list shows no other org's subscription");
is(scalar @{ $api->call(GET => '/v1/webhooks', key => $OA)->{json}{webhooks} || [] }, 1, 'the other org lists its one');

# ---- keyset paging of subscriptions ----------------------------------------
$api->call(POST => '/v1/webhooks', body => { url => "https://hooks.example.com/page/$_" }) for 1 .. 7;
my @all = map { $_->{id} } @{ $api->call(GET => '/v1/webhooks?limit=100')->{json}{webhooks} || [] };
is(scalar @all, 9, 'nine subscriptions');
is_deeply([ sort { $a <=> $b } map { stored($_, 'ordinal') } @all ],
	[ reverse map { stored($_, 'ordinal') } @all ], 'the list is newest first');
sub walk {
	my ($path, $member, $limit) = @_;
	my ($cursor, $ok, @seen) = (undef, 1);
	for my $n (1 .. 50) {
		my $r = $api->call(GET => "$path?limit=$limit" . (defined $cursor ? "&after=$cursor" : ''));
		my $j = $r->{json} || {};
		my $rows = $j->{$member} || [];
		$ok &&= $r->{status} == 200 && $j->{limit} == $limit && @$rows <= $limit
		    && !!$j->{has_more} == defined $j->{next_cursor};
		push @seen, @$rows;
		$cursor = $j->{next_cursor};
		last unless defined $cursor;
	}
	ok($ok, "$path by $limit: every page's limit, has_more and next_cursor agree");
	return @seen;
}
for my $limit (1, 2, 4, 9, 10) {
	is_deeply([map { $_->{id} } walk('/v1/webhooks', 'webhooks', $limit)], \@all, "subscriptions by $limit: each once, newest first");
}
error_is($api->call(GET => '/v1/webhooks?after=nonsense'), 422, 'validation_error', 'invalid_value', 'a bad cursor', parameter => 'after');
error_is($api->call(GET => '/v1/webhooks?limit=101'), 422, 'validation_error', 'out_of_range', 'limit 101', parameter => 'limit');
error_is($api->call(GET => '/v1/webhooks?page=2'), 422, 'validation_error', 'unknown_field', 'no page', parameter => 'page');

# ---- deliveries -------------------------------------------------------------
# incidentd-hooks writes these; here psql plays its part.  Events retried
# (odd seqs) are rows of webhook_deliveries; those delivered at the first try
# (even seqs) are in runs, several to a row of webhook_delivery_runs, whose
# ranges hold retried events' seqs too (sql/014).
$s->psql("INSERT INTO webhook_deliveries (webhook_id, seq, event, attempts, first_attempt_at, last_status, "
	. "last_error, next_attempt_at, delivered_at, duration_ms) SELECT '$id', g, 'incident.created', 1 + g % 3, now(), "
	. "500, 'HTTP 500', now() + interval '30 seconds', NULL, 10 + g FROM generate_series(1, 11, 2) g");
delivered_runs($s, $id, 2, 12, step => 2, size => 3);
$s->psql("INSERT INTO webhook_deliveries (webhook_id, seq, event) VALUES ('$id', 13, 'incident.reply'), ('$oid', 14, 'incident.reply')");
delivered_runs($s, $oid, 15, 16, size => 2);
my @d = walk("/v1/webhooks/$id/deliveries", 'deliveries', 5);
is_deeply([map { $_->{seq} } @d], [reverse 1 .. 13], 'deliveries by 5: newest first by seq, each once, none of another subscription');
for my $limit (1, 2, 3, 4, 13, 100) {
	is_deeply([map { $_->{seq} } walk("/v1/webhooks/$id/deliveries", 'deliveries', $limit)], [reverse 1 .. 13],
		"deliveries by $limit: rows and runs each once, newest first");
}
{
	# A page that begins inside a run (10-19, two seqs below the cursor)
	# goes on into the run before it (1-9), however many seqs of the first
	# lie above the cursor.
	my $r = $api->call(POST => '/v1/webhooks', body => { url => 'https://e.com/runs' });
	my $rid = $r->{json}{id};
	delivered_runs($s, $rid, 1, 9, size => 9);
	delivered_runs($s, $rid, 10, 19, size => 10);
	my $after = $api->call(GET => "/v1/webhooks/$rid/deliveries?limit=8")->{json}{next_cursor};
	$r = $api->call(GET => "/v1/webhooks/$rid/deliveries?limit=5&after=$after");
	is_deeply([map { $_->{seq} } @{ $r->{json}{deliveries} }], [11, 10, 9, 8, 7], 'a page from inside a run into the one before')
		or diag($r->{content});
	ok($r->{json}{has_more}, '... and more after it');
	$api->call(DELETE => "/v1/webhooks/$rid");
}
my ($d12) = grep { $_->{seq} == 12 } @d;
my ($d11) = grep { $_->{seq} == 11 } @d;
my ($d13) = grep { $_->{seq} == 13 } @d;
ok($d12 && $d12->{last_status} == 200 && !defined $d12->{last_error} && defined $d12->{delivered_at}
	&& !defined $d12->{next_attempt_at} && $d12->{duration_ms} == 22 && $d12->{attempts} == 1, 'a delivered row')
	or diag(explain $d12);
ok($d11 && $d11->{last_status} == 500 && $d11->{last_error} eq 'HTTP 500' && !defined $d11->{delivered_at}
	&& defined $d11->{next_attempt_at} && $d11->{attempts} == 3, 'a row waiting for its retry')
	or diag(explain $d11);
ok($d13 && $d13->{attempts} == 0 && !defined $d13->{last_status} && !defined $d13->{duration_ms}
	&& $d13->{event} eq 'incident.reply', 'a row not yet attempted') or diag(explain $d13);
my $sub_cursor = $api->call(GET => '/v1/webhooks?limit=1')->{json}{next_cursor};
error_is($api->call(GET => "/v1/webhooks/$id/deliveries?after=$sub_cursor"), 422, 'validation_error', 'invalid_value',
	"a subscriptions cursor on deliveries", parameter => 'after');
my $del_cursor = $api->call(GET => "/v1/webhooks/$id/deliveries?limit=1")->{json}{next_cursor};
error_is($api->call(GET => "/v1/webhooks?after=$del_cursor"), 422, 'validation_error', 'invalid_value',
	"a deliveries cursor on subscriptions", parameter => 'after');

# ---- replay: within the retained log ----------------------------------------
my $cur = event_seq($ORG);
# retention has pruned the org's events before seq 3
$s->psql("DELETE FROM events WHERE org_id = $ORG AND seq < 3");
for my $bad ([2, 'before the oldest event still logged'], [$cur + 2, 'past the next seq']) {
	error_is($api->call(POST => "/v1/webhooks/$id/replay", body => { from_seq => $bad->[0] }),
		422, 'validation_error', 'out_of_range', "replay from $bad->[0]: $bad->[1]", field => 'from_seq');
}
is(stored($id, 'cursor_seq'), $seq, 'a refused replay moves nothing');
notified();
$r = $api->call(POST => "/v1/webhooks/$id/replay", body => { from_seq => 3 });
is($r->{status}, 200, 'replay from the oldest event: 200') or diag($r->{content});
is($r->{json}{cursor_seq}, 2, 'the cursor is from_seq - 1');
is(stored($id, 'cursor_seq'), 2, '... stored');
is(q1("SELECT string_agg(seq::text || ':' || duration_ms, ',' ORDER BY seq) FROM webhook_delivery_log WHERE webhook_id = '$id'"),
	'1:11,2:12', 'the deliveries from seq 3 on are forgotten, those before kept');
is(q1("SELECT string_agg(first_seq || '-' || last_seq || ':' || array_length(seqs, 1) || ':' || array_length(durations_ms, 1), ',') "
	. "FROM webhook_delivery_runs WHERE webhook_id = '$id'"), '2-2:1:1', 'the run it cut through keeps its part before');
is(q1("SELECT count(*) FROM webhook_delivery_log WHERE webhook_id = '$oid'"), 3, "another subscription's rows and runs kept");
is(notified(), 1, 'replay: NOTIFY');
$r = $api->call(POST => "/v1/webhooks/$id/replay", body => { from_seq => $cur + 1 });
is($r->{json}{cursor_seq}, $cur, 'replay from the next seq: the cursor at the current seq (nothing to resend)');
$api->call(PATCH => "/v1/webhooks/$id", body => { enabled => $F });
$r = $api->call(POST => "/v1/webhooks/$id/replay", body => { from_seq => 4 });
ok($r->{status} == 200 && !$r->{json}{enabled} && $r->{json}{cursor_seq} == 3, 'a disabled subscription replays and stays disabled')
	or diag($r->{content});
for my $case ([{}, 'is_required'], [{ from_seq => undef }, 'is_required'], [{ from_seq => 'x' }, 'invalid_value'],
	[{ from_seq => 3.5 }, 'invalid_value'], [{ from_seq => 0 }, 'out_of_range']) {
	error_is($api->call(POST => "/v1/webhooks/$id/replay", body => $case->[0]), 422, 'validation_error', $case->[1],
		'replay ' . JSON::PP->new->canonical->encode($case->[0]), field => 'from_seq');
}
# an org whose log is empty: only its next seq
is($api->call(POST => "/v1/webhooks/$oid/replay", key => $OA, body => { from_seq => 1 })->{status}, 200,
	'an empty log: replay from the next seq (1)');
error_is($api->call(POST => "/v1/webhooks/$oid/replay", key => $OA, body => { from_seq => 2 }), 422,
	'validation_error', 'out_of_range', 'an empty log: nothing else', field => 'from_seq');

# ---- delivery progress notifies nobody ---------------------------------------
notified();
$s->psql("UPDATE webhooks SET cursor_seq = cursor_seq + 1, lease_owner = 'host-a', lease_until = now() + interval '30 seconds' WHERE id = '$id'");
is(notified(), 0, "incidentd-hooks's writes (cursor, lease) notify nobody");
$s->psql("UPDATE webhooks SET enabled = false, disabled_reason = 'x', disabled_at = now() WHERE id = '$oid'");
is(notified(), 1, 'a subscription disabled by anyone notifies');

# ---- DELETE -------------------------------------------------------------------
is($api->call(DELETE => "/v1/webhooks/$id")->{status}, 204, 'delete: 204');
is(notified(), 1, 'delete: NOTIFY');
error_is($api->call(GET => "/v1/webhooks/$id"), 404, 'not_found_error', 'not_found', 'then GET: 404');
error_is($api->call(DELETE => "/v1/webhooks/$id"), 404, 'not_found_error', 'not_found', 'then DELETE: 404');
is(q1("SELECT count(*) FROM webhook_delivery_log WHERE webhook_id = '$id'"), 0, 'its deliveries (rows and runs) went with it');

# ---- incidentctl webhook ------------------------------------------------------
{
	my ($code, $out, $err) = $s->incidentctl(qw(webhook create --org), $s->org_name, '--url', 'https://cli.example.com/h',
		'--events', 'incident.created,incident.deleted', '--format', 'slack', '--description', 'from the shell');
	is($code, 0, 'incidentctl webhook create') or diag($err);
	my ($cid, $csecret) = $out =~ /^(\S+)\t(\S+)\n\z/;
	like($cid // '', $UUID, '... prints the id');
	like($csecret // '', $SECRET, '... and the secret, once');
	is(notified(), 1, '... NOTIFY');
	$r = $api->call(GET => "/v1/webhooks/$cid");
	is_deeply([@{ $r->{json} }{qw(url format description cursor_seq)}], ['https://cli.example.com/h', 'slack', 'from the shell', event_seq($ORG)],
		'the API shows it, its cursor at the org\'s seq');
	is_deeply($r->{json}{events}, [qw(incident.created incident.deleted)], '... with its events');
	is(stored($cid, 'secret'), $csecret, 'the secret printed is the one stored');
	($code, $out) = $s->incidentctl(qw(webhook list --org), $s->org_name);
	is($code, 0, 'incidentctl webhook list');
	like($out, qr/^\Q$cid\E\thttps:\/\/cli\.example\.com\/h\tincident\.created,incident\.deleted\tslack\tyes\t\d+\t\S+Z$/m, '... lists it');
	unlike($out, qr/whsec_/, '... without secrets');
	for my $bad (
		[ [ '--url', 'http://10.1.1.1/' ], qr/webhook_allow_private/, 'a private literal' ],
		[ [ '--url', 'https://u:p@e.com/' ], qr/user name or password/, 'userinfo' ],
		[ [ '--url', 'https://e.com/', '--events', 'incident.reply,incident.reply' ], qr/twice/, 'a type twice' ],
		[ [ '--url', 'https://e.com/', '--events', 'incident.closed' ], qr/unknown type/, 'an unknown type' ],
		[ [ '--url', 'https://e.com/', '--format', 'teams' ], qr/format must be/, 'a bad format' ],
	) {
		($code, $out, $err) = $s->incidentctl(qw(webhook create --org), $s->org_name, @{ $bad->[0] });
		ok($code == 1 && $err =~ $bad->[1], "incidentctl refuses $bad->[2] as the API does") or diag("exit $code: $err");
	}
	($code, undef, $err) = $s->incidentctl(qw(webhook create --org nosuchorg --url https://e.com/));
	ok($code == 1 && $err =~ /no organisation/, 'incidentctl: an unknown org') or diag($err);
	($code, $out) = $s->incidentctl(qw(webhook delete), $cid);
	ok($code == 0 && $out =~ /deleted webhook \Q$cid\E/, 'incidentctl webhook delete');
	is(notified(), 1, '... NOTIFY');
	($code, undef, $err) = $s->incidentctl(qw(webhook delete), $cid);
	ok($code == 1 && $err =~ /no webhook subscription/, '... a second time: no such subscription') or diag($err);
}

# ---- webhook_allow_private = yes (SIGHUP) ---------------------------------------
{
	ok($s->reload(webhook_allow_private => 'yes'), 'webhook_allow_private = yes: SIGHUP replaced the workers');
	$r = $api->call(POST => '/v1/webhooks', body => { url => 'http://127.0.0.1:9000/hook' });
	is($r->{status}, 201, 'webhook_allow_private = yes (reloaded): a loopback literal is accepted') or diag($r->{content});
	is($api->call(PATCH => "/v1/webhooks/$r->{json}{id}", body => { url => 'http://[::1]:9/' })->{status}, 200,
		'... and a PATCH to one');
	error_is($api->call(POST => '/v1/webhooks', body => { url => 'http://u:p@127.0.0.1/' }), 422, 'validation_error',
		'invalid_value', '... userinfo still refused', field => 'url');
}

# ---- Idempotency-Key on create: a retry is the same subscription ------------
{
	my $before = q1("SELECT count(*) FROM webhooks WHERE org_id = $ORG");
	my %idem = (headers => { 'Idempotency-Key' => 'create-hook-1' });
	my $body = { url => 'https://e.com/idem', description => 'once' };
	my $r1 = $api->call(POST => '/v1/webhooks', body => $body, %idem);
	is($r1->{status}, 201, 'create with an Idempotency-Key');
	ok(!exists $r1->{headers}{'idempotent-replayed'}, 'the first answer is not a replay');
	my $r2 = $api->call(POST => '/v1/webhooks', body => $body, %idem);
	is($r2->{status}, 201, 'the retry: 201 again');
	is($r2->{headers}{'idempotent-replayed'}, 'true', 'Idempotent-Replayed: true');
	is($r2->{json}{id}, $r1->{json}{id}, 'the same subscription');
	is($r2->{json}{secret}, $r1->{json}{secret}, 'with its secret');
	is($r2->{headers}{location}, $r1->{headers}{location}, 'and its Location');
	is(q1("SELECT count(*) FROM webhooks WHERE org_id = $ORG"), $before + 1, 'one subscription made');
	error_is($api->call(POST => '/v1/webhooks', body => { url => 'https://e.com/other-idem' }, %idem),
		409, 'conflict_error', 'idempotency_key_reused', 'the key with another body: 409');
}

# ---- Idempotency-Key on the other writes: a retry gets the first answer -----
{
	my $hid = $api->call(POST => '/v1/webhooks', body => { url => 'https://e.com/idem-writes' })->{json}{id};
	my $key = 0;
	my $twice = sub {
		my ($method, $path, %opt) = @_;
		my %idem = (headers => { 'Idempotency-Key' => 'hook-write-' . ++$key });
		my $r1 = $api->call($method => $path, %opt, %idem);
		my $r2 = $api->call($method => $path, %opt, %idem);
		ok(!exists $r1->{headers}{'idempotent-replayed'}, "$method $path: the first answer is not a replay");
		is($r2->{headers}{'idempotent-replayed'}, 'true', "$method $path: the retry is");
		is($r2->{status}, $r1->{status}, "$method $path: with its status ($r1->{status})");
		is($r2->{content}, $r1->{content}, "$method $path: and its body");
		return ($r1, $r2);
	};
	my ($r1) = $twice->(POST => "/v1/webhooks/$hid/rotate-secret");
	like($r1->{json}{secret} // '', qr/^whsec_/, 'rotate-secret: a new secret');
	is(q1("SELECT secret FROM webhooks WHERE id = '$hid'"), $r1->{json}{secret},
		'rotated once: the secret the retry shows is the one that signs');
	($r1) = $twice->(PATCH => "/v1/webhooks/$hid", body => { description => 'patched once' });
	is($r1->{json}{description}, 'patched once', 'PATCH: changed');
	my $cur = q1("SELECT event_seq FROM orgs WHERE id = $ORG");
	($r1) = $twice->(POST => "/v1/webhooks/$hid/replay", body => { from_seq => $cur + 1 });
	is($r1->{status}, 200, 'replay: 200');
	my %idem = (headers => { 'Idempotency-Key' => 'hook-write-' . $key });
	error_is($api->call(POST => "/v1/webhooks/$hid/replay", body => { from_seq => 1 }, %idem), 409,
		'conflict_error', 'idempotency_key_reused', 'replay: the key with another body is 409');
	$twice->(DELETE => "/v1/webhooks/$hid");
	error_is($api->call(GET => "/v1/webhooks/$hid"), 404, 'not_found_error', 'not_found',
		'DELETE: gone, and its retry was 204 rather than 404');
}

# ---- at most WEBHOOKS_PER_ORG_MAX (1,000) subscriptions an org ---------------
{
	my $have = q1("SELECT count(*) FROM webhooks WHERE org_id = $ORG");
	$s->psql("INSERT INTO webhooks (org_id, url, secret, cursor_seq) SELECT $ORG, "
		. "'https://bulk.example.com/' || g, 'whsec_x', 0 FROM generate_series(1, " . (999 - $have) . ") g");
	is($api->call(POST => '/v1/webhooks', body => { url => 'https://e.com/1000th' })->{status}, 201,
		'the 1,000th subscription');
	error_is($api->call(POST => '/v1/webhooks', body => { url => 'https://e.com/1001st' }), 409, 'conflict_error',
		'webhook_limit_reached', 'the 1,001st: 409');
	my ($code, undef, $err) = $s->incidentctl(qw(webhook create --org), $s->org_name, '--url', 'https://e.com/cli');
	ok($code == 1 && $err =~ /the most it may have/, 'incidentctl refuses it too') or diag("exit $code: $err");
	is(q1("SELECT count(*) FROM webhooks WHERE org_id = $ORG"), 1000, 'the org holds 1,000');
	is($api->call(POST => '/v1/webhooks', key => $OA, body => { url => 'https://e.com/other' })->{status}, 201,
		'another org is not held to this one\'s count');
}

# ---- an org's deletion takes its subscriptions' delivery rows --------------
$s->psql("INSERT INTO webhook_deliveries (webhook_id, seq, event) VALUES ('$oid', 1, 'incident.created')");
delivered_runs($s, $oid, 2, 3, size => 2);
is(q1("SELECT count(*) FROM webhook_delivery_log WHERE webhook_id = '$oid'"), 3, 'its rows and runs');
$s->psql("DELETE FROM orgs WHERE id = $other->{id}");
is(q1("SELECT count(*) FROM webhook_delivery_log WHERE webhook_id = '$oid'"), 0, 'its deletion took the rows and runs');

close $listen_in;
waitpid $listener, 0;
$s->finish;
done_testing;
