#!/usr/bin/perl
# GET /v1/tickets?q=...: full-text search over title and description
# (websearch_to_tsquery, configuration 'english'), with every other filter,
# newest first, within the caller's organisation only.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use IncidentdTest;
use ApiCall qw(error_is);

my $s = IncidentdTest->new;
my $api = ApiCall->new($s, $s->key('write'));
my $T0 = 1773558000;    # 2026-03-15T07:00:00Z

sub at { my ($t) = @_; my @g = gmtime $t; sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0] }
sub ids { [map { $_->{id} } @{ ($_[0]{json} || {})->{tickets} || [] }] }
sub enc { my ($v) = @_; utf8::encode($v); $v =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $v }
sub list {
  my ($query, %o) = @_;
  my $r = $api->call(GET => "/v1/tickets?$query", %o);
  is($r->{status}, 200, "?$query: 200") or diag($r->{content});
  return $r;
}

# Twelve incidents, one minute apart. The words each q below must find are
# named in the test, never derived from the server's answer.
my @spec = (
  ['Database connection pool exhausted', 'The db pool on the primary ran out of connections in production.',
   open => urgent => critical => alert => ['db']],
  ['Staging db pool warning', 'db pool at 90% in staging', investigating => low => low => webhook => ['db', 'staging']],
  ['Checkout latency spike', 'p99 latency above 2s for the checkout API', resolved => high => high => api => []],
  ['Disk full on log server', 'Disk /var is full; rotating logs.', open => normal => medium => email => ['ops']],
  ['Timeouts from payment provider', 'Payment requests timing out since 07:00', monitoring => urgent => high => alert => ['payments']],
  ['Payment webhook retries', undef, acknowledged => normal => medium => webhook => ['payments']],
  ['Login problems', 'Users report failing logins; the pool of auth workers is degraded', open => high => critical => api => []],
  ['Certificate expired', 'TLS certificate for api.example.com expired', closed => normal => low => email => []],
  ['Network packet loss', 'Packet loss between eu-west and the db primary; connection timeouts', investigating => high => medium => alert => ['db']],
  ['Café menu search broken', 'Naïve café search returns nothing', open => low => maintenance => api => []],
  ['Pool heater offline', 'The building db sensor reports the heater of the pool is offline', new => normal => medium => api => []],
  ['The pool', 'pool pool pool pool pool', open => low => low => email => ['db']],
);
my (@id, %attr);
for my $i (0 .. $#spec) {
  my ($title, $desc, $st, $pr, $sv, $so, $tags) = @{ $spec[$i] };
  my $r = $api->call(POST => '/v1/tickets', now => at($T0 + 60 * $i),
    body => { title => $title, description => $desc, status => $st, priority => $pr, severity => $sv, source => $so, tags => $tags });
  is($r->{status}, 201, "create $i") or BAIL_OUT($r->{content});
  push @id, $r->{json}{id};
  $attr{ $r->{json}{id} } = { status => $st, priority => $pr, severity => $sv, source => $so, tags => $tags };
}
# The incidents (by fixture index) that hold a term, newest first.
sub newest { [map { $id[$_] } sort { $b <=> $a } @_] }

# --- words, stemming, phrases, exclusion, or ---------------------------------------------------
for my $c (['pool', [0, 1, 6, 10, 11], 'a word in title or description'],
           ['POOL', [0, 1, 6, 10, 11], 'case does not matter'],
           ['db pool', [0, 1, 10], 'two words: both, anywhere'],
           ['"db pool"', [0, 1], 'a quoted phrase: adjacent, in order'],
           ['"pool db"', [], 'a phrase in the other order: nothing'],
           ['"db pool" -staging', [0], 'a phrase without a word (the issue\'s example)'],
           ['pool -db', [6, 11], 'a word without another'],
           ['latency or certificate', [2, 7], 'or: either word'],
           ['latency OR certificate', [2, 7], 'OR in capitals'],
           ['latency or certificate -expired', [2], 'or and exclusion'],
           ['timeout', [4, 8], 'english stemming: timeout finds Timeouts and timeouts'],
           ['connections', [0, 8], 'connections finds connection'],
           ['expire', [7], 'expire finds expired'],
           ['fail', [6], 'fail finds failing'],
           ['payment', [4, 5], 'a title word of an incident without description'],
           ['café', [9], 'non-ASCII words'],
           ['the pool', [0, 1, 6, 10, 11], 'a stop word in the query is ignored'],
           ['api.example.com', [7], 'a host name is one token'],
           ['zebra', [], 'a word no incident holds']) {
  my ($q, $want, $name) = @$c;
  my $r = list('q=' . enc($q));
  is_deeply(ids($r), newest(@$want), "q=$q: $name");
  is($r->{json}{total}, scalar @$want, "q=$q: total " . scalar @$want);
}
# Ranking is the list's order, not relevance: "The pool" (five times) is
# newest, the one with "pool" once in its description comes in its turn.
is_deeply(ids(list('q=pool')), [@id[11, 10, 6, 1, 0]], 'q results are newest first, not by relevance');

# --- what PostgreSQL reduces to nothing matches nothing ---------------------------------------
for my $q ('the', 'the of and', '!!!', '-', '""', '&|!') {
  my $r = list('q=' . enc($q));
  is_deeply([ids($r), $r->{json}{total}, !!$r->{json}{has_more}, $r->{json}{next_cursor}], [[], 0, '', undef],
            "q=$q (no lexeme left): nothing, total 0");
}
unlike($s->log, qr/^NOTICE/m, "PostgreSQL's notice about such a query is not written raw into the log");

