#!/usr/bin/perl
# The mounts of issue 8 together: config key api_v1 (alert24 by default,
# statly, none) at /api/v1/incidents, one incident seen through every mount
# and /v1, 405 with Allow, 413 over 64 KiB, and invalid JSON / UTF-8 as 400,
# all in DESIGN §3's envelope.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;
use ApiCall qw(error_is);

my $BASE = 'https://status.example.test';
my $A = '/compat/alert24/api/v1/incidents';
my $S = '/compat/statly/api/v1/incidents';
my $API = '/api/v1/incidents';
my $UUID = qr/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\z/;
my @A24 = qw(id incident_number title description severity status affected_services impact_description
  assigned_to created_by source tags started_at acknowledged_at resolved_at created_at updated_at);

# Three stacks: api_v1 unset (alert24), statly, none.
my $d = IncidentdTest->new(config => { public_base_url => $BASE });
my $st = IncidentdTest->new(config => { public_base_url => $BASE, api_v1 => 'statly' });
my $no = IncidentdTest->new(config => { public_base_url => $BASE, api_v1 => 'none' });
# call($stack, METHOD, PATH, body => ..., key => (default: the write key; undef: none), headers => {...})
my %api = map { $_ => ApiCall->new($_, $_->key('write')) } $d, $st, $no;
sub call { my $s = shift; $api{$s}->call(@_) }

