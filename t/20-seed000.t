#!/usr/bin/perl
# The primary vendor reference (seed 000) works unchanged: its example bodies
# verbatim, its response shapes, both path families, and its SLA example
# reproduced with the test clock (X-Test-Now).
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Time::Local qw(timegm);
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;
use ApiCall qw(key_name);

my $BASE = 'https://status.example.test';
my $s = IncidentdTest->new(config => { public_base_url => $BASE });
my $W = $s->key('write');

sub at { my ($hms) = @_; my ($h, $m, $sec) = split /:/, $hms; timegm($sec, $m, $h, 15, 2, 2026) }
sub call {
  my ($method, $path, %o) = @_;
  my $r = $s->req($method, $path, key => $W, %o);
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}
my $author = key_name($s, 'write');
ok(defined $author && length $author, "the write key has a name ($author)") ;

# --- POST /v1/tickets with the seed's body, byte for byte --------------------
my $seed_create = <<'JSON';
{
"title": "Unit 3 unresponsive",
"description": "No ping in 5 minutes. Last known: Grid 7.",
"priority": "urgent",
"source": "alert",
"lat": 35.4676,
"lng": -97.5164,
"location_name": "Grid Sector 7"
}
JSON
my $r = call(POST => '/v1/tickets', body => $seed_create, headers => { 'X-Test-Now' => at('07:00:00') });
is($r->{status}, 201, 'seed create: 201') or diag($r->{content});
my $inc = $r->{json} || {};
my $id = $inc->{id};
like($id // '', qr/^[1-9][0-9]*$/, 'id is a positive integer');
is($inc->{Id}, $id, 'Id (seed spelling) equals id');
is($inc->{title}, 'Unit 3 unresponsive', 'title');
is($inc->{description}, 'No ping in 5 minutes. Last known: Grid 7.', 'description');
is($inc->{status}, 'open', 'status defaults to open');
is($inc->{priority}, 'urgent', 'priority');
is($inc->{severity}, 'medium', 'severity defaults to medium');
is($inc->{source}, 'alert', 'source');
is($inc->{source_ref}, undef, 'source_ref null');
ok(defined $inc->{lat} && $inc->{lat} == 35.4676, 'lat 35.4676');
ok(defined $inc->{lng} && $inc->{lng} == -97.5164, 'lng -97.5164');
is($inc->{location_name}, 'Grid Sector 7', 'location_name');
is_deeply([$inc->{tags}, $inc->{affected_services}], [[], []], 'tags and affected_services default to []');
is($inc->{sla_due_at}, '2026-03-15T08:00:00Z', 'sla_due_at = created_at + 1h (urgent), as in the seed');
ok(JSON::PP::is_bool($inc->{sla_breached}) && !$inc->{sla_breached}, 'sla_breached false (a JSON boolean)');
is($inc->{sla_status}, 'ok', 'sla_status ok');
is($inc->{created_at}, '2026-03-15T07:00:00Z', 'created_at from the test clock');
is($inc->{updated_at}, '2026-03-15T07:00:00Z', 'updated_at = created_at');
is($inc->{started_at}, '2026-03-15T07:00:00Z', 'started_at defaults to created_at');
is_deeply([$inc->{acknowledged_at}, $inc->{resolved_at}], [undef, undef], 'acknowledged_at and resolved_at null');
is($inc->{created_by}, $author, 'created_by is the name of the key');
my $token = $inc->{customer_token} // '';
like($token, qr/^[A-Za-z0-9_-]{22,}$/, 'customer_token: URL-safe, at least 128 bits');
is($inc->{customer_status_url}, "$BASE/incidents/status/$token", 'customer_status_url = public_base_url + /incidents/status/<token>');
is($r->{headers}{location}, "$BASE/v1/tickets/$id", 'Location = public_base_url + /v1/tickets/<id>');
is_deeply([sort keys %$inc], [sort qw(id Id title description status priority severity source source_ref lat lng
  location_name impact_description assigned_to tags affected_services sla_due_at sla_breached sla_status customer_token
  customer_status_url started_at acknowledged_at resolved_at created_by created_at updated_at)],
  'the incident has exactly the fields of DESIGN §4');

# The same resource under both path families.
my $g1 = call(GET => "/v1/tickets/$id", headers => { 'X-Test-Now' => at('07:00:00') });
my $g2 = call(GET => "/v1/incidents/$id", headers => { 'X-Test-Now' => at('07:00:00') });
is($g1->{status}, 200, 'GET /v1/tickets/:id 200');
is_deeply($g1->{json}, $inc, 'GET returns what POST returned');
is_deeply($g2->{json}, $g1->{json}, '/v1/incidents/:id is the same resource as /v1/tickets/:id');

# --- the seed's SLA example --------------------------------------------------
for my $case (['07:44:59', 'ok', 0], ['07:45:00', 'warning', 0], ['08:00:00', 'warning', 0], ['08:00:01', 'breached', 1]) {
  my ($t, $status, $breached) = @$case;
  my $g = call(GET => "/v1/tickets/$id", headers => { 'X-Test-Now' => at($t) });
  is($g->{json}{sla_status}, $status, "at $t sla_status is $status");
  ok(JSON::PP::is_bool($g->{json}{sla_breached}) && !!$g->{json}{sla_breached} == !!$breached,
     "at $t sla_breached is " . ($breached ? 'true' : 'false'));
  is($g->{json}{sla_due_at}, '2026-03-15T08:00:00Z', "at $t sla_due_at unchanged");
}

# --- GET /v1/tickets: the seed's list shape (at 07:45 the example says warning) ---
my $l = call(GET => '/v1/tickets', headers => { 'X-Test-Now' => at('07:45:00') });
is($l->{status}, 200, 'list 200');
is($l->{json}{total}, 1, 'total 1');
is(scalar @{ $l->{json}{tickets} || [] }, 1, 'one ticket');
my $item = $l->{json}{tickets}[0] || {};
my %seed_item = (Id => $id, title => 'Unit 3 unresponsive', status => 'open', priority => 'urgent', source => 'alert',
  sla_due_at => '2026-03-15T08:00:00Z', sla_status => 'warning', customer_token => $token,
  location_name => 'Grid Sector 7', created_at => '2026-03-15T07:00:00Z');
is_deeply({ map { $_ => $item->{$_} } keys %seed_item }, \%seed_item, 'list item carries the seed example values');
ok(!$item->{sla_breached} && $item->{lat} == 35.4676 && $item->{lng} == -97.5164, 'list item sla_breached, lat, lng');
is_deeply([@{ $l->{json} }{qw(limit page offset)}], [50, 1, 0], 'list limit 50, page 1, offset 0 by default');
ok(JSON::PP::is_bool($l->{json}{has_more}) && !$l->{json}{has_more}, 'has_more false');
my $l2 = call(GET => '/v1/incidents', headers => { 'X-Test-Now' => at('07:45:00') });
is_deeply($l2->{json}, $l->{json}, 'GET /v1/incidents lists the same, under the key "tickets"');

# --- PATCH with the seed's body --------------------------------------------------
my $p = call(PATCH => "/v1/tickets/$id", body => '{"status":"in_progress","priority":"high"}',
             headers => { 'X-Test-Now' => at('07:10:00') });
is($p->{status}, 200, 'seed PATCH 200') or diag($p->{content});
is($p->{json}{status}, 'in_progress', 'status in_progress');
is($p->{json}{priority}, 'high', 'priority high');
is($p->{json}{sla_due_at}, '2026-03-15T11:00:00Z', 'sla_due_at recomputed: created_at + 4h (high)');
is($p->{json}{sla_status}, 'ok', 'sla_status ok at 07:10 against 11:00');
is($p->{json}{acknowledged_at}, '2026-03-15T07:10:00Z', 'acknowledged_at set by moving to in_progress');
is($p->{json}{updated_at}, '2026-03-15T07:10:00Z', 'updated_at moved');
is($p->{json}{created_at}, '2026-03-15T07:00:00Z', 'created_at unchanged');
is($p->{json}{customer_token}, $token, 'customer_token unchanged');
my $pi = call(PATCH => "/v1/incidents/$id", body => { description => 'Crew dispatched.' },
              headers => { 'X-Test-Now' => at('07:11:00') });
is($pi->{status}, 200, 'PATCH through /v1/incidents/:id');
is(call(GET => "/v1/tickets/$id")->{json}{description}, 'Crew dispatched.', 'visible through /v1/tickets/:id');

# --- POST /v1/incidents/:id/replies with the seed's body -------------------------
my $rp = call(POST => "/v1/incidents/$id/replies", body => '{ "body": "On scene. Investigating now." }',
              headers => { 'X-Test-Now' => at('07:20:00') });
is($rp->{status}, 201, 'seed reply 201') or diag($rp->{content});
my $reply = $rp->{json} || {};
is_deeply([sort keys %$reply], [sort qw(id incident_id body internal status author created_at)], 'reply has exactly its fields');
is($reply->{incident_id}, $id, 'reply incident_id');
is($reply->{body}, 'On scene. Investigating now.', 'reply body');
ok(JSON::PP::is_bool($reply->{internal}) && !$reply->{internal}, 'reply public by default');
is($reply->{status}, undef, 'reply status null');
is($reply->{author}, $author, 'reply author is the key name');
is($reply->{created_at}, '2026-03-15T07:20:00Z', 'reply created_at');
my $rt = call(POST => "/v1/tickets/$id/replies", body => { body => 'Second reply via tickets.' });
is($rt->{status}, 201, 'reply through /v1/tickets/:id/replies');

my $rl = call(GET => "/v1/tickets/$id/replies");
is($rl->{status}, 200, 'replies list 200');
is($rl->{json}{total}, 3, 'three timeline entries: status change, two replies');
is_deeply([map { [$_->{status}, $_->{body}] } @{ $rl->{json}{replies} || [] }],
          [['in_progress', undef], [undef, 'On scene. Investigating now.'], [undef, 'Second reply via tickets.']],
          'oldest first: the PATCH timeline entry, then the replies');
is_deeply(call(GET => "/v1/incidents/$id/replies")->{json}, $rl->{json}, 'same list under /v1/incidents');

# --- customer_status_url path answers without a key --------------------------
(my $status_path = $inc->{customer_status_url} // '') =~ s/^\Q$BASE\E//;
my $sp = $s->req(GET => $status_path, headers => { Accept => 'application/json' });
response_ok($sp, 'GET', '/incidents/status/{token}', 'status page JSON per openapi.json');
is($sp->{status}, 200, 'customer status page answers');
is($sp->{json}{title}, 'Unit 3 unresponsive', 'status page shows the title');

# --- POST /v1/incidents, Location follows the requested family --------------------
my $c2 = call(POST => '/v1/incidents', body => { title => 'Second' });
is($c2->{status}, 201, 'create through /v1/incidents');
is($c2->{headers}{location}, "$BASE/v1/incidents/$c2->{json}{id}", 'Location under /v1/incidents');
is(call(GET => "/v1/tickets/$c2->{json}{id}")->{status}, 200, 'visible under /v1/tickets');
isnt($c2->{json}{customer_token}, $token, 'each incident has its own customer_token');

# --- DELETE ----------------------------------------------------------------------
my $d = call(DELETE => "/v1/tickets/$id");
is($d->{status}, 204, 'DELETE 204');
is($d->{content} // '', '', 'DELETE has an empty body');
is(call(GET => "/v1/tickets/$id")->{status}, 404, 'deleted: /v1/tickets/:id 404');
is(call(GET => "/v1/incidents/$id")->{status}, 404, 'deleted: /v1/incidents/:id 404');
is(call(GET => "/v1/incidents/$id/replies")->{status}, 404, 'deleted: replies 404');
is(call(DELETE => "/v1/incidents/$id")->{status}, 404, 'DELETE again 404');
my $d2 = call(DELETE => "/v1/incidents/$c2->{json}{id}");
is($d2->{status}, 204, 'DELETE through /v1/incidents');
is(call(GET => '/v1/tickets')->{json}{total}, 0, 'list empty after the deletes');

$s->finish;
done_testing;
