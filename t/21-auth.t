#!/usr/bin/perl
# Authentication and authorisation: both key headers, missing / wrong / revoked
# keys, roles, and organisations never seeing each other's incidents.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new;
my ($W, $R, $A) = map { $s->key($_) } qw(write read admin);
my $http = HTTP::Tiny->new(timeout => 15);

# A request with exactly the given headers (no key unless given), checked against openapi.json.
sub raw {
  my ($method, $path, %o) = @_;
  my $r = $http->request($method, $s->url . $path,
    { headers => $o{headers} || {}, defined $o{body} ? (content => $o{body}) : () });
  $r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) };
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}
sub with_key {
  my ($key, $method, $path, $body) = @_;
  return raw($method, $path, headers => { 'x-api-key' => $key, 'Content-Type' => 'application/json' },
             defined $body ? (body => JSON::PP->new->encode($body)) : ());
}
# The envelope of DESIGN §3 with exactly one error of this code.
sub error_is {
  my ($r, $status, $type, $code, $name) = @_;
  my $j = $r->{json} || {};
  subtest $name => sub {
    is($r->{status}, $status, "status $status");
    is_deeply([sort keys %$j], [qw(errors request_id status type)], 'envelope keys');
    is($j->{type}, $type, "type $type");
    is($j->{status}, $status, 'status in the body');
    is_deeply([map { $_->{code} } @{ $j->{errors} || [] }], [$code], "one error: $code");
    ok(length($j->{errors}[0]{message} // ''), 'a message');
    is($j->{request_id}, $r->{headers}{'x-request-id'}, 'request_id equals X-Request-Id');
  };
}

my $inc = with_key($W, POST => '/v1/tickets', { title => 'Auth test', priority => 'high' });
is($inc->{status}, 201, 'write key creates') or BAIL_OUT('cannot create: ' . $inc->{content});
my $id = $inc->{json}{id};

# --- the two ways to present a key -----------------------------------------------
is(raw(GET => "/v1/tickets/$id", headers => { 'x-api-key' => $W })->{status}, 200, 'x-api-key header');
is(raw(GET => "/v1/tickets/$id", headers => { Authorization => "Bearer $W" })->{status}, 200, 'Authorization: Bearer');
is(raw(POST => '/v1/incidents', headers => { Authorization => "Bearer $W" }, body => '{"title":"bearer write"}')->{status},
   201, 'Bearer key can write');
is(raw(GET => '/v1/tickets', headers => { Authorization => "bearer $W" })->{status}, 200, 'the auth scheme is case-insensitive (RFC 7235)');
my $basic = raw(GET => '/v1/tickets', headers => { Authorization => 'Basic ' . 'dXNlcjpwYXNz' });
is($basic->{status}, 401, 'Authorization: Basic is no key: 401');

# --- missing, wrong, revoked ----------------------------------------------------------
error_is(raw(GET => '/v1/tickets'), 401, 'authentication_error', 'missing_authorization_material', 'no key: 401');
error_is(raw(GET => "/v1/tickets/$id"), 401, 'authentication_error', 'missing_authorization_material', 'no key on an incident: 401');
error_is(raw(POST => '/v1/tickets', body => '{"title":"x"}'), 401, 'authentication_error', 'missing_authorization_material',
         'no key on create: 401');
error_is(raw(GET => '/v1/tickets', headers => { 'x-api-key' => 'wrong-' . $W }), 401, 'authentication_error', 'invalid_api_key',
         'unknown key: 401 invalid_api_key');
error_is(raw(GET => '/v1/tickets', headers => { Authorization => 'Bearer not-a-key' }), 401, 'authentication_error',
         'invalid_api_key', 'unknown bearer key: 401 invalid_api_key');
error_is(raw(GET => '/v1/tickets', headers => { 'x-api-key' => substr($W, 0, -1) }), 401, 'authentication_error',
         'invalid_api_key', 'a prefix of a valid key: 401');
# Authentication comes before validation and lookup.
error_is(raw(POST => '/v1/tickets', headers => { 'x-api-key' => 'nope' }, body => '{'), 401, 'authentication_error',
         'invalid_api_key', 'bad key and bad body: 401 first');
error_is(raw(GET => '/v1/tickets/999999999', headers => { 'x-api-key' => 'nope' }), 401, 'authentication_error',
         'invalid_api_key', 'bad key and missing incident: 401 first');

my ($rc, $key) = $s->incidentctl('key', 'create', '--org', $s->org_name, '--role', 'write', '--name', 'revoke-me');
is($rc, 0, 'incidentctl key create');
chomp $key;
is(with_key($key, GET => '/v1/tickets')->{status}, 200, 'the new key works');
my (undef, $list) = $s->incidentctl('key', 'list', '--org', $s->org_name);
my ($kid) = map { (split /\t/)[0] } grep { ((split /\t/)[2] // '') eq 'revoke-me' } split /\n/, $list;
like($kid // '', qr/^\d+$/, "key list shows the key's id");
unlike($list, qr/\Q$key\E/, 'key list never shows the key');
is(($s->incidentctl('key', 'revoke', $kid))[0], 0, 'incidentctl key revoke');
error_is(with_key($key, GET => '/v1/tickets'), 401, 'authentication_error', 'invalid_api_key', 'revoked key: 401 invalid_api_key');
error_is(raw(GET => '/v1/tickets', headers => { Authorization => "Bearer $key" }), 401, 'authentication_error',
         'invalid_api_key', 'revoked bearer key: 401');
isnt(($s->incidentctl('key', 'revoke', $kid))[0], 0, 'revoking twice fails');
is(with_key($W, GET => '/v1/tickets')->{status}, 200, 'other keys still work');

# --- roles ---------------------------------------------------------------------------------
is(with_key($R, GET => '/v1/tickets')->{status}, 200, 'read key lists');
is(with_key($R, GET => "/v1/tickets/$id")->{status}, 200, 'read key gets');
is(with_key($R, GET => "/v1/incidents/$id/replies")->{status}, 200, 'read key lists replies');
my $before = with_key($W, GET => "/v1/tickets/$id")->{json};
for my $c ([POST => '/v1/tickets', { title => 'read may not' }],
           [PATCH => "/v1/tickets/$id", { status => 'resolved' }],
           [PUT => "/v1/incidents/$id", { status => 'resolved' }],
           [DELETE => "/v1/tickets/$id", undef],
           [POST => "/v1/incidents/$id/replies", { body => 'read may not' }],
           [POST => '/v1/tickets', { bogus => 1 }],           # role before validation
           [DELETE => '/v1/tickets/999999999', undef]) {     # role before lookup
  error_is(with_key($R, @$c), 403, 'authorization_error', 'insufficient_role', "read key: $c->[0] $c->[1] 403");
}
is_deeply(with_key($W, GET => "/v1/tickets/$id")->{json}, $before, 'nothing changed by the refused requests');
is(with_key($W, GET => "/v1/tickets/$id/replies")->{json}{total}, 0, 'no reply was stored');
is(with_key($W, GET => '/v1/tickets')->{json}{total}, 2, 'no incident was created (only the two by write keys)');
my $ac = with_key($A, POST => '/v1/tickets', { title => 'admin writes too' });
is($ac->{status}, 201, 'admin key can write');
is(with_key($A, DELETE => "/v1/tickets/$ac->{json}{id}")->{status}, 204, 'admin key can delete');

# --- organisations -----------------------------------------------------------------------
my $b = $s->new_org('other-org-' . $$);
my ($BW, $BR) = ($b->{keys}{write}, $b->{keys}{read});
my $missing = with_key($BW, GET => '/v1/tickets/999999999');
error_is($missing, 404, 'not_found_error', 'not_found', 'missing id: 404');
my $foreign = with_key($BW, GET => "/v1/tickets/$id");
error_is($foreign, 404, 'not_found_error', 'not_found', "another org's id: 404");
# The same body apart from request_id and the requested id itself (a message may quote it).
sub normalised { my ($r, $asked) = @_; (my $b = $r->{content} // '') =~ s/"request_id":"[^"]*"/"request_id":""/; $b =~ s/\b$asked\b/<id>/g; $b }
is(normalised($foreign, $id), normalised($missing, 999999999), "another org's id answers exactly like a missing one");
is_deeply([map { $_->{headers}{'content-type'} } $foreign, $missing], [map { $missing->{headers}{'content-type'} } 1 .. 2], 'same Content-Type');
for my $c ([GET => "/v1/incidents/$id", undef], [PATCH => "/v1/tickets/$id", { title => 'hijacked' }],
           [PUT => "/v1/tickets/$id", { title => 'hijacked' }], [DELETE => "/v1/incidents/$id", undef],
           [GET => "/v1/tickets/$id/replies", undef], [POST => "/v1/incidents/$id/replies", { body => 'hijacked' }]) {
  error_is(with_key($BW, @$c), 404, 'not_found_error', 'not_found', "org B: $c->[0] $c->[1] 404");
}
is_deeply(with_key($W, GET => "/v1/tickets/$id")->{json}, $before, "org A's incident untouched by org B");
is(with_key($W, GET => "/v1/tickets/$id/replies")->{json}{total}, 0, 'org B added no reply');

my $bl = with_key($BR, GET => '/v1/tickets');
is($bl->{json}{total}, 0, 'org B sees no incidents of org A');
is_deeply($bl->{json}{tickets}, [], 'org B list is empty');
my $bc = with_key($BW, POST => '/v1/incidents', { title => 'B incident' });
is($bc->{status}, 201, 'org B creates');
my $al = with_key($R, GET => '/v1/tickets?limit=100');
ok(!grep({ $_->{id} == $bc->{json}{id} } @{ $al->{json}{tickets} || [] }), "org A's list does not contain org B's incident");
is($al->{json}{total}, 2, "org A's total unchanged");
is_deeply([map { $_->{id} } @{ with_key($BR, GET => '/v1/incidents')->{json}{tickets} || [] }], [$bc->{json}{id}],
          'org B lists exactly its own incident');
error_is(with_key($W, GET => "/v1/tickets/$bc->{json}{id}"), 404, 'not_found_error', 'not_found', "org A cannot read org B's incident");

$s->finish;
done_testing;
