#!/usr/bin/perl
# Routing: 405 with Allow, unknown paths, nginx's own errors in the envelope,
# /healthz, and a request id on every response.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use HTTP::Tiny;
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $http = HTTP::Tiny->new(timeout => 15);
my @rids;    # every X-Request-Id seen

sub raw {
  my ($method, $path, %o) = @_;
  my $r = $http->request($method, $s->url . $path,
    { headers => { ($o{nokey} ? () : ('x-api-key' => $W)), %{ $o{headers} || {} } },
      defined $o{body} ? (content => $o{body}) : () });
  $r->{json} = eval { JSON::PP->new->utf8->decode($r->{content}) };
  push @rids, $r->{headers}{'x-request-id'};
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}
sub envelope_is {
  my ($r, $status, $type, $code, $name) = @_;
  my $j = $r->{json} || {};
  is_deeply([$r->{status}, $j->{status}, $j->{type}, [map { $_->{code} } @{ $j->{errors} || [] }]],
            [$status, $status, $type, [$code]], "$name: $status $type $code") or diag($r->{content});
  like($r->{headers}{'content-type'} // '', qr{^application/json}, "$name: JSON");
}
sub methods { my %m = map { $_ => 1 } grep { $_ ne 'HEAD' } split /\s*,\s*/, $_[0] // ''; [sort keys %m] }

my $id = raw(POST => '/v1/tickets', body => '{"title":"routing"}')->{json}{id};
my $tok = raw(GET => "/v1/tickets/$id")->{json}{customer_token};

# --- 405 with Allow, before authentication -----------------------------------------------------
for my $c (['/healthz', [qw(GET)], [qw(POST PUT DELETE PATCH)]],
           ['/v1/tickets', [qw(GET POST)], [qw(PUT PATCH DELETE)]],
           ['/v1/incidents', [qw(GET POST)], [qw(DELETE)]],
           ["/v1/tickets/$id", [qw(DELETE GET PATCH PUT)], [qw(POST)]],
           ["/v1/incidents/$id", [qw(DELETE GET PATCH PUT)], [qw(POST)]],
           ["/v1/tickets/$id/replies", [qw(GET POST)], [qw(PUT PATCH DELETE)]],
           ["/v1/incidents/$id/replies", [qw(GET POST)], [qw(DELETE)]],
           ["/incidents/status/$tok", [qw(GET)], [qw(POST DELETE)]]) {
  my ($path, $allow, $refused) = @$c;
  for my $m (@$refused) {
    my $r = raw($m, $path, body => ($m =~ /^(POST|PUT|PATCH)$/ ? '{}' : undef));
    envelope_is($r, 405, 'invalid_request_error', 'method_not_allowed', "$m $path");
    is_deeply(methods($r->{headers}{allow}), $allow, "$m $path: Allow lists " . join(', ', @$allow));
  }
  next if grep { $_ eq 'DELETE' } @$allow;
  is(raw(DELETE => $path, nokey => 1)->{status}, 405, "DELETE $path without a key: 405 (routing before authentication)");
}
is(raw(GET => "/v1/tickets/$id")->{status}, 200, 'the incident survived the refused methods');

# --- unknown paths -----------------------------------------------------------------------------------
for my $p ('/v1/nope', '/v1/tickets/abc', '/v1/tickets/0', '/v1/tickets/-1', '/v1/tickets/1.5', "/v1/tickets/$id/nope",
           "/v1/tickets/$id/replies/1", '/v1/tickets/99999999999999999999999999', '/v1', '/v1/', '/v2/tickets',
           '/nope', '/', '/v1/Tickets', '/incidents/status/', '/healthz/x') {
  envelope_is(raw(GET => $p), 404, 'not_found_error', 'not_found', "GET $p");
}
envelope_is(raw(GET => '/v1/nope', nokey => 1), 404, 'not_found_error', 'not_found', 'unknown /v1 path without a key: 404 before 401');
envelope_is(raw(POST => '/v1/tickets/abc/replies', body => '{"body":"x"}'), 404, 'not_found_error', 'not_found', 'POST under a bad id');

# --- nginx's own errors ----------------------------------------------------------------------------
my $pad = 'x' x (64 * 1024 + 1);
my $big = raw(POST => '/v1/tickets', body => qq({"title":"big","description":"$pad"}), headers => { 'Content-Type' => 'application/json' });
envelope_is($big, 413, 'invalid_request_error', 'body_too_large', 'body over 64 KiB');
my $exact = '{"title":"limit","description":"' . ('y' x (65536 - 34)) . '"}';
is(length $exact, 65536, 'fixture: a body of exactly 64 KiB');
my $at = raw(POST => '/v1/tickets', body => $exact);
envelope_is($at, 422, 'validation_error', 'too_long', 'a body of exactly 64 KiB reaches incidentd (description too long)');
my $long = raw(GET => '/v1/tickets?tag=' . ('z' x 20000));
envelope_is($long, 414, 'invalid_request_error', 'uri_too_long', 'an over-long request line');
is(($long->{json} || {})->{request_id}, $long->{headers}{'x-request-id'}, '... in the envelope with its request_id');

# --- /healthz ----------------------------------------------------------------------------------------
my $hz = raw(GET => '/healthz', nokey => 1);
is($hz->{status}, 200, '/healthz 200 without a key');
my %streams = %{ delete(($hz->{json} || {})->{streams}) || {} };
is_deeply($hz->{json}, { status => 'ok', postgres => 'ok', redis => 'ok' }, '/healthz body');
is($streams{status}, 'ok', '/healthz: this host\'s incidentd-sse reports');
is($streams{probe_deliveries}, 0, '/healthz: every event came through Redis');

# --- a request id on every response, unique ------------------------------------------------------------
my @ok = grep { defined && /^[0-9A-Za-z-]{8,}$/ } @rids;
is(scalar @ok, scalar @rids, 'every response (' . scalar(@rids) . ') carries an X-Request-Id');
my %n;
$n{$_}++ for @ok;
is_deeply([grep { $n{$_} > 1 } keys %n], [], 'request ids are unique');

$s->finish;
done_testing;
