#!/usr/bin/perl
# openapi.json is a valid OpenAPI 3.0 document (JSON::Validator against the
# OpenAPI 3.0 schema of Debian's openapi-specification package, offline),
# every $ref resolves, it describes what the issues require; and the response
# checker the API tests use (t/lib/OpenAPICheck.pm, JSON::Validator) rejects
# bad responses: a wrong type, a missing member, an undocumented status, a
# missing header, a body where none belongs. No server needed.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Cwd qw(realpath);
use JSON::PP ();
use Mojo::Util ();
use OpenAPICheck qw(spec spec_bytes validator validator_for document_errors offline_store
                    schema_errors response_errors resolve_ref component_schema path_template);

my $spec = eval { spec() };
ok($spec, 'openapi.json parses') or BAIL_OUT("openapi.json: $@");
is($spec->{openapi}, '3.0.3', 'OpenAPI version 3.0.3');
my $j = JSON::PP->new->canonical;
sub copy_of { $j->decode($j->encode($_[0])) }

# --- the document against the OpenAPI 3.0 schema, offline ------------------------
{
  my $url = JSON::Validator::Schema::OpenAPIv3->new({})->specification;
  my $cached = File::Spec->catfile(JSON::Validator::Store::BUNDLED_PATH, Mojo::Util::md5_sum($url));
  is(realpath($cached), '/usr/share/openapi-specification/schemas/v3.0/schema.json',
     "the OpenAPI 3.0 schema ($url) comes from Debian's openapi-specification package");
  ok(!eval { offline_store()->load('https://spec.openapis.org/oas/3.1/schema/2022-10-07'); 1 }
     && $@ =~ /no network/, 'the validator never fetches a schema from the network');
}
my @doc_errors = document_errors($spec);
is_deeply(\@doc_errors, [], 'openapi.json is a valid OpenAPI 3.0 document (JSON::Validator)')
  or diag($_) for @doc_errors;
# ... and that validation can fail: a small valid document, then each defect
# in it is found (small: a validation of openapi.json takes seconds).
my $small = {
  openapi => '3.0.3', info => { title => 't', version => '1' },
  paths => { '/x' => { get => {
    parameters => [ { name => 'a', in => 'query', schema => { type => 'string' } } ],
    responses => { 200 => { description => 'ok', content => { 'application/json' => { schema => {
      type => 'object', properties => { id => { type => 'integer' }, body => { type => 'string', minLength => 1 } } } } } } },
  } } },
};
is_deeply([document_errors($small)], [], 'a small OpenAPI document is valid');
for my $case (
  [ 'no info', sub { delete $_[0]{info} }, qr{info} ],
  [ 'a response without description', sub { delete $_[0]{paths}{'/x'}{get}{responses}{200}{description} }, qr{/responses/200} ],
  [ 'a misspelt type', sub { $_[0]{paths}{'/x'}{get}{responses}{200}{content}{'application/json'}{schema}{properties}{id}{type} = 'integr' }, qr{/schema} ],
  [ 'an unknown schema keyword', sub { $_[0]{paths}{'/x'}{get}{responses}{200}{content}{'application/json'}{schema}{properties}{body}{minLenght} = 1 }, qr{/schema} ],
  [ 'a parameter without in', sub { delete $_[0]{paths}{'/x'}{get}{parameters}[0]{in} }, qr{/parameters/0} ],
) {
  my $bad = copy_of($small);
  $case->[1]->($bad);
  my @e = document_errors($bad);
  ok(scalar(grep { $_ =~ $case->[2] } @e), "an OpenAPI document with $case->[0] is rejected")
    or diag('errors: ' . join(' | ', @e));
}

# --- every $ref resolves ---------------------------------------------------------
my (@refs, @bad_refs);
sub walk {
  my ($node, $where) = @_;
  if (ref $node eq 'ARRAY') {
    walk($node->[$_], "$where\[$_]") for 0 .. $#$node;
    return;
  }
  return unless ref $node eq 'HASH';
  if (exists $node->{'$ref'} && !ref $node->{'$ref'}) {
    push @refs, $node->{'$ref'};
    push @bad_refs, "$where: $node->{'$ref'}" unless eval { resolve_ref($node->{'$ref'}); 1 };
  }
  walk($node->{$_}, "$where.$_") for sort keys %$node;
}
walk($spec, '$');
cmp_ok(scalar @refs, '>', 50, 'openapi.json uses $ref (' . scalar(@refs) . ' of them)');
is_deeply(\@bad_refs, [], 'every $ref resolves') or diag($_) for @bad_refs;