# --- q with every other filter ------------------------------------------------------------------
my @pool = @{ newest(0, 1, 6, 10, 11) };
sub with { my ($pred) = @_; [grep { $pred->($attr{$_}) } @pool] }
for my $f (['status=open', sub { $_[0]{status} eq 'open' }],
           ['status=open,investigating', sub { $_[0]{status} =~ /^(open|investigating)$/ }],
           ['priority=low', sub { $_[0]{priority} eq 'low' }],
           ['severity=critical', sub { $_[0]{severity} eq 'critical' }],
           ['severity=minor', sub { $_[0]{severity} eq 'low' }],
           ['source=api', sub { $_[0]{source} eq 'api' }],
           ['tag=db', sub { grep { $_ eq 'db' } @{ $_[0]{tags} } }],
           ['tag=db&status=open&priority=urgent', sub { (grep { $_ eq 'db' } @{ $_[0]{tags} }) && $_[0]{status} eq 'open' && $_[0]{priority} eq 'urgent' }]) {
  my ($filter, $pred) = @$f;
  my $want = with($pred);
  ok(@$want < @pool, "fixture: $filter narrows q=pool");
  my $r = list("q=pool&$filter");
  is_deeply(ids($r), $want, "q=pool&$filter: the incidents matching both (" . scalar(@$want) . ')');
  is($r->{json}{total}, scalar @$want, "q=pool&$filter: total");
}

# paging a search: limit, page, offset, after
my $r = list('q=pool&limit=2');
is_deeply([ids($r), @{ $r->{json} }{qw(total limit page offset)}, !!$r->{json}{has_more}], [[@pool[0, 1]], 5, 2, 1, 0, 1],
          'q=pool&limit=2: the first two, total 5, has_more');
ok(defined $r->{json}{next_cursor}, '... with a next_cursor');
my $p2 = list('q=pool&limit=2&page=2');
is_deeply(ids($p2), [@pool[2, 3]], 'q=pool&limit=2&page=2');
is_deeply(ids(list('q=pool&limit=2&offset=3')), [@pool[3, 4]], 'q=pool&limit=2&offset=3');
my (@walk, $cursor, $pages);
do {
  my $page = list('q=pool&limit=2' . (defined $cursor ? "&after=$cursor" : ''));
  push @walk, @{ ids($page) };
  is($page->{json}{total}, 5, 'walking q=pool by cursor: total stays 5');
  $cursor = $page->{json}{next_cursor};
} while (defined $cursor && ++$pages < 10);
is_deeply(\@walk, \@pool, 'q=pool walked by cursor, 2 a page: every match once, newest first');
is_deeply(ids(list('q=pool&limit=2&after=' . $r->{json}{next_cursor})), ids($p2), 'after the first page of a search: the second page');

# --- writes keep the search current ---------------------------------------------------------------
my $renamed = $id[3];
is($api->call(PATCH => "/v1/tickets/$renamed", body => { title => 'Quokka sighting', description => undef })->{status}, 200, 'PATCH title and description');
is_deeply(ids(list('q=quokka')), [$renamed], 'the new title is found');
is_deeply(ids(list('q=disk')), [], 'the old title and description are not');
is($api->call(DELETE => "/v1/tickets/$id[7]")->{status}, 204, 'DELETE');
is_deeply(ids(list('q=certificate')), [], 'a deleted incident is not found');

# --- organisations ------------------------------------------------------------------------------------
my $other = $s->new_org('search-other');
my $oapi = ApiCall->new($s, $other->{keys}{write});
my $theirs = $oapi->call(POST => '/v1/tickets', body => { title => 'Pool pump failure', description => 'wombat in the pool filter' });
is($theirs->{status}, 201, "another organisation's incident");
is_deeply(ids(list('q=wombat')), [], "q finds nothing of another organisation's incidents");
is_deeply(ids(list('q=pool')), \@pool, '... and q=pool only this one\'s');
my $o = $oapi->call(GET => '/v1/tickets?q=pool');
is_deeply([ids($o), $o->{json}{total}], [[$theirs->{json}{id}], 1], 'the other organisation finds only its own');
is($api->call(GET => "/v1/incidents?q=pool", key => $s->key('read'))->{status}, 200, 'a read key may search');

# --- errors -----------------------------------------------------------------------------------------------
error_is($api->call(GET => '/v1/tickets?q='), 422, 'validation_error', 'invalid_value', 'q empty: 422', parameter => 'q');
error_is($api->call(GET => '/v1/tickets?q=+%20+'), 422, 'validation_error', 'invalid_value', 'q of spaces: 422', parameter => 'q');
error_is($api->call(GET => '/v1/tickets?q=' . ('x' x 501)), 422, 'validation_error', 'invalid_value', 'q of 501 characters: 422', parameter => 'q');
is_deeply(ids(list('q=' . enc('é' x 500))), [], 'q of 500 characters (1,000 bytes) is accepted');
error_is($api->call(GET => '/v1/tickets?q=%FF'), 422, 'validation_error', 'invalid_value', 'q not UTF-8: 422', parameter => 'q');
error_is($api->call(GET => '/v1/tickets?q=a%00b'), 422, 'validation_error', 'invalid_value', 'q with NUL: 422', parameter => 'q');
my $both = $api->call(GET => '/v1/tickets?q=&status=bogus');
is_deeply([sort map { "$_->{code}\@$_->{source}{parameter}" } @{ $both->{json}{errors} || [] }], ['invalid_value@q', 'invalid_value@status'],
          'q errors are reported with the others');
my $id0 = $id[0];
error_is($api->call(GET => "/v1/incidents/$id0/replies?q=pool"), 422, 'validation_error', 'unknown_field', 'replies take no q', parameter => 'q');
error_is($api->call(GET => '/compat/alert24/api/v1/incidents?q=pool'), 422, 'validation_error', 'unknown_field',
         'the compatibility mounts take no q', parameter => 'q');

$s->finish;
done_testing;
