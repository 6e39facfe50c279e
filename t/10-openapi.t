#!/usr/bin/perl
# openapi.json parses, every $ref resolves, it uses only schema keywords the
# checker enforces; and the checker (t/lib/OpenAPICheck.pm) itself: each rule
# accepts a valid document and rejects an invalid one. No server needed.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use JSON::PP ();
use OpenAPICheck qw(spec schema_errors response_errors resolve_ref component_schema path_template KNOWN_KEYWORDS);

my $spec = eval { spec() };
ok($spec, 'openapi.json parses') or BAIL_OUT("openapi.json: $@");
is($spec->{openapi}, '3.0.3', 'OpenAPI version 3.0.3');

# --- every $ref resolves; every schema keyword is one the checker knows --------
my (@refs, @bad_refs, @unknown_kw);
my %known = map { $_ => 1 } @{ KNOWN_KEYWORDS() };
sub walk {
  my ($node, $where, $in_schema) = @_;
  if (ref $node eq 'ARRAY') {
    walk($node->[$_], "$where\[$_]", $in_schema) for 0 .. $#$node;
    return;
  }
  return unless ref $node eq 'HASH';
  if (exists $node->{'$ref'}) {
    push @refs, $node->{'$ref'};
    push @bad_refs, "$where: $node->{'$ref'}" unless eval { resolve_ref($node->{'$ref'}); 1 };
  }
  if ($in_schema) {
    push @unknown_kw, "$where: $_" for grep { !$known{$_} } keys %$node;
  }
  for my $k (sort keys %$node) {
    my $v = $node->{$k};
    if (!$in_schema && $k eq 'schema') {
      walk($v, "$where.$k", 1);
    } elsif ($in_schema && $k =~ /^(properties)$/) {
      walk($v->{$_}, "$where.$k.$_", 1) for sort keys %$v;
    } elsif ($in_schema && $k =~ /^(items|additionalProperties)$/) {
      walk($v, "$where.$k", 1);
    } elsif ($in_schema && $k =~ /^(oneOf|allOf)$/) {
      walk($v->[$_], "$where.$k\[$_]", 1) for 0 .. $#$v;
    } elsif ($in_schema) {
      next;    # enum, example, default: data, not schemas
    } elsif ($where eq '$.components' && $k eq 'schemas') {
      walk($v->{$_}, "$where.$k.$_", 1) for sort keys %$v;
    } else {
      walk($v, "$where.$k", 0);
    }
  }
}
walk($spec, '$', 0);
cmp_ok(scalar @refs, '>', 50, 'openapi.json uses $ref (' . scalar(@refs) . ' of them)');
is_deeply(\@bad_refs, [], 'every $ref resolves') or diag($_) for @bad_refs;
is_deeply(\@unknown_kw, [], 'openapi.json uses only schema keywords the checker knows')
  or diag($_) for @unknown_kw;

# --- what the issue requires the description to contain --------------------
for my $coll (qw(tickets incidents)) {
  my $p = $spec->{paths};
  ok($p->{"/v1/$coll"}{$_}, "$_ /v1/$coll") for qw(get post);
  ok($p->{"/v1/$coll/{id}"}{$_}, "$_ /v1/$coll/{id}") for qw(get patch put delete);
  ok($p->{"/v1/$coll/{id}/replies"}{$_}, "$_ /v1/$coll/{id}/replies") for qw(get post);
  my @params = map { $_->{name} } @{ $p->{"/v1/$coll"}{get}{parameters} };
  is_deeply([sort @params], [sort qw(status priority severity source tag q limit page offset after)],
            "list /v1/$coll has the query parameters of this issue");
}
ok($spec->{paths}{'/incidents/status/{token}'}{get}{responses}{200}{content}{$_}, "status page serves $_")
  for qw(text/html application/json);
ok($spec->{paths}{'/healthz'}{get}, 'GET /healthz');
is($spec->{components}{securitySchemes}{ApiKeyHeader}{name}, 'x-api-key', 'x-api-key scheme');
is($spec->{components}{securitySchemes}{BearerAuth}{scheme}, 'bearer', 'bearer scheme');
ok(component_schema($_), "schema $_")
  for qw(Incident IncidentCreate IncidentUpdate Reply ReplyCreate IncidentList ReplyList PublicStatus Health Error);
