#!/usr/bin/perl
# The Statly dialect (seed 002, issue 8) at /compat/statly/api/v1/incidents:
# every example request of the seed verbatim (path prefixed by the mount,
# Authorization: Bearer), the mapping tables both ways, the status filter,
# count, paging, create defaults and the first update, status changes and
# their message, updates[] (public entries only, the status recorded when
# written, "" for an entry without a body), resolvedAt, ids, tenants, roles,
# and every write on /v1 and on /v1/incidents/stream.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::Local qw(timegm);
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;
use ApiCall qw(error_is iso_epoch key_name next_event_is);
use StreamCheck;

my $BASE = 'https://status.example.test';
my $M = '/compat/statly/api/v1/incidents';
my $s = IncidentdTest->new(config => { public_base_url => $BASE });
my ($W, $R) = map { $s->key($_) } qw(write read);
my $api = ApiCall->new($s, $W);
sub call { $api->call(@_) }
sub seed_call { $api->seed_call(@_) }
sub epoch { iso_epoch(@_) }
my $TS = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\z/;
my @BASE_MEMBERS = qw(id title description status severity affectedMonitors createdAt updatedAt updates);
my @STATUSES = qw(new open acknowledged in_progress investigating identified monitoring resolved postmortem closed);
my @SEVERITIES = qw(critical high medium low maintenance);
my %STATUS_OUT = (new => 'investigating', open => 'investigating', acknowledged => 'investigating',
  in_progress => 'investigating', investigating => 'investigating', identified => 'identified',
  monitoring => 'monitoring', resolved => 'resolved', postmortem => 'resolved', closed => 'resolved');
my %SEVERITY_OUT = (critical => 'major', high => 'major', medium => 'minor', low => 'minor', maintenance => 'maintenance');
my $CREATE_STATUSES = 'status must be one of: investigating, identified, monitoring';
my $PATCH_STATUSES = 'status must be one of: investigating, identified, monitoring, resolved';
my $SEVERITIES_MSG = 'severity must be one of: major, minor, maintenance';

