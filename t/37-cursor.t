#!/usr/bin/perl
# Keyset pagination: after=<next_cursor> on GET /v1/tickets and on
# GET /v1/incidents/:id/replies — whole walks at several page sizes, with
# filters, equal to the offset walk, stable while incidents are created,
# and every malformed or foreign cursor a 422.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use POSIX ();
use Time::HiRes qw(sleep time);
use IncidentdTest;
use ApiCall qw(error_is);

my $s = IncidentdTest->new;
my $W = $s->key('write');
my $api = ApiCall->new($s, $W);
my $T0 = 1773558000;    # 2026-03-15T07:00:00Z

sub at { my ($t) = @_; my @g = gmtime $t; sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $g[5] + 1900, $g[4] + 1, @g[3, 2, 1, 0] }
sub ids { my ($r, $member) = @_; [map { $_->{id} } @{ ($r->{json} || {})->{ $member // 'tickets' } || [] }] }
sub get {
  my ($path) = @_;
  my $r = $api->call(GET => $path);
  is($r->{status}, 200, "GET $path: 200") or diag($r->{content});
  return $r;
}

# Walks a list by cursor from $base (a path with its query) with $limit;
# checks each page's meta on the way. Returns the ids, in order, and the
# number of pages. between => sub runs after each page (writes: rows may
# then appear before the page, so offset only grows).
sub walk {
  my ($base, $limit, $member, %o) = @_;
  my $sep = $base =~ /\?/ ? '&' : '?';
  my ($cursor, @seen) = (undef);
  my ($pages, $meta_ok) = (0, 1);
  my $want_total = $o{total};
  while (1) {
    my $r = get("$base${sep}limit=$limit" . (defined $cursor ? "&after=$cursor" : ''));
    my $j = $r->{json} || {};
    my $n = @{ ids($r, $member) };
    # offset: the rows before this page; has_more: rows after it
    my $ok = $j->{limit} == $limit && ($o{between} ? $j->{offset} >= @seen : $j->{offset} == @seen) && (!defined $want_total || $j->{total} == $want_total)
      && !!$j->{has_more} == ($j->{offset} + $n < $j->{total}) && !!$j->{has_more} == defined $j->{next_cursor}
      && (!exists $j->{page} || $j->{page} == int($j->{offset} / $limit) + 1);
    diag("page " . ($pages + 1) . " of $base limit $limit: " . $r->{content} =~ s/"tickets":\[.*\],"total"/"total"/sr) unless $ok;
    $meta_ok &&= $ok;
    push @seen, @{ ids($r, $member) };
    $pages++;
    $o{between}->($pages) if $o{between};
    $cursor = $j->{next_cursor};
    last if !defined $cursor || $pages > 500;
  }
  ok($meta_ok, "$base by $limit: every page's total, offset, page, has_more and next_cursor agree");
  return (\@seen, $pages);
}

# 105 incidents: created a minute apart, except that every tenth shares
# its created_at with the next one (the id breaks the tie).
my (@all, %attr);
for my $i (0 .. 104) {
  my @st = qw(open investigating resolved);
  my $attr = { status => $st[$i % 3], priority => ($i % 4 ? 'normal' : 'urgent'), tags => ($i % 5 ? [] : ['db']) };
  my $t = $T0 + 60 * ($i - ($i % 10 == 1 ? 1 : 0));
  my $r = $api->call(POST => '/v1/tickets', now => at($t),
    body => { title => ($i % 2 ? "odd disk $i" : "even net $i"), %$attr });
  is($r->{status}, 201, "create $i") or BAIL_OUT($r->{content});
  push @all, $r->{json}{id};
  $attr{ $r->{json}{id} } = $attr;
}
my @newest = reverse @all;    # equal created_at: the higher id first, as the list orders

# --- whole walks ---------------------------------------------------------------------------------
my $offset_walk = [];
for my $page (1 .. 3) { push @$offset_walk, @{ ids(get("/v1/tickets?limit=50&page=$page")) } }
is_deeply($offset_walk, \@newest, 'the offset walk: all 105, newest first');
for my $limit (1, 7, 100) {
  my ($seen, $pages) = walk('/v1/tickets', $limit, undef, total => 105);
  is_deeply($seen, $offset_walk, "by cursor, limit $limit: the offset walk, each incident once");
  is($pages, int((105 + $limit - 1) / $limit), "limit $limit: " . int((105 + $limit - 1) / $limit) . ' pages');
}
my ($via_incidents) = walk('/v1/incidents', 50, undef);
is_deeply($via_incidents, \@newest, '/v1/incidents walks the same');

# with filters: the walk equals the filtered offset walk
for my $f ('status=open', 'status=open,resolved&priority=urgent', 'tag=db', 'q=disk', 'q=disk&tag=db&status=investigating') {
  my $want = [];
  for (my $page = 1; ; $page++) {
    my $r = get("/v1/tickets?$f&limit=100&page=$page");
    push @$want, @{ ids($r) };
    last unless $r->{json}{has_more};
  }
  ok(@$want > 2 && @$want < 105, "fixture: $f matches " . scalar(@$want));
  my ($seen) = walk("/v1/tickets?$f", 3, undef, total => scalar @$want);
  is_deeply($seen, $want, "?$f by cursor, 3 a page: the offset walk");
}

# a cursor from an offset page continues after it
my $p = get('/v1/tickets?limit=5&offset=10');
is_deeply(ids(get("/v1/tickets?limit=5&after=$p->{json}{next_cursor}")), [@newest[15 .. 19]], 'next_cursor of an offset page: the rows after it');
my $last = get('/v1/tickets?limit=5&offset=100');
is_deeply([ids($last), !!$last->{json}{has_more}, $last->{json}{next_cursor}], [[@newest[100 .. 104]], '', undef],
          'the last page: has_more false, next_cursor null');
my $mid = get('/v1/tickets?limit=10&page=3');
is($mid->{json}{offset}, 20, 'page 3 of 10: offset 20');
my $after_mid = get("/v1/tickets?limit=10&after=$mid->{json}{next_cursor}");
is_deeply([@{ $after_mid->{json} }{qw(offset page total)}], [30, 4, 105], 'after a cursor: offset 30, page 4, total 105 (exact)');

# a cursor is a position: deleting its row does not break it
my $c = get('/v1/tickets?limit=4')->{json}{next_cursor};
is($api->call(DELETE => "/v1/tickets/$newest[3]")->{status}, 204, "delete the page's last incident");
is_deeply(ids(get("/v1/tickets?limit=4&after=$c")), [@newest[4 .. 7]], 'its cursor still gives the next four');
my @live = grep { $_ != $newest[3] } @newest;

# an empty page after a cursor (its only follower deleted) keeps an exact total
my $penult = get('/v1/tickets?limit=1&offset=' . (@live - 2))->{json}{next_cursor};
is($api->call(DELETE => "/v1/tickets/$live[-1]")->{status}, 204, 'delete the oldest incident');
pop @live;
my $empty = get("/v1/tickets?limit=1&after=$penult");
is_deeply([ids($empty), @{ $empty->{json} }{qw(total offset)}, !!$empty->{json}{has_more}, $empty->{json}{next_cursor}],
          [[], scalar @live, scalar @live, '', undef], 'nothing after the cursor: total exact, offset = total, no more');

# --- stable under concurrent inserts --------------------------------------------------------------
# A writer creates incidents with created_at inside the walked range (the
# test clock) for as long as the walk runs; and between pages the walk
# itself inserts one newer than everything and one among the rows it has
# not reached yet. Every original is seen once, in order.
my $dir = tempdir(CLEANUP => 1);
my $pid = fork // die "fork: $!";
if (!$pid) {
  my $http = HTTP::Tiny->new(timeout => 20, keep_alive => 0);
  my ($made, $deadline) = (0, time + 120);
  while (!-e "$dir/stop" && time < $deadline) {
    my $t = $T0 + int(rand(105 * 60));
    my $r = $http->post($s->url . '/v1/tickets', { headers => { 'x-api-key' => $W, 'Content-Type' => 'application/json',
      'X-Test-Now' => $t }, content => qq({"title":"writer $made"}) });
    $made++ if $r->{status} == 201;
    open my $fh, '>', "$dir/made.tmp" or POSIX::_exit(2);
    print $fh $made;
    close $fh;
    rename "$dir/made.tmp", "$dir/made";
  }
  POSIX::_exit(0);
}
sub made { open my $fh, '<', "$dir/made" or return 0; my $n = <$fh>; $n // 0 }
my $deadline = time + 30 * IncidentdTest::slowdown();
sleep 0.05 while made() < 1 && time < $deadline;
ok(made() >= 1, 'the concurrent writer is creating incidents');
my $before = made();
my %original = map { $_ => 1 } @live;
my $inserted = 0;
my ($walked) = walk('/v1/tickets', 7, undef, between => sub {
  my ($page) = @_;
  for my $t ($T0 + 200 * 60, $T0 + 60 * (104 - 7 * $page - 10)) {
    $inserted++ if $api->call(POST => '/v1/tickets', now => at($t), body => { title => "between $page" })->{status} == 201;
  }
});
open my $stop, '>', "$dir/stop" or die "$dir/stop: $!";
close $stop;
is(waitpid($pid, 0), $pid, 'the writer stopped');
is($? >> 8, 0, '... cleanly');
cmp_ok(made() - $before, '>', 0, 'it created incidents during the walk (' . (made() - $before) . ')');
cmp_ok($inserted, '>=', 20, "the walk inserted $inserted between its pages");
is_deeply([grep { $original{$_} } @$walked], \@live, 'by cursor: every original once, in order');
my %dup;
is_deeply([grep { $dup{$_}++ } @$walked], [], '... and no incident twice');

# the same inserts between offset pages repeat rows: the walk above could fail
my @by_offset;
for my $page (1 .. 5) {
  push @by_offset, @{ ids(get("/v1/tickets?limit=7&page=$page")) };
  $api->call(POST => '/v1/tickets', now => at($T0 + 300 * 60), body => { title => "offset between $page" });
}
my %seen_offset;
ok(scalar(grep { $seen_offset{$_}++ } @by_offset), 'control: by offset, inserts between pages show an incident twice');

# --- bad cursors -----------------------------------------------------------------------------------
my $good = get('/v1/tickets?limit=2')->{json}{next_cursor};
like($good, qr/^[A-Za-z0-9_-]+$/, 'a cursor is URL-safe');
my $flip = $good;
substr($flip, 10, 1) = substr($flip, 10, 1) eq 'A' ? 'B' : 'A';
for my $c ([$flip, 'one character changed'],
           [substr($good, 0, -1), 'truncated'],
           [$good . 'A', 'extended'],
           ['abc', 'garbage'],
           ['', 'empty'],
           ['eyJpZCI6NDIsImNyZWF0ZWRfYXQiOjB9', 'base64 of {"id":42,"created_at":0}'],
           ['%FF%FE', 'not UTF-8'],
           [('A' x 5000), '5,000 characters']) {
  my ($cursor, $name) = @$c;
  error_is($api->call(GET => "/v1/tickets?after=$cursor"), 422, 'validation_error', 'invalid_value', "after $name: 422", parameter => 'after');
}
error_is($api->call(GET => "/v1/tickets?after=$good&page=2"), 422, 'validation_error', 'invalid_value', 'after with page: 422', parameter => 'after');
error_is($api->call(GET => "/v1/tickets?offset=0&after=$good"), 422, 'validation_error', 'invalid_value', 'after with offset: 422', parameter => 'after');
my $two = $api->call(GET => '/v1/tickets?after=abc&limit=0');
is_deeply([sort map { "$_->{code}\@$_->{source}{parameter}" } @{ $two->{json}{errors} || [] }], ['invalid_value@after', 'out_of_range@limit'],
          'a bad cursor is reported with the other errors');
error_is($api->call(GET => "/compat/alert24/api/v1/incidents?after=$good"), 422, 'validation_error', 'unknown_field',
         'the compatibility mounts take no after', parameter => 'after');

# another organisation's cursor is only a position: it shows nothing of theirs
my $other = $s->new_org('cursor-other');
my $oapi = ApiCall->new($s, $other->{keys}{write});
my @theirs = map { $oapi->call(POST => '/v1/tickets', now => at($T0 + 60 * $_ + 30), body => { title => "theirs $_" })->{json}{id} } 1 .. 3;
my $their_cursor = $oapi->call(GET => '/v1/tickets?limit=1')->{json}{next_cursor};
ok(defined $their_cursor, "the other organisation's cursor");
my $mine = get("/v1/tickets?limit=100&after=$their_cursor");
my %theirs = map { $_ => 1 } @theirs;
is_deeply([grep { $theirs{$_} } @{ ids($mine) }], [], "with their cursor: none of their incidents");
ok(@{ ids($mine) } > 0, '... but ours after that position');

# --- replies -----------------------------------------------------------------------------------------
my $inc = $api->call(POST => '/v1/tickets', body => { title => 'Timeline' })->{json}{id};
my @replies = map { $api->call(POST => "/v1/incidents/$inc/replies", body => { body => "reply $_" })->{json}{id} } 1 .. 25;
is(scalar(grep { defined } @replies), 25, '25 replies');
my $rall = get("/v1/incidents/$inc/replies");
is_deeply(ids($rall, 'replies'), \@replies, 'replies: oldest first');
is($rall->{json}{next_cursor}, undef, 'one page: next_cursor null');
for my $limit (1, 7, 100) {
  my ($seen, $pages) = walk("/v1/incidents/$inc/replies", $limit, 'replies', total => 25);
  is_deeply($seen, \@replies, "replies by cursor, limit $limit: each once, oldest first");
}
my ($via_tickets) = walk("/v1/tickets/$inc/replies", 10, 'replies');
is_deeply($via_tickets, \@replies, '/v1/tickets/:id/replies walks the same');
# replies written during the walk come after the originals
my @new;
my ($rwalk) = walk("/v1/incidents/$inc/replies", 4, 'replies', between => sub {
  push @new, $api->call(POST => "/v1/incidents/$inc/replies", body => { body => "during $_[0]" })->{json}{id};
});
my %orig_reply = map { $_ => 1 } @replies;
is_deeply([grep { $orig_reply{$_} } @$rwalk], \@replies, 'replies written during a walk: the originals once, in order');
pop @new;    # written after the last page
is_deeply([grep { !$orig_reply{$_} } @$rwalk], \@new, '... and the new ones after them, each once');
my $roff = get("/v1/incidents/$inc/replies?limit=5&offset=5");
is_deeply(ids(get("/v1/incidents/$inc/replies?limit=5&after=$roff->{json}{next_cursor}"), 'replies'), [@replies[10 .. 14]],
          'next_cursor of an offset page of replies: the next five');
my $inc_cursor = get('/v1/tickets?limit=1')->{json}{next_cursor};
error_is($api->call(GET => "/v1/incidents/$inc/replies?after=$inc_cursor"), 422, 'validation_error', 'invalid_value',
         "an incident list's cursor on replies: 422", parameter => 'after');
my $reply_cursor = get("/v1/incidents/$inc/replies?limit=1")->{json}{next_cursor};
error_is($api->call(GET => "/v1/tickets?after=$reply_cursor"), 422, 'validation_error', 'invalid_value',
         "a replies cursor on the incident list: 422", parameter => 'after');
error_is($api->call(GET => "/v1/incidents/$inc/replies?after=$reply_cursor&offset=1"), 422, 'validation_error', 'invalid_value',
         'replies: after with offset: 422', parameter => 'after');
error_is($api->call(GET => "/v1/incidents/$inc/replies?after=xyz"), 422, 'validation_error', 'invalid_value',
         'replies: a bad cursor: 422', parameter => 'after');

$s->finish;
done_testing;