# --- what the issues require the description to contain --------------------------
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
ok(resolve_ref("#/components/schemas/$_"), "schema $_")
  for qw(Incident IncidentCreate IncidentUpdate Reply ReplyCreate IncidentList ReplyList PublicStatus Health Error);
ok(!resolve_ref("#/components/schemas/$_")->{additionalProperties}, "request schema $_ closed (additionalProperties false)")
  && ok(exists resolve_ref("#/components/schemas/$_")->{additionalProperties}, "$_ states additionalProperties")
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

# The served document (issue 9): no key, cacheable, an ETag, 304.
{
  my $op = $spec->{paths}{'/v1/openapi.json'}{get};
  ok($op, 'GET /v1/openapi.json');
  is_deeply($op->{security}, [], '... needs no key');
  ok($op->{responses}{200}{content}{'application/json'}, '... answers application/json');
  is_deeply([sort keys %{ $op->{responses}{$_}{headers} }], [qw(Cache-Control ETag X-Request-Id)],
            "... $_ carries Cache-Control and ETag") for qw(200 304);
  ok(!$op->{responses}{304}{content}, '... 304 has no body');
}
# Ready for issue 9's other statuses: 409, 412 (the Error envelope) and 304.
for ([Conflict => 409, 'conflict_error'], [PreconditionFailed => 412, 'precondition_failed_error']) {
  my ($name, $status, $type) = @$_;
  my $schema = resolve_ref("#/components/responses/$name")->{content}{'application/json'}{schema};
  is($schema->{allOf}[0]{'$ref'}, '#/components/schemas/Error', "$name is the Error envelope");
  is_deeply($schema->{allOf}[1]{properties}{status}{enum}, [$status], "$name is $status");
  ok(grep({ $_ eq $type } @{ resolve_ref('#/components/schemas/Error')->{properties}{type}{enum} }), "Error knows type $type");
}
ok(!resolve_ref('#/components/responses/NotModified')->{content}, 'NotModified has no body');
ok(resolve_ref('#/components/responses/NotModified')->{headers}{ETag}, 'NotModified names the ETag');

