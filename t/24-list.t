#!/usr/bin/perl
# GET /v1/tickets: order, filters, paging and query-parameter errors.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::Local qw(timegm);
use JSON::PP ();
use IncidentdTest;
use OpenAPICheck;

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $T0 = timegm(0, 0, 7, 15, 2, 2026);

sub call {
  my ($method, $path, $body, $now) = @_;
  my $r = $s->req($method, $path, key => $W, defined $body ? (body => $body) : (),
                  defined $now ? (headers => { 'X-Test-Now' => $now }) : ());
  response_ok($r, $method, $path, "$method $path -> $r->{status} per openapi.json");
  return $r;
}
sub ids { [map { $_->{id} } @{ ($_[0]{json} || {})->{tickets} || [] }] }
sub list { my ($q) = @_; my $r = call(GET => "/v1/tickets$q"); is($r->{status}, 200, "list $q: 200") or diag($r->{content}); $r }
sub param_error {
  my ($q, $param, $code) = @_;
  my $r = call(GET => "/v1/tickets$q");
  my @e = map { ($_->{code} // '') . '@' . ($_->{source}{parameter} // '') } @{ ($r->{json} || {})->{errors} || [] };
  is_deeply([$r->{status}, \@e], [422, ["$code\@$param"]], "$q: 422 $code on parameter $param") or diag($r->{content});
}

# 12 incidents with distinct attributes, one minute apart; two more sharing a created_at.
my @spec = (
  [open => urgent => critical => alert => ['db']],        [open => high => high => api => ['db', 'eu']],
  [resolved => normal => medium => email => []],          [investigating => low => low => webhook => ['eu']],
  [new => normal => maintenance => api => []],            [closed => urgent => high => alert => ['db']],
  [in_progress => high => critical => email => ['net']],  [monitoring => normal => low => api => []],
  [open => low => medium => webhook => ['DB']],           [postmortem => high => maintenance => alert => []],
  [acknowledged => urgent => medium => api => ['eu']],    [identified => normal => critical => email => ['db']],
);
my (@all, %attr);    # ids in creation order; id -> {status, priority, severity, source, tags}
for my $i (0 .. $#spec) {
  my ($st, $pr, $sv, $so, $tags) = @{ $spec[$i] };
  my $r = call(POST => '/v1/tickets', { title => "list $i", status => $st, priority => $pr, severity => $sv, source => $so, tags => $tags },
               $T0 + 60 * $i);
  is($r->{status}, 201, "create list $i") or BAIL_OUT($r->{content});
  push @all, $r->{json}{id};
  $attr{ $r->{json}{id} } = { status => $st, priority => $pr, severity => $sv, source => $so, tags => $tags };
}
my @tie = map { call(POST => '/v1/tickets', { title => "tie $_" }, $T0 + 3600)->{json}{id} } 1 .. 2;
$attr{$_} = { status => 'open', priority => 'normal', severity => 'medium', source => 'api', tags => [] } for @tie;
my @newest = (reverse(sort { $a <=> $b } @tie), reverse @all);

# --- default page, order --------------------------------------------------------------------------
my $r = list('');
is_deeply(ids($r), \@newest, 'newest first by created_at, then id descending for equal created_at');
is_deeply([@{ $r->{json} }{qw(total limit page offset)}], [14, 50, 1, 0], 'total 14, limit 50, page 1, offset 0');
ok(!$r->{json}{has_more}, 'has_more false');
is_deeply(ids(call(GET => '/v1/incidents')), \@newest, '/v1/incidents lists the same');

# --- filters ----------------------------------------------------------------------------------------
sub expect { my ($pred) = @_; [grep { $pred->($attr{$_}) } @newest] }
my %in;
for my $f (['?status=open', sub { $_[0]{status} eq 'open' }],
           ['?status=open,resolved', sub { $_[0]{status} =~ /^(open|resolved)$/ }],
           ['?status=new,acknowledged,in_progress,investigating,identified,monitoring', sub { $_[0]{status} =~ /^(new|acknowledged|in_progress|investigating|identified|monitoring)$/ }],
           ['?priority=urgent', sub { $_[0]{priority} eq 'urgent' }],
           ['?priority=urgent,high', sub { $_[0]{priority} =~ /^(urgent|high)$/ }],
           ['?severity=critical', sub { $_[0]{severity} eq 'critical' }],
           ['?severity=high,low', sub { $_[0]{severity} =~ /^(high|low)$/ }],
           ['?severity=major', sub { $_[0]{severity} eq 'high' }],
           ['?severity=minor,maintenance', sub { $_[0]{severity} =~ /^(low|maintenance)$/ }],
           ['?source=alert', sub { $_[0]{source} eq 'alert' }],
           ['?source=email,webhook', sub { $_[0]{source} =~ /^(email|webhook)$/ }],
           ['?tag=db', sub { grep { $_ eq 'db' } @{ $_[0]{tags} } }],
           ['?tag=DB', sub { grep { $_ eq 'DB' } @{ $_[0]{tags} } }],
           ['?tag=nothing', sub { 0 }],
           ['?status=open&priority=urgent,high', sub { $_[0]{status} eq 'open' && $_[0]{priority} =~ /^(urgent|high)$/ }],
           ['?tag=eu&source=api', sub { (grep { $_ eq 'eu' } @{ $_[0]{tags} }) && $_[0]{source} eq 'api' }],
           ['?priority=normal&severity=critical&status=identified&source=email&tag=db', 
            sub { $_[0]{status} eq 'identified' && $_[0]{priority} eq 'normal' && $_[0]{severity} eq 'critical'
                  && $_[0]{source} eq 'email' && grep { $_ eq 'db' } @{ $_[0]{tags} } }]) {
  my ($q, $pred) = @$f;
  my $want = expect($pred);
  my $got = list($q);
  is_deeply(ids($got), $want, "$q: exactly the matching incidents, newest first (" . scalar(@$want) . ')');
  is($got->{json}{total}, scalar @$want, "$q: total counts the matches");
}
ok(scalar @{ expect(sub { $_[0]{priority} eq 'urgent' }) } == 3, 'fixture sanity: three urgent incidents');
my $enc = call(GET => '/v1/tickets?status=open%2Cresolved');
is_deeply(ids($enc), expect(sub { $_[0]{status} =~ /^(open|resolved)$/ }), 'an encoded comma works too');

# --- query parameter errors ----------------------------------------------------------------------
param_error('?status=bogus', 'status', 'invalid_value');
param_error('?status=open,bogus', 'status', 'invalid_value');
param_error('?status=', 'status', 'invalid_value');
param_error('?priority=critical', 'priority', 'invalid_value');
param_error('?severity=sev1', 'severity', 'invalid_value');
param_error('?source=phone', 'source', 'invalid_value');
param_error('?limit=0', 'limit', 'out_of_range');
param_error('?limit=101', 'limit', 'out_of_range');
param_error('?limit=-1', 'limit', 'out_of_range');
param_error('?limit=ten', 'limit', 'invalid_value');
param_error('?limit=1.5', 'limit', 'invalid_value');
param_error('?limit=', 'limit', 'invalid_value');
param_error('?page=0', 'page', 'out_of_range');
param_error('?page=x', 'page', 'invalid_value');
param_error('?offset=-1', 'offset', 'out_of_range');
param_error('?offset=abc', 'offset', 'invalid_value');
param_error('?foo=1', 'foo', 'unknown_field');
param_error('?Status=open', 'Status', 'unknown_field');
my $big = call(GET => '/v1/tickets?limit=99999999999999999999999');
is($big->{status}, 422, 'a limit beyond 64 bits is refused, not wrapped');
my $both = call(GET => '/v1/tickets?page=2&offset=10');
is($both->{status}, 422, 'page and offset together: 422');
is($both->{json}{errors}[0]{code}, 'invalid_value', '... invalid_value');
like($both->{json}{errors}[0]{source}{parameter} // '', qr/^(page|offset)$/, '... on page or offset');
my $many = call(GET => '/v1/tickets?limit=0&status=bogus&zzz=1');
is_deeply([sort map { $_->{source}{parameter} } @{ $many->{json}{errors} || [] }], [qw(limit status zzz)],
          'all query errors reported together');

# --- paging ---------------------------------------------------------------------------------------
$r = list('?limit=5');
is_deeply(ids($r), [@newest[0 .. 4]], 'limit 5: first five');
is_deeply([@{ $r->{json} }{qw(total limit page offset)}], [14, 5, 1, 0], 'limit 5: meta');
ok($r->{json}{has_more}, 'limit 5: has_more true');
$r = list('?limit=5&page=2');
is_deeply(ids($r), [@newest[5 .. 9]], 'page 2');
is_deeply([@{ $r->{json} }{qw(page offset)}], [2, 5], 'page 2: offset 5');
ok($r->{json}{has_more}, 'page 2: has_more');
$r = list('?limit=5&page=3');
is_deeply(ids($r), [@newest[10 .. 13]], 'page 3: the last four');
ok(!$r->{json}{has_more}, 'last page: has_more false');
$r = list('?limit=5&page=4');
is_deeply(ids($r), [], 'past the end: empty');
is_deeply([$r->{json}{total}, !!$r->{json}{has_more}], [14, ''], 'past the end: total still 14, no more');
$r = list('?limit=4&offset=6');
is_deeply(ids($r), [@newest[6 .. 9]], 'offset 6');
is_deeply([@{ $r->{json} }{qw(limit page offset)}], [4, 2, 6], 'offset 6 limit 4: page = offset / limit + 1 = 2');
$r = list('?offset=13');
is_deeply(ids($r), [$newest[13]], 'offset 13: the oldest one');
ok(!$r->{json}{has_more}, 'offset 13: no more');
$r = list('?limit=1');
is(scalar @{ ids($r) }, 1, 'limit 1');
$r = list('?limit=100');
is($r->{json}{limit}, 100, 'limit 100 accepted');
$r = list('?status=open&limit=1');
is_deeply([$r->{json}{total}, !!$r->{json}{has_more}], [scalar @{ expect(sub { $_[0]{status} eq 'open' }) }, 1],
          'total and has_more respect filters (5 open)');

# Default limit 50: 40 more incidents make 54.
call(POST => '/v1/tickets', { title => "bulk $_" }, $T0 + 7200 + $_) for 1 .. 40;
$r = list('');
is(scalar @{ ids($r) }, 50, 'default limit 50');
is_deeply([$r->{json}{total}, $r->{json}{limit}, !!$r->{json}{has_more}], [54, 50, 1], 'total 54, limit 50, has_more');
$r = list('?page=2');
is(scalar @{ ids($r) }, 4, 'page 2 with the default limit: the last 4');
is_deeply(ids($r), [@newest[10 .. 13]], '... the four oldest');

$s->finish;
done_testing;