ok(!component_schema($_)->{additionalProperties}, "request schema $_ closed (additionalProperties false)")
  && ok(exists component_schema($_)->{additionalProperties}, "$_ states additionalProperties")
  for qw(IncidentCreate IncidentUpdate ReplyCreate);
my %opids;
for my $path (sort keys %{ $spec->{paths} }) {
  for my $m (grep { /^(get|post|put|patch|delete)$/ } keys %{ $spec->{paths}{$path} }) {
    my $op = $spec->{paths}{$path}{$m};
    $opids{ $op->{operationId} // '' }++;
    for my $code (grep { /^[45]/ } keys %{ $op->{responses} }) {
      my $r = $op->{responses}{$code};
      $r = resolve_ref($r->{'$ref'}) if $r->{'$ref'};
      ok($r->{content}{'application/json'}, "$m $path $code is a JSON error") or next;
    }
  }
}
ok(!$opids{''}, 'every operation has an operationId');
is_deeply([grep { $opids{$_} > 1 } keys %opids], [], 'operationIds are unique');

# --- the checker: each rule accepts and rejects --------------------------------
my $t = JSON::PP::true;
my $f = JSON::PP::false;
my $j = JSON::PP->new->allow_nonref;    # this file is utf8: decode characters
sub accepts { my ($s, $json, $name) = @_; my @e = schema_errors($s, $j->decode($json), '$', {}); is_deeply(\@e, [], "accepts: $name") or diag(@e) }
sub rejects { my ($s, $json, $like, $name) = @_;
  my @e = schema_errors($s, $j->decode($json), '$', {});
  ok(scalar(grep { /$like/ } @e), "rejects: $name") or diag('errors: ' . join(' | ', @e)) }

accepts({ type => 'string' }, '"x"', 'string');
rejects({ type => 'string' }, '5', 'expected string, got number', 'number for string');
rejects({ type => 'string' }, 'true', 'got boolean', 'boolean for string');
accepts({ type => 'integer' }, '5', 'integer');
rejects({ type => 'integer' }, '5.5', 'expected integer', 'fraction for integer');
rejects({ type => 'integer' }, '"5"', 'expected integer, got string', 'numeric string for integer');
accepts({ type => 'number' }, '-97.5164', 'number');
rejects({ type => 'number' }, '"1.5"', 'expected number', 'string for number');
accepts({ type => 'boolean' }, 'false', 'boolean');
rejects({ type => 'boolean' }, '0', 'expected boolean', 'number for boolean');
accepts({ type => 'object' }, '{}', 'object');
rejects({ type => 'object' }, '[]', 'expected object, got array', 'array for object');
accepts({ type => 'array' }, '[]', 'array');
rejects({ type => 'array' }, '{}', 'expected array', 'object for array');
rejects({ type => 'string' }, 'null', 'null is not allowed', 'null without nullable');
accepts({ type => 'string', nullable => $t }, 'null', 'null with nullable');
accepts({ type => 'string', nullable => $t, maxLength => 1 }, '"x"', 'nullable still takes a value');
rejects({ type => 'string', nullable => $t, maxLength => 1 }, '"xy"', 'maxLength', 'nullable value still checked');
{
  # a number that has been printed stays a number; a string that has been used as one stays a string
  my $d = $j->decode('{"n":42,"s":"42"}');
  my $x = "$d->{n}" . ($d->{s} + 0);
  is_deeply([schema_errors({ type => 'integer' }, $d->{n}, '$', {})], [], 'stringified number is still a number');
  ok(scalar(schema_errors({ type => 'integer' }, $d->{s}, '$', {})), 'numified string is still a string');
}

accepts({ enum => [qw(a b)] }, '"b"', 'enum member');
rejects({ enum => [qw(a b)] }, '"c"', 'is not one of', 'enum non-member');
rejects({ type => 'integer', enum => [5] }, '6', 'is not one of', 'integer enum');
accepts({ type => 'string', nullable => $t, enum => ['a', undef] }, 'null', 'null in nullable enum');

accepts({ type => 'string', minLength => 2, maxLength => 3 }, '"abc"', 'length in range');
rejects({ type => 'string', minLength => 2 }, '"a"', 'below minLength', 'minLength');
rejects({ type => 'string', maxLength => 3 }, '"abcd"', 'above maxLength', 'maxLength');
accepts({ type => 'string', maxLength => 3 }, '"äöü"', 'maxLength counts code points, not bytes');
accepts({ type => 'string', maxLength => 2 }, '"😀😀"', 'astral characters count once');
rejects({ type => 'string', maxLength => 2 }, '"😀😀😀"', 'above maxLength', 'astral characters over the limit');

accepts({ type => 'number', minimum => -90, maximum => 90 }, '-90', 'minimum inclusive');
accepts({ type => 'number', minimum => -90, maximum => 90 }, '90', 'maximum inclusive');
rejects({ type => 'number', minimum => -90 }, '-90.0001', 'below minimum', 'minimum');
rejects({ type => 'number', maximum => 90 }, '90.5', 'above maximum', 'maximum');

accepts({ type => 'string', pattern => '^[a-z]+$' }, '"abc"', 'pattern');
rejects({ type => 'string', pattern => '^[a-z]+$' }, '"ab1"', 'does not match pattern', 'pattern mismatch');

my $dt = { type => 'string', format => 'date-time' };
accepts($dt, '"2026-03-15T07:00:00Z"', 'date-time');
rejects($dt, '"2026-03-15T07:00:00.000Z"', 'not a date-time', 'date-time with fraction');
rejects($dt, '"2026-03-15T07:00:00+00:00"', 'not a date-time', 'date-time with offset');
rejects($dt, '"2026-03-15 07:00:00Z"', 'not a date-time', 'date-time with a space');
rejects($dt, '"2026-03-15"', 'not a date-time', 'date only');
rejects($dt, '"2026-03-15T07:00:00Z\n"', 'not a date-time', 'date-time with trailing newline');
rejects({ type => 'string', pattern => '^[a-z]+$' }, q{"abc\n"}, 'does not match pattern', 'pattern $ does not accept a trailing newline');

my $arr = { type => 'array', minItems => 1, maxItems => 2, uniqueItems => $t, items => { type => 'integer' } };
accepts($arr, '[1,2]', 'array in bounds');
rejects($arr, '[]', 'fewer than minItems', 'minItems');
rejects($arr, '[1,2,3]', 'more than maxItems', 'maxItems');
rejects($arr, '[1,1]', 'duplicate items', 'uniqueItems');
rejects($arr, '[1,"2"]', '\$\[1\]: expected integer', 'items checked, with the index');

my $obj = { type => 'object', required => ['a'], additionalProperties => $f,
            properties => { a => { type => 'string' }, b => { type => 'integer' } } };
accepts($obj, '{"a":"x","b":1}', 'object with known properties');
rejects($obj, '{"b":1}', "required property 'a' is missing", 'required');
rejects($obj, '{"a":"x","c":1}', "property 'c' is not allowed", 'additionalProperties false');
rejects($obj, '{"a":"x","b":"1"}', '\$\.b: expected integer', 'property schema checked, with the path');
accepts({ type => 'object', properties => {} }, '{"z":1}', 'additionalProperties absent allows extra keys');
accepts({ type => 'object', additionalProperties => { type => 'integer' } }, '{"z":1}', 'additionalProperties schema');
rejects({ type => 'object', additionalProperties => { type => 'integer' } }, '{"z":"1"}', 'expected integer', 'additionalProperties schema mismatch');

my $doc = { components => { schemas => {
  S => { type => 'object', required => ['n'], properties => { n => { type => 'integer' }, next => { '$ref' => '#/components/schemas/S' } } },
} } };
is_deeply([schema_errors({ '$ref' => '#/components/schemas/S' }, { n => 1, next => { n => 2 } }, '$', $doc)], [], 'accepts: $ref, also recursive');
ok(scalar(grep { /\$\.next: required property 'n'/ } schema_errors({ '$ref' => '#/components/schemas/S' }, { n => 1, next => {} }, '$', $doc)),
   'rejects: $ref target is enforced');
ok(!eval { schema_errors({ '$ref' => '#/components/schemas/Nope' }, 1, '$', $doc); 1 } && $@ =~ /unresolvable/,
   'an unresolvable $ref dies');

my $one = { oneOf => [ { type => 'object', required => ['field'], additionalProperties => $f, properties => { field => { type => 'string' } } },
                       { type => 'object', required => ['parameter'], additionalProperties => $f, properties => { parameter => { type => 'string' } } } ] };
accepts($one, '{"field":"title"}', 'oneOf first');
accepts($one, '{"parameter":"limit"}', 'oneOf second');
rejects($one, '{"field":"a","parameter":"b"}', 'matches 0 of the oneOf', 'oneOf none');
rejects({ oneOf => [ { type => 'integer' }, { type => 'number' } ] }, '1', 'matches 2 of the oneOf', 'oneOf more than one');
my $all = { allOf => [ { type => 'object', required => ['a'] }, { properties => { a => { enum => [1] } } } ] };
accepts($all, '{"a":1}', 'allOf');
rejects($all, '{"a":2}', 'is not one of', 'allOf second part');
rejects($all, '{}', "required property 'a'", 'allOf first part');

# --- the spec's own schemas ----------------------------------------------------
my $incident = {
  id => 42, Id => 42, title => 'Unit 3 unresponsive', description => undef, status => 'open', priority => 'urgent',
  severity => 'medium', source => 'alert', source_ref => undef, lat => 35.4676, lng => -97.5164,
  location_name => 'Grid Sector 7', impact_description => undef, assigned_to => undef, tags => [], affected_services => ['db'],
  sla_due_at => '2026-03-15T08:00:00Z', sla_breached => $f, sla_status => 'ok', customer_token => 'k9mXzQ2pL8wR-k9mXzQ2pL8',
  customer_status_url => 'http://127.0.0.1:8080/incidents/status/k9mXzQ2pL8wR-k9mXzQ2pL8', started_at => '2026-03-15T07:00:00Z',
  acknowledged_at => undef, resolved_at => undef, created_by => 'write', created_at => '2026-03-15T07:00:00Z',
  updated_at => '2026-03-15T07:00:00Z',
};
my $isch = component_schema('Incident');
is_deeply([schema_errors($isch, $incident)], [], 'a complete incident matches Incident');
for my $case (
  [ 'missing customer_status_url', sub { delete $_[0]{customer_status_url} }, qr/customer_status_url' is missing/ ],
  [ 'alias severity in output', sub { $_[0]{severity} = 'major' }, qr/\$\.severity/ ],
  [ 'lat out of range', sub { $_[0]{lat} = 91 }, qr/\$\.lat: 91 is above maximum/ ],
  [ 'tags not deduplicated', sub { $_[0]{tags} = [qw(a a)] }, qr/\$\.tags: duplicate/ ],
  [ 'null tags', sub { $_[0]{tags} = undef }, qr/\$\.tags: null/ ],
  [ 'millisecond timestamp', sub { $_[0]{created_at} = '2026-03-15T07:00:00.000Z' }, qr/\$\.created_at/ ],
  [ 'string id', sub { $_[0]{id} = '42' }, qr/\$\.id: expected integer/ ],
  [ 'token with padding', sub { $_[0]{customer_token} = 'abc=abc=abc=abc=abc=abc=' }, qr/\$\.customer_token/ ],
) {
  my %copy = %$incident;
  $case->[1]->(\%copy);
  ok(scalar(grep { $_ =~ $case->[2] } schema_errors($isch, \%copy)), "Incident rejects $case->[0]");
}
my $cre = component_schema('IncidentCreate');
is_deeply([schema_errors($cre, { title => 'x', severity => 'major', tags => undef })], [], 'IncidentCreate accepts an alias and null tags');
ok(scalar(schema_errors($cre, { title => 'x', id => 1 })), 'IncidentCreate rejects a read-only field');
ok(scalar(schema_errors($cre, { description => 'x' })), 'IncidentCreate requires title');
ok(scalar(schema_errors(component_schema('IncidentUpdate'), { titel => 'x' })), 'IncidentUpdate rejects an unknown field');
is_deeply([schema_errors(component_schema('IncidentUpdate'), { message => 'm', status => 'resolved' })], [], 'IncidentUpdate accepts message');
ok(scalar(schema_errors(component_schema('PublicStatus'),
  { title => 't', status => 'open', updated_at => '2026-03-15T07:00:00Z', replies => [], priority => 'high' })),
  'PublicStatus admits nothing else');

# --- response_errors: status, headers, content type, body, request_id --------
sub resp { my ($status, $headers, $body) = @_; +{ status => $status, headers => $headers, content => $body } }
my $err404 = '{"type":"not_found_error","status":404,"request_id":"abc","errors":[{"code":"not_found","message":"no such incident"}]}';
is_deeply([response_errors(resp(404, { 'x-request-id' => 'abc', 'content-type' => 'application/json' }, $err404), 'GET', '/v1/tickets/{id}')], [],
  'response_errors accepts a documented 404');
ok(scalar(grep { /differs from X-Request-Id/ } response_errors(resp(404, { 'x-request-id' => 'xyz', 'content-type' => 'application/json' }, $err404), 'GET', '/v1/tickets/{id}')),
  'response_errors: request_id must equal X-Request-Id');
ok(scalar(grep { /header X-Request-Id is missing/ } response_errors(resp(404, { 'content-type' => 'application/json' }, $err404), 'GET', '/v1/tickets/{id}')),
  'response_errors: X-Request-Id required');
ok(scalar(grep { /status 418 is not documented/ } response_errors(resp(418, {}, ''), 'GET', '/v1/tickets/{id}')),
  'response_errors: undocumented status');
ok(scalar(grep { /Content-Type 'text\/plain'/ } response_errors(resp(404, { 'x-request-id' => 'abc', 'content-type' => 'text/plain' }, $err404), 'GET', '/v1/tickets/{id}')),
  'response_errors: wrong content type');
ok(scalar(grep { /body is not JSON/ } response_errors(resp(404, { 'x-request-id' => 'abc', 'content-type' => 'application/json' }, '<html>'), 'GET', '/v1/tickets/{id}')),
  'response_errors: body not JSON');
ok(scalar(grep { /\$\.status: 422 is not one of \[404\]/ } response_errors(resp(404, { 'x-request-id' => 'abc', 'content-type' => 'application/json' }, $err404 =~ s/404/422/r), 'GET', '/v1/tickets/{id}')),
  'response_errors: envelope status must equal the HTTP status');
ok(scalar(grep { /body should be empty/ } response_errors(resp(204, { 'x-request-id' => 'abc' }, '{}'), 'DELETE', '/v1/tickets/{id}')),
  'response_errors: 204 has no body');
is_deeply([response_errors(resp(204, { 'x-request-id' => 'abc' }, ''), 'DELETE', '/v1/tickets/{id}')], [], 'response_errors accepts 204');
ok(scalar(grep { /header Allow is missing/ } response_errors(resp(405, { 'x-request-id' => 'abc', 'content-type' => 'application/json' },
  '{"type":"invalid_request_error","status":405,"request_id":"abc","errors":[{"code":"method_not_allowed","message":"m"}]}'), 'DELETE', '/v1/tickets')),
  'response_errors: 405 (global response) needs Allow');
ok(scalar(grep { /header Location is missing/ } response_errors(resp(201, { 'x-request-id' => 'abc', 'content-type' => 'application/json' },
  $j->encode($incident)), 'POST', '/v1/tickets')), 'response_errors: 201 needs Location');
ok(scalar(grep { /\$\.errors\[0\]: required property 'source'/ } response_errors(resp(422, { 'x-request-id' => 'a', 'content-type' => 'application/json' },
  '{"type":"validation_error","status":422,"request_id":"a","errors":[{"code":"is_required","message":"m"}]}'), 'POST', '/v1/tickets')),
  'response_errors: a 422 error needs source');
ok(scalar(grep { /status 200 is not documented for GET \/v1\/nope/ } response_errors(resp(200, {}, ''), 'GET', '/v1/nope')),
   'response_errors: a path outside openapi.json cannot answer 200');
is_deeply([response_errors(resp(404, { 'x-request-id' => 'abc', 'content-type' => 'application/json' }, $err404), 'GET', '/v1/nope')], [],
   'response_errors: a path outside openapi.json may answer the global 404');


# --- path_template ---------------------------------------------------------------
is(path_template('/v1/tickets/42'), '/v1/tickets/{id}', 'path_template: id');
is(path_template('/v1/incidents/42/replies?limit=5'), '/v1/incidents/{id}/replies', 'path_template: query string dropped');
is(path_template('/v1/incidents/stream'), '/v1/incidents/stream', 'path_template: literal beats {id}');
is(path_template('/incidents/status/abc_-9'), '/incidents/status/{token}', 'path_template: token');
is(path_template('/v1/tickets/{id}'), '/v1/tickets/{id}', 'path_template: a template maps to itself');
is(path_template('/v1/tickets/'), undef, 'path_template: an empty segment is no parameter');
is(path_template('/v1/nope/1/2/3'), undef, 'path_template: no match');
is_deeply([response_errors(resp(204, { 'x-request-id' => 'abc' }, ''), 'DELETE', '/v1/incidents/7')], [], 'response_errors takes a concrete path');

done_testing;