# --- the spec's own schemas, through JSON::Validator -------------------------------
my $t = JSON::PP::true;
my $f = JSON::PP::false;
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
  [ 'missing customer_status_url', sub { delete $_[0]{customer_status_url} }, qr{/customer_status_url: Missing} ],
  [ 'alias severity in output', sub { $_[0]{severity} = 'major' }, qr{/severity: Not in enum} ],
  [ 'lat out of range', sub { $_[0]{lat} = 91 }, qr{/lat: 91 > maximum} ],
  [ 'tags not deduplicated', sub { $_[0]{tags} = [qw(a a)] }, qr{/tags: Unique} ],
  [ 'null tags', sub { $_[0]{tags} = undef }, qr{/tags: Expected array - got null} ],
  [ 'millisecond timestamp', sub { $_[0]{created_at} = '2026-03-15T07:00:00.000Z' }, qr{/created_at: String does not match} ],
  [ 'timestamp with an offset', sub { $_[0]{updated_at} = '2026-03-15T07:00:00+00:00' }, qr{/updated_at: String does not match} ],
  [ 'timestamp with a trailing newline', sub { $_[0]{started_at} = "2026-03-15T07:00:00Z\n" }, qr{/started_at} ],
  [ 'impossible date', sub { $_[0]{sla_due_at} = '2026-02-30T07:00:00Z' }, qr{/sla_due_at} ],
  [ 'string id', sub { $_[0]{id} = '42' }, qr{/id: Expected integer - got string} ],
  [ 'boolean as number', sub { $_[0]{sla_breached} = 0 }, qr{/sla_breached: Expected boolean} ],
  [ 'token with padding', sub { $_[0]{customer_token} = 'abc=abc=abc=abc=abc=abc=' }, qr{/customer_token} ],
) {
  my $copy = copy_of($incident);
  $case->[1]->($copy);
  my @e = schema_errors($isch, $copy);
  ok(scalar(grep { $_ =~ $case->[2] } @e), "Incident rejects $case->[0]") or diag('errors: ' . join(' | ', @e));
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
{
  my $src = component_schema('ErrorSource');
  is_deeply([schema_errors($src, { $_ => 'x' })], [], "ErrorSource: source.$_") for qw(field parameter header);
  ok(scalar(schema_errors($src, $_)), 'ErrorSource rejects ' . $j->encode($_))
    for { field => 'a', header => 'b' }, {}, { cookie => 'x' }, { header => '' };
  my $d = JSON::PP->new->decode('{"t":"äöü😀"}');    # this file is utf8: characters
  is_deeply([schema_errors({ type => 'string', maxLength => 4 }, $d->{t})], [], 'lengths count code points, not bytes');
}

# --- response_errors: JSON::Validator on real responses, and what it leaves to us ---
sub resp { my ($status, $headers, $body) = @_; +{ status => $status, headers => $headers, content => $body } }
my $jh = { 'x-request-id' => 'abc', 'content-type' => 'application/json' };
my $err404 = '{"type":"not_found_error","status":404,"request_id":"abc","errors":[{"code":"not_found","message":"no such incident"}]}';
sub errors_like {
  my ($r, $method, $path, $like, $name, $v) = @_;
  my @e = response_errors($r, $method, $path, $v);
  ok(scalar(grep { $_ =~ $like } @e), "rejected: $name") or diag('errors: ' . join(' | ', @e));
}
is_deeply([response_errors(resp(404, $jh, $err404), 'GET', '/v1/tickets/{id}')], [], 'a documented 404 passes');
errors_like(resp(404, $jh, $err404 =~ s/"status":404/"status":"404"/r), 'GET', '/v1/tickets/7',
  qr{/body/status: .*Expected integer - got string}, 'a wrong type (status as a string)');
errors_like(resp(404, $jh, $err404 =~ s/"request_id":"abc",//r), 'GET', '/v1/tickets/7',
  qr{/body/request_id: .*Missing property}, 'a missing required member (request_id)');
errors_like(resp(404, $jh, $err404 =~ s/"status":404/"status":422/r), 'GET', '/v1/tickets/7',
  qr{/body/status: .*Not in enum}, 'the envelope status must equal the HTTP status');
errors_like(resp(418, {}, ''), 'GET', '/v1/tickets/{id}', qr{status 418 is not documented}, 'an undocumented status');
errors_like(resp(201, $jh, $j->encode($incident)), 'GET', '/v1/tickets/7', qr{status 201 is not documented},
  "a status documented for another method's operation");
errors_like(resp(404, { %$jh, 'x-request-id' => 'xyz' }, $err404), 'GET', '/v1/tickets/{id}',
  qr{differs from X-Request-Id}, 'request_id must equal X-Request-Id');
errors_like(resp(404, { 'content-type' => 'application/json' }, $err404), 'GET', '/v1/tickets/{id}',
  qr{/X-Request-Id: Missing property}, 'a missing required header (X-Request-Id)');
errors_like(resp(404, { %$jh, 'content-type' => 'text/plain' }, $err404), 'GET', '/v1/tickets/{id}',
  qr{Content-Type 'text/plain' is not one of}, 'an undocumented Content-Type');
errors_like(resp(404, { 'x-request-id' => 'abc' }, $err404), 'GET', '/v1/tickets/{id}',
  qr{Content-Type missing}, 'a body without Content-Type');
errors_like(resp(404, $jh, '<html>'), 'GET', '/v1/tickets/{id}', qr{body is not JSON}, 'a body that is not JSON');
errors_like(resp(204, { 'x-request-id' => 'abc' }, '{}'), 'DELETE', '/v1/tickets/{id}', qr{body should be empty}, 'a 204 with a body');
is_deeply([response_errors(resp(204, { 'x-request-id' => 'abc' }, ''), 'DELETE', '/v1/incidents/7')], [], 'a 204 passes, on a concrete path');
errors_like(resp(405, $jh, '{"type":"invalid_request_error","status":405,"request_id":"abc","errors":[{"code":"method_not_allowed","message":"m"}]}'),
  'DELETE', '/v1/tickets', qr{/Allow: Missing property}, 'a 405 (global response) needs Allow');
errors_like(resp(201, $jh, $j->encode($incident)), 'POST', '/v1/tickets', qr{/Location: Missing property}, 'a 201 needs Location');
errors_like(resp(201, { %$jh, location => 'http://h/v1/tickets/x' }, $j->encode($incident)), 'POST', '/v1/tickets',
  qr{/Location: String does not match}, 'a Location not in the documented form');
errors_like(resp(201, { %$jh, location => 'http://h/v1/tickets/42' }, $j->encode({ %$incident, id => '42' })), 'POST', '/v1/tickets',
  qr{/body/id: Expected integer - got string}, 'an incident with a string id');
errors_like(resp(422, { 'x-request-id' => 'a', 'content-type' => 'application/json' },
  '{"type":"validation_error","status":422,"request_id":"a","errors":[{"code":"is_required","message":"m"}]}'), 'POST', '/v1/tickets',
  qr{/body/errors/0/source: .*Missing property}, 'a 422 error needs source');
errors_like(resp(200, {}, ''), 'GET', '/v1/nope', qr{status 200 is not documented for GET /v1/nope}, 'a path outside openapi.json cannot answer 200');
is_deeply([response_errors(resp(404, $jh, $err404), 'GET', '/v1/nope')], [], 'a path outside openapi.json may answer the global 404');
errors_like(resp(404, $jh, $err404 =~ s/not_found_error/validation_error/r), 'GET', '/v1/nope',
  qr{/body/type}, 'a global response is validated too');

# The statuses issue 9 adds: 429 (documented everywhere), 304 on the served
# document; 409, 412 and 304 as their operations will reference them.
my $e429 = '{"type":"rate_limit_error","status":429,"request_id":"abc","errors":[{"code":"rate_limited","message":"m"}]}';
errors_like(resp(429, $jh, $e429), 'POST', '/v1/tickets', qr{/Retry-After: Missing property},
  'a 429 needs Retry-After (nginx and incidentd-sse send it on every one)');
is_deeply([response_errors(resp(429, { %$jh, 'retry-after' => '1' }, $e429), 'POST', '/v1/tickets')], [], 'a 429 with Retry-After passes');
errors_like(resp(429, { %$jh, 'retry-after' => 'soon' }, $e429), 'POST', '/v1/tickets', qr{/Retry-After: String does not match},
  'a Retry-After that is no number of seconds');
errors_like(resp(429, $jh, $e429 =~ s/rate_limited/too_many/r), 'GET', '/v1/nope', qr{/body/errors/0/code}, 'a 429 with another code');
my $etag = '"' . ('ab' x 32) . '"';
my %cache = ('cache-control' => 'public, max-age=300', etag => $etag, 'x-request-id' => 'abc');
is_deeply([response_errors(resp(304, {%cache}, ''), 'GET', '/v1/openapi.json')], [], 'a 304 of the served document passes');
errors_like(resp(304, {%cache}, '{}'), 'GET', '/v1/openapi.json', qr{body should be empty}, 'a 304 with a body');
errors_like(resp(304, { %cache, 'content-type' => 'application/json' }, ''), 'GET', '/v1/openapi.json',
  qr{Content-Type 'application/json' on a response documenting no content}, 'a 304 with a Content-Type');
errors_like(resp(304, { %cache, etag => 'W/' . $etag }, ''), 'GET', '/v1/openapi.json', qr{/ETag: String does not match}, 'a weak ETag');
errors_like(resp(304, { %cache, 'cache-control' => 'no-store' }, ''), 'GET', '/v1/openapi.json', qr{/Cache-Control: Not in enum}, 'another Cache-Control');
is_deeply([response_errors(resp(200, { %cache, 'content-type' => 'application/json' }, ''), 'HEAD', '/v1/openapi.json')], [],
  'HEAD is checked as GET without the body');
errors_like(resp(200, { %cache, 'content-type' => 'application/json' }, '{}'), 'HEAD', '/v1/openapi.json', qr{body should be empty}, 'a HEAD answer with a body');
errors_like(resp(200, { %cache, 'content-type' => 'application/json' }, '{"openapi":"3.1.0","info":{},"paths":{}}'), 'GET', '/v1/openapi.json',
  qr{/body/openapi}, 'a served document of another OpenAPI version');
{
  my $doc = copy_of($spec);
  my $op = $doc->{paths}{'/v1/tickets/{id}'};
  $op->{get}{responses}{304} = { '$ref' => '#/components/responses/NotModified' };
  $op->{patch}{responses}{412} = { '$ref' => '#/components/responses/PreconditionFailed' };
  $doc->{paths}{'/v1/tickets'}{post}{responses}{409} = { '$ref' => '#/components/responses/Conflict' };
  my $v = validator_for($doc);
  my $e409 = '{"type":"conflict_error","status":409,"request_id":"abc","errors":[{"code":"idempotency_key_reused","message":"m","source":{"header":"Idempotency-Key"}}]}';
  my $e412 = '{"type":"precondition_failed_error","status":412,"request_id":"abc","errors":[{"code":"etag_mismatch","message":"m","source":{"header":"If-Match"}}]}';
  is_deeply([response_errors(resp(409, { %$jh, 'retry-after' => '1' }, $e409), 'POST', '/v1/tickets', $v)], [], 'a 409 passes');
  errors_like(resp(409, $jh, $e409 =~ s/conflict_error/validation_error/r), 'POST', '/v1/tickets', qr{/body/type}, 'a 409 of another type', $v);
  errors_like(resp(409, $jh, $e409 =~ s/"source":\{"header":"Idempotency-Key"\}/"source":{"header":"Idempotency-Key","field":"x"}/r),
    'POST', '/v1/tickets', qr{/body/errors/0/source}, 'a source naming both a header and a field', $v);
  is_deeply([response_errors(resp(412, $jh, $e412), 'PATCH', '/v1/tickets/7', $v)], [], 'a 412 passes');
  errors_like(resp(412, $jh, $e412 =~ s/etag_mismatch/conflict/r), 'PATCH', '/v1/tickets/7', qr{/body/errors/0/code}, 'a 412 with another code', $v);
  errors_like(resp(412, $jh, $e412), 'GET', '/v1/tickets/7', qr{status 412 is not documented}, 'a 412 where none is documented', $v);
  is_deeply([response_errors(resp(304, { etag => '"v7"', 'x-request-id' => 'abc' }, ''), 'GET', '/v1/tickets/7', $v)], [], 'a 304 passes');
  errors_like(resp(304, { 'x-request-id' => 'abc' }, ''), 'GET', '/v1/tickets/7', qr{/ETag: Missing property}, 'a 304 without ETag', $v);
  errors_like(resp(304, { etag => 'v7', 'x-request-id' => 'abc' }, ''), 'GET', '/v1/tickets/7', qr{/ETag: String does not match}, 'an unquoted ETag', $v);
}

# --- path_template ---------------------------------------------------------------
is(path_template('/v1/tickets/42'), '/v1/tickets/{id}', 'path_template: id');
is(path_template('/v1/incidents/42/replies?limit=5'), '/v1/incidents/{id}/replies', 'path_template: query string dropped');
is(path_template('/v1/incidents/stream'), '/v1/incidents/stream', 'path_template: literal beats {id}');
is(path_template('/v1/openapi.json'), '/v1/openapi.json', 'path_template: the served document');
is(path_template('/incidents/status/abc_-9'), '/incidents/status/{token}', 'path_template: token');
is(path_template('/v1/tickets/{id}'), '/v1/tickets/{id}', 'path_template: a template maps to itself');
is(path_template('/v1/tickets/'), undef, 'path_template: an empty segment is no parameter');
is(path_template('/v1/nope/1/2/3'), undef, 'path_template: no match');

done_testing;