sub methods { my %m = map { $_ => 1 } grep { $_ ne 'HEAD' } split /\s*,\s*/, $_[0] // ''; [sort keys %m] }
sub a24 { (($_[0] || {})->{json} || {})->{data} || {} }
sub inc_n { my ($id) = @_; ($id // '') =~ /^inc_(\d+)$/ ? $1 : 0 }

# ===================================================== api_v1 unset: Alert24 at /api/v1/incidents
my $c = call($d, POST => $API, body => { title => 'Via api_v1', severity => 'critical' });
is($c->{status}, 201, 'default: POST /api/v1/incidents 201') or diag($c->{content});
my $inc = a24($c);
is_deeply([sort keys %$inc], [sort @A24], 'default: the Alert24 incident (its 17 members)');
like($inc->{id} // '', $UUID, 'default: id is a UUID');
my ($uuid, $n) = @$inc{qw(id incident_number)};
is($c->{headers}{location}, "$BASE$API/$uuid", 'default: Location = public_base_url + /api/v1/incidents/<uuid>');
my $g = call($d, GET => "$API/$uuid");
is_deeply([$g->{status}, a24($g)], [200, $inc], 'default: GET /api/v1/incidents/<uuid>');
is_deeply(a24(call($d, GET => "$API/$n")), $inc, 'default: GET /api/v1/incidents/<number>');
my $l = call($d, GET => $API);
is_deeply([$l->{status}, [sort keys %{ $l->{json} || {} }]], [200, [qw(data meta)]], 'default: the list is {data, meta}');
is_deeply([map { $_->{id} } @{ ($l->{json} || {})->{data} || [] }], [$uuid], 'default: the list holds it');
error_is(call($d, GET => "$API/inc_$n"), 404, 'not_found_error', 'not_found', 'default: inc_<n> is not an Alert24 id: 404');

# One incident through every surface.
is_deeply(a24(call($d, GET => "$A/$uuid")), $inc, 'on /compat/alert24: the same incident');
my $sv = call($d, GET => "$S/inc_$n")->{json} || {};
is_deeply([@$sv{qw(id title status severity)}], ["inc_$n", 'Via api_v1', 'investigating', 'major'], 'on /compat/statly: inc_<n>, mapped');
my $v1 = call($d, GET => "/v1/tickets/$n")->{json} || {};
is_deeply([@$v1{qw(id title status severity)}], [$n, 'Via api_v1', 'open', 'critical'], 'on /v1: the same incident');
my $pu = call($d, PUT => "$API/$uuid", body => { status => 'identified' });
is_deeply([$pu->{status}, a24($pu)->{status}], [200, 'identified'], 'default: PUT /api/v1/incidents/<uuid>');
is((call($d, GET => "$S/inc_$n")->{json} || {})->{status}, 'identified', '... seen on /compat/statly');
is((call($d, GET => "/v1/tickets/$n")->{json} || {})->{status}, 'identified', '... seen on /v1');

my $sc = call($d, POST => $S, body => { title => 'Via statly', severity => 'maintenance' });
is($sc->{status}, 201, 'POST /compat/statly 201') or diag($sc->{content});
my $sn = inc_n(($sc->{json} || {})->{id});
is($sc->{headers}{location}, "$BASE$S/inc_$sn", 'Location on /compat/statly');
my $sa = a24(call($d, GET => "$API/$sn"));
is_deeply([@$sa{qw(incident_number title severity status)}], [$sn, 'Via statly', 'maintenance', 'investigating'], 'the Statly incident on /api/v1 (Alert24)');
like($sa->{id} // '', $UUID, '... with a UUID');
is_deeply(a24(call($d, GET => "$A/$sa->{id}")), $sa, '... the same on /compat/alert24');
is((call($d, GET => "/v1/tickets/$sn")->{json} || {})->{title}, 'Via statly', '... and on /v1');

my $ac = call($d, POST => $A, body => { title => 'Via alert24' });
is($ac->{status}, 201, 'POST /compat/alert24 201') or diag($ac->{content});
my $aa = a24($ac);
is($ac->{headers}{location}, "$BASE$A/" . ($aa->{id} // ''), 'Location on /compat/alert24');
is_deeply(a24(call($d, GET => "$API/" . ($aa->{id} // 'none'))), $aa, 'the /compat/alert24 incident on /api/v1');
is((call($d, GET => "$S/inc_" . ($aa->{incident_number} // 0))->{json} || {})->{title}, 'Via alert24', '... on /compat/statly');
is((call($d, GET => "/v1/tickets/" . ($aa->{incident_number} // 0))->{json} || {})->{title}, 'Via alert24', '... on /v1');

my $vc = call($d, POST => '/v1/tickets', body => { title => 'Via v1' });
my $vn = ($vc->{json} || {})->{id} // 0;
is(a24(call($d, GET => "$API/$vn"))->{title}, 'Via v1', 'the /v1 incident on /api/v1');
is(a24(call($d, GET => "$A/$vn"))->{title}, 'Via v1', '... on /compat/alert24');
is((call($d, GET => "$S/inc_$vn")->{json} || {})->{title}, 'Via v1', '... on /compat/statly');
my $lc = call($d, GET => "$S?limit=100")->{json} || {};
is($lc->{count}, 4, 'the Statly list counts all four incidents');
is((call($d, GET => "$A?limit=100")->{json} || {})->{meta}{total}, 4, 'the Alert24 list too');

my $del = call($d, DELETE => "$API/$uuid");
is_deeply([$del->{status}, $del->{json}], [200, { data => undef }], 'DELETE /api/v1/incidents/<uuid>: 200 {"data":null}');
error_is(call($d, GET => "$A/$uuid"), 404, 'not_found_error', 'not_found', 'deleted: gone from /compat/alert24');
error_is(call($d, GET => "$S/inc_$n"), 404, 'not_found_error', 'not_found', 'deleted: gone from /compat/statly');
is(call($d, GET => "/v1/tickets/$n")->{status}, 404, 'deleted: gone from /v1');

# --- 405 with Allow ------------------------------------------------------------------------
my $aid = $aa->{id} // 'none';
for my $case ([$A, [qw(GET POST)], [qw(PUT PATCH DELETE)]],
              ["$A/$aid", [qw(DELETE GET PATCH PUT)], [qw(POST)]],
              [$API, [qw(GET POST)], [qw(DELETE)]],
              ["$API/$aid", [qw(DELETE GET PATCH PUT)], [qw(POST)]],
              [$S, [qw(GET POST)], [qw(PUT PATCH DELETE)]],
              ["$S/inc_$sn", [qw(DELETE GET PATCH)], [qw(PUT POST)]],
              ["$S/inc_$sn/updates", [qw(POST)], [qw(GET PUT PATCH DELETE)]]) {
  my ($path, $allow, $refused) = @$case;
  for my $m (@$refused) {
    my $r = call($d, $m, $path, body => ($m =~ /^(POST|PUT|PATCH)$/ ? '{}' : undef));
    error_is($r, 405, 'invalid_request_error', 'method_not_allowed', "$m $path: 405");
    is_deeply(methods($r->{headers}{allow}), $allow, "$m $path: Allow " . join(', ', @$allow));
  }
}
is((call($d, GET => "$S/inc_$sn")->{json} || {})->{title}, 'Via statly', 'the refused methods changed nothing');

# --- 413, 400 -----------------------------------------------------------------------------------
my $pad = 'x' x (64 * 1024 + 1);
for my $case ([POST => $A, qq({"title":"big","description":"$pad"})], [POST => $S, qq({"title":"big","description":"$pad"})],
              [POST => $API, qq({"title":"big","description":"$pad"})], [PUT => "$A/$aid", qq({"description":"$pad"})],
              [PATCH => "$S/inc_$sn", qq({"message":"$pad"})], [POST => "$S/inc_$sn/updates", qq({"message":"$pad"})]) {
  error_is(call($d, $case->[0], $case->[1], body => $case->[2]), 413, 'invalid_request_error', 'body_too_large',
           "$case->[0] $case->[1] over 64 KiB: 413");
}
for my $case ([POST => $A, '{"title":'], [POST => $S, '{"title":'], [POST => $API, '{"title": "x",}'],
              [PUT => "$A/$aid", '{'], [PATCH => "$A/$aid", "{'title':'x'}"], [PATCH => "$S/inc_$sn", '{"message":"x"} junk'],
              [POST => "$S/inc_$sn/updates", 'x']) {
  error_is(call($d, $case->[0], $case->[1], body => $case->[2]), 400, 'invalid_request_error', 'invalid_json',
           "$case->[0] $case->[1] with broken JSON: 400");
}
for my $case ([POST => $A, '[]'], [POST => $S, '"title"'], [PATCH => "$S/inc_$sn", '[1]'], [PUT => "$A/$aid", 'null']) {
  error_is(call($d, $case->[0], $case->[1], body => $case->[2]), 400, 'invalid_request_error', 'invalid_body',
           "$case->[0] $case->[1] with $case->[2]: 400 invalid_body");
}
for my $case ([POST => $A, "{\"title\":\"bad \xff byte\"}"], [POST => $S, "{\"title\":\"bad \xc3\x28 pair\"}"],
              [PATCH => "$S/inc_$sn", "{\"message\":\"\xed\xa0\x80\",\"status\":\"monitoring\"}"],
              [POST => "$S/inc_$sn/updates", "{\"message\":\"abc\xe2\x82\"}"], [PUT => "$A/$aid", "{\"title\":\"\xf4\x90\x80\x80\"}"]) {
  my $r = call($d, $case->[0], $case->[1], body => $case->[2]);
  error_is($r, 400, 'invalid_request_error', 'invalid_json', "$case->[0] $case->[1] with invalid UTF-8: 400");
}
is_deeply([@{ call($d, GET => "$S/inc_$sn")->{json} || {} }{qw(title status)}], ['Via statly', 'investigating'],
          'nothing was stored from the refused bodies');
is(scalar @{ (call($d, GET => "$S/inc_$sn")->{json} || {})->{updates} || [] }, 1, '... no update appended');

# ===================================================== the public status page
# An incident written through the mounts is the one customers follow: the
# Statly create's first update and a later Statly update are its public
# timeline, an Alert24 status change its status.
my $pc = call($d, POST => $S, body => { title => 'Checkout errors', description => 'Looking into it' });
my $pn = inc_n(($pc->{json} || {})->{id});
my $token = (call($d, GET => "/v1/tickets/$pn")->{json} || {})->{customer_token} // 'none';
call($d, POST => "$S/inc_$pn/updates", body => { message => 'Cause found', status => 'identified' });
call($d, PUT => "$A/$pn", body => { status => 'monitoring' });
my $page = $d->req(GET => "/incidents/status/$token", headers => { Accept => 'application/json' });
response_ok($page, 'GET', "/incidents/status/$token", 'status page JSON per openapi.json');
is_deeply([map { [$_->{body}, $_->{status}] } @{ ($page->{json} || {})->{replies} || [] }],
          [['Looking into it', 'investigating'], ['Cause found', 'identified'], [undef, 'monitoring']],
          'status page: the Statly updates and the Alert24 status change, oldest first');
is(($page->{json} || {})->{status}, 'monitoring', 'status page: the status set through /compat/alert24');

# ===================================================== api_v1 = statly
my $sp = call($st, POST => $API, body => { title => 'Statly at /api/v1', severity => 'major' });
is($sp->{status}, 201, 'statly: POST /api/v1/incidents 201') or diag($sp->{content});
my $si = $sp->{json} || {};
like($si->{id} // '', qr/^inc_[1-9]\d*\z/, 'statly: id inc_<n>');
my $stn = inc_n($si->{id});
is_deeply([@$si{qw(title status severity)}, scalar @{ $si->{updates} || [] }], ['Statly at /api/v1', 'investigating', 'major', 1],
          'statly: the Statly incident with its first update');
is($sp->{headers}{location}, "$BASE$API/inc_$stn", 'statly: Location = public_base_url + /api/v1/incidents/inc_<n>');
is_deeply(call($st, GET => "$API/inc_$stn")->{json}, $si, 'statly: GET /api/v1/incidents/inc_<n>');
my $sl = call($st, GET => $API);
is_deeply([$sl->{status}, [sort keys %{ $sl->{json} || {} }], ($sl->{json} || {})->{count}], [200, [qw(count incidents)], 1],
          'statly: the list is {incidents, count}');
my $su = call($st, POST => "$API/inc_$stn/updates", body => { message => 'More news', status => 'identified' });
is_deeply([$su->{status}, ($su->{json} || {})->{status}], [201, 'identified'], 'statly: POST /api/v1/incidents/inc_<n>/updates');
is($su->{headers}{location}, "$BASE$API/inc_$stn", 'statly: its Location');
my $sa24 = a24(call($st, GET => "$A/$stn"));
is_deeply([@$sa24{qw(title severity status)}], ['Statly at /api/v1', 'high', 'identified'], 'statly: the incident on /compat/alert24');
is((call($st, GET => "/v1/tickets/$stn")->{json} || {})->{status}, 'identified', 'statly: on /v1');
error_is(call($st, GET => "$API/" . ($sa24->{id} // '550e8400-e29b-41d4-a716-446655440000')), 404, 'not_found_error', 'not_found',
         'statly: a UUID is not a Statly id: 404');
my $sput = call($st, PUT => "$API/inc_$stn", body => '{}');
error_is($sput, 405, 'invalid_request_error', 'method_not_allowed', 'statly: PUT /api/v1/incidents/inc_<n>: 405');
is_deeply(methods($sput->{headers}{allow}), [qw(DELETE GET PATCH)], 'statly: Allow DELETE, GET, PATCH');
my $sca = call($st, POST => $A, body => { title => 'alert24 still here' });
is($sca->{status}, 201, 'statly: /compat/alert24 still answers');
is($sca->{headers}{location}, "$BASE$A/" . (a24($sca)->{id} // ''), '... with its own Location');
is((call($st, GET => "$API/inc_" . (a24($sca)->{incident_number} // 0))->{json} || {})->{title}, 'alert24 still here',
   'statly: the /compat/alert24 incident on /api/v1');
my $sd = call($st, DELETE => "$API/inc_$stn");
is_deeply([$sd->{status}, $sd->{content} // ''], [204, ''], 'statly: DELETE /api/v1/incidents/inc_<n>: 204');

# ===================================================== api_v1 = none
for my $case ([GET => $API], [POST => $API, { title => 'nowhere' }], [GET => "$API/1"], [GET => "$API/inc_1"],
              [GET => "$API/550e8400-e29b-41d4-a716-446655440000"], [PUT => "$API/1", { title => 'x' }],
              [DELETE => "$API/1"], [POST => "$API/inc_1/updates", { message => 'x' }]) {
  error_is(call($no, $case->[0], $case->[1], body => $case->[2]), 404, 'not_found_error', 'not_found', "none: $case->[0] $case->[1]: 404");
}
error_is(call($no, GET => $API, key => undef), 404, 'not_found_error', 'not_found', 'none: GET /api/v1/incidents without a key: 404');
error_is(call($no, POST => $API, key => undef, body => { title => 'x' }), 404, 'not_found_error', 'not_found', 'none: POST without a key: 404');
is((call($no, GET => '/v1/tickets')->{json} || {})->{total}, 0, 'none: nothing was created');
my $na = call($no, POST => $A, body => { title => 'compat alert24' });
is($na->{status}, 201, 'none: /compat/alert24 still answers');
my $ns = call($no, POST => $S, body => { title => 'compat statly' });
is($ns->{status}, 201, 'none: /compat/statly still answers');
is((call($no, GET => '/v1/tickets')->{json} || {})->{total}, 2, 'none: both on /v1');

$_->finish for $d, $st, $no;
done_testing;
