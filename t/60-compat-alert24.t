#!/usr/bin/perl
# The Alert24 dialect (seed 001, issue 8) at /compat/alert24/api/v1/incidents:
# every example request of the seed verbatim (path prefixed by the mount,
# Authorization: Bearer), the incident's 17 members, times with .000Z,
# incident_number = the /v1 id, UUID and number lookups, filters, paging and
# meta, unknown parameters and body members, read-only members, PUT/PATCH,
# resolved_at/acknowledged_at as given, DELETE {"data":null}, tenants, keys and
# roles, and every write on /v1/tickets and on /v1/incidents/stream.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::Local qw(timegm);
use JSON::PP ();
use B ();
use IncidentdTest;
use OpenAPICheck;
use ApiCall qw(error_is iso_epoch key_name next_event_is);
use StreamCheck;

my $BASE = 'https://status.example.test';
my $M = '/compat/alert24/api/v1/incidents';
my $s = IncidentdTest->new(config => { public_base_url => $BASE });
my ($W, $R) = map { $s->key($_) } qw(write read);
my $api = ApiCall->new($s, $W);
sub call { $api->call(@_) }
sub seed_call { $api->seed_call(@_) }
sub epoch { iso_epoch(@_) }
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z/;
my $MS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z\z/;
my @MEMBERS = qw(id incident_number title description severity status affected_services impact_description
  assigned_to created_by source tags started_at acknowledged_at resolved_at created_at updated_at);
my @STATUSES = qw(new open acknowledged in_progress investigating identified monitoring resolved postmortem closed);
my @SEVERITIES = qw(critical high medium low maintenance);