# The Statly incident: its members (resolvedAt only while resolved), its id and
# time forms, updates each exactly {id, status, message, createdAt}.
sub incident_ok {
  my ($inc, $name) = @_;
  $inc = {} unless ref $inc eq 'HASH';
  subtest "$name: a Statly incident" => sub {
    my $resolved = ($inc->{status} // '') eq 'resolved';
    is_deeply([sort keys %$inc], [sort @BASE_MEMBERS, $resolved ? 'resolvedAt' : ()],
              'exactly its members' . ($resolved ? ' (with resolvedAt)' : ' (no resolvedAt)'));
    like($inc->{id} // '', qr/^inc_[1-9]\d*\z/, 'id inc_<n>');
    like($inc->{$_} // '', $TS, "$_ in whole seconds") for qw(createdAt updatedAt), $resolved ? 'resolvedAt' : ();
    is(ref $inc->{affectedMonitors}, 'ARRAY', 'affectedMonitors is an array');
    is(ref $inc->{updates}, 'ARRAY', 'updates is an array');
    my @bad = grep { ref ne 'HASH' || join(',', sort keys %$_) ne 'createdAt,id,message,status'
                     || ($_->{id} // '') !~ /^upd_[1-9]\d*\z/ || ($_->{createdAt} // '') !~ $TS
                     || !defined $_->{message} || ref $_->{message}
                     || ($_->{status} // '') !~ /^(investigating|identified|monitoring|resolved)\z/ } @{ $inc->{updates} || [] };
    ok(!@bad, 'every update is {id: upd_<n>, status, message, createdAt}') or diag(explain \@bad);
  };
}
sub num { my ($inc) = @_; (($inc || {})->{id} // '') =~ /^inc_(\d+)$/ ? $1 : 0 }
sub ids { [map { $_->{id} } @{ (($_[0] || {})->{json} || {})->{incidents} || [] }] }
sub v1 { my ($n, %o) = @_; call(GET => "/v1/tickets/$n", %o)->{json} || {} }
sub v1_replies { my ($n, %o) = @_; call(GET => "/v1/tickets/$n/replies", %o)->{json}{replies} || [] }
sub upd_pairs { [map { [$_->{status}, $_->{message}] } @{ ($_[0] || {})->{updates} || [] }] }

# ===================================================== the seed's examples, verbatim
my $stream = stream_ok($s, '/v1/incidents/stream', 'stream of the org', key => $R, fresh_id => current_seq($s));

# --- Create Incident ------------------------------------------------------------------------
my $seed_create = <<'JSON';
{
    "title": "API Performance Degradation",
    "description": "Users are experiencing slow response times on API endpoints.",
    "severity": "minor",
    "status": "investigating",
    "affectedMonitors": ["mon_abc123"]
  }
JSON
chomp $seed_create;
my $cr = seed_call(POST => $M, $seed_create, '2024-01-15T12:00:00Z');
is($cr->{status}, 201, 'seed create: 201') or diag($cr->{content});
my $inc = $cr->{json} || {};
incident_ok($inc, 'seed create');
my $n = num($inc);
my $DESC = 'Users are experiencing slow response times on API endpoints.';
is_deeply([@$inc{qw(title description status severity createdAt updatedAt)}],
          ['API Performance Degradation', $DESC, 'investigating', 'minor', '2024-01-15T12:00:00Z', '2024-01-15T12:00:00Z'],
          'title, description, status, severity, createdAt, updatedAt as in the seed');
is_deeply($inc->{affectedMonitors}, ['mon_abc123'], 'affectedMonitors');
ok(!exists $inc->{resolvedAt}, 'no resolvedAt before resolution');
is(scalar @{ $inc->{updates} || [] }, 1, 'one update: the first');
my $u1 = ($inc->{updates} || [])->[0] || {};
is_deeply([@$u1{qw(status message createdAt)}], ['investigating', $DESC, '2024-01-15T12:00:00Z'],
          'the first update: status investigating, message = description, createdAt');
is($cr->{headers}{location}, "$BASE$M/inc_$n", 'Location = public_base_url + the mount + /inc_<n>');
my $v = v1($n, now => '2024-01-15T12:00:00Z');
is_deeply([@$v{qw(id title description status severity created_at)}, $v->{affected_services}],
          [$n, 'API Performance Degradation', $DESC, 'investigating', 'low', '2024-01-15T12:00:00Z', ['mon_abc123']],
          '/v1: id = n, status investigating, severity minor stored as low, affected_services');
my $vr = v1_replies($n);
is_deeply([map { [$_->{body}, $_->{internal} ? 1 : 0, "upd_$_->{id}"] } @$vr], [[$DESC, 0, $u1->{id}]],
          '/v1: one public reply, the first update (upd_<reply id>)');
{
  my $ev = next_event_is($stream, 'incident.created', 'seed create');
  is_deeply([sort keys %$ev], [qw(at incident reply seq type)], 'one incident.created with the reply');
  is_deeply($ev->{incident}, $v, 'incident.created: the /v1 incident');
  is_deeply($ev->{reply}, $vr->[0], 'incident.created: reply in the /v1 reply shape');
  my $more = $stream->next_event(0.5);
  ok(!$more, 'create emitted one event') or diag($more->{raw});
}

# --- List Incidents: ?status=investigating -----------------------------------------------------
my $l = seed_call(GET => "$M?status=investigating", undef, '2024-01-15T12:05:00Z');
is($l->{status}, 200, 'seed list: 200') or diag($l->{content});
is_deeply([sort keys %{ $l->{json} || {} }], [qw(count incidents)], 'the body is {"incidents":[...],"count":N}');
is_deeply(ids($l), ["inc_$n"], 'the investigating incident');
is(($l->{json} || {})->{count}, 1, 'count 1');
is_deeply((($l->{json} || {})->{incidents} || [])->[0], $inc, 'the list item is the incident with its updates');
incident_ok((($l->{json} || {})->{incidents} || [])->[0], 'seed list item');

# --- Get Incident ----------------------------------------------------------------------------
my $g = seed_call(GET => "$M/inc_$n", undef, '2024-01-15T12:06:00Z');
is($g->{status}, 200, 'seed get: 200') or diag($g->{content});
is_deeply($g->{json}, $inc, 'GET returns what POST returned');
my $gb = call(GET => "$M/$n");
is($gb->{status}, 200, 'GET by the bare number: 200');
is_deeply($gb->{json}, $inc, '... the same incident');

# --- Update Incident: "Add Status Update" -------------------------------------------------------
my $seed_identified = <<'JSON';
{
    "status": "identified",
    "message": "Root cause identified as database connection pool exhaustion. Working on fix."
  }
JSON
chomp $seed_identified;
my $MSG2 = 'Root cause identified as database connection pool exhaustion. Working on fix.';
my $p1 = seed_call(PATCH => "$M/inc_$n", $seed_identified, '2024-01-15T12:15:00Z');
is($p1->{status}, 200, 'seed PATCH (Add Status Update): 200') or diag($p1->{content});
my $i1 = $p1->{json} || {};
incident_ok($i1, 'seed PATCH identified');
is_deeply([@$i1{qw(status updatedAt)}], ['identified', '2024-01-15T12:15:00Z'], 'status identified, updatedAt moved');
is_deeply(upd_pairs($i1), [['investigating', $DESC], ['identified', $MSG2]], 'updates: the first, then the new one');
is((($i1->{updates} || [])->[1] || {})->{createdAt}, '2024-01-15T12:15:00Z', 'the new update: createdAt');
{
  my $ev = next_event_is($stream, 'incident.updated', 'seed PATCH identified');
  my $vv = v1($n, now => '2024-01-15T12:15:00Z');
  is($vv->{status}, 'identified', '/v1: status identified');
  is_deeply($ev->{incident}, $vv, 'incident.updated: the /v1 incident');
  is_deeply(($ev->{changes} || {})->{status}, [qw(investigating identified)], 'changes: status [investigating, identified]');
  is(($ev->{reply} || {})->{body}, $MSG2, 'with the timeline entry');
}

# --- Update Incident: "Resolve Incident" --------------------------------------------------------
my $seed_resolve = <<'JSON';
{
    "status": "resolved",
    "message": "Fix has been deployed. All systems are operating normally."
  }
JSON
chomp $seed_resolve;
my $MSG3 = 'Fix has been deployed. All systems are operating normally.';
my $p2 = seed_call(PATCH => "$M/inc_$n", $seed_resolve, '2024-01-15T13:00:00Z');
is($p2->{status}, 200, 'seed PATCH (Resolve Incident): 200') or diag($p2->{content});
my $i2 = $p2->{json} || {};
incident_ok($i2, 'seed PATCH resolved');
is_deeply([@$i2{qw(status resolvedAt updatedAt)}], ['resolved', '2024-01-15T13:00:00Z', '2024-01-15T13:00:00Z'],
          'status resolved, resolvedAt and updatedAt 13:00');
is_deeply(upd_pairs($i2), [['investigating', $DESC], ['identified', $MSG2], ['resolved', $MSG3]],
          'updates keep the status recorded when each was written');
is_deeply([map { $_->{createdAt} } @{ $i2->{updates} || [] }], ['2024-01-15T12:00:00Z', '2024-01-15T12:15:00Z', '2024-01-15T13:00:00Z'],
          'updates oldest first');
is_deeply([map { $_->{id} } @{ $i2->{updates} || [] }[0, 1]], [map { $_->{id} } @{ $i1->{updates} || [] }], 'update ids are stable');
{
  my $ev = next_event_is($stream, 'incident.updated', 'seed PATCH resolved');
  my $vv = v1($n, now => '2024-01-15T13:00:00Z');
  is_deeply([@$vv{qw(status resolved_at)}], ['resolved', '2024-01-15T13:00:00Z'], '/v1: resolved at 13:00');
  is_deeply($ev->{incident}, $vv, 'incident.updated: the /v1 incident');
  is_deeply(($ev->{changes} || {})->{status}, [qw(identified resolved)], 'changes: status [identified, resolved]');
}
my $g2 = seed_call(GET => "$M/inc_$n", undef, '2024-01-15T13:01:00Z');
is_deeply($g2->{json}, $i2, 'GET (the seed\'s "Get Incident" shape): the resolved incident with all updates');

# --- Add Incident Update ---------------------------------------------------------------------
my $seed_update = <<'JSON';
{
    "message": "We are continuing to monitor the situation. No issues detected in the past 30 minutes."
  }
JSON
chomp $seed_update;
my $MSG4 = 'We are continuing to monitor the situation. No issues detected in the past 30 minutes.';
my $pu = seed_call(POST => "$M/inc_$n/updates", $seed_update, '2024-01-15T13:30:00Z');
is($pu->{status}, 201, 'seed POST .../updates: 201') or diag($pu->{content});
my $i3 = $pu->{json} || {};
incident_ok($i3, 'seed updates');
is($pu->{headers}{location}, "$BASE$M/inc_$n", 'Location = the incident');
is($i3->{status}, 'resolved', 'the status stays (defaults to the current one)');
is($i3->{resolvedAt}, '2024-01-15T13:00:00Z', 'resolvedAt unchanged');
is_deeply(upd_pairs($i3)->[-1], ['resolved', $MSG4], 'the new update: current status, the message');
is(scalar @{ $i3->{updates} || [] }, 4, 'four updates');
is(v1($n)->{status}, 'resolved', '/v1: still resolved');
{
  my $e = $stream->next_event(5);
  ok($e && $e->{event} =~ /^incident\.(updated|reply)$/, 'the update is an event on the stream') or diag($e ? $e->{raw} : 'none');
  is((($e && ref $e->{data} eq 'HASH' ? $e->{data}{reply} : undef) || {})->{body}, $MSG4, '... carrying the entry');
}

# --- Delete Incident --------------------------------------------------------------------------
my $del = seed_call(DELETE => "$M/inc_$n", undef, '2024-01-15T14:00:00Z');
is($del->{status}, 204, 'seed DELETE: 204') or diag($del->{content});
is($del->{content} // '', '', 'no body');
{
  my $ev = next_event_is($stream, 'incident.deleted', 'seed DELETE');
  is_deeply(strip_envelope($ev), { incident_id => $n + 0 }, 'incident.deleted: {incident_id: n}');
}
error_is(call(GET => "$M/inc_$n"), 404, 'not_found_error', 'not_found', 'deleted: GET 404');
error_is(call(DELETE => "$M/inc_$n"), 404, 'not_found_error', 'not_found', 'deleted: DELETE again 404');
error_is(call(PATCH => "$M/inc_$n", body => { message => 'x' }), 404, 'not_found_error', 'not_found', 'deleted: PATCH 404');
error_is(call(POST => "$M/inc_$n/updates", body => { message => 'x' }), 404, 'not_found_error', 'not_found', 'deleted: POST updates 404');
is(call(GET => "/v1/tickets/$n")->{status}, 404, 'deleted: /v1 404');
(my $left = $s->psql("SELECT count(*) FROM replies WHERE incident_id = $n")) =~ s/\s+//g;
is($left, '0', 'its updates went with it');
my $quiet = $stream->next_event(0.5);
ok(!$quiet, 'no further event') or diag($quiet->{raw});
$stream->close;

# ===================================================== create: defaults, mapping in, validation
my $d = call(POST => $M, body => { title => 'Only a title' }, now => '2024-02-01T09:00:00Z');
is($d->{status}, 201, 'create with a title only: 201') or diag($d->{content});
my $di = $d->{json} || {};
incident_ok($di, 'defaults');
is_deeply([@$di{qw(status severity description)}, $di->{affectedMonitors}], ['investigating', 'minor', undef, []],
          'defaults: status investigating, severity minor, description null, affectedMonitors []');
is_deeply(upd_pairs($di), [['investigating', 'Only a title']], 'the first update: message = the title when there is no description');
is_deeply([@{ v1(num($di)) }{qw(status severity)}], [qw(investigating low)], '/v1: investigating, low');
for my $c ([identified => major => 'identified', 'high'], [monitoring => maintenance => 'monitoring', 'maintenance'],
           [investigating => minor => 'investigating', 'low']) {
  my ($st, $sv, $vst, $vsv) = @$c;
  my $r = call(POST => $M, body => { title => "in $st $sv", status => $st, severity => $sv, description => "d $st" });
  is_deeply([$r->{status}, @{ $r->{json} || {} }{qw(status severity)}], [201, $st, $sv], "create status $st severity $sv: 201, echoed");
  is_deeply(upd_pairs($r->{json}), [[$st, "d $st"]], "create $st: first update with that status, message = description");
  is_deeply([@{ v1(num($r->{json})) }{qw(status severity)}], [$vst, $vsv], "/v1: $vst, $vsv");
}
for my $st (qw(resolved in_progress open new closed postmortem acknowledged Investigating)) {
  error_is(call(POST => $M, body => { title => 'x', status => $st }), 422, 'validation_error', 'invalid_value',
           "create with status $st: 422", field => 'status', message => $CREATE_STATUSES);
}
for my $sv (qw(critical high medium low Major)) {
  error_is(call(POST => $M, body => { title => 'x', severity => $sv }), 422, 'validation_error', 'invalid_value',
           "create with severity $sv: 422", field => 'severity', message => $SEVERITIES_MSG);
}
error_is(call(POST => $M, body => {}), 422, 'validation_error', 'is_required', 'no title: 422', field => 'title');
error_is(call(POST => $M, body => { title => 'x' x 201 }), 422, 'validation_error', 'too_long', 'title of 201 characters: 422', field => 'title');
is(call(POST => $M, body => { title => 'y' x 200 })->{status}, 201, 'title of 200 characters: 201');
for my $f (qw(priority affected_services tags message source)) {
  error_is(call(POST => $M, body => { title => 'x', $f => ($f =~ /s$/ ? [] : 'v') }), 422, 'validation_error', 'unknown_field',
           "create with $f: unknown_field", field => $f);
}
my %ro = (id => 'inc_abc123', createdAt => '2024-01-15T12:00:00Z', updatedAt => '2024-01-15T12:00:00Z',
          resolvedAt => '2024-01-15T13:00:00Z', updates => []);
for my $f (sort keys %ro) {
  error_is(call(POST => $M, body => { title => 'x', $f => $ro{$f} }), 422, 'validation_error', 'invalid_value',
           "create with $f: read-only", field => $f, message => "$f is read-only");
}

# ===================================================== PATCH: mapping in, messages, no-change
my $t = call(POST => $M, body => { title => 'Patch me', description => 'first' }, now => '2024-02-02T09:00:00Z')->{json} || {};
my $tn = num($t);
my $tb = call(GET => "$M/inc_$tn")->{json};
error_is(call(PATCH => "$M/inc_$tn", body => { status => 'identified' }), 422, 'validation_error', 'is_required',
         'a status change without message: 422', field => 'message');
error_is(call(PATCH => "$M/inc_$tn", body => { status => 'resolved', message => '   ' }), 422, 'validation_error', 'is_required',
         'a status change with a blank message: 422', field => 'message');
for my $st (qw(in_progress critical open closed)) {
  error_is(call(PATCH => "$M/inc_$tn", body => { status => $st, message => 'm' }), 422, 'validation_error', 'invalid_value',
           "PATCH status $st: 422", field => 'status', message => $PATCH_STATUSES);
}
for my $sv (qw(critical high low)) {
  error_is(call(PATCH => "$M/inc_$tn", body => { severity => $sv }), 422, 'validation_error', 'invalid_value',
           "PATCH severity $sv: 422", field => 'severity', message => $SEVERITIES_MSG);
}
for my $f (sort keys %ro) {
  error_is(call(PATCH => "$M/inc_$tn", body => { $f => $ro{$f} }), 422, 'validation_error', 'invalid_value',
           "PATCH with $f: read-only", field => $f, message => "$f is read-only");
}
error_is(call(PATCH => "$M/inc_$tn", body => { tags => ['x'] }), 422, 'validation_error', 'unknown_field', 'PATCH with tags: unknown_field', field => 'tags');
is_deeply(call(GET => "$M/inc_$tn")->{json}, $tb, 'the refused PATCHes changed nothing');
is(v1($tn)->{status}, 'investigating', '... /v1 still investigating');

my $pt = call(PATCH => "$M/inc_$tn", body => { title => 'Patched', description => 'second', severity => 'major', affectedMonitors => ['mon_1'] },
              now => '2024-02-02T09:05:00Z');
is($pt->{status}, 200, 'PATCH title, description, severity, affectedMonitors: 200') or diag($pt->{content});
is_deeply([@{ $pt->{json} || {} }{qw(title description severity updatedAt)}, ($pt->{json} || {})->{affectedMonitors}],
          ['Patched', 'second', 'major', '2024-02-02T09:05:00Z', ['mon_1']], 'PATCH: the fields changed');
is(scalar @{ ($pt->{json} || {})->{updates} || [] }, 1, 'no status change and no message: no update appended');
is_deeply([@{ v1($tn) }{qw(title description severity)}, v1($tn)->{affected_services}], ['Patched', 'second', 'high', ['mon_1']],
          '/v1: severity major stored as high, affectedMonitors as affected_services');
my $pm = call(PATCH => "$M/inc_$tn", body => { message => 'Just a note' }, now => '2024-02-02T09:06:00Z');
is($pm->{status}, 200, 'PATCH with only a message: 200');
is_deeply(upd_pairs($pm->{json})->[-1], ['investigating', 'Just a note'], 'a message alone appends an update with the current status');
is(scalar @{ ($pm->{json} || {})->{updates} || [] }, 2, 'two updates');
my $pi = call(PATCH => "$M/inc_$tn", body => { status => 'investigating' });
is($pi->{status}, 200, 'PATCH with the current status and no message: 200 (no change)');
is(scalar @{ ($pi->{json} || {})->{updates} || [] }, 2, '... no update appended');
my $pr = call(PATCH => "$M/inc_$tn", body => { status => 'resolved', message => 'Done' }, now => '2024-02-02T10:00:00Z');
is_deeply([$pr->{status}, @{ $pr->{json} || {} }{qw(status resolvedAt)}], [200, 'resolved', '2024-02-02T10:00:00Z'], 'PATCH status resolved: resolvedAt');
is_deeply([@{ v1($tn) }{qw(status resolved_at)}], ['resolved', '2024-02-02T10:00:00Z'], '/v1: resolved');

# /updates: status and validation.
my $ur = call(POST => "$M/inc_$tn/updates", body => { message => 'Back to watching', status => 'monitoring' }, now => '2024-02-02T10:30:00Z');
is($ur->{status}, 201, 'POST updates with status monitoring: 201') or diag($ur->{content});
is_deeply([@{ $ur->{json} || {} }{qw(status)}, exists(($ur->{json} || {})->{resolvedAt}) ? 'resolvedAt' : 'none'], ['monitoring', 'none'],
          'a different status changes the incident (reopened: no resolvedAt)');
is_deeply(upd_pairs($ur->{json})->[-1], ['monitoring', 'Back to watching'], 'the update records monitoring');
is_deeply([@{ v1($tn) }{qw(status resolved_at)}], ['monitoring', undef], '/v1: monitoring, resolved_at cleared');
error_is(call(POST => "$M/inc_$tn/updates", body => {}), 422, 'validation_error', 'is_required', 'updates without message: 422', field => 'message');
error_is(call(POST => "$M/inc_$tn/updates", body => { message => " \t " }), 422, 'validation_error', 'is_required', 'updates with a blank message: 422', field => 'message');
error_is(call(POST => "$M/inc_$tn/updates", body => { message => 'z' x 10001 }), 422, 'validation_error', 'too_long', 'a message of 10,001 characters: 422', field => 'message');
is(call(POST => "$M/inc_$tn/updates", body => { message => 'z' x 10000 })->{status}, 201, 'a message of 10,000 characters: 201');
error_is(call(POST => "$M/inc_$tn/updates", body => { message => 'm', status => 'postmortem' }), 422, 'validation_error', 'invalid_value',
         'updates with status postmortem: 422', field => 'status', message => $PATCH_STATUSES);
error_is(call(POST => "$M/inc_$tn/updates", body => { message => 'm', title => 'x' }), 422, 'validation_error', 'unknown_field',
         'updates with title: unknown_field', field => 'title');

# ===================================================== same-mapped status, the timeline as updates
my $ip = call(POST => '/v1/tickets', body => { title => 'In progress on /v1', status => 'in_progress' }, now => '2024-03-01T09:00:00Z')->{json} || {};
my $ipn = $ip->{id};
my $ig = call(GET => "$M/inc_$ipn")->{json} || {};
incident_ok($ig, '/v1 incident');
is_deeply([$ig->{status}, $ig->{updates}], ['investigating', []], 'in_progress shows as investigating, no updates yet');
my $same = call(PATCH => "$M/inc_$ipn", body => { status => 'investigating' });
is_deeply([$same->{status}, scalar @{ ($same->{json} || {})->{updates} || [] }], [200, 0], 'the same mapped status without message: 200, nothing appended');
my $sm = call(PATCH => "$M/inc_$ipn", body => { status => 'investigating', message => 'Still looking' }, now => '2024-03-01T09:10:00Z');
is($sm->{status}, 200, 'the same mapped status with a message: 200') or diag($sm->{content});
is_deeply(upd_pairs($sm->{json}), [['investigating', 'Still looking']], 'exactly one update, status investigating');
is(v1($ipn)->{status}, 'in_progress', '/v1: still in_progress (no change)');

my $pub = call(POST => "/v1/incidents/$ipn/replies", body => { body => 'Public note' }, now => '2024-03-01T09:20:00Z');
is($pub->{status}, 201, '/v1 public reply');
my $int = call(POST => "/v1/incidents/$ipn/replies", body => { body => 'Internal note', internal => JSON::PP::true }, now => '2024-03-01T09:21:00Z');
is($int->{status}, 201, '/v1 internal reply');
my $chg = call(PATCH => "/v1/tickets/$ipn", body => { status => 'identified' }, now => '2024-03-01T09:30:00Z');
is($chg->{status}, 200, '/v1 status change without message');
my $after_id = call(GET => "$M/inc_$ipn")->{json} || {};
incident_ok($after_id, 'after /v1 writes');
is_deeply(upd_pairs($after_id), [['investigating', 'Still looking'], ['investigating', 'Public note'], ['identified', '']],
          'updates: the public reply (status investigating), not the internal one, and the /v1 status change with message ""');
is((($after_id->{updates} || [])->[1] || {})->{id}, 'upd_' . ($pub->{json} || {})->{id}, 'a /v1 reply is upd_<reply id>');
ok(!grep({ $_->{message} eq 'Internal note' } @{ $after_id->{updates} || [] }), 'the internal reply never appears');
is((($after_id->{updates} || [])->[2] || {})->{createdAt}, '2024-03-01T09:30:00Z', 'the status change update: createdAt');
call(PATCH => "/v1/tickets/$ipn", body => { status => 'monitoring', message => 'Watching' }, now => '2024-03-01T09:40:00Z');
call(PATCH => "/v1/tickets/$ipn", body => { status => 'closed' }, now => '2024-03-01T09:50:00Z');
my $later = call(GET => "$M/inc_$ipn")->{json} || {};
is_deeply(upd_pairs($later), [['investigating', 'Still looking'], ['investigating', 'Public note'], ['identified', ''],
                              ['monitoring', 'Watching'], ['resolved', '']],
          'earlier updates keep their recorded status after later changes; closed shows as resolved');
is($later->{resolvedAt}, '2024-03-01T09:50:00Z', 'closed: resolvedAt present');
my $list_one = call(GET => "$M?status=resolved")->{json} || {};
my ($li) = grep { $_->{id} eq "inc_$ipn" } @{ $list_one->{incidents} || [] };
is_deeply($li, $later, 'the list shows the same incident with the same updates');
my $reo = call(PATCH => "/v1/tickets/$ipn", body => { status => 'open' }, now => '2024-03-01T10:00:00Z');
is($reo->{status}, 200, 'reopen on /v1');
my $ro2 = call(GET => "$M/inc_$ipn")->{json} || {};
is($ro2->{status}, 'investigating', 'reopened: investigating');
ok(!exists $ro2->{resolvedAt}, 'reopened: resolvedAt absent again (not null)');
incident_ok($ro2, 'reopened');

# /v1's replies are unchanged: their fields, and status only on entries that changed it.
my %by_body = map { ($_->{body} // '') => $_ } @{ v1_replies($tn) }, @{ v1_replies($ipn) };
my @bad_shape = grep { join(',', sort keys %$_) ne 'author,body,created_at,id,incident_id,internal,status' } values %by_body;
ok(%by_body && !@bad_shape, '/v1 replies keep exactly their fields') or diag(explain \@bad_shape);
is_deeply([map { ($by_body{$_} || {})->{status} } 'Just a note', 'Done', 'Back to watching', 'Still looking', 'Public note'],
          [undef, 'resolved', 'monitoring', undef, undef],
          '/v1 shows status only on the Statly entries that changed it');

# GET carries every update (up to 1,000), a list item its newest 100, oldest first.
my $many = call(POST => $M, body => { title => 'Chatty' }, now => '2030-01-01T00:00:00Z')->{json} || {};
my $mn = num($many);
my $bad = grep { call(POST => "/v1/incidents/$mn/replies", body => { body => "note $_" }, now => '2030-01-01T00:01:00Z')->{status} != 201 } 1 .. 100;
is($bad, 0, '100 public replies on /v1');
my $mg = call(GET => "$M/inc_$mn")->{json} || {};
is_deeply([map { $_->{message} } @{ $mg->{updates} || [] }], ['Chatty', map { "note $_" } 1 .. 100], 'GET: all 101 updates, oldest first');
my $ml = call(GET => "$M?limit=1");
is_deeply(ids($ml), ["inc_$mn"], 'the newest incident heads the list');
is_deeply([map { $_->{message} } @{ (((($ml->{json} || {})->{incidents}) || [])->[0] || {})->{updates} || [] }],
          [map { "note $_" } 1 .. 100], 'a list item: its newest 100 updates, oldest first');
my $su2 = call(POST => "$M/inc_$ipn/updates", body => { message => 'same again', status => 'investigating' });
is(v1($ipn)->{status}, 'open', 'updates with the same mapped status keep the internal status (open)');

# ===================================================== ids, keys, roles, tenants
for my $bad ('inc_abc123', '550e8400-e29b-41d4-a716-446655440000', 'inc_', 'inc_-1', 'inc_1.5', 'abc', "inc_${ipn}x", "upd_$ipn", "inc_inc_$ipn") {
  error_is(call(GET => "$M/$bad"), 404, 'not_found_error', 'not_found', "id $bad: 404");
}
error_is(call(GET => "$M/inc_999999999"), 404, 'not_found_error', 'not_found', 'an unknown inc_<n>: 404');
error_is(call(GET => "$M/inc_abc123", key => undef), 404, 'not_found_error', 'not_found', 'inc_abc123 without a key: 404 (before authentication)');
error_is(call(PATCH => "$M/inc_abc123", body => { message => 'x' }), 404, 'not_found_error', 'not_found', 'PATCH inc_abc123: 404');
error_is(call(POST => "$M/inc_abc123/updates", body => { message => 'x' }), 404, 'not_found_error', 'not_found', 'POST inc_abc123/updates: 404');

is(call(GET => "$M/inc_$ipn", key => undef, headers => { Authorization => "Bearer $R" })->{status}, 200, 'the read key gets (Bearer)');
is(call(GET => $M, key => $R)->{status}, 200, 'the read key lists (x-api-key)');
error_is(call(GET => $M, key => undef), 401, 'authentication_error', 'missing_authorization_material', 'list without a key: 401');
error_is(call(GET => "$M/inc_$ipn", key => undef), 401, 'authentication_error', 'missing_authorization_material', 'GET without a key: 401');
error_is(call(GET => $M, key => undef, headers => { Authorization => 'Bearer sk_live_xxx' }), 401, 'authentication_error', 'invalid_api_key',
         "the seed's placeholder key: 401");
my $snap = call(GET => "$M/inc_$ipn")->{json};
for my $c ([POST => $M, { title => 'read may not' }], [PATCH => "$M/inc_$ipn", { message => 'read may not' }],
           [DELETE => "$M/inc_$ipn"], [POST => "$M/inc_$ipn/updates", { message => 'read may not' }]) {
  error_is(call($c->[0], $c->[1], key => $R, body => $c->[2]), 403, 'authorization_error', 'insufficient_role', "read key: $c->[0] $c->[1]: 403");
}
my $b = $s->new_org('statly-b');
my ($BW, $BR) = @{ $b->{keys} }{qw(write read)};
for my $c ([GET => "$M/inc_$ipn"], [GET => "$M/$ipn"], [PATCH => "$M/inc_$ipn", { title => 'hijacked' }],
           [DELETE => "$M/inc_$ipn"], [POST => "$M/inc_$ipn/updates", { message => 'hijacked' }]) {
  error_is(call($c->[0], $c->[1], key => $BW, body => $c->[2]), 404, 'not_found_error', 'not_found', "another org: $c->[0] $c->[1]: 404");
}
is_deeply(call(GET => "$M/inc_$ipn")->{json}, $snap, 'the refused requests changed nothing');

# ===================================================== mapping out, the status filter, count, paging (org B)
my (@made, %st);    # /v1 ids oldest first; id -> internal status
for my $i (0 .. $#STATUSES) {
  my $r = call(POST => '/v1/tickets', key => $BW, body => { title => "map $i", status => $STATUSES[$i], severity => $SEVERITIES[$i % 5] },
               now => sprintf('2024-04-01T10:%02d:00Z', $i));
  is($r->{status}, 201, "/v1 create status $STATUSES[$i] severity $SEVERITIES[$i % 5]") or diag($r->{content});
  push @made, ($r->{json} || {})->{id};
  $st{ $made[-1] } = $STATUSES[$i];
  my $sg = call(GET => "$M/inc_$made[-1]", key => $BR)->{json} || {};
  is_deeply([@$sg{qw(status severity)}], [$STATUS_OUT{ $STATUSES[$i] }, $SEVERITY_OUT{ $SEVERITIES[$i % 5] }],
            "$STATUSES[$i]/$SEVERITIES[$i % 5] shows as $STATUS_OUT{ $STATUSES[$i] }/$SEVERITY_OUT{ $SEVERITIES[$i % 5] }");
  is(exists $sg->{resolvedAt} ? 1 : 0, $STATUS_OUT{ $STATUSES[$i] } eq 'resolved' ? 1 : 0,
     "$STATUSES[$i]: resolvedAt " . ($STATUS_OUT{ $STATUSES[$i] } eq 'resolved' ? 'present' : 'absent'));
}
for my $i (10 .. 54) {
  my $r = call(POST => '/v1/tickets', key => $BW, body => { title => "bulk $i" }, now => sprintf('2024-04-01T11:%02d:00Z', $i));
  push @made, ($r->{json} || {})->{id};
  $st{ $made[-1] } = 'open';
}
my @newest = map { "inc_$_" } reverse @made;
sub blist {
  my ($q) = @_;
  my $r = call(GET => "$M$q", key => $BR);
  is($r->{status}, 200, "list $q: 200") or diag($r->{content});
  return $r;
}
sub cnt { (($_[0] || {})->{json} || {})->{count} }
my $all = blist('');
is_deeply(ids($all), [@newest[0 .. 49]], 'default: the 50 newest, newest first');
is(cnt($all), 55, 'count 55: every match, not the page size');
my $c = blist('?limit=3');
is_deeply([ids($c), cnt($c)], [[@newest[0 .. 2]], 55], 'limit 3: three, count 55');
$c = blist('?limit=3&offset=3');
is_deeply([ids($c), cnt($c)], [[@newest[3 .. 5]], 55], 'limit 3 offset 3');
$c = blist('?offset=50');
is_deeply([ids($c), cnt($c)], [[@newest[50 .. 54]], 55], 'offset 50: the last five');
$c = blist('?limit=100');
is_deeply([ids($c), cnt($c)], [\@newest, 55], 'limit 100: all 55');
$c = blist('?offset=55');
is_deeply([ids($c), cnt($c)], [[], 55], 'offset 55: empty, count 55');
for my $f (['investigating', qr/^(new|open|acknowledged|in_progress|investigating)$/], ['identified', qr/^identified$/],
           ['monitoring', qr/^monitoring$/], ['resolved', qr/^(resolved|postmortem|closed)$/],
           ['identified,monitoring', qr/^(identified|monitoring)$/], ['resolved,investigating', qr/^(resolved|postmortem|closed|new|open|acknowledged|in_progress|investigating)$/]) {
  my ($q, $re) = @$f;
  my @want = map { "inc_$_" } grep { $st{$_} =~ $re } reverse @made;
  my $r = blist("?status=$q&limit=100");
  is_deeply(ids($r), \@want, "status=$q: every internal status mapping to it (" . scalar(@want) . ')');
  is(cnt($r), scalar @want, "status=$q: count " . scalar @want);
}
$c = blist('?status=investigating&limit=2');
is_deeply([scalar @{ ids($c) }, cnt($c)], [2, 50], 'status=investigating limit 2: two shown, count 50');
$c = blist('?status=resolved&limit=1&offset=1');
is_deeply([ids($c), cnt($c)], [[(grep { my $x = $_; $x =~ s/^inc_//; $st{$x} =~ /^(resolved|postmortem|closed)$/ } @newest)[1]], 3],
          'status=resolved limit 1 offset 1: the second, count 3');
sub param_error {
  my ($q, $param, $code) = @_;
  error_is(call(GET => "$M$q", key => $BR), 422, 'validation_error', $code, "$q: 422 $code on $param", parameter => $param);
}
param_error('?status=open', 'status', 'invalid_value');
param_error('?status=in_progress', 'status', 'invalid_value');
param_error('?status=investigating,bogus', 'status', 'invalid_value');
param_error('?limit=0', 'limit', 'out_of_range');
param_error('?limit=101', 'limit', 'out_of_range');
param_error('?limit=-1', 'limit', 'out_of_range');
param_error('?limit=many', 'limit', 'invalid_value');
param_error('?offset=-1', 'offset', 'out_of_range');
param_error('?offset=x', 'offset', 'invalid_value');
param_error("?$_", (split /=/, $_)[0], 'unknown_field') for qw(page=1 severity=minor priority=high tag=db source=api q=slow after=x foo=1);
my $bl = call(GET => "$M?limit=100", key => $BR)->{json} || {};
ok(!grep({ $_->{id} eq "inc_$ipn" } @{ $bl->{incidents} || [] }), "org B's list has none of org A's incidents");

$s->finish;
done_testing;
