#!/usr/bin/env perl
# GET /v1/openapi.json: incidentd serves the document it was built with — the
# very bytes of openapi.json, which every response of the suite is checked
# against (t/lib/OpenAPICheck.pm) — to anyone, with no key; cacheable for five
# minutes; a strong ETag (SHA-256 of the bytes) that If-None-Match turns into
# a 304 without a body; HEAD answers the headers alone.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();

use lib 't/lib';
use IncidentdTest;
use OpenAPICheck qw(response_ok spec_bytes);

my $s = IncidentdTest->new(workers => 2);
my $path = '/v1/openapi.json';
my $bytes = spec_bytes();
my $etag = '"' . sha256_hex($bytes) . '"';

# A request with exactly these headers (no key unless given), checked against openapi.json.
sub fetch {
  my ($method, %headers) = @_;
  my $r = $s->req($method, $path, headers => \%headers);
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}

my $r = fetch('GET');
is($r->{status}, 200, 'GET without a key: 200');
is($r->{headers}{'content-type'}, 'application/json', 'Content-Type: application/json');
is($r->{headers}{'cache-control'}, 'public, max-age=300', 'Cache-Control: public, max-age=300');
is($r->{headers}{etag}, $etag, 'ETag: the SHA-256 of the bytes, hex, quoted (strong)');
is($r->{headers}{'content-length'}, length $bytes, 'Content-Length: the length of openapi.json');
ok($r->{content} eq $bytes, 'the served document equals openapi.json byte for byte')
  or diag('served ' . length($r->{content}) . ' bytes, openapi.json has ' . length($bytes));
is(eval { JSON::PP->new->utf8->decode($r->{content}) }->{openapi}, '3.0.3', 'it is the OpenAPI 3.0 document');

# Any worker, any time: the same tag (computed once per process, from the same bytes).
my %tags = map { fetch('GET')->{headers}{etag} // 'none' => 1 } 1 .. 6;
is_deeply([keys %tags], [$etag], 'every answer carries the same ETag');

$r = fetch('GET', 'x-api-key' => 'not-a-key');
is($r->{status}, 200, 'a wrong key does not matter: no key is needed');

# --- If-None-Match ----------------------------------------------------------------
for my $case (
  [ 'the ETag', $etag ],
  [ 'the ETag, weakly (W/)', "W/$etag" ],
  [ 'a list that contains it', qq{"other", $etag} ],
  [ 'a list without spaces', qq{"a","b",$etag} ],
  [ '*', '*' ],
) {
  my ($name, $value) = @$case;
  $r = fetch('GET', 'If-None-Match' => $value);
  subtest "If-None-Match: $name -> 304" => sub {
    is($r->{status}, 304, 'status 304');
    is($r->{content} // '', '', 'no body');
    is($r->{headers}{etag}, $etag, 'ETag kept');
    is($r->{headers}{'cache-control'}, 'public, max-age=300', 'Cache-Control kept');
    ok(!defined $r->{headers}{'content-type'}, 'no Content-Type');
  };
}
for my $case (
  [ 'another tag', '"0000"' ],
  [ 'the tag unquoted', substr($etag, 1, -1) ],
  [ 'a prefix of the tag', substr($etag, 0, 20) . '"' ],
  [ 'the tag with a character more', substr($etag, 0, -1) . '0"' ],
  [ 'empty', '' ],
  [ 'separators only', ' , ,' ],
  [ 'W/ alone', 'W/' ],
  [ 'a quoted star', '"*"' ],
) {
  my ($name, $value) = @$case;
  $r = fetch('GET', 'If-None-Match' => $value);
  ok($r->{status} == 200 && $r->{content} eq $bytes, "If-None-Match: $name -> 200 with the document")
    or diag("status $r->{status}");
}

# --- HEAD ---------------------------------------------------------------------------
$r = fetch('HEAD');
is($r->{status}, 200, 'HEAD: 200');
is($r->{content} // '', '', 'HEAD: no body');
is($r->{headers}{etag}, $etag, 'HEAD: the ETag');
is($r->{headers}{'cache-control'}, 'public, max-age=300', 'HEAD: Cache-Control');
is($r->{headers}{'content-length'}, length $bytes, "HEAD: the GET's Content-Length");
$r = fetch('HEAD', 'If-None-Match' => $etag);
is($r->{status}, 304, 'HEAD with If-None-Match: 304');

# --- other methods --------------------------------------------------------------------
$r = fetch('POST', 'x-api-key' => $s->key('admin'));
is($r->{status}, 405, 'POST: 405');
is($r->{headers}{allow}, 'GET, HEAD', 'Allow: GET, HEAD');
is(fetch('GET', 'If-None-Match' => $etag)->{status}, 304, 'still 304 afterwards');
$r = $s->req(GET => "$path/x");
is($r->{status}, 404, "$path/x: 404");
response_ok($r, 'GET', "$path/x");

$s->finish;
done_testing;