# The Alert24 incident: exactly its 17 members, UUID id, integer incident_number,
# every time in milliseconds form.
sub incident_ok {
  my ($inc, $name) = @_;
  $inc = {} unless ref $inc eq 'HASH';
  subtest "$name: an Alert24 incident" => sub {
    is_deeply([sort keys %$inc], [sort @MEMBERS], 'exactly the 17 members');
    like($inc->{id} // '', $UUID, 'id is a lowercase UUID');
    ok(defined $inc->{incident_number} && !ref $inc->{incident_number}
       && B::svref_2object(\$inc->{incident_number})->FLAGS & (B::SVf_IOK() | B::SVf_NOK())
       && $inc->{incident_number} =~ /^[1-9]\d*\z/, 'incident_number is a JSON integer');
    like($inc->{$_} // '', $MS, "$_ ends in .000Z") for qw(started_at created_at updated_at);
    for my $t (qw(acknowledged_at resolved_at)) {
      ok(!defined $inc->{$t} || $inc->{$t} =~ $MS, "$t is null or ends in .000Z");
    }
    is(ref $inc->{$_}, 'ARRAY', "$_ is an array") for qw(affected_services tags);
  };
}
sub data { ($_[0]{json} || {})->{data} }
sub numbers { [map { $_->{incident_number} } @{ data($_[0]) || [] }] }
# /v1's time form of an Alert24 time.
sub v1_time { my ($t) = @_; return undef unless defined $t; $t =~ s/\.000Z$/Z/; $t }
my $author = key_name($s, 'write');
ok(defined $author && length $author, 'the write key has a name');


# ===================================================== the seed's examples, verbatim
my $stream = stream_ok($s, '/v1/incidents/stream', 'stream of the org', key => $R, fresh_id => current_seq($s));

# The list example's incident (created here so that the seed's list query finds it).
my $listed_body = { title => 'Database connection pool exhausted', description => 'Connection pool hit max limit',
  severity => 'critical', status => 'open', affected_services => ['svc-123'],
  impact_description => 'Users unable to load dashboards', assigned_to => 'user-456', tags => ['database', 'production'] };
my $lc = call(POST => $M, body => $listed_body, now => '2026-03-19T14:30:00Z');
is($lc->{status}, 201, 'create the list example incident: 201') or diag($lc->{content});
my $listed = data($lc) || {};
incident_ok($listed, 'list example create');
{
  my $ev = next_event_is($stream, 'incident.created', 'created on the mount');
  my $v1 = call(GET => "/v1/tickets/$listed->{incident_number}", now => '2026-03-19T14:30:00Z');
  is($v1->{status}, 200, 'the incident is on /v1/tickets/:id') or diag($v1->{content});
  is_deeply($ev->{incident}, $v1->{json}, 'incident.created carries the /v1 incident (with the /v1 id)');
  is(($ev->{incident} || {})->{id}, $listed->{incident_number}, 'event incident id = incident_number');
  is_deeply([sort keys %$ev], [qw(at incident seq type)], 'incident.created: type, seq, at, incident');
}

# --- Create Incident: the seed's body byte for byte ---------------------------------
my $seed_create = <<'JSON';
{
"title": "API latency spike",
"severity": "high",
"description": "P99 latency exceeding 2s on /api/users endpoint",
"affected_services": ["svc-api-gateway"],
"tags": ["performance", "api"]
}
JSON
chomp $seed_create;
my $cr = seed_call(POST => $M, $seed_create, '2026-03-19T15:00:00Z');
is($cr->{status}, 201, 'seed create: 201 Created') or diag($cr->{content});
my $inc = data($cr) || {};
incident_ok($inc, 'seed create');
is_deeply([sort keys %{ $cr->{json} || {} }], ['data'], 'the body is {"data":{...}}');
my ($uuid, $num) = @$inc{qw(id incident_number)};
is($inc->{title}, 'API latency spike', 'title');
is($inc->{severity}, 'high', 'severity high');
is($inc->{status}, 'open', 'status defaults to open');
is($inc->{source}, 'api', 'source api');
is($inc->{created_at}, '2026-03-19T15:00:00.000Z', 'created_at 2026-03-19T15:00:00.000Z (as in the seed)');
is($inc->{updated_at}, '2026-03-19T15:00:00.000Z', 'updated_at = created_at');
is($inc->{started_at}, '2026-03-19T15:00:00.000Z', 'started_at = created_at');
is($inc->{description}, 'P99 latency exceeding 2s on /api/users endpoint', 'description');
is_deeply($inc->{affected_services}, ['svc-api-gateway'], 'affected_services');
is_deeply($inc->{tags}, ['performance', 'api'], 'tags');
is_deeply([@$inc{qw(impact_description assigned_to acknowledged_at resolved_at)}], [undef, undef, undef, undef],
          'impact_description, assigned_to, acknowledged_at, resolved_at null');
is($inc->{created_by}, $author, 'created_by is the name of the key');
isnt($uuid, $listed->{id}, 'each incident has its own UUID');
is($cr->{headers}{location}, "$BASE$M/$uuid", 'Location = public_base_url + the mount + /<uuid>');
{
  my $ev = next_event_is($stream, 'incident.created', 'seed create');
  my $v1 = call(GET => "/v1/tickets/$num", now => '2026-03-19T15:00:00Z');
  is($v1->{status}, 200, 'seed create: on /v1/tickets/:id');
  my $j = $v1->{json} || {};
  is_deeply([@$j{qw(id title severity status description created_at)}],
            [$num, 'API latency spike', 'high', 'open', 'P99 latency exceeding 2s on /api/users endpoint', '2026-03-19T15:00:00Z'],
            '/v1 shows id = incident_number, the fields and created_at');
  is_deeply([$j->{tags}, $j->{affected_services}], [['performance', 'api'], ['svc-api-gateway']], '/v1 shows tags and affected_services');
  is_deeply($ev->{incident}, $j, 'seed create: incident.created in the /v1 shape');
}

# --- List Incidents: the seed's query ------------------------------------------------------
my $l = seed_call(GET => "$M?status=open&severity=critical", undef, '2026-03-19T15:01:00Z');
is($l->{status}, 200, 'seed list: 200') or diag($l->{content});
is_deeply([sort keys %{ $l->{json} || {} }], [qw(data meta)], 'the body is {"data":[...],"meta":{...}}');
is(scalar @{ data($l) || [] }, 1, 'seed list: one open critical incident');
my $item = (data($l) || [])->[0] || {};
incident_ok($item, 'seed list item');
my %seed_item = (title => 'Database connection pool exhausted', description => 'Connection pool hit max limit',
  severity => 'critical', status => 'open', affected_services => ['svc-123'],
  impact_description => 'Users unable to load dashboards', assigned_to => 'user-456', source => 'api',
  tags => ['database', 'production'], started_at => '2026-03-19T14:30:00.000Z', acknowledged_at => undef,
  resolved_at => undef, created_at => '2026-03-19T14:30:00.000Z', updated_at => '2026-03-19T14:30:00.000Z',
  id => $listed->{id}, incident_number => $listed->{incident_number}, created_by => $author);
is_deeply($item, \%seed_item, 'seed list item: every documented field');
is_deeply(($l->{json} || {})->{meta}, { total => 1, limit => 25, offset => 0, has_more => JSON::PP::false },
          'meta: total 1, limit 25, offset 0, has_more false');
ok(JSON::PP::is_bool((($l->{json} || {})->{meta} || {})->{has_more}), 'has_more is a JSON boolean');

# --- Get Incident: by UUID (as in the seed), upper case, and by number -----------------------
my $g = seed_call(GET => "$M/$uuid", undef, '2026-03-19T15:02:00Z');
is($g->{status}, 200, 'seed get by UUID: 200') or diag($g->{content});
is_deeply($g->{json}, { data => $inc }, 'GET returns what POST returned');
my $gu = call(GET => "$M/" . uc $uuid);
is($gu->{status}, 200, 'GET by the upper-case UUID: 200');
is_deeply(data($gu), $inc, '... the same incident');
my $gn = call(GET => "$M/$num");
is($gn->{status}, 200, 'GET by incident_number: 200');
is_deeply(data($gn), $inc, '... the same incident');
is((data(call(GET => "$M/$uuid")) || {})->{id}, $uuid, 'the UUID is stable');

# --- Update Incident, "Resolve an incident": the seed's body byte for byte -------------------
my $seed_resolve = <<'JSON';
{
"status": "resolved",
"resolved_at": "2026-03-19T15:30:00.000Z"
}
JSON
chomp $seed_resolve;
my $pu = seed_call(PUT => "$M/$uuid", $seed_resolve, '2026-03-19T15:40:00Z');
is($pu->{status}, 200, 'seed PUT (resolve): 200') or diag($pu->{content});
my $res = data($pu) || {};
incident_ok($res, 'seed PUT');
is($res->{status}, 'resolved', 'status resolved');
is($res->{resolved_at}, '2026-03-19T15:30:00.000Z', 'resolved_at stored as given');
is($res->{updated_at}, '2026-03-19T15:40:00.000Z', 'updated_at moved');
is_deeply({ map { $_ => $res->{$_} } grep { !/^(status|resolved_at|updated_at)$/ } @MEMBERS },
          { map { $_ => $inc->{$_} } grep { !/^(status|resolved_at|updated_at)$/ } @MEMBERS },
          'nothing else changed (a partial update)');
{
  my $ev = next_event_is($stream, 'incident.updated', 'seed PUT');
  my $v1 = call(GET => "/v1/tickets/$num", now => '2026-03-19T15:40:00Z');
  is_deeply([@{ $v1->{json} || {} }{qw(status resolved_at)}], ['resolved', '2026-03-19T15:30:00Z'], '/v1 shows it resolved at 15:30');
  is_deeply($ev->{incident}, $v1->{json}, 'incident.updated in the /v1 shape');
  is_deeply(($ev->{changes} || {})->{status}, [qw(open resolved)], 'changes: status [open, resolved]');
}

# --- Delete Incident: the seed's request ----------------------------------------------------
my $del = seed_call(DELETE => "$M/$uuid", undef, '2026-03-19T16:00:00Z');
is($del->{status}, 200, 'seed DELETE: 200') or diag($del->{content});
like($del->{content} // '', qr/^\s*\{\s*"data"\s*:\s*null\s*\}\s*\z/, 'the body is {"data":null}');
ok($del->{json} && exists $del->{json}{data} && !defined $del->{json}{data}, '... which decodes to data: null');
{
  my $ev = next_event_is($stream, 'incident.deleted', 'seed DELETE');
  is_deeply(strip_envelope($ev), { incident_id => $num }, 'incident.deleted: {incident_id: the /v1 id}');
}
error_is(call(GET => "$M/$uuid"), 404, 'not_found_error', 'not_found', 'deleted: GET by UUID 404');
error_is(call(GET => "$M/$num"), 404, 'not_found_error', 'not_found', 'deleted: GET by number 404');
error_is(call(DELETE => "$M/$uuid"), 404, 'not_found_error', 'not_found', 'deleted: DELETE again 404');
error_is(call(PUT => "$M/$uuid", body => { title => 'ghost' }), 404, 'not_found_error', 'not_found', 'deleted: PUT 404');
is(call(GET => "/v1/tickets/$num")->{status}, 404, 'deleted: /v1/tickets/:id 404');
my $after = $stream->next_event(0.5);
ok(!$after, 'no further event after the seed examples') or diag($after->{raw});
$stream->close;

# ===================================================== ids
my $x = data(call(POST => $M, body => { title => 'Lookups' }, now => '2026-03-20T08:00:00Z')) || {};
incident_ok($x, 'a plain create');
is_deeply([@$x{qw(severity status description tags affected_services)}], ['medium', 'open', undef, [], []],
          'defaults: severity medium, status open, description null, tags [], affected_services []');
for my $bad ('550e8400-e29b-41d4-a716-44665544000', '550e8400e29b41d4a716446655440000', '550e8400-e29b-41d4-a716-4466554400000',
             '550e8400-e29b-41d4-a716-44665544000g', "{$x->{id}}", "$x->{id}x", 'x' . $x->{id}, 'abc', '-1', '1.5', "$x->{incident_number}x") {
  error_is(call(GET => "$M/$bad"), 404, 'not_found_error', 'not_found', "malformed id $bad: 404");
}
error_is(call(GET => "$M/550e8400-e29b-41d4-a716-446655440000"), 404, 'not_found_error', 'not_found', 'a well-formed unknown UUID: 404');
error_is(call(GET => "$M/999999999"), 404, 'not_found_error', 'not_found', 'an unknown number: 404');
error_is(call(GET => "$M/550e8400e29b41d4a716446655440000", key => undef), 404, 'not_found_error', 'not_found',
         'a malformed UUID without a key: 404 (before authentication)');
error_is(call(PUT => "$M/not-a-uuid", body => { title => 'x' }), 404, 'not_found_error', 'not_found', 'PUT on a malformed id: 404');
my $mixed = join '', map { $_ % 2 ? uc substr($x->{id}, $_, 1) : substr($x->{id}, $_, 1) } 0 .. length($x->{id}) - 1;
is((data(call(GET => "$M/$mixed")) || {})->{incident_number}, $x->{incident_number}, 'a mixed-case UUID finds it too');

# An incident created on /v1 has a UUID here, stable across requests.
my $v1c = call(POST => '/v1/tickets', body => { title => 'Made on /v1', priority => 'high', severity => 'major' }, now => '2026-03-20T08:01:00Z');
is($v1c->{status}, 201, 'create on /v1');
my $vid = ($v1c->{json} || {})->{id};
my $vg = call(GET => "$M/$vid");
is($vg->{status}, 200, 'a /v1 incident by its number on the mount: 200');
my $vi = data($vg) || {};
incident_ok($vi, '/v1 incident on the mount');
is_deeply([@$vi{qw(incident_number title severity status created_at)}], [$vid, 'Made on /v1', 'high', 'open', '2026-03-20T08:01:00.000Z'],
          'its fields on the mount');
is((data(call(GET => "$M/$vi->{id}")) || {})->{incident_number}, $vid, '... and by its UUID');
is((data(call(GET => "$M/$vid")) || {})->{id}, $vi->{id}, 'the UUID stays the same');

# ===================================================== create: validation, unknown and read-only members
error_is(call(POST => $M, body => {}), 422, 'validation_error', 'is_required', 'no title: 422', field => 'title');
error_is(call(POST => $M, body => { title => 'x' x 201 }), 422, 'validation_error', 'too_long', 'title of 201 characters', field => 'title');
is((data(call(POST => $M, body => { title => '  Trimmed  ' })) || {})->{title}, 'Trimmed', 'title is trimmed');
error_is(call(POST => $M, body => { title => 'x', severity => 'sev1' }), 422, 'validation_error', 'invalid_value', 'unknown severity', field => 'severity');
error_is(call(POST => $M, body => { title => 'x', status => 'bogus' }), 422, 'validation_error', 'invalid_value', 'unknown status', field => 'status');
is((data(call(POST => $M, body => { title => 'major', severity => 'major' })) || {})->{severity}, 'high', 'severity major is stored as high');
is((data(call(POST => $M, body => { title => 'minor', severity => 'minor' })) || {})->{severity}, 'low', 'severity minor is stored as low');
for my $f (qw(priority message lat location_name customer_token Id)) {
  error_is(call(POST => $M, body => { title => 'x', $f => 'v' }), 422, 'validation_error', 'unknown_field', "POST with $f: unknown_field", field => $f);
}
my %ro = (id => '550e8400-e29b-41d4-a716-446655440000', incident_number => 42, created_by => 'user-789', source => 'api',
          started_at => '2026-03-19T14:30:00.000Z', created_at => '2026-03-19T14:30:00.000Z', updated_at => '2026-03-19T14:30:00.000Z',
          resolved_at => '2026-03-19T15:30:00.000Z', acknowledged_at => '2026-03-19T14:40:00.000Z');
for my $f (sort keys %ro) {
  error_is(call(POST => $M, body => { title => 'x', $f => $ro{$f} }), 422, 'validation_error', 'invalid_value',
           "POST with $f: read-only", field => $f, message => "$f is read-only");
}
for my $f (grep { !/^(resolved_at|acknowledged_at)$/ } sort keys %ro) {
  for my $m (qw(PUT PATCH)) {
    error_is(call($m => "$M/$x->{id}", body => { $f => $ro{$f} }), 422, 'validation_error', 'invalid_value',
             "$m with $f: read-only", field => $f, message => "$f is read-only");
  }
}
error_is(call(PUT => "$M/$x->{id}", body => { priority => 'high' }), 422, 'validation_error', 'unknown_field', 'PUT with priority: unknown_field', field => 'priority');
error_is(call(PATCH => "$M/$x->{id}", body => { message => 'hi' }), 422, 'validation_error', 'unknown_field', 'PATCH with message: unknown_field', field => 'message');
is_deeply(data(call(GET => "$M/$x->{id}")), $x, 'the refused updates changed nothing');

# ===================================================== PUT and PATCH: partial updates
my $p1 = call(PATCH => "$M/$x->{id}", body => { title => 'Renamed' }, now => '2026-03-20T08:10:00Z');
is($p1->{status}, 200, 'PATCH title: 200') or diag($p1->{content});
my $y = data($p1) || {};
incident_ok($y, 'PATCH');
is_deeply([@$y{qw(title updated_at)}], ['Renamed', '2026-03-20T08:10:00.000Z'], 'title and updated_at changed');
is_deeply({ map { $_ => $y->{$_} } grep { !/^(title|updated_at)$/ } @MEMBERS },
          { map { $_ => $x->{$_} } grep { !/^(title|updated_at)$/ } @MEMBERS }, 'PATCH: nothing else changed');
my $upd = { description => 'Now described', severity => 'critical', affected_services => ['svc-a', 'svc-b'],
            impact_description => 'Slow pages', assigned_to => 'user-1', tags => ['t1'] };
my $p2 = call(PUT => "$M/$x->{id}", body => $upd, now => '2026-03-20T08:11:00Z');
is($p2->{status}, 200, 'PUT several fields: 200') or diag($p2->{content});
my $z = data($p2) || {};
is_deeply({ map { $_ => $z->{$_} } keys %$upd }, $upd, 'PUT: every given field stored');
is_deeply([@$z{qw(title status created_at)}], ['Renamed', 'open', $x->{created_at}], 'PUT: the others kept (title, status, created_at)');
my $v1z = call(GET => "/v1/tickets/$x->{incident_number}")->{json} || {};
is_deeply([@$v1z{qw(title description severity impact_description assigned_to)}, $v1z->{tags}, $v1z->{affected_services}],
          ['Renamed', 'Now described', 'critical', 'Slow pages', 'user-1', ['t1'], ['svc-a', 'svc-b']], 'the update is on /v1');
is((data(call(PATCH => "$M/$x->{id}", body => { description => undef })) || {})->{description}, undef, 'null clears description');
for my $st (@STATUSES) {
  my $r = call(PUT => "$M/$x->{id}", body => { status => $st });
  is_deeply([$r->{status}, (data($r) || {})->{status}], [200, $st], "PUT status $st: accepted and shown as it is");
}
is(call(GET => "/v1/tickets/$x->{incident_number}")->{json}{status}, 'closed', '/v1 shows the last status');

# A /v1 change shows here.
my $ack = call(PATCH => "/v1/tickets/$vid", body => { status => 'in_progress' }, now => '2026-03-20T09:00:00Z');
is($ack->{status}, 200, 'PATCH on /v1');
my $va = data(call(GET => "$M/$vid")) || {};
is_deeply([@$va{qw(status acknowledged_at updated_at)}], ['in_progress', '2026-03-20T09:00:00.000Z', '2026-03-20T09:00:00.000Z'],
          'the mount shows the /v1 change (status, acknowledged_at set by the lifecycle)');

# ===================================================== resolved_at / acknowledged_at as given
my $old = data(call(POST => $M, body => { title => 'Import' }, now => '2026-03-20T10:00:00Z')) || {};
my $ea = call(PUT => "$M/$old->{id}", body => { status => 'resolved', resolved_at => '2026-03-19T15:30:00Z' }, now => '2026-03-20T10:05:00Z');
is($ea->{status}, 200, 'resolved_at earlier than created_at, without milliseconds: 200') or diag($ea->{content});
is((data($ea) || {})->{resolved_at}, '2026-03-19T15:30:00.000Z', '... stored as given, shown with .000Z');
is(call(GET => "/v1/tickets/$old->{incident_number}")->{json}{resolved_at}, '2026-03-19T15:30:00Z', '... and on /v1');
my $fr = call(PATCH => "$M/$old->{id}", body => { resolved_at => '2026-03-19T15:31:00.123Z' });
is($fr->{status}, 200, 'resolved_at with a fraction: 200') or diag($fr->{content});
is((data($fr) || {})->{resolved_at}, '2026-03-19T15:31:00.000Z', '... the fraction is dropped');
my $ag = call(PUT => "$M/$old->{id}", body => { acknowledged_at => '2026-03-19T14:00:00.000Z' });
is($ag->{status}, 200, 'acknowledged_at earlier than created_at: 200') or diag($ag->{content});
is((data($ag) || {})->{acknowledged_at}, '2026-03-19T14:00:00.000Z', '... stored as given');
is(call(GET => "/v1/tickets/$old->{incident_number}")->{json}{acknowledged_at}, '2026-03-19T14:00:00Z', '... and on /v1');
my $an = call(PATCH => "$M/$old->{id}", body => { acknowledged_at => undef });
is_deeply([$an->{status}, (data($an) || {})->{acknowledged_at}], [200, undef], 'acknowledged_at null clears it');
my $open = data(call(POST => $M, body => { title => 'Still open' })) || {};
my $rno = call(PUT => "$M/$open->{id}", body => { resolved_at => '2026-03-19T15:30:00Z' });
is_deeply([$rno->{status}, ((($rno->{json} || {})->{errors} || [])->[0] || {})->{source}{field}], [422, 'resolved_at'],
          'resolved_at on an open incident: 422 on resolved_at (as on /v1)') or diag($rno->{content});
error_is(call(PUT => "$M/$old->{id}", body => { resolved_at => 'yesterday' }), 422, 'validation_error', 'invalid_value',
         'resolved_at not a time: 422', field => 'resolved_at');
is((data(call(GET => "$M/$old->{id}")) || {})->{resolved_at}, '2026-03-19T15:31:00.000Z', 'the refused updates changed nothing');

# ===================================================== keys, roles, tenants
is(call(GET => "$M/$x->{id}", key => undef, headers => { 'x-api-key' => $W })->{status}, 200, 'x-api-key: GET 200');
is(call(POST => $M, key => undef, headers => { 'x-api-key' => $W }, body => { title => 'via x-api-key' })->{status}, 201, 'x-api-key: POST 201');
is(call(GET => $M, key => undef, headers => { Authorization => "Bearer $R" })->{status}, 200, 'the read key lists (Bearer)');
is(call(GET => "$M/$x->{id}", key => $R)->{status}, 200, 'the read key gets');
error_is(call(GET => $M, key => undef), 401, 'authentication_error', 'missing_authorization_material', 'list without a key: 401');
error_is(call(GET => "$M/$x->{id}", key => undef), 401, 'authentication_error', 'missing_authorization_material', 'GET without a key: 401');
error_is(call(POST => $M, key => undef, body => { title => 'x' }), 401, 'authentication_error', 'missing_authorization_material', 'POST without a key: 401');
error_is(call(DELETE => "$M/$x->{id}", key => undef), 401, 'authentication_error', 'missing_authorization_material', 'DELETE without a key: 401');
error_is(call(GET => $M, key => undef, headers => { Authorization => 'Bearer ak_live_YOUR_KEY' }), 401, 'authentication_error',
         'invalid_api_key', "the seed's placeholder key: 401");
my $before = data(call(GET => "$M/$x->{id}"));
for my $c ([POST => $M, { title => 'read may not' }], [PUT => "$M/$x->{id}", { title => 'read may not' }],
           [PATCH => "$M/$x->{id}", { title => 'read may not' }], [DELETE => "$M/$x->{id}", undef],
           [POST => $M, { bogus => 1 }]) {
  error_is(call($c->[0], $c->[1], key => $R, body => $c->[2]), 403, 'authorization_error', 'insufficient_role', "read key: $c->[0] $c->[1]: 403");
}
is_deeply(data(call(GET => "$M/$x->{id}")), $before, 'the refused writes changed nothing');

my $b = $s->new_org('alert24-b');
my ($BW, $BR) = @{ $b->{keys} }{qw(write read)};
for my $c ([GET => "$M/$x->{id}"], [GET => "$M/$x->{incident_number}"], [PUT => "$M/$x->{id}", { title => 'hijacked' }],
           [PATCH => "$M/$x->{incident_number}", { title => 'hijacked' }], [DELETE => "$M/$x->{id}"]) {
  error_is(call($c->[0], $c->[1], key => $BW, body => $c->[2]), 404, 'not_found_error', 'not_found', "another org: $c->[0] $c->[1]: 404");
}
is_deeply(data(call(GET => "$M/$x->{id}")), $before, "another org's requests changed nothing");

# ===================================================== list: filters, paging, meta (in org B)
my (@made, %attr);    # incident numbers oldest first; number -> [status, severity]
for my $i (0 .. $#STATUSES) {
  my ($st, $sv) = ($STATUSES[$i], $SEVERITIES[$i % 5]);
  my $r = call(POST => $M, key => $BW, body => { title => "list $i", status => $st, severity => $sv },
               now => sprintf('2026-03-21T10:%02d:00Z', $i));
  is_deeply([$r->{status}, @{ data($r) || {} }{qw(status severity)}], [201, $st, $sv], "create with status $st, severity $sv");
  push @made, (data($r) || {})->{incident_number};
  $attr{ $made[-1] } = [$st, $sv];
}
for my $i (10 .. 29) {
  my $r = call(POST => '/v1/tickets', key => $BW, body => { title => "list $i" }, now => sprintf('2026-03-21T11:%02d:00Z', $i));
  push @made, ($r->{json} || {})->{id};
  $attr{ $made[-1] } = ['open', 'medium'];
}
my @newest = reverse @made;
sub blist {
  my ($q) = @_;
  my $r = call(GET => "$M$q", key => $BR);
  is($r->{status}, 200, "list $q: 200") or diag($r->{content});
  return $r;
}
sub meta_is {
  my ($r, $total, $limit, $offset, $more, $name) = @_;
  my $m = ($r->{json} || {})->{meta} || {};
  is_deeply([@$m{qw(total limit offset)}, JSON::PP::is_bool($m->{has_more}) ? ($m->{has_more} ? 'true' : 'false') : 'not a boolean'],
            [$total, $limit, $offset, $more ? 'true' : 'false'], "$name: meta total $total, limit $limit, offset $offset, has_more " . ($more ? 'true' : 'false'));
}
sub want { my ($pred) = @_; [grep { $pred->(@{ $attr{$_} }) } @newest] }

my $all = blist('');
is_deeply(numbers($all), [@newest[0 .. 24]], 'default: the 25 newest, newest first');
meta_is($all, 30, 25, 0, 1, 'default');
incident_ok($_, "list item $_->{incident_number}") for grep { $_->{incident_number} == $made[0] || $_->{incident_number} == $made[-1] } @{ data($all) || [] };
my $c = blist('?offset=25');
is_deeply(numbers($c), [@newest[25 .. 29]], 'offset 25: the last five');
meta_is($c, 30, 25, 25, 0, 'offset 25');
$c = blist('?limit=10&offset=10');
is_deeply(numbers($c), [@newest[10 .. 19]], 'limit 10 offset 10');
meta_is($c, 30, 10, 10, 1, 'limit 10 offset 10');
$c = blist('?limit=10&offset=20');
is_deeply(numbers($c), [@newest[20 .. 29]], 'limit 10 offset 20: the last page');
meta_is($c, 30, 10, 20, 0, 'limit 10 offset 20');
$c = blist('?limit=100');
is_deeply(numbers($c), \@newest, 'limit 100: all 30');
meta_is($c, 30, 100, 0, 0, 'limit 100');
$c = blist('?limit=1');
is_deeply(numbers($c), [$newest[0]], 'limit 1');
meta_is($c, 30, 1, 0, 1, 'limit 1');
$c = blist('?offset=30');
is_deeply(numbers($c), [], 'offset 30: past the end, empty');
meta_is($c, 30, 25, 30, 0, 'offset 30');

for my $st (@STATUSES) {
  my $r = blist("?status=$st&limit=100");
  is_deeply(numbers($r), want(sub { $_[0] eq $st }), "status=$st: exactly those incidents");
  is(((($r->{json} || {})->{meta}) || {})->{total}, scalar @{ want(sub { $_[0] eq $st }) }, "status=$st: total counts them");
}
for my $f (['?status=open,resolved', sub { $_[0] =~ /^(open|resolved)$/ }],
           ['?status=new,in_progress,closed', sub { $_[0] =~ /^(new|in_progress|closed)$/ }],
           ['?status=open%2Cresolved', sub { $_[0] =~ /^(open|resolved)$/ }],
           ['?severity=critical', sub { $_[1] eq 'critical' }],
           ['?severity=maintenance', sub { $_[1] eq 'maintenance' }],
           ['?severity=low,maintenance', sub { $_[1] =~ /^(low|maintenance)$/ }],
           ['?status=open&severity=medium', sub { $_[0] eq 'open' && $_[1] eq 'medium' }],
           ['?status=identified,monitoring&severity=critical,high', sub { $_[0] =~ /^(identified|monitoring)$/ && $_[1] =~ /^(critical|high)$/ }]) {
  my ($q, $pred) = @$f;
  my $r = blist("$q&limit=100");
  my $w = want($pred);
  is_deeply(numbers($r), $w, "$q: exactly the matching incidents (" . scalar(@$w) . ')');
  is(((($r->{json} || {})->{meta}) || {})->{total}, scalar @$w, "$q: total counts them");
}
$c = blist('?status=open&limit=2');
meta_is($c, 21, 2, 0, 1, 'status=open limit 2 (21 open)');
$c = blist('?status=open&limit=2&offset=19');
meta_is($c, 21, 2, 19, 0, 'status=open limit 2 offset 19');

sub param_error {
  my ($q, $param, $code) = @_;
  error_is(call(GET => "$M$q", key => $BR), 422, 'validation_error', $code, "$q: 422 $code on $param", parameter => $param);
}
param_error('?status=bogus', 'status', 'invalid_value');
param_error('?status=open,bogus', 'status', 'invalid_value');
param_error('?severity=sev1', 'severity', 'invalid_value');
param_error('?severity=critical,urgent', 'severity', 'invalid_value');
param_error('?limit=0', 'limit', 'out_of_range');
param_error('?limit=101', 'limit', 'out_of_range');
param_error('?limit=-1', 'limit', 'out_of_range');
param_error('?limit=ten', 'limit', 'invalid_value');
param_error('?offset=-1', 'offset', 'out_of_range');
param_error('?offset=abc', 'offset', 'invalid_value');
param_error("?$_", (split /=/, $_)[0], 'unknown_field') for qw(page=1 page=2 priority=high tag=db source=api q=latency after=x foo=1 Status=open);
my $many = call(GET => "$M?limit=0&status=bogus&page=2", key => $BR);
is_deeply([$many->{status}, [sort map { ($_->{source} || {})->{parameter} // '' } @{ ($many->{json} || {})->{errors} || [] }]],
          [422, [qw(limit page status)]], 'all query errors reported together');

# Tenants on the list: each org sees its own.
my $al = call(GET => "$M?limit=100");
ok(!grep({ my $n = $_->{incident_number}; grep { $_ == $n } @made } @{ data($al) || [] }), "org A's list has none of org B's incidents");
is(((($al->{json} || {})->{meta}) || {})->{total}, scalar @{ data($al) || [] }, "org A's total counts only its own");

# ===================================================== a write on the mount, on /v1 and the stream
subtest 'PATCH on the mount: on /v1 and on the stream' => sub {
  my $sc = stream_ok($s, '/v1/incidents/stream', 'stream', key => $R, fresh_id => current_seq($s));
  my $pa = call(PATCH => "$M/$vi->{id}", body => { status => 'monitoring', tags => ['live'] }, now => '2026-03-22T09:00:00Z');
  is($pa->{status}, 200, 'PATCH 200') or diag($pa->{content});
  my $ev = next_event_is($sc, 'incident.updated', 'PATCH');
  my $v1 = call(GET => "/v1/tickets/$vid", now => '2026-03-22T09:00:00Z');
  is_deeply([@{ $v1->{json} || {} }{qw(status tags)}], ['monitoring', ['live']], '/v1 shows the PATCH');
  is_deeply($ev->{incident}, $v1->{json}, 'incident.updated in the /v1 shape');
  is_deeply(($ev->{changes} || {})->{status}, [qw(in_progress monitoring)], 'changes: status');
  my $d = call(DELETE => "$M/$vid");
  is($d->{status}, 200, 'DELETE by number: 200');
  is_deeply(strip_envelope(next_event_is($sc, 'incident.deleted', 'DELETE')), { incident_id => $vid }, 'incident.deleted with the /v1 id');
  $sc->close;
};

$s->finish;
done_testing;
